#include "common/train/word_vectors.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace orqa {
namespace {

uint64_t Key(int32_t a, int32_t b) { return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b); }

torch::Tensor Orthonormal(const torch::Tensor& y) { return std::get<0>(torch::linalg_qr(y, "reduced")); }

}  // namespace

void CooccurrenceCounts::Add(const std::vector<int32_t>& ids, int window) {
  const int32_t vocab = static_cast<int32_t>(unigram_.size());
  std::vector<int32_t> run;
  run.reserve(ids.size());
  for (int32_t id : ids) {
    if (id >= 0 && id < vocab) run.push_back(id);
  }
  for (size_t i = 0; i < run.size(); ++i) {
    ++unigram_[run[i]];
    for (size_t d = 1; d <= static_cast<size_t>(window) && i + d < run.size(); ++d) {
      const double w = 1.0 / static_cast<double>(d);
      pairs_[Key(run[i], run[i + d])] += w;
      pairs_[Key(run[i + d], run[i])] += w;
    }
  }
  tokens_ += static_cast<int64_t>(run.size());
}

double CooccurrenceCounts::Pair(int32_t a, int32_t b) const {
  auto it = pairs_.find(Key(a, b));
  return it == pairs_.end() ? 0.0 : it->second;
}

std::vector<std::tuple<int32_t, int32_t, double>> PpmiEntries(const CooccurrenceCounts& counts,
                                                              const WordVectorOptions& options) {
  const auto& uni = counts.unigram();
  auto frequent = [&](uint32_t id) { return uni[id] >= options.min_count; };
  std::vector<double> row_sum(uni.size(), 0.0);
  for (const auto& [key, w] : counts.pairs()) {
    const uint32_t a = key >> 32, b = key & 0xffffffffu;
    if (frequent(a) && frequent(b)) row_sum[a] += w;
  }
  double z = 0;  // sum of the smoothed context counts
  for (double r : row_sum) z += r > 0 ? std::pow(r, options.context_alpha) : 0.0;
  std::vector<std::tuple<int32_t, int32_t, double>> entries;
  for (const auto& [key, w] : counts.pairs()) {
    const uint32_t a = key >> 32, b = key & 0xffffffffu;
    if (!frequent(a) || !frequent(b)) continue;
    const double pmi = std::log(w * z / (row_sum[a] * std::pow(row_sum[b], options.context_alpha)));
    if (pmi > 0) entries.emplace_back(static_cast<int32_t>(a), static_cast<int32_t>(b), pmi);
  }
  std::sort(entries.begin(), entries.end());
  return entries;
}

absl::StatusOr<WordVectors> TrainWordVectors(const CooccurrenceCounts& counts, int dim,
                                             const WordVectorOptions& options) {
  const auto entries = PpmiEntries(counts, options);
  const int64_t vocab = static_cast<int64_t>(counts.unigram().size());
  // Rows of the pieces with an entry, in id order.
  std::vector<int64_t> row_of(vocab, -1), id_of;
  for (const auto& [a, b, v] : entries) {
    if (row_of[a] < 0) {
      row_of[a] = static_cast<int64_t>(id_of.size());
      id_of.push_back(a);
    }
  }
  const int64_t n = static_cast<int64_t>(id_of.size());
  if (dim <= 0 || n <= dim) {
    return absl::FailedPreconditionError(absl::StrCat("word vectors: ", n, " pieces occur at least ", options.min_count,
                                                      " times with a positive PMI; need more than ", dim,
                                                      " (more text, or a lower minimum count)"));
  }
  const int64_t nnz = static_cast<int64_t>(entries.size());
  auto idx = torch::empty({2, nnz}, torch::kLong), idx_t = torch::empty({2, nnz}, torch::kLong);
  auto val = torch::empty({nnz}, torch::kFloat32);
  auto ia = idx.accessor<int64_t, 2>(), ta = idx_t.accessor<int64_t, 2>();
  auto va = val.accessor<float, 1>();
  for (int64_t e = 0; e < nnz; ++e) {
    const auto& [a, b, v] = entries[e];
    ia[0][e] = ta[1][e] = row_of[a];
    ia[1][e] = ta[0][e] = row_of[b];
    va[e] = static_cast<float>(v);
  }
  torch::NoGradGuard no_grad;
  // Every piece with an entry is a row; a column is a frequent context (also a row: the counts are symmetric).
  const torch::Tensor m = torch::sparse_coo_tensor(idx, val, {n, n}).coalesce();
  const torch::Tensor mt = torch::sparse_coo_tensor(idx_t, val, {n, n}).coalesce();
  const int64_t k = std::min<int64_t>(n, dim + 16);
  std::mt19937_64 rng(options.seed);
  std::normal_distribution<float> normal;
  torch::Tensor omega = torch::empty({n, k}, torch::kFloat32);
  float* o = omega.data_ptr<float>();
  for (int64_t i = 0; i < n * k; ++i) o[i] = normal(rng);
  torch::Tensor q = Orthonormal(torch::mm(m, omega));
  for (int it = 0; it < options.power_iterations; ++it) q = Orthonormal(torch::mm(m, Orthonormal(torch::mm(mt, q))));
  const torch::Tensor b = torch::mm(mt, q).t();  // [k, n] = Qᵀ M
  auto [ub, s, vh] = torch::linalg_svd(b, /*full_matrices=*/false);
  torch::Tensor u = torch::mm(q, ub).narrow(1, 0, dim) * s.narrow(0, 0, dim).sqrt();
  u = u / u.norm(2, 1, true).clamp_min(1e-12);
  WordVectors out;
  out.vectors = torch::zeros({vocab, dim}, torch::kFloat32);
  out.known = torch::zeros({vocab}, torch::kBool);
  out.vectors.index_copy_(0, torch::tensor(id_of, torch::kLong), u.contiguous());
  out.known.index_fill_(0, torch::tensor(id_of, torch::kLong), true);
  out.words = n;
  for (int64_t i = 0; i < dim; ++i) out.singular_values.push_back(s[i].item<double>());
  return out;
}

}  // namespace orqa
