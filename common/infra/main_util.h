#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "common/infra/flags.h"

namespace orqa {

/// Parses flags for a program. Returns an exit code when main() should return
/// at once (0 after --help/--version, 2 after printing ONE error line for a
/// bad flag), or nullopt to continue.
std::optional<int> ParseFlagsOrExit(FlagSet& flags, int argc, char** argv,
                                    const std::string& program);

/// Prints "<program>: error: <message>" as one line on stderr and returns `code`.
int ReportFatal(const std::string& program, const absl::Status& status, int code = 1);

}  // namespace orqa

namespace orqa {
class ServiceHost;
/// Starts `host`, blocks until SIGTERM/SIGINT has drained it, and returns the
/// process exit code (0 after a clean drain, 1 with one error line if Start failed).
int ServeUntilSignalled(const std::string& program, ServiceHost& host);
}  // namespace orqa
