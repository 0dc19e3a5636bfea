#include "common/model/realm_models.h"

#include <torch/torch.h>

namespace orqa {
namespace {

torch::Tensor MaskToScore(const torch::Tensor& mask) {
  return (1.0 - mask.to(torch::kFloat32)) * std::numeric_limits<float>::lowest();
}

}  // namespace

RealmEmbedderImpl::RealmEmbedderImpl(const RealmConfig& c) {
  realm = register_module("realm", BertModel(c, /*with_pooler=*/true));
  cls = register_module("cls", std::make_shared<torch::nn::Module>());
  dense = cls->register_module("dense", torch::nn::Linear(c.hidden_size, c.retriever_proj_size));
  LayerNorm = cls->register_module(
      "LayerNorm",
      torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.retriever_proj_size}).eps(c.layer_norm_eps)));
  eval();  // inference by default; trainers switch to train() for dropout
}

RealmEmbedderImpl::Output RealmEmbedderImpl::forward(const torch::Tensor& input_ids,
                                                     const torch::Tensor& attention_mask,
                                                     const torch::Tensor& token_type_ids) {
  Output out;
  out.bert = realm(input_ids, attention_mask, token_type_ids);
  out.projected_score = LayerNorm(dense(out.bert.pooler_output));
  return out;
}

absl::Status RealmEmbedderImpl::Load(const StateDict& state, const std::string& prefix,
                                     const std::string& source) {
  return LoadModule(*this, state, prefix, {"cls.predictions."}, source);
}

void SpanCandidates(int64_t seq_len, int max_span_width, torch::Tensor* starts, torch::Tensor* ends) {
  std::vector<int64_t> s, e;
  for (int w = 1; w <= max_span_width; ++w) {
    for (int64_t i = 0; i + w <= seq_len; ++i) {
      s.push_back(i);
      e.push_back(i + w - 1);
    }
  }
  *starts = torch::tensor(s, torch::kLong);
  *ends = torch::tensor(e, torch::kLong);
}

RealmReaderProjectionImpl::RealmReaderProjectionImpl(const RealmConfig& c)
    : max_span_width(c.max_span_width) {
  dense_intermediate =
      register_module("dense_intermediate", torch::nn::Linear(c.hidden_size, 2 * c.span_hidden_size));
  dense_output = register_module("dense_output", torch::nn::Linear(c.span_hidden_size, 1));
  layer_normalization = register_module(
      "layer_normalization",
      torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.span_hidden_size}).eps(c.reader_layer_norm_eps)));
}

torch::Tensor RealmReaderProjectionImpl::forward(const torch::Tensor& sequence_output,
                                                 const torch::Tensor& block_mask, torch::Tensor* starts,
                                                 torch::Tensor* ends) {
  SpanCandidates(sequence_output.size(1), max_span_width, starts, ends);
  auto hidden = dense_intermediate(sequence_output);
  auto halves = hidden.chunk(2, -1);
  auto start_proj = halves[0].index_select(1, *starts);
  auto end_proj = halves[1].index_select(1, *ends);
  auto candidate = layer_normalization(torch::relu(start_proj + end_proj));
  auto logits = dense_output(candidate).squeeze(-1);
  auto mask = block_mask.to(torch::kFloat32);
  auto span_mask = mask.index_select(1, *starts) * mask.index_select(1, *ends);
  return logits + MaskToScore(span_mask);
}

RealmReaderImpl::RealmReaderImpl(const RealmConfig& c) {
  realm = register_module("realm", BertModel(c, /*with_pooler=*/false));
  qa_outputs = register_module("qa_outputs", RealmReaderProjection(c));
  eval();  // inference by default; trainers switch to train() for dropout
}

RealmReaderImpl::Output RealmReaderImpl::forward(const torch::Tensor& input_ids,
                                                 const torch::Tensor& attention_mask,
                                                 const torch::Tensor& token_type_ids,
                                                 const torch::Tensor& block_mask) {
  Output out;
  out.sequence_output = realm(input_ids, attention_mask, token_type_ids).last_hidden_state;
  out.logits_pre_retriever =
      qa_outputs(out.sequence_output, block_mask, &out.candidate_starts, &out.candidate_ends);
  return out;
}

absl::Status RealmReaderImpl::Load(const StateDict& state, const std::string& prefix,
                                   const std::string& source) {
  return LoadModule(*this, state, prefix, {"cls.", "realm.pooler."}, source);
}

RealmKnowledgeAugEncoderImpl::RealmKnowledgeAugEncoderImpl(const RealmConfig& c) : act(c.hidden_act) {
  realm = register_module("realm", BertModel(c, /*with_pooler=*/false));
  auto cls = register_module("cls", std::make_shared<torch::nn::Module>());
  predictions = cls->register_module("predictions", BertMlmHead(c));
  eval();  // inference by default; trainers switch to train() for dropout
}

RealmKnowledgeAugEncoderImpl::Output RealmKnowledgeAugEncoderImpl::forward(
    const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
    const torch::Tensor& token_type_ids, const torch::Tensor& relevance_score,
    const torch::Tensor& labels, const torch::Tensor& mlm_mask) {
  const int64_t b = input_ids.size(0), n = input_ids.size(1), l = input_ids.size(2);
  Output out;
  out.last_hidden_state =
      realm(input_ids.view({b * n, l}), attention_mask.view({b * n, l}), token_type_ids.view({b * n, l}))
          .last_hidden_state;
  // Decoder tied to the input word embeddings (tie_word_embeddings).
  out.logits = predictions(out.last_hidden_state, realm->embeddings->word_embeddings->weight);
  if (!labels.defined()) return out;
  auto targets = labels.repeat({1, n}).view({-1});
  auto ce = torch::nn::functional::cross_entropy(
      out.logits.view({-1, out.logits.size(-1)}), targets,
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone).ignore_index(-100));
  out.masked_lm_log_prob = (-ce).view({b, n, l});
  auto joint = relevance_score.log_softmax(-1).unsqueeze(-1) + out.masked_lm_log_prob;
  out.marginal_gold_log_probs = joint.logsumexp(1);
  auto mask = mlm_mask.defined() ? mlm_mask.to(torch::kFloat32) : torch::ones_like(labels, torch::kFloat32);
  out.loss = -torch::nansum(torch::sum(out.marginal_gold_log_probs * mask) / torch::sum(mask));
  return out;
}

torch::Tensor RealmKnowledgeAugEncoderImpl::MaskedMarginalLoss(const torch::Tensor& input_ids,
                                                             const torch::Tensor& attention_mask,
                                                             const torch::Tensor& token_type_ids,
                                                             const torch::Tensor& relevance_score,
                                                             const torch::Tensor& labels,
                                                             torch::Tensor* candidate_log_probs) {
  const int64_t b = input_ids.size(0), n = input_ids.size(1), l = input_ids.size(2);
  auto hidden =
      realm(input_ids.view({b * n, l}), attention_mask.view({b * n, l}), token_type_ids.view({b * n, l}))
          .last_hidden_state.view({b, n, l, -1});
  auto where = labels.ne(-100);                                  // [B, L]
  auto picked = hidden.permute({0, 2, 1, 3}).index({where});     // [M, N, H]
  auto logits = predictions(picked, realm->embeddings->word_embeddings->weight);  // [M, N, V]
  auto target = labels.index({where});                           // [M]
  auto lp = logits.log_softmax(-1).gather(-1, target.view({-1, 1, 1}).expand({-1, n, 1})).squeeze(-1);  // [M, N]
  if (candidate_log_probs) *candidate_log_probs = lp;
  auto rows = where.nonzero().select(1, 0);                      // example of each position
  auto joint = relevance_score.log_softmax(-1).index_select(0, rows) + lp;
  return -joint.logsumexp(-1).mean();
}

absl::Status RealmKnowledgeAugEncoderImpl::Load(const StateDict& state, const std::string& prefix,
                                                const std::string& source) {
  return LoadModule(*this, state, prefix, {"realm.pooler.", "cls.predictions.decoder."}, source);
}

torch::Tensor MarginalLogLoss(const torch::Tensor& logits, const torch::Tensor& correct) {
  auto log_numerator = torch::logsumexp(logits + MaskToScore(correct), -1);
  auto log_denominator = torch::logsumexp(logits, -1);
  return log_denominator - log_numerator;
}

torch::Tensor ScoreCandidates(RealmEmbedder& embedder, const torch::Tensor& query_ids,
                              const torch::Tensor& query_mask, const torch::Tensor& query_types,
                              const torch::Tensor& cand_ids, const torch::Tensor& cand_mask,
                              const torch::Tensor& cand_types, torch::Tensor* query_score,
                              torch::Tensor* candidate_score) {
  const int64_t b = cand_ids.size(0), n = cand_ids.size(1), l = cand_ids.size(2);
  auto q = embedder(query_ids, query_mask, query_types).projected_score;
  auto c = embedder(cand_ids.view({b * n, l}), cand_mask.view({b * n, l}), cand_types.view({b * n, l}))
               .projected_score.view({b, n, -1});
  if (query_score) *query_score = q;
  if (candidate_score) *candidate_score = c;
  return torch::einsum("bd,bnd->bn", {q, c});
}

}  // namespace orqa
