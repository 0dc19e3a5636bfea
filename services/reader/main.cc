// orqa-reader: BERT span extraction over retrieved blocks.
#include "absl/strings/str_cat.h"
#include "common/infra/logging.h"
#include "common/infra/main_util.h"
#include "common/infra/service_host.h"
#include "common/infra/status_util.h"
#include "services/reader/reader_service.h"

namespace {

constexpr char kProgram[] = "orqa-reader";

absl::Status Validate(const orqa::ReaderOptions& o) {
  ORQA_RETURN_IF_ERROR(orqa::ValidateServerOptions(o.server));
  if (o.max_batch_size < 1 || o.max_batch_size > 1024) {
    return absl::InvalidArgumentError("--max-batch-size: expected 1..1024");
  }
  if (!(o.max_queue_delay_ms >= 0)) {
    return absl::InvalidArgumentError("--max-queue-delay-ms: expected >= 0");
  }
  if (o.queue_limit < 1) return absl::InvalidArgumentError("--queue-limit: expected >= 1");
  if (o.torch_threads < 1 || o.torch_threads > 256) {
    return absl::InvalidArgumentError("--torch-threads: expected 1..256");
  }
  if (!o.model_dir.empty()) ORQA_RETURN_IF_ERROR(orqa::CheckReadablePath("--model-dir", o.model_dir));
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  orqa::BlockTerminationSignals();
  orqa::ReaderOptions options;
  options.server.grpc_port = 50053;
  options.server.metrics_port = 9153;

  orqa::FlagSet flags(kProgram, "Reader: BERT span extraction with dynamic batching.");
  orqa::AddServerFlags(flags, &options.server);
  flags.String("model-dir", &options.model_dir, "Reader model directory.");
  flags.Int("max-batch-size", &options.max_batch_size, "Most requests per forward pass.");
  flags.Double("max-queue-delay-ms", &options.max_queue_delay_ms,
               "Longest wait for a batch to fill, in milliseconds.");
  flags.Int("queue-limit", &options.queue_limit, "Queued requests beyond this get RESOURCE_EXHAUSTED.");
  flags.Int("torch-threads", &options.torch_threads, "LibTorch intra-op threads.");
  if (auto code = orqa::ParseFlagsOrExit(flags, argc, argv, kProgram)) return *code;

  absl::Status st = Validate(options);
  if (st.ok()) st = orqa::SetupLogging("reader", options.server.log_format, options.server.log_level);
  if (!st.ok()) return orqa::ReportFatal(kProgram, st, 2);

  orqa::ReaderService service(options);
  orqa::ServiceHost host("reader", options.server);
  host.AddService(&service);
  return orqa::ServeUntilSignalled(kProgram, host);
}
