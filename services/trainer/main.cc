// orqa-trainer: finetune and index-build jobs.
#include "common/infra/logging.h"
#include "common/infra/main_util.h"
#include "common/infra/service_host.h"
#include "common/infra/status_util.h"
#include "services/trainer/trainer_service.h"

namespace {
constexpr char kProgram[] = "orqa-trainer";
}  // namespace

int main(int argc, char** argv) {
  orqa::BlockTerminationSignals();
  orqa::TrainerOptions options;
  options.server.grpc_port = 50054;
  options.server.metrics_port = 9154;

  orqa::FlagSet flags(kProgram, "Trainer: finetune and index-build jobs with a persisted job table.");
  orqa::AddServerFlags(flags, &options.server);
  flags.String("state-dir", &options.state_dir, "Directory for the job table and checkpoints.");
  flags.String("retriever", &options.retriever_address, "Retriever address host:port.");
  if (auto code = orqa::ParseFlagsOrExit(flags, argc, argv, kProgram)) return *code;

  absl::Status st = orqa::ValidateServerOptions(options.server);
  if (st.ok()) st = orqa::CheckWritableDir("--state-dir", options.state_dir);
  if (st.ok()) st = orqa::SetupLogging("trainer", options.server.log_format, options.server.log_level);
  if (!st.ok()) return orqa::ReportFatal(kProgram, st, 2);

  orqa::TrainerService service(options);
  orqa::ServiceHost host("trainer", options.server);
  host.AddService(&service);
  return orqa::ServeUntilSignalled(kProgram, host);
}
