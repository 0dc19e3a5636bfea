// orqa-retriever: question embedding + inner-product search over one shard.
#include <set>

#include "absl/strings/str_cat.h"
#include "common/infra/logging.h"
#include "common/infra/main_util.h"
#include "common/infra/service_host.h"
#include "common/infra/status_util.h"
#include "services/retriever/retriever_service.h"

namespace {

constexpr char kProgram[] = "orqa-retriever";

absl::Status Validate(const orqa::RetrieverOptions& o) {
  if (absl::Status st = orqa::ValidateServerOptions(o.server); !st.ok()) return st;
  if (o.num_shards < 1) return absl::InvalidArgumentError("--num-shards: expected >= 1");
  if (o.shard_index < 0 || o.shard_index >= o.num_shards) {
    return absl::InvalidArgumentError(absl::StrCat("--shard-index: expected 0..",
                                                   o.num_shards - 1, ", got ", o.shard_index));
  }
  static const std::set<std::string> kIndexTypes = {"flat", "fp16", "sq8", "hnsw", "ivf", "torch"};
  if (!kIndexTypes.count(o.index_type)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--index-type: expected flat, fp16, sq8, hnsw, ivf or torch, got '", o.index_type, "'"));
  }
  for (auto [flag, n] : {std::pair<const char*, int>{"--omp-threads", o.omp_threads},
                         {"--openblas-threads", o.openblas_threads},
                         {"--torch-threads", o.torch_threads}}) {
    if (n < 1 || n > 256) return absl::InvalidArgumentError(absl::StrCat(flag, ": expected 1..256"));
  }
  if (!o.model_dir.empty()) ORQA_RETURN_IF_ERROR(orqa::CheckReadablePath("--model-dir", o.model_dir));
  if (!o.blocks_path.empty()) ORQA_RETURN_IF_ERROR(orqa::CheckReadablePath("--blocks", o.blocks_path));
  if (!o.embeddings_path.empty()) {
    ORQA_RETURN_IF_ERROR(orqa::CheckReadablePath("--embeddings", o.embeddings_path));
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  orqa::BlockTerminationSignals();
  orqa::RetrieverOptions options;
  options.server.grpc_port = 50052;
  options.server.metrics_port = 9152;

  orqa::FlagSet flags(kProgram, "Retriever: REALM question embedding + MIPS over one shard of blocks.");
  orqa::AddServerFlags(flags, &options.server);
  flags.String("model-dir", &options.model_dir, "Embedder model directory.");
  flags.String("blocks", &options.blocks_path, "Block store file (orqa build-blocks).");
  flags.String("embeddings", &options.embeddings_path, "Block embeddings (.safetensors or .npy).");
  flags.Int("shard-index", &options.shard_index, "Index of the shard this process serves.");
  flags.Int("num-shards", &options.num_shards, "Number of contiguous block-id shards.");
  flags.String("index-type", &options.index_type, "Searcher: flat, fp16, sq8, hnsw, ivf, torch.");
  flags.Int("omp-threads", &options.omp_threads, "OpenMP threads (FAISS).");
  flags.Int("openblas-threads", &options.openblas_threads, "OpenBLAS threads.");
  flags.Int("torch-threads", &options.torch_threads, "LibTorch intra-op threads.");
  if (auto code = orqa::ParseFlagsOrExit(flags, argc, argv, kProgram)) return *code;

  absl::Status st = Validate(options);
  if (st.ok()) st = orqa::SetupLogging("retriever", options.server.log_format, options.server.log_level);
  if (!st.ok()) return orqa::ReportFatal(kProgram, st, 2);

  orqa::RetrieverService service(options);
  orqa::ServiceHost host("retriever", options.server);
  host.AddService(&service);
  return orqa::ServeUntilSignalled(kProgram, host);
}
