#pragma once

#include <torch/nn/module.h>

#include "common/model/bert.h"
#include "common/model/state_dict.h"

namespace orqa {

/// RealmEmbedder: projected_score = LayerNorm(cls.dense(pooler_output)).
/// Its unused MLM head (`cls.predictions.*`) is not built; loading skips it.
struct RealmEmbedderImpl : torch::nn::Module {
  explicit RealmEmbedderImpl(const RealmConfig& c);
  struct Output {
    BertOutput bert;
    torch::Tensor projected_score;  // [B, retriever_proj_size]
  };
  Output forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                 const torch::Tensor& token_type_ids);
  /// Loads keys `prefix + realm.*`, `prefix + cls.dense.*`, `prefix + cls.LayerNorm.*`.
  absl::Status Load(const StateDict& state, const std::string& prefix, const std::string& source);

  BertModel realm{nullptr};
  std::shared_ptr<torch::nn::Module> cls;
  torch::nn::Linear dense{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};
};
TORCH_MODULE(RealmEmbedder);

/// Span candidates over a padded length L: widths 1..max_span_width,
/// width-major, starts = arange(L-w+1), ends = starts + w - 1.
void SpanCandidates(int64_t seq_len, int max_span_width, torch::Tensor* starts, torch::Tensor* ends);

/// RealmReaderProjection (`qa_outputs`): start and end projections ADDED,
/// ReLU, LayerNorm(eps reader_layer_norm_eps), dense → 1; invalid spans get
/// + float32 min.
struct RealmReaderProjectionImpl : torch::nn::Module {
  explicit RealmReaderProjectionImpl(const RealmConfig& c);
  /// Returns reader logits [R, C]; fills candidate starts/ends [C].
  torch::Tensor forward(const torch::Tensor& sequence_output, const torch::Tensor& block_mask,
                        torch::Tensor* starts, torch::Tensor* ends);
  int max_span_width;
  torch::nn::Linear dense_intermediate{nullptr}, dense_output{nullptr};
  torch::nn::LayerNorm layer_normalization{nullptr};
};
TORCH_MODULE(RealmReaderProjection);

/// RealmReader without its MLM head (`cls.*`, unused) or pooler (computed but unused).
struct RealmReaderImpl : torch::nn::Module {
  explicit RealmReaderImpl(const RealmConfig& c);
  struct Output {
    torch::Tensor sequence_output;     // [R, L, H]
    torch::Tensor logits_pre_retriever;  // [R, C]
    torch::Tensor candidate_starts, candidate_ends;  // [C]
  };
  Output forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                 const torch::Tensor& token_type_ids, const torch::Tensor& block_mask);
  absl::Status Load(const StateDict& state, const std::string& prefix, const std::string& source);

  BertModel realm{nullptr};
  RealmReaderProjection qa_outputs{nullptr};
};
TORCH_MODULE(RealmReader);

/// RealmKnowledgeAugEncoder: BERT + MLM head with the decoder tied to the
/// word embeddings.
struct RealmKnowledgeAugEncoderImpl : torch::nn::Module {
  explicit RealmKnowledgeAugEncoderImpl(const RealmConfig& c);
  struct Output {
    torch::Tensor last_hidden_state;  // [B·N, L, H]
    torch::Tensor logits;             // [B·N, L, V]
    torch::Tensor masked_lm_log_prob;  // [B, N, L]
    torch::Tensor marginal_gold_log_probs;  // [B, L]
    torch::Tensor loss;               // []
  };
  /// input_ids etc. [B, N, L]; relevance_score [B, N]; labels [B, L] (-100 =
  /// ignored); mlm_mask [B, L] or undefined (then every position counts).
  Output forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                 const torch::Tensor& token_type_ids, const torch::Tensor& relevance_score,
                 const torch::Tensor& labels, const torch::Tensor& mlm_mask);
  /// The same loss as forward() with mlm_mask = (labels != -100), computing
  /// vocabulary logits only at the labelled positions (what training needs:
  /// forward() materialises [B·N, L, V]). Also returns, per labelled position
  /// in row-major (b, l) order, log p(label | candidate) as [M, N] when asked.
  torch::Tensor MaskedMarginalLoss(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                   const torch::Tensor& token_type_ids, const torch::Tensor& relevance_score,
                                   const torch::Tensor& labels, torch::Tensor* candidate_log_probs = nullptr);
  absl::Status Load(const StateDict& state, const std::string& prefix, const std::string& source);

  std::string act;
  BertModel realm{nullptr};
  BertMlmHead predictions{nullptr};  // cls.predictions
};
TORCH_MODULE(RealmKnowledgeAugEncoder);

/// marginal_log_loss: logsumexp(logits) − logsumexp(logits + (1−correct)·min), over the last dim.
torch::Tensor MarginalLogLoss(const torch::Tensor& logits, const torch::Tensor& correct);

/// RealmScorer: relevance [B, N] = einsum("bd,bnd->bn", embed(query), embed(candidates)).
torch::Tensor ScoreCandidates(RealmEmbedder& embedder, const torch::Tensor& query_ids,
                              const torch::Tensor& query_mask, const torch::Tensor& query_types,
                              const torch::Tensor& cand_ids, const torch::Tensor& cand_mask,
                              const torch::Tensor& cand_types, torch::Tensor* query_score,
                              torch::Tensor* candidate_score);

}  // namespace orqa
