#pragma once

namespace orqa::cli {

/// `orqa health ADDRESS [--service NAME] [--timeout-ms N]`: prints the
/// grpc.health.v1 status; exit 0 only when SERVING.
int RunHealth(int argc, char** argv);

}  // namespace orqa::cli
