#pragma once

#include <string>

#include "absl/status/status.h"

namespace orqa {

/// Configures the default spdlog logger for a service: `format` is "text" or
/// "json" (one JSON object per line with time, level, service, msg), `level`
/// one of trace, debug, info, warn, error. gRPC's own log lines are routed
/// through the same logger.
absl::Status SetupLogging(const std::string& service, const std::string& format,
                          const std::string& level);

/// Escapes a string for inclusion inside a JSON string literal.
std::string JsonEscape(const std::string& text);

}  // namespace orqa
