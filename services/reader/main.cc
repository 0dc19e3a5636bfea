// orqa-reader: BERT span extraction over retrieved blocks, dynamically batched.
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "common/batching/batcher_flags.h"
#include "common/fetch/model_source.h"
#include "common/infra/cpu_level.h"
#include "common/infra/tensor_allocator.h"
#include "common/infra/logging.h"
#include "common/infra/main_util.h"
#include "common/infra/service_host.h"
#include "common/infra/status_util.h"
#include "services/reader/reader_service.h"


namespace {

constexpr char kProgram[] = "orqa-reader";

absl::Status Validate(const orqa::ReaderOptions& o) {
  ORQA_RETURN_IF_ERROR(orqa::ValidateServerOptions(o.server));
  ORQA_RETURN_IF_ERROR(orqa::ValidateBatcherOptions(o.batching));
  if (o.max_batch_rows < 0 || o.max_batch_rows > 100000) {
    return absl::InvalidArgumentError("--max-batch-rows: expected 0..100000");
  }
  ORQA_RETURN_IF_ERROR(orqa::ValidateComputeThreads(o.threads));
  ORQA_RETURN_IF_ERROR(orqa::ValidateCpuLevelCaps());
  if (!o.weights_path.empty()) ORQA_RETURN_IF_ERROR(orqa::CheckReadablePath("--weights", o.weights_path));
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  orqa::KeepTensorAllocationsInHeap();  // before any tensor exists
  orqa::BlockTerminationSignals();
  orqa::ReaderOptions options;
  options.server.grpc_port = 50053;
  options.server.metrics_port = 9153;

  orqa::FlagSet flags(kProgram, "Reader: BERT span extraction with dynamic batching.");
  orqa::AddServerFlags(flags, &options.server);
  flags.String("model-dir", &options.model_dir,
               "Reader model directory (config.json, vocab.txt, weights), or a Hugging Face model id "
               "(org/name[@revision]: taken from the Hugging Face cache, pulled when missing).");
  flags.String("weights", &options.weights_path,
               "Reader weights file (default: model.safetensors or pytorch_model.bin in --model-dir).");
  orqa::AddBatcherFlags(flags, &options.batching, "Read");
  flags.Int("max-batch-rows", &options.max_batch_rows,
            "Most (question, block) rows in one batch and in one forward pass; a call with more blocks runs alone, "
            "in passes of this size. 0 = 2048 / reader_seq_len of the model (7 for BERT-base at 288: one five-block "
            "call per batch, as batching two gained nothing on CPU; 32 for realm-tiny).");
  orqa::AddComputeThreadFlags(flags, &options.threads, /*with_search=*/false);
  orqa::AddPathRootFlags(flags, &options.roots);
  std::string precision = "fp32";
  flags.String("precision", &precision,
               "Reader encoder arithmetic: fp32 (matches the reference), bf16 or int8 (oneDNN: int8 weights per "
               "output channel, activations per call); also applied to models Reload loads. Where this CPU has no "
               "such product (bf16 below AVX-512) the closest one runs; the log and GetInfo say which.");
  if (auto code = orqa::ParseFlagsOrExit(flags, argc, argv, kProgram)) return *code;

  absl::Status st = Validate(options);
  if (st.ok()) st = orqa::ValidatePathRoots(&options.roots);
  if (st.ok()) st = orqa::ParsePrecisionFlag(precision, &options.precision);
  if (st.ok()) st = orqa::SetupLogging("reader", options.server.log_format, options.server.log_level);
  if (!st.ok()) return orqa::ReportFatal(kProgram, st, 2);
  if (!options.model_dir.empty()) {  // a path, or a Hub model id (pulled into the cache when missing)
    auto dir = orqa::ResolveModelPath(options.model_dir, "--model-dir");
    if (dir.ok()) st = orqa::CheckReadablePath("--model-dir", *dir);
    if (!dir.ok() || !st.ok()) {
      const absl::Status& bad = dir.ok() ? st : dir.status();
      return orqa::ReportFatal(kProgram, bad, bad.code() == absl::StatusCode::kInvalidArgument ? 2 : 1);
    }
    if (*dir != options.model_dir) spdlog::info("--model-dir {}: {}", options.model_dir, *dir);
    options.model_dir = *dir;
  }
  orqa::ApplyComputeThreads(options.threads);

  orqa::ServiceHost host("reader", options.server);
  orqa::ReaderService service(options, &host.metrics());
  if (!options.model_dir.empty()) {
    auto model = orqa::SpanReader::Load(options.model_dir, options.weights_path, options.precision);
    if (!model.ok()) return orqa::ReportFatal(kProgram, model.status());
    // Warm-up: the first forward pass is slow; do it before reporting SERVING.
    orqa::ReaderQuery warm{"warm up", {{0, "the reader warms up", 0.0f}}, 1};
    (*model)->Read({&warm});
    service.SetModel(*model);
    spdlog::info("loaded reader {} (max_span_width {}, reader_seq_len {})", (*model)->version(),
                 (*model)->config().max_span_width, (*model)->config().reader_seq_len);
    spdlog::info("{}; orqa kernels at {}", (*model)->arithmetic(), orqa::DescribeCpuLevel());
  }
  host.AddService(&service);
  service.OnReady([&host](bool ready) { host.SetServing("", ready); });
  if (absl::Status s = host.Start(); !s.ok()) return orqa::ReportFatal(kProgram, s);
  host.SetServing("", service.ready());
  host.Wait();
  return 0;
}
