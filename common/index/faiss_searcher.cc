// FAISS-backed searchers (flat, scalar-quantised, HNSW, IVF) and the
// brute-force reference.
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/utils/distances.h>
#include <omp.h>
#ifdef ORQA_WITH_FAISS_GPU
#include <faiss/gpu/GpuIndexFlat.h>
#include <faiss/gpu/StandardGpuResources.h>
#endif

#include <algorithm>
#include <cmath>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/index/searcher.h"
#include "common/index/topk_merge.h"

namespace orqa {

std::unique_ptr<Searcher> MakeTorchSearcher(const EmbeddingMatrix& embeddings);  // torch_searcher.cc

namespace {

using Idx = faiss::Index::idx_t;

class FaissSearcher : public Searcher {
 public:
  FaissSearcher(std::unique_ptr<faiss::Index> index, std::string type, int64_t memory, int omp_threads)
      : index_(std::move(index)), type_(std::move(type)), memory_(memory), omp_threads_(omp_threads) {}

  absl::Status Search(const float* q, int64_t nq, int k, float* scores, int64_t* ids) const override {
    if (k < 1 || k > index_->ntotal) {
      return absl::InvalidArgumentError(absl::StrCat("k: expected 1..", index_->ntotal, ", got ", k));
    }
    omp_set_num_threads(omp_threads_);
    std::vector<Idx> labels(nq * k);
    index_->search(nq, q, k, scores, labels.data());
    for (int64_t i = 0; i < nq; ++i) {
      ScoredIds r;
      r.ids.assign(labels.begin() + i * k, labels.begin() + (i + 1) * k);
      r.scores.assign(scores + i * k, scores + (i + 1) * k);
      SortResults(&r);  // FAISS does not order ties by id
      std::copy(r.ids.begin(), r.ids.end(), ids + i * k);
      std::copy(r.scores.begin(), r.scores.end(), scores + i * k);
    }
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

// Exact flat search over row ranges held by one IndexFlatIP each. A batch of
// a few queries is memory-bound and BLAS runs it on one thread, so the parts
// are scanned in parallel threads; larger batches go part by part with
// FAISS's own OpenMP parallelism. Per-part top-k lists merge exactly.
class PartitionedFlatSearcher : public Searcher {
 public:
  PartitionedFlatSearcher(const EmbeddingMatrix& m, int parts, int omp_threads) : omp_threads_(omp_threads) {
    const int64_t n = m.rows();
    for (int p = 0; p < parts; ++p) {
      int64_t begin = n * p / parts, end = n * (p + 1) / parts;
      auto index = std::make_unique<faiss::IndexFlatIP>(static_cast<int>(m.dim()));
      const int64_t chunk = 1 << 20;
      for (int64_t r = begin; r < end; r += chunk) {
        index->add(std::min(chunk, end - r), m.data() + r * m.dim());
      }
      offsets_.push_back(begin);
      parts_.push_back(std::move(index));
    }
    size_ = n;
    dim_ = static_cast<int>(m.dim());
  }

  absl::Status Search(const float* q, int64_t nq, int k, float* scores, int64_t* ids) const override {
    if (k < 1 || k > size_) return absl::InvalidArgumentError(absl::StrCat("k: expected 1..", size_, ", got ", k));
    const size_t np = parts_.size();
    std::vector<std::vector<float>> ps(np);
    std::vector<std::vector<Idx>> pi(np);
    auto run = [&](size_t p) {
      const int kp = static_cast<int>(std::min<int64_t>(k, parts_[p]->ntotal));
      ps[p].assign(nq * kp, 0);
      pi[p].assign(nq * kp, -1);
      parts_[p]->search(nq, q, kp, ps[p].data(), pi[p].data());
    };
    omp_set_num_threads(omp_threads_);
    if (nq <= kParallelPartsMaxQueries) {
      std::vector<std::thread> threads;
      for (size_t p = 1; p < np; ++p) threads.emplace_back(run, p);
      run(0);
      for (auto& t : threads) t.join();
    } else {
      for (size_t p = 0; p < np; ++p) run(p);
    }
    for (int64_t i = 0; i < nq; ++i) {
      std::vector<ScoredIds> lists(np);
      for (size_t p = 0; p < np; ++p) {
        const size_t kp = ps[p].size() / nq;
        for (size_t j = 0; j < kp; ++j) {
          if (pi[p][i * kp + j] < 0) continue;
          lists[p].ids.push_back(pi[p][i * kp + j] + offsets_[p]);
          lists[p].scores.push_back(ps[p][i * kp + j]);
        }
      }
      ScoredIds merged = MergeTopK(lists, k);
      std::copy(merged.ids.begin(), merged.ids.end(), ids + i * k);
      std::copy(merged.scores.begin(), merged.scores.end(), scores + i * k);
    }
    return absl::OkStatus();
  }
  int64_t size() const override { return size_; }
  int dim() const override { return dim_; }
  std::string type() const override { return "flat"; }
  int64_t memory_bytes() const override { return size_ * dim_ * 4; }

 private:
  static constexpr int64_t kParallelPartsMaxQueries = 4;
  std::vector<std::unique_ptr<faiss::IndexFlatIP>> parts_;
  std::vector<int64_t> offsets_;
  int64_t size_ = 0;
  int dim_ = 0;
  int omp_threads_;
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
    std::vector<Idx> labels(nq * k);
    index_.search(nq, q, k, scores, labels.data());
    for (int64_t i = 0; i < nq; ++i) {
      ScoredIds r;
      r.ids.assign(labels.begin() + i * k, labels.begin() + (i + 1) * k);
      r.scores.assign(scores + i * k, scores + (i + 1) * k);
      SortResults(&r);
      std::copy(r.ids.begin(), r.ids.end(), ids + i * k);
      std::copy(r.scores.begin(), r.scores.end(), scores + i * k);
    }
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
  // Below this many queries FAISS scans with its own kernels, above with BLAS.
  // One thread: BLAS is faster even for one query (50 vs 72 ms at 1M x 128).
  // Parallel parts: FAISS's scan of the halves in two threads wins (41 ms).
  const int d = static_cast<int>(m.dim());
  const int64_t n = m.rows();
  const bool partitioned = o.type == "flat" && o.omp_threads > 1 && n >= 2 * o.omp_threads;
  faiss::distance_compute_blas_threshold = partitioned ? 2 : 1;
  std::unique_ptr<faiss::Index> index;
  int64_t memory = 0;
  try {
    if (partitioned) {
      return std::unique_ptr<Searcher>(new PartitionedFlatSearcher(m, o.omp_threads, o.omp_threads));
    } else if (o.type == "flat") {
      index = std::make_unique<faiss::IndexFlatIP>(d);
      memory = n * d * 4;
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
          absl::StrCat("index type: expected flat, fp16, sq8, hnsw, ivf or torch, got '", o.type, "'"));
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
