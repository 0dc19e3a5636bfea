#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"

namespace orqa {

/// Count-based word vectors over word-piece ids — the cheapest pre-training
/// there is: co-occurrence counts, positive pointwise mutual information with
/// context-distribution smoothing, and a truncated SVD (Levy, Goldberg &
/// Dagan 2015). Seconds on a few megabytes of text, where masked LM from
/// random weights needs hours to give numbers, names and dates similar
/// embeddings; `orqa init-model --word-vectors` starts both encoders' word
/// embeddings from them.
struct WordVectorOptions {
  int window = 5;             // pieces either side; a pair at distance d counts 1/d
  int64_t min_count = 5;      // rarer pieces get no vector
  double context_alpha = 0.75;  // context counts raised to this power
  int power_iterations = 4;   // of the randomised SVD
  uint64_t seed = 0;
};

class CooccurrenceCounts {
 public:
  explicit CooccurrenceCounts(int vocab_size) : unigram_(vocab_size, 0) {}
  /// One run of text (a block, a paragraph): pairs do not cross its ends.
  /// Ids outside [0, vocab_size) are skipped.
  void Add(const std::vector<int32_t>& ids, int window);
  int64_t tokens() const { return tokens_; }
  const std::vector<int64_t>& unigram() const { return unigram_; }
  /// Weighted count of (a, b) with b within the window of a (symmetric).
  double Pair(int32_t a, int32_t b) const;
  const std::unordered_map<uint64_t, double>& pairs() const { return pairs_; }

 private:
  std::vector<int64_t> unigram_;
  std::unordered_map<uint64_t, double> pairs_;  // (a << 32 | b) -> weight, both orders
  int64_t tokens_ = 0;
};

struct WordVectors {
  torch::Tensor vectors;  // [vocab, dim] float: rows of known pieces, unit length; zero elsewhere
  torch::Tensor known;    // [vocab] bool: count >= min_count and at least one positive PMI
  int64_t words = 0;      // known pieces
  std::vector<double> singular_values;  // the top `dim` of the PPMI matrix
};

/// PPMI(a, b) = max(0, log(P(a, b) / (P(a) · P_α(b)))), P(a) from row sums,
/// P_α(b) ∝ (column sum of b)^α, over pieces with count >= min_count.
/// Returns the sparse matrix's entries as (row id, column id, value).
std::vector<std::tuple<int32_t, int32_t, double>> PpmiEntries(const CooccurrenceCounts& counts,
                                                              const WordVectorOptions& options);

/// Rows U·sqrt(S) of the rank-`dim` SVD of the PPMI matrix (randomised:
/// Halko, Martinsson & Tropp 2011), normalised to unit length. Errors when
/// fewer than dim + 1 pieces are frequent enough.
absl::StatusOr<WordVectors> TrainWordVectors(const CooccurrenceCounts& counts, int dim,
                                             const WordVectorOptions& options);

}  // namespace orqa
