#include "common/infra/main_util.h"

#include <cstdio>
#include <string>

namespace orqa {

std::optional<int> ParseFlagsOrExit(FlagSet& flags, int argc, char** argv,
                                    const std::string& program) {
  absl::Status st = flags.Parse(argc, argv);
  if (!st.ok()) return ReportFatal(program, st, 2);
  if (flags.help_requested()) {
    std::fputs(flags.Usage().c_str(), stdout);
    return 0;
  }
  if (flags.version_requested()) {
    std::printf("%s %s\n", program.c_str(), ORQA_VERSION);
    return 0;
  }
  return std::nullopt;
}

int ReportFatal(const std::string& program, const absl::Status& status, int code) {
  std::string message(status.message());
  for (char& c : message) {
    if (c == '\n') c = ' ';
  }
  std::fprintf(stderr, "%s: error: %s\n", program.c_str(), message.c_str());
  std::fflush(stderr);
  return code;
}

}  // namespace orqa
