// Exact LibTorch searcher: matmul against row chunks + top-k, merged. No
// limit on k (FAISS GPU caps k at 2048); runs on the GPU in CUDA builds.
#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "common/index/searcher.h"
#include "common/index/topk_merge.h"

namespace orqa {
namespace {

class TorchSearcher : public Searcher {
 public:
  explicit TorchSearcher(const EmbeddingMatrix& m) {
    auto view = torch::from_blob(const_cast<float*>(m.data()), {m.rows(), m.dim()}, torch::kFloat32);
    matrix_ = view.clone();  // own copy: the source mapping may be released
#ifdef ORQA_WITH_CUDA
    if (torch::cuda::is_available()) matrix_ = matrix_.to(torch::kCUDA);
#endif
  }

  absl::Status Search(const float* q, int64_t nq, int k, float* scores, int64_t* ids) const override {
    if (k < 1 || k > size()) return absl::InvalidArgumentError(absl::StrCat("k: expected 1..", size(), ", got ", k));
    torch::InferenceMode guard;
    auto queries = torch::from_blob(const_cast<float*>(q), {nq, dim()}, torch::kFloat32).to(matrix_.device());
    const int64_t chunk = 1 << 20;
    std::vector<torch::Tensor> best_s, best_i;
    for (int64_t r = 0; r < size(); r += chunk) {
      auto part = matrix_.narrow(0, r, std::min(chunk, size() - r));
      auto s = torch::matmul(queries, part.t());
      auto top = torch::topk(s, std::min<int64_t>(k, part.size(0)), 1);
      best_s.push_back(std::get<0>(top));
      best_i.push_back(std::get<1>(top) + r);
    }
    auto all_s = torch::cat(best_s, 1).cpu(), all_i = torch::cat(best_i, 1).cpu();
    for (int64_t i = 0; i < nq; ++i) {
      ScoredIds row;
      row.scores.assign(all_s[i].data_ptr<float>(), all_s[i].data_ptr<float>() + all_s.size(1));
      row.ids.assign(all_i[i].data_ptr<int64_t>(), all_i[i].data_ptr<int64_t>() + all_i.size(1));
      ScoredIds merged = MergeTopK({row}, k);
      std::copy(merged.ids.begin(), merged.ids.end(), ids + i * k);
      std::copy(merged.scores.begin(), merged.scores.end(), scores + i * k);
    }
    return absl::OkStatus();
  }
  int64_t size() const override { return matrix_.size(0); }
  int dim() const override { return static_cast<int>(matrix_.size(1)); }
  std::string type() const override { return "torch"; }
  int64_t memory_bytes() const override { return matrix_.numel() * 4; }

 private:
  torch::Tensor matrix_;
};

}  // namespace

std::unique_ptr<Searcher> MakeTorchSearcher(const EmbeddingMatrix& m) { return std::make_unique<TorchSearcher>(m); }

}  // namespace orqa
