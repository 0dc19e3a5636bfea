#include "common/model/bert.h"

#include <torch/torch.h>

#include <cmath>

namespace orqa {

torch::Tensor Activation(const std::string& name, const torch::Tensor& x) {
  if (name == "gelu_new") {
    // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), written as the reference does.
    return 0.5 * x * (1.0 + torch::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * torch::pow(x, 3.0))));
  }
  return torch::gelu(x);
}

BertEmbeddingsImpl::BertEmbeddingsImpl(const RealmConfig& c) : dropout(c.hidden_dropout_prob) {
  word_embeddings = register_module("word_embeddings", torch::nn::Embedding(c.vocab_size, c.hidden_size));
  position_embeddings = register_module(
      "position_embeddings", torch::nn::Embedding(c.max_position_embeddings, c.hidden_size));
  token_type_embeddings =
      register_module("token_type_embeddings", torch::nn::Embedding(c.type_vocab_size, c.hidden_size));
  LayerNorm = register_module(
      "LayerNorm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)));
}

torch::Tensor BertEmbeddingsImpl::forward(const torch::Tensor& input_ids,
                                          const torch::Tensor& token_type_ids) {
  auto positions = torch::arange(input_ids.size(1), input_ids.options().dtype(torch::kLong));
  auto x = word_embeddings(input_ids) + token_type_embeddings(token_type_ids);
  x = x + position_embeddings(positions).unsqueeze(0);
  return torch::dropout(LayerNorm(x), dropout, is_training());
}

BertSelfAttentionImpl::BertSelfAttentionImpl(const RealmConfig& c)
    : heads(c.num_attention_heads), head_dim(c.head_dim()), dropout(c.attention_probs_dropout_prob) {
  query = register_module("query", torch::nn::Linear(c.hidden_size, c.hidden_size));
  key = register_module("key", torch::nn::Linear(c.hidden_size, c.hidden_size));
  value = register_module("value", torch::nn::Linear(c.hidden_size, c.hidden_size));
}

torch::Tensor BertSelfAttentionImpl::forward(const torch::Tensor& hidden,
                                             const torch::Tensor& mask_bias) {
  const int64_t b = hidden.size(0), l = hidden.size(1);
  auto split = [&](const torch::Tensor& t) { return t.view({b, l, heads, head_dim}).permute({0, 2, 1, 3}); };
  auto q = split(query(hidden)), k = split(key(hidden)), v = split(value(hidden));
  auto scores = torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(head_dim));
  scores = scores + mask_bias;
  auto probs = torch::dropout(torch::softmax(scores, -1), dropout, is_training());
  auto context = torch::matmul(probs, v).permute({0, 2, 1, 3}).contiguous();
  return context.view({b, l, heads * head_dim});
}

BertResidualOutputImpl::BertResidualOutputImpl(int in, int out, double eps, double dropout) : dropout(dropout) {
  dense = register_module("dense", torch::nn::Linear(in, out));
  LayerNorm = register_module("LayerNorm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({out}).eps(eps)));
}

torch::Tensor BertResidualOutputImpl::forward(const torch::Tensor& x, const torch::Tensor& residual) {
  return LayerNorm(torch::dropout(dense(x), dropout, is_training()) + residual);
}

BertAttentionImpl::BertAttentionImpl(const RealmConfig& c) {
  self = register_module("self", BertSelfAttention(c));
  output = register_module("output", BertResidualOutput(c.hidden_size, c.hidden_size, c.layer_norm_eps, c.hidden_dropout_prob));
}

torch::Tensor BertAttentionImpl::forward(const torch::Tensor& hidden, const torch::Tensor& mask_bias) {
  return output(self(hidden, mask_bias), hidden);
}

BertIntermediateImpl::BertIntermediateImpl(const RealmConfig& c) : act(c.hidden_act) {
  dense = register_module("dense", torch::nn::Linear(c.hidden_size, c.intermediate_size));
}

torch::Tensor BertIntermediateImpl::forward(const torch::Tensor& x) { return Activation(act, dense(x)); }

BertLayerImpl::BertLayerImpl(const RealmConfig& c) {
  attention = register_module("attention", BertAttention(c));
  intermediate = register_module("intermediate", BertIntermediate(c));
  output = register_module("output", BertResidualOutput(c.intermediate_size, c.hidden_size, c.layer_norm_eps, c.hidden_dropout_prob));
}

torch::Tensor BertLayerImpl::forward(const torch::Tensor& hidden, const torch::Tensor& mask_bias) {
  auto attended = attention(hidden, mask_bias);
  return output(intermediate(attended), attended);
}

BertPoolerImpl::BertPoolerImpl(const RealmConfig& c) {
  dense = register_module("dense", torch::nn::Linear(c.hidden_size, c.hidden_size));
}

torch::Tensor BertPoolerImpl::forward(const torch::Tensor& hidden) {
  return torch::tanh(dense(hidden.select(1, 0)));
}

BertModelImpl::BertModelImpl(const RealmConfig& c, bool with_pooler) {
  embeddings = register_module("embeddings", BertEmbeddings(c));
  layers = torch::nn::ModuleList();
  for (int i = 0; i < c.num_hidden_layers; ++i) layers->push_back(BertLayer(c));
  auto encoder = std::make_shared<torch::nn::Module>();
  encoder->register_module("layer", layers);
  register_module("encoder", encoder);
  if (with_pooler) pooler = register_module("pooler", BertPooler(c));
}

BertOutput BertModelImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                  const torch::Tensor& token_type_ids) {
  BertOutput out;
  out.embedding_output = embeddings(input_ids, token_type_ids);
  // (1 - mask) · float32 min, broadcast over heads and query positions.
  auto mask = attention_mask.to(torch::kFloat32).unsqueeze(1).unsqueeze(2);
  auto mask_bias = (1.0 - mask) * std::numeric_limits<float>::lowest();
  torch::Tensor h = out.embedding_output;
  for (const auto& layer : *layers) h = layer->as<BertLayer>()->forward(h, mask_bias);
  out.last_hidden_state = h;
  if (pooler) out.pooler_output = pooler(h);
  return out;
}

}  // namespace orqa
