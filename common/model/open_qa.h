#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/model/realm_models.h"
#include "common/text/wordpiece_tokenizer.h"

namespace orqa {

/// The reference's choice of answer span over a [blocks × candidates] table of
/// scores: the block whose best candidate scores highest and, independently,
/// the candidate whose best block scores highest (the first index on ties, as
/// argmax). The pair is not always a valid span of that block; the caller
/// checks. Used by OpenQaModel (training and the goldens) and SpanReader
/// (serving), so both pick the same span.
template <typename Score>
std::pair<int64_t, int64_t> ReferenceBestSpan(int64_t blocks, int64_t candidates, const Score& score) {
  int64_t best_block = 0, best_cand = 0;
  float best_block_v = -std::numeric_limits<float>::infinity(), best_cand_v = best_block_v;
  for (int64_t b = 0; b < blocks; ++b) {
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t c = 0; c < candidates; ++c) m = std::max(m, static_cast<float>(score(b, c)));
    if (m > best_block_v) best_block_v = m, best_block = b;
  }
  for (int64_t c = 0; c < candidates; ++c) {
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t b = 0; b < blocks; ++b) m = std::max(m, static_cast<float>(score(b, c)));
    if (m > best_cand_v) best_cand_v = m, best_cand = c;
  }
  return {best_block, best_cand};
}

/// Reader inputs for question-block pairs, built as the reference does:
/// `[CLS] q [SEP] block [SEP]`, longest_first truncation to `seq_len`, padded
/// to the longest pair, block_mask = block tokens only.
struct ReaderInputs {
  std::vector<PairEncoding> encodings;               // padded
  std::vector<std::vector<WordPiece>> block_pieces;  // word pieces of each block text (offsets)
  torch::Tensor input_ids, token_type_ids, attention_mask, special_tokens_mask;  // [n, L] int64
  torch::Tensor block_mask;                                                        // [n, L] bool
  int64_t tokens = 0;                                                              // non-padding tokens
};

/// One pair per (question ids, block text), truncated to
/// `config.reader_seq_len`; the pointers must stay valid for the call. With
/// `config.reader_question_match`, block words found in the question get
/// token type 2; with `config.reader_word_shape`, the others get their shape
/// type (MarkBlockWords).
ReaderInputs EncodeReaderInputs(const WordPieceTokenizer& tok,
                                const std::vector<std::pair<const std::vector<int32_t>*, const std::string*>>& pairs,
                                const RealmConfig& config);

/// The reader's input features, in one pass over the block words (a word's
/// pieces joined, lower case as tokenized): with `config.reader_question_match`
/// every piece of a block word that is also a word of the question (stop words
/// and words without a letter or digit aside) gets token type 2; with
/// `config.reader_word_shape` the other words get type 3 when they hold a
/// digit, 4 when their first character in `text` (the block text the pieces'
/// byte offsets point into) is an ASCII upper-case letter. `e` must be an
/// EncodePair of (question ids, block pieces); nothing changes with both off.
void MarkBlockWords(const WordPieceTokenizer& tok, const std::vector<int32_t>& question_ids,
                    const std::vector<WordPiece>& block_pieces, const std::string& text, const RealmConfig& config,
                    PairEncoding* e);

/// Everything one RealmForOpenQA forward computes, named as the reference's
/// intermediates. S = searcher beam (reader beam in eval), R = reader beam,
/// L = padded pair length, C = number of span candidates.
struct OpenQAOutput {
  torch::Tensor question_input_ids;    // [1, Lq]
  torch::Tensor question_projection;   // [1, D]
  torch::Tensor retrieved_block_ids;   // [S]
  torch::Tensor retrieved_logits;      // [S]
  ReaderInputs reader_inputs;          // [S] pairs: input_ids, masks, block_mask [S, L]
  torch::Tensor reader_sequence_output;  // [R, L, H]
  torch::Tensor reader_logits_pre_retriever, reader_logits;  // [R, C]
  torch::Tensor candidate_starts, candidate_ends;  // [C]
  int64_t block_idx = 0, candidate = 0, start_pos = 0, end_pos = 0;
  torch::Tensor predicted_answer_ids;  // [end-start+1]
  // Only with answers:
  torch::Tensor has_answers;           // [S] bool
  torch::Tensor start_positions, end_positions;  // [S, A]
  torch::Tensor retriever_correct;     // [S] bool
  torch::Tensor reader_correct;        // [R, C] bool
  torch::Tensor retriever_loss, reader_loss, loss;  // []
};

/// RealmForOpenQA: question embedding, inner-product top-k over block
/// embeddings, reader over [CLS] question [SEP] block [SEP], best span,
/// and the marginal-likelihood losses when answers are given.
class RealmOpenQA {
 public:
  RealmOpenQA(const RealmConfig& config, const WordPieceTokenizer* tokenizer);

  /// Loads `embedder.*`, `reader.*` (strict) and `block_emb` from a
  /// RealmForOpenQA state dict.
  absl::Status Load(const StateDict& state, const std::string& source);

  /// `blocks` are the texts of the rows of block_emb. `training` selects the
  /// searcher beam (train) or reader beam (eval) for retrieval, as the
  /// reference's `self.training` does; dropout is never applied.
  OpenQAOutput Forward(const std::string& question, const std::vector<std::string>& blocks,
                       const std::vector<std::string>* answers, bool training);

  /// The question's `[CLS] q [SEP]` ids [1, Lq] and its projection [1, D]
  /// (with gradients when grad mode is on).
  torch::Tensor EmbedQuestion(const std::string& question, torch::Tensor* input_ids);

  /// Everything after retrieval, for blocks retrieved elsewhere (a retriever
  /// service): `retrieved_emb` [S, D] are the rows of the S retrieved blocks
  /// best first, `texts` their texts. The retrieval logits are recomputed
  /// here so gradients reach `question_projection`.
  void ForwardRetrieved(const std::string& question, const torch::Tensor& question_projection,
                        const torch::Tensor& retrieved_block_ids, const torch::Tensor& retrieved_emb,
                        const std::vector<const std::string*>& texts, const std::vector<std::string>* answers,
                        OpenQAOutput* out);

  RealmEmbedder& embedder() { return embedder_; }
  RealmReader& reader() { return reader_; }
  torch::Tensor& block_emb() { return block_emb_; }
  const RealmConfig& config() const { return config_; }

 private:
  RealmConfig config_;
  const WordPieceTokenizer* tokenizer_;
  RealmEmbedder embedder_{nullptr};
  RealmReader reader_{nullptr};
  torch::Tensor block_emb_;
};

/// ORQA's evaluation metrics for one question (compute_eval_metrics).
struct EvalMetrics {
  bool exact_match = false;           // reader_correct[block_idx][candidate]: token-level gold span
  bool official_exact_match = false;  // normalised predicted string equals a normalised reference
  bool reader_oracle = false;         // some candidate in the reader beam is gold
  std::map<int, bool> top_k_match;    // any(has_answers[:k]) over the retrieved blocks
};

/// The k of the top_k_match metrics.
inline const std::vector<int>& TopKMetricKs() {
  static const std::vector<int> kKs = {5, 10, 50, 100, 500, 1000, 5000};
  return kKs;
}

/// Metrics of a forward pass that was given answers; `predicted_answer` is
/// the string compared with the references.
EvalMetrics ComputeEvalMetrics(const OpenQAOutput& out, const std::string& predicted_answer,
                               const std::vector<std::string>& answers);

/// Encodes a batch of single texts as `[CLS] text [SEP]`, truncated to
/// `max_length`, padded to the longest: input_ids, attention_mask, token_type_ids.
void EncodeSingles(const WordPieceTokenizer& tok, const std::vector<std::string>& texts,
                   int max_length, torch::Tensor* ids, torch::Tensor* mask, torch::Tensor* types);

}  // namespace orqa
