#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/index/embeddings.h"

namespace orqa {

/// Maximum-inner-product search over one shard's block embeddings. Ids are
/// local row numbers of the shard; results are sorted by descending score,
/// ties by ascending id. Search is const and safe to call concurrently.
class Searcher {
 public:
  virtual ~Searcher() = default;
  /// `queries` is [nq, dim]; fills scores and ids, each [nq, k].
  virtual absl::Status Search(const float* queries, int64_t nq, int k, float* scores,
                              int64_t* ids) const = 0;
  virtual int64_t size() const = 0;
  virtual int dim() const = 0;
  /// "flat", "bf16", "int8", "fp16", "sq8", "hnsw", "ivf" or "torch".
  virtual std::string type() const = 0;
  /// Bytes the searcher holds (its copy of the vectors plus its structure).
  virtual int64_t memory_bytes() const = 0;
  /// True when searches read the source matrix given at construction (the
  /// bf16 / int8 re-ranking): its pages are then worth keeping in memory.
  virtual bool reads_source_rows() const { return false; }
};

/// Searcher construction options.
struct SearcherOptions {
  /// flat (exact: rows in a FAISS IndexFlatIP, small batches scanned by
  /// orqa's kernels), bf16 / int8 (top-k from a bf16 / per-row int8 copy,
  /// the candidates re-ranked exactly in fp32),
  /// fp16 / sq8 (FAISS scalar quantiser), hnsw (FAISS IndexHNSWFlat, inner
  /// product), ivf (FAISS IndexIVFFlat), or torch (exact LibTorch matmul +
  /// top-k, no k limit).
  std::string type = "flat";
  /// Threads a search uses (scan parts, FAISS's OpenMP).
  int omp_threads = 1;
  /// flat: batches of up to this many queries use the scan kernels, larger
  /// ones FAISS's BLAS path.
  int scan_max_queries = 16;
  /// bf16 / int8: candidates kept per requested result for the fp32 re-ranking.
  int rerank_factor = 4;
  /// HNSW graph degree and search breadth.
  int hnsw_m = 32;
  int hnsw_ef_search = 128;
  /// IVF lists (0 = 4·√n) and lists probed per query.
  int ivf_nlist = 0;
  int ivf_nprobe = 16;
};

/// Builds a searcher over `embeddings` (which it copies or quantises; the
/// source may be released afterwards).
absl::StatusOr<std::unique_ptr<Searcher>> MakeSearcher(const EmbeddingMatrix& embeddings,
                                                       const SearcherOptions& options);

/// Exact brute-force inner-product top-k over rows (for tests and the
/// approximate-index recall reference), sorted like Searcher results.
void BruteForceTopK(const EmbeddingMatrix& m, const float* query, int k, std::vector<float>* scores,
                    std::vector<int64_t>* ids);

}  // namespace orqa
