// orqa-retriever: question embedding + inner-product search over one shard.
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <set>

#include "absl/strings/str_cat.h"
#include "common/batching/batcher_flags.h"
#include "common/fetch/model_source.h"
#include "common/index/flat_scan.h"
#include "common/index/prepared.h"
#include "common/model/model_dir.h"
#include "common/infra/cpu_level.h"
#include "common/infra/tensor_allocator.h"
#include "common/infra/logging.h"
#include "common/infra/main_util.h"
#include "common/infra/service_host.h"
#include "common/infra/status_util.h"
#include "services/retriever/retriever_service.h"


namespace {

constexpr char kProgram[] = "orqa-retriever";

absl::Status Validate(const orqa::RetrieverOptions& o) {
  ORQA_RETURN_IF_ERROR(orqa::ValidateServerOptions(o.server));
  if (o.num_shards < 1) return absl::InvalidArgumentError("--num-shards: expected >= 1");
  if (o.shard_index < 0 || o.shard_index >= o.num_shards) {
    return absl::InvalidArgumentError(absl::StrCat("--shard-index: expected 0..", o.num_shards - 1, ", got ",
                                                   o.shard_index));
  }
  static const std::set<std::string> kIndexTypes = {"flat", "bf16", "int8", "fp16", "sq8", "hnsw", "ivf", "torch"};
  if (!kIndexTypes.count(o.searcher.type)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--index-type: expected flat, bf16, int8, fp16, sq8, hnsw, ivf or torch, got '", o.searcher.type, "'"));
  }
  if (o.searcher.rerank_factor < 1 || o.searcher.rerank_factor > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("--rerank-factor: expected 1..1000, got ", o.searcher.rerank_factor));
  }
  if (o.searcher.scan_max_queries < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--scan-max-queries: expected >= 0, got ", o.searcher.scan_max_queries));
  }
  ORQA_RETURN_IF_ERROR(orqa::ValidateComputeThreads(o.threads));
  ORQA_RETURN_IF_ERROR(orqa::ValidateCpuLevelCaps());
  ORQA_RETURN_IF_ERROR(orqa::ValidateBatcherOptions(o.batching));

  if (!o.weights_path.empty()) ORQA_RETURN_IF_ERROR(orqa::CheckReadablePath("--weights", o.weights_path));
  if (!o.blocks_path.empty()) ORQA_RETURN_IF_ERROR(orqa::CheckReadablePath("--blocks", o.blocks_path));
  if (!o.embeddings_path.empty()) ORQA_RETURN_IF_ERROR(orqa::CheckReadablePath("--embeddings", o.embeddings_path));
  if (!o.bm25_index.empty()) ORQA_RETURN_IF_ERROR(orqa::CheckReadablePath("--bm25-index", o.bm25_index));
  if (!(o.bm25_k1 >= 0)) return absl::InvalidArgumentError("--bm25-k1: expected >= 0");
  if (!(o.bm25_b >= 0 && o.bm25_b <= 1)) return absl::InvalidArgumentError("--bm25-b: expected 0..1");
  if (o.model_dir.empty() && (!o.blocks_path.empty() || !o.embeddings_path.empty())) {
    return absl::InvalidArgumentError("--blocks and --embeddings need --model-dir (the question embedder)");
  }
  return absl::OkStatus();
}

// --model-dir as a path or a Hub model id (pulled into the Hugging Face cache
// when missing); --blocks and --embeddings, when not given, from the model's
// own files (block_records.npy, block_emb), prepared once and cached.
absl::Status ResolveSources(orqa::RetrieverOptions& o) {
  if (o.model_dir.empty()) return absl::OkStatus();
  auto dir = orqa::ResolveModelPath(o.model_dir, "--model-dir");
  if (!dir.ok()) return dir.status();
  ORQA_RETURN_IF_ERROR(orqa::CheckReadablePath("--model-dir", *dir));
  if (*dir != o.model_dir) spdlog::info("--model-dir {}: {}", o.model_dir, *dir);
  o.model_dir = *dir;
  auto log = [](const std::string& line) { spdlog::info("{}", line); };
  if (o.blocks_path.empty()) {
    const std::string records = orqa::BlockRecordsIn(o.model_dir);
    if (records.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--blocks: not given, and ", o.model_dir,
                                                     " holds no block_records.npy, blocks.tfr or blocks.jsonl"));
    }
    auto blocks = orqa::PreparedBlocks(records, log);
    if (!blocks.ok()) return blocks.status();
    o.blocks_path = *blocks;
  }
  if (o.embeddings_path.empty()) {
    auto weights = orqa::FindWeights(o.model_dir, o.weights_path);
    if (!weights.ok()) return weights.status();
    auto embeddings = orqa::PreparedEmbeddings(*weights, log);
    if (!embeddings.ok()) return embeddings.status();
    o.embeddings_path = *embeddings;
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  orqa::KeepTensorAllocationsInHeap();  // before any tensor exists
  orqa::BlockTerminationSignals();
  orqa::RetrieverOptions options;
  options.server.grpc_port = 50052;
  options.server.metrics_port = 9152;

  orqa::FlagSet flags(kProgram, "Retriever: REALM question embedding + MIPS over one shard of blocks.");
  orqa::AddServerFlags(flags, &options.server);
  flags.String("model-dir", &options.model_dir,
               "Embedder model directory (config.json, vocab.txt, weights), or a Hugging Face model id "
               "(org/name[@revision]: taken from the Hugging Face cache, pulled when missing).");
  flags.String("weights", &options.weights_path,
               "Embedder weights file (default: model.safetensors or pytorch_model.bin in --model-dir).");
  flags.String("blocks", &options.blocks_path,
               "Block store file (orqa build-blocks); default: built once from the model's block_records.npy "
               "(or blocks.tfr / blocks.jsonl) and cached.");
  flags.String("embeddings", &options.embeddings_path,
               "Block embeddings: .npy, .safetensors (block_emb), pytorch_model.bin or a TF checkpoint; default: "
               "block_emb of the model's weights.");
  flags.Int("shard-index", &options.shard_index, "Index of the shard this process serves.");
  flags.Int("num-shards", &options.num_shards, "Number of contiguous block-id shards.");
  flags.String("index-type", &options.searcher.type,
               "Searcher: flat (exact), bf16 / int8 (exact re-ranking of a compressed scan), fp16, sq8, hnsw, ivf, "
               "torch.");
  flags.Int("scan-max-queries", &options.searcher.scan_max_queries,
            "flat: batches of up to this many questions use orqa's scan kernels, larger ones FAISS's BLAS path.");
  flags.Int("rerank-factor", &options.searcher.rerank_factor,
            "bf16 / int8: candidates kept per result for the exact fp32 re-ranking.");
  orqa::AddComputeThreadFlags(flags, &options.threads, /*with_search=*/true);
  orqa::AddPathRootFlags(flags, &options.roots);
  std::string precision = "fp32";
  flags.String("precision", &precision,
               "Question embedder arithmetic: fp32 (matches the reference), bf16 or int8; also for Reload. Where "
               "this CPU has no such product (bf16 below AVX-512) the closest one runs; the log and GetInfo say which.");
  orqa::AddBatcherFlags(flags, &options.batching, "Retrieve");
  flags.String("bm25-index", &options.bm25_index, "BM25 index of the same block store (orqa build-bm25): sparse retrieval.");
  flags.Double("bm25-k1", &options.bm25_k1, "BM25 k1.");
  flags.Double("bm25-b", &options.bm25_b, "BM25 b.");
  if (auto code = orqa::ParseFlagsOrExit(flags, argc, argv, kProgram)) return *code;

  options.searcher.omp_threads = options.threads.Omp();
  absl::Status st = Validate(options);
  if (st.ok()) st = orqa::ValidatePathRoots(&options.roots);
  if (st.ok()) st = orqa::ParsePrecisionFlag(precision, &options.precision);
  if (st.ok()) st = orqa::SetupLogging("retriever", options.server.log_format, options.server.log_level);
  if (!st.ok()) return orqa::ReportFatal(kProgram, st, 2);
  if (absl::Status sources = ResolveSources(options); !sources.ok()) {
    return orqa::ReportFatal(kProgram, sources, sources.code() == absl::StatusCode::kInvalidArgument ? 2 : 1);
  }

  orqa::ApplyComputeThreads(options.threads);

  orqa::ServiceHost host("retriever", options.server);
  orqa::RetrieverService service(options, &host.metrics());
  if (!options.model_dir.empty()) {
    auto t0 = std::chrono::steady_clock::now();
    auto state = orqa::LoadRetrieverState({options.model_dir, options.weights_path, options.blocks_path,
                                           options.embeddings_path, options.precision},
                                          nullptr, options.shard_index, options.num_shards, options.searcher);
    if (!state.ok()) return orqa::ReportFatal(kProgram, state.status());
    service.SetState(*state);
    spdlog::info("loaded shard {}/{}: blocks [{}, {}) of {}, dim {}, {} index ({} scan), embedder {} in {:.1f} s",
                 options.shard_index, options.num_shards, (*state)->first_block_id,
                 (*state)->first_block_id + (*state)->searcher->size(), (*state)->total_blocks,
                 (*state)->searcher->dim(), (*state)->searcher->type(), orqa::ScanKernelName(),
                 (*state)->embedder->version(),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    spdlog::info("{}; orqa kernels at {}", (*state)->embedder->arithmetic(), orqa::DescribeCpuLevel());
  }
  if (!options.bm25_index.empty()) {
    auto bm25 = orqa::Bm25Index::Open(options.bm25_index, {options.bm25_k1, options.bm25_b});
    if (!bm25.ok()) return orqa::ReportFatal(kProgram, bm25.status());
    if ((*bm25)->size() < options.num_shards) {
      return orqa::ReportFatal(kProgram, absl::FailedPreconditionError(absl::StrCat(
                                             options.bm25_index, ": ", (*bm25)->size(), " documents")));
    }
    spdlog::info("loaded BM25 index {} ({} blocks, k1 {}, b {})", options.bm25_index, (*bm25)->size(),
                 options.bm25_k1, options.bm25_b);
    service.SetBm25(std::move(*bm25));
  }
  host.AddService(&service);
  service.OnReady([&host](bool ready) { host.SetServing("", ready); });
  if (absl::Status s = host.Start(); !s.ok()) return orqa::ReportFatal(kProgram, s);
  host.SetServing("", service.ready());
  host.Wait();
  return 0;
}
