// FAISS-backed searchers (flat, scalar-quantised, HNSW, IVF) and the
// brute-force reference.
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/utils/distances.h>
#include <omp.h>
#include <sys/mman.h>
#ifdef ORQA_WITH_FAISS_GPU
#include <faiss/gpu/GpuIndexFlat.h>
#include <faiss/gpu/StandardGpuResources.h>
#endif

#include <algorithm>
#include <cmath>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/index/flat_scan.h"
#include "common/index/searcher.h"
#include "common/index/topk_merge.h"

namespace orqa {

std::unique_ptr<Searcher> MakeTorchSearcher(const EmbeddingMatrix& embeddings);  // torch_searcher.cc

namespace {

using Idx = faiss::Index::idx_t;

// Asks for transparent huge pages on [p, p + bytes) (whole 2 MiB pages inside it).
void AdviseHugePages(const void* p, size_t bytes) {
  constexpr uintptr_t kHuge = 2 << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(kHuge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

// Runs `scan_part(begin, end, tops)` over one contiguous row range per thread
// (parts of at least 32k rows) and merges the per-part lists of each query
// exactly into scores and ids, each [nq, k].
template <typename ScanPart>
void ScanParts(const ScanPart& scan_part, int64_t n, int64_t nq, int k, int threads, float* scores, int64_t* ids) {
  const int parts = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, n >> 15)));
  std::vector<std::vector<ScanTopK>> tops(parts, std::vector<ScanTopK>(nq, ScanTopK(k)));
  auto run = [&](int p) { scan_part(n * p / parts, n * (p + 1) / parts, tops[p].data()); };
  std::vector<std::thread> workers;
  for (int p = 1; p < parts; ++p) workers.emplace_back(run, p);
  run(0);
  for (auto& w : workers) w.join();
  std::vector<ScoredIds> lists(parts);
  for (int64_t i = 0; i < nq; ++i) {
    for (int p = 0; p < parts; ++p) lists[p] = tops[p][i].Sorted();
    ScoredIds merged = parts == 1 ? std::move(lists[0]) : MergeTopK(lists, k);
    std::copy(merged.ids.begin(), merged.ids.end(), ids + i * k);
    std::copy(merged.scores.begin(), merged.scores.end(), scores + i * k);
  }
}

// FAISS's search, each list then ordered like Searcher results (FAISS does
// not order ties by id).
void SearchSorted(const faiss::Index& index, const float* q, int64_t nq, int k, float* scores, int64_t* ids) {
  std::vector<Idx> labels(nq * k);
  index.search(nq, q, k, scores, labels.data());
  for (int64_t i = 0; i < nq; ++i) {
    ScoredIds r;
    r.ids.assign(labels.begin() + i * k, labels.begin() + (i + 1) * k);
    r.scores.assign(scores + i * k, scores + (i + 1) * k);
    SortResults(&r);
    std::copy(r.ids.begin(), r.ids.end(), ids + i * k);
    std::copy(r.scores.begin(), r.scores.end(), scores + i * k);
  }
}

class FaissSearcher : public Searcher {
 public:
  FaissSearcher(std::unique_ptr<faiss::Index> index, std::string type, int64_t memory, int omp_threads)
      : index_(std::move(index)), type_(std::move(type)), memory_(memory), omp_threads_(omp_threads) {}

  absl::Status Search(const float* q, int64_t nq, int k, float* scores, int64_t* ids) const override {
    if (k < 1 || k > index_->ntotal) {
      return absl::InvalidArgumentError(absl::StrCat("k: expected 1..", index_->ntotal, ", got ", k));
    }
    omp_set_num_threads(omp_threads_);
    SearchSorted(*index_, q, nq, k, scores, ids);
    return absl::OkStatus();
  }
  int64_t size() const override { return index_->ntotal; }
  int dim() const override { return index_->d; }
  std::string type() const override { return type_; }
  int64_t memory_bytes() const override { return memory_; }

 private:
  std::unique_ptr<faiss::Index> index_;
  std::string type_;
  int64_t memory_;
  int omp_threads_;
};

// Exact flat search: the rows live in one FAISS IndexFlatIP (its storage, its
// BLAS path for large batches); batches of up to `scan_max_queries` queries,
// memory-bound, go through orqa's scan kernels instead, the rows split into
// one contiguous part per thread, each part read once for up to
// kMaxScanQueries queries, the per-part top-k lists merged exactly.
class FlatSearcher : public Searcher {
 public:
  FlatSearcher(const EmbeddingMatrix& m, int threads, int scan_max_queries)
      : index_(static_cast<int>(m.dim())), threads_(threads), scan_max_queries_(scan_max_queries) {
    const int64_t n = m.rows(), d = m.dim();
    // One allocation, asked for huge pages before it is touched (a 13.35M-row
    // scan otherwise walks 1.7M page-table entries).
    index_.codes.reserve(static_cast<size_t>(n * d) * sizeof(float));
    AdviseHugePages(index_.codes.data(), index_.codes.capacity());
    const int64_t chunk = 1 << 20;
    for (int64_t r = 0; r < n; r += chunk) index_.add(std::min(chunk, n - r), m.data() + r * d);
  }

  absl::Status Search(const float* q, int64_t nq, int k, float* scores, int64_t* ids) const override {
    if (k < 1 || k > size()) return absl::InvalidArgumentError(absl::StrCat("k: expected 1..", size(), ", got ", k));
    if (nq > scan_max_queries_) return SearchFaiss(q, nq, k, scores, ids);
    ScanParts(
        [&](int64_t begin, int64_t end, ScanTopK* tops) {
          ScanFloat32(index_.get_xb() + begin * dim(), end - begin, dim(), q, static_cast<int>(nq), begin, tops);
        },
        size(), nq, k, threads_, scores, ids);
    return absl::OkStatus();
  }
  int64_t size() const override { return index_.ntotal; }
  int dim() const override { return index_.d; }
  std::string type() const override { return "flat"; }
  int64_t memory_bytes() const override { return size() * dim() * 4; }

 private:
  absl::Status SearchFaiss(const float* q, int64_t nq, int k, float* scores, int64_t* ids) const {
    omp_set_num_threads(threads_);
    SearchSorted(index_, q, nq, k, scores, ids);
    return absl::OkStatus();
  }

  faiss::IndexFlatIP index_;
  int threads_;
  int scan_max_queries_;
};

// Exact top-k from a compressed copy of the rows: bf16 (half the bytes to
// scan) or int8 with a scale per row (a quarter; VNNI products on a quantised
// question where the CPU has them). The scan keeps
// `rerank` candidates per result, which are then scored again from the fp32
// rows (the source matrix, usually a file mapping read on demand) with the
// flat searcher's kernel, so every returned score is the exact fp32 one; a
// result is missed only if rounding pushes it out of the candidates.
class RerankedSearcher : public Searcher {
 public:
  RerankedSearcher(const EmbeddingMatrix& m, std::string codec, int threads, int rerank)
      : rows_(m), codec_(std::move(codec)), threads_(threads), rerank_(rerank) {
    const int64_t n = m.rows(), d = m.dim(), count = n * d;
    const int64_t chunk = int64_t{1} << 16;  // rows per conversion step
    if (codec_ == "bf16") {
      bf16_.reserve(static_cast<size_t>(count));
      AdviseHugePages(bf16_.data(), bf16_.capacity() * sizeof(uint16_t));
      bf16_.resize(static_cast<size_t>(count));
      for (int64_t r = 0; r < n; r += chunk) ToBFloat16(m.data() + r * d, std::min(chunk, n - r) * d, &bf16_[r * d]);
    } else {
      int8_.reserve(static_cast<size_t>(count));
      AdviseHugePages(int8_.data(), int8_.capacity());
      int8_.resize(static_cast<size_t>(count));
      scales_.resize(static_cast<size_t>(n));
      sums_.resize(static_cast<size_t>(n));
      for (int64_t r = 0; r < n; r += chunk) {
        QuantizeRowsInt8(m.data() + r * d, std::min(chunk, n - r), static_cast<int>(d), &int8_[r * d], &scales_[r],
                         &sums_[r]);
      }
    }
  }

  absl::Status Search(const float* q, int64_t nq, int k, float* scores, int64_t* ids) const override {
    if (k < 1 || k > size()) return absl::InvalidArgumentError(absl::StrCat("k: expected 1..", size(), ", got ", k));
    const int d = dim();
    const int candidates = static_cast<int>(std::min<int64_t>(size(), static_cast<int64_t>(k) * rerank_));
    std::vector<float> cand_scores(nq * candidates);
    std::vector<int64_t> cand_ids(nq * candidates);
    ScanParts(
        [&](int64_t begin, int64_t end, ScanTopK* tops) {
          if (codec_ == "bf16") {
            ScanBFloat16(bf16_.data() + begin * d, end - begin, d, q, static_cast<int>(nq), begin, tops);
          } else {
            ScanInt8(int8_.data() + begin * d, scales_.data() + begin, sums_.data() + begin, end - begin, d, q,
                     static_cast<int>(nq), begin, tops);
          }
        },
        size(), nq, candidates, threads_, cand_scores.data(), cand_ids.data());
    for (int64_t i = 0; i < nq; ++i) {
      std::vector<int64_t> c(cand_ids.begin() + i * candidates, cand_ids.begin() + (i + 1) * candidates);
      std::sort(c.begin(), c.end());  // ascending ids: ties keep the lower id
      ScanTopK top(k);
      for (int64_t id : c) ScanFloat32(rows_.data() + id * d, 1, d, q + i * d, 1, id, &top);
      ScoredIds r = top.Sorted();
      std::copy(r.ids.begin(), r.ids.end(), ids + i * k);
      std::copy(r.scores.begin(), r.scores.end(), scores + i * k);
    }
    return absl::OkStatus();
  }
  int64_t size() const override { return rows_.rows(); }
  int dim() const override { return static_cast<int>(rows_.dim()); }
  std::string type() const override { return codec_; }
  int64_t memory_bytes() const override {
    return static_cast<int64_t>(bf16_.size() * sizeof(uint16_t) + int8_.size() +
                                scales_.size() * (sizeof(float) + sizeof(int32_t)));
  }
  bool reads_source_rows() const override { return true; }

 private:
  EmbeddingMatrix rows_;  // fp32 rows for re-ranking (shares the source's owner)
  std::string codec_;     // bf16 or int8
  std::vector<uint16_t> bf16_;
  std::vector<int8_t> int8_;
  std::vector<float> scales_;
  std::vector<int32_t> sums_;
  int threads_;
  int rerank_;
};

}  // namespace

#ifdef ORQA_WITH_FAISS_GPU
// GpuIndexFlatIP on device 0; FAISS GPU caps k at 2048, so larger k goes to
// the exact LibTorch searcher over the same rows.
class GpuFlatSearcher : public Searcher {
 public:
  explicit GpuFlatSearcher(const EmbeddingMatrix& m)
      : index_(&resources_, static_cast<int>(m.dim())), fallback_(MakeTorchSearcher(m)) {
    const int64_t chunk = 1 << 20;
    for (int64_t r = 0; r < m.rows(); r += chunk) index_.add(std::min(chunk, m.rows() - r), m.data() + r * m.dim());
  }
  absl::Status Search(const float* q, int64_t nq, int k, float* scores, int64_t* ids) const override {
    if (k > 2048) return fallback_->Search(q, nq, k, scores, ids);
    if (k < 1 || k > size()) return absl::InvalidArgumentError(absl::StrCat("k: expected 1..", size(), ", got ", k));
    SearchSorted(index_, q, nq, k, scores, ids);
    return absl::OkStatus();
  }
  int64_t size() const override { return index_.ntotal; }
  int dim() const override { return index_.d; }
  std::string type() const override { return "gpu-flat"; }
  int64_t memory_bytes() const override { return index_.ntotal * index_.d * 4; }

 private:
  mutable faiss::gpu::StandardGpuResources resources_;
  mutable faiss::gpu::GpuIndexFlatIP index_;
  std::unique_ptr<Searcher> fallback_;
};
#endif

absl::StatusOr<std::unique_ptr<Searcher>> MakeSearcher(const EmbeddingMatrix& m, const SearcherOptions& o) {
  if (o.type == "torch") return MakeTorchSearcher(m);
#ifdef ORQA_WITH_FAISS_GPU
  if (o.type == "flat") return std::unique_ptr<Searcher>(new GpuFlatSearcher(m));
#endif
  omp_set_num_threads(std::max(1, o.omp_threads));
  const int d = static_cast<int>(m.dim());
  const int64_t n = m.rows();
  const int threads = std::max(1, o.omp_threads);
  // Large batches of the flat searcher go to FAISS's BLAS path.
  faiss::distance_compute_blas_threshold = 1;
  std::unique_ptr<faiss::Index> index;
  int64_t memory = 0;
  try {
    if (o.type == "flat") {
      return std::unique_ptr<Searcher>(new FlatSearcher(m, threads, o.scan_max_queries));
    } else if (o.type == "bf16" || o.type == "int8") {
      if (o.rerank_factor < 1) {
        return absl::InvalidArgumentError(absl::StrCat("rerank factor: expected at least 1, got ", o.rerank_factor));
      }
      return std::unique_ptr<Searcher>(new RerankedSearcher(m, o.type, threads, o.rerank_factor));
    } else if (o.type == "fp16" || o.type == "sq8") {
      auto qt = o.type == "fp16" ? faiss::ScalarQuantizer::QT_fp16 : faiss::ScalarQuantizer::QT_8bit;
      auto sq = std::make_unique<faiss::IndexScalarQuantizer>(d, qt, faiss::METRIC_INNER_PRODUCT);
      sq->train(n, m.data());
      memory = n * d * (o.type == "fp16" ? 2 : 1);
      index = std::move(sq);
    } else if (o.type == "hnsw") {
      auto h = std::make_unique<faiss::IndexHNSWFlat>(d, o.hnsw_m, faiss::METRIC_INNER_PRODUCT);
      h->hnsw.efSearch = o.hnsw_ef_search;
      memory = n * d * 4 + n * o.hnsw_m * 2 * 4;
      index = std::move(h);
    } else if (o.type == "ivf") {
      int nlist = o.ivf_nlist > 0 ? o.ivf_nlist : std::max(1, static_cast<int>(4 * std::sqrt(static_cast<double>(n))));
      nlist = static_cast<int>(std::min<int64_t>(nlist, n));
      auto quantizer = new faiss::IndexFlatIP(d);
      auto ivf = std::make_unique<faiss::IndexIVFFlat>(quantizer, d, nlist, faiss::METRIC_INNER_PRODUCT);
      ivf->own_fields = true;
      int64_t train_n = std::min<int64_t>(n, static_cast<int64_t>(nlist) * 64);
      ivf->train(train_n, m.data());
      ivf->nprobe = std::min(o.ivf_nprobe, nlist);
      memory = n * d * 4 + n * 8;
      index = std::move(ivf);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("index type: expected flat, bf16, int8, fp16, sq8, hnsw, ivf or torch, got '", o.type, "'"));
    }
    // Add in chunks so a mapped source is paged in progressively.
    const int64_t chunk = 1 << 20;
    for (int64_t r = 0; r < n; r += chunk) index->add(std::min(chunk, n - r), m.data() + r * d);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("building the ", o.type, " index failed: ", e.what()));
  }
  return std::unique_ptr<Searcher>(new FaissSearcher(std::move(index), o.type, memory, std::max(1, o.omp_threads)));
}

void BruteForceTopK(const EmbeddingMatrix& m, const float* q, int k, std::vector<float>* scores,
                    std::vector<int64_t>* ids) {
  ScoredIds all;
  for (int64_t r = 0; r < m.rows(); ++r) {
    const float* row = m.data() + r * m.dim();
    float sf = 0;
    for (int64_t j = 0; j < m.dim(); ++j) sf += row[j] * q[j];
    all.ids.push_back(r);
    all.scores.push_back(sf);
  }
  SortResults(&all);
  all.ids.resize(std::min<size_t>(k, all.ids.size()));
  all.scores.resize(all.ids.size());
  *scores = all.scores;
  *ids = all.ids;
}

}  // namespace orqa
