#include "common/model/bert.h"

#include <torch/torch.h>

#include <cmath>

namespace orqa {

BertMlmHeadImpl::BertMlmHeadImpl(const RealmConfig& c) : act(c.hidden_act) {
  auto transform = register_module("transform", std::make_shared<torch::nn::Module>());
  dense = transform->register_module("dense", torch::nn::Linear(c.hidden_size, c.hidden_size));
  LayerNorm = transform->register_module(
      "LayerNorm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)));
  bias = register_parameter("bias", torch::zeros({c.vocab_size}));
}

torch::Tensor BertMlmHeadImpl::forward(const torch::Tensor& hidden, const torch::Tensor& word_embeddings) {
  return torch::matmul(LayerNorm(Activation(act, dense(hidden))), word_embeddings.t()) + bias;
}

torch::Tensor Activation(const std::string& name, const torch::Tensor& x) {
  if (name == "gelu_new") {
    // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), the reference's formula, as
    // one vectorised kernel (LibTorch's tanh-approximate GELU is that formula).
    return torch::gelu(x, "tanh");
  }
  return torch::gelu(x);
}

void LowPrecisionLinear::Prepare(const torch::nn::Linear& linear, const PrecisionPlan& plan) {
  Prepare(linear->weight, linear->bias, plan);
}

void LowPrecisionLinear::Prepare(const torch::Tensor& weight, const torch::Tensor& bias, const PrecisionPlan& plan) {
  fused_.reset();
  activation_type_ = plan.bf16_activations ? torch::kBFloat16 : torch::kFloat32;
  if (plan.dense == Precision::kFP32) return;
  fused_ = std::make_shared<const FusedDense>(weight, bias,
                                              plan.dense == Precision::kInt8 ? Arithmetic::kInt8 : Arithmetic::kBf16);
}

torch::Tensor LowPrecisionLinear::Product(const torch::Tensor& x) const {
  return fused_->Forward(x, Epilogue::kBias, activation_type_);
}

torch::Tensor LowPrecisionLinear::Activation(const torch::Tensor& x, const std::string& act) const {
  // The same names as Activation(): "gelu_new" is the tanh form, anything else erf.
  return fused_->Forward(x, act == "gelu_new" ? Epilogue::kBiasGeluTanh : Epilogue::kBiasGeluErf, activation_type_);
}

torch::Tensor LowPrecisionLinear::AddTo(const torch::Tensor& x, const torch::Tensor& residual) const {
  return fused_->ForwardAddTo(x, residual);
}

torch::Tensor LowPrecisionLinear::operator()(const torch::nn::Linear& linear, const torch::Tensor& x) const {
  if (!prepared() || linear->is_training()) return torch::linear(x, linear->weight, linear->bias);
  return fused_->Forward(x, Epilogue::kBias, torch::kFloat32);
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
  const bool fast = fast_qkv.prepared() && !is_training();
  if (fast && fast_qkv.activation_type() == torch::kBFloat16) {
    // bf16 / int8 products, the attention in bf16: one product for query, key
    // and value (bf16 out), copied once into head-major order; the scores in
    // fp32 from oneDNN; scale, mask, softmax and the cast to bf16 in one pass;
    // the context product in bf16, left in bf16 for the output dense layer.
    auto qkv = fast_qkv.Product(hidden).view({b, l, 3, heads, head_dim}).permute({2, 0, 3, 1, 4}).contiguous();
    auto per_head = [&](int i) { return qkv[i].view({b * heads, l, head_dim}); };
    auto q = per_head(0), k = per_head(1), v = per_head(2);
    auto context = torch::empty({b * heads, l, head_dim}, qkv.options());
    auto bias = mask_bias.expand({b, heads, 1, l}).reshape({b * heads, 1, 1, l});
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim)));
    // A few heads at a time, so that their fp32 scores (l × l each) stay in
    // the cores' caches between the product, the softmax and the next product.
    const int64_t chunk = std::max<int64_t>(1, (1 << 20) / std::max<int64_t>(1, l * l * 4));
    for (int64_t h0 = 0; h0 < b * heads; h0 += chunk) {
      const int64_t h1 = std::min(b * heads, h0 + chunk);
      auto scores = Bf16BatchedMatmul(q.slice(0, h0, h1), k.slice(0, h0, h1).transpose(1, 2), torch::kFloat32);
      auto probs = ScaledMaskedSoftmaxBf16(scores.unsqueeze(1), bias.slice(0, h0, h1), scale);
      context.slice(0, h0, h1).copy_(Bf16BatchedMatmul(probs.squeeze(1), v.slice(0, h0, h1), torch::kBFloat16));
    }
    return context.view({b, heads, l, head_dim}).permute({0, 2, 1, 3}).reshape({b, l, heads * head_dim});
  }
  torch::Tensor q, k, v;
  if (fast) {
    // int8 products on a CPU without a bf16 matmul: one product for query,
    // key and value in fp32, the attention in fp32.
    auto qkv = fast_qkv.Product(hidden).chunk(3, -1);
    q = split(qkv[0]), k = split(qkv[1]), v = split(qkv[2]);
  } else {
    q = split(query(hidden)), k = split(key(hidden)), v = split(value(hidden));
  }
  auto scores = torch::matmul(q, k.transpose(-1, -2));
  scores.div_(std::sqrt(static_cast<double>(head_dim))).add_(mask_bias);
  auto probs = torch::dropout(torch::softmax(scores, -1), dropout, is_training());
  auto context = torch::matmul(probs, v).permute({0, 2, 1, 3}).contiguous();
  return context.view({b, l, heads * head_dim});
}

BertResidualOutputImpl::BertResidualOutputImpl(int in, int out, double eps, double dropout) : dropout(dropout) {
  dense = register_module("dense", torch::nn::Linear(in, out));
  LayerNorm = register_module("LayerNorm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({out}).eps(eps)));
}

void BertSelfAttentionImpl::SetPrecision(const PrecisionPlan& plan) {
  torch::NoGradGuard no_grad;
  fast_qkv.Prepare(torch::cat({query->weight, key->weight, value->weight}, 0),
                   torch::cat({query->bias, key->bias, value->bias}, 0), plan);
}

torch::Tensor BertResidualOutputImpl::forward(const torch::Tensor& x, const torch::Tensor& residual) {
  if (fast_dense.prepared() && !is_training()) {
    return LayerNorm(fast_dense.AddTo(x, residual));  // dropout is the identity at inference
  }
  return LayerNorm(torch::dropout(fast_dense(dense, x), dropout, is_training()) + residual);
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

torch::Tensor BertIntermediateImpl::forward(const torch::Tensor& x) {
  // bf16 / int8: the activation fused into the product, its output in the plan's activation type.
  if (fast_dense.prepared() && !is_training()) return fast_dense.Activation(x, act);
  return Activation(act, fast_dense(dense, x));
}

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

void BertModelImpl::SetPrecision(Precision p) {
  plan_ = PlanPrecision(p);
  for (const auto& item : *layers) {
    auto layer = item->as<BertLayer>();
    layer->attention->self->SetPrecision(plan_);
    layer->attention->output->SetPrecision(plan_);
    layer->intermediate->SetPrecision(plan_);
    layer->output->SetPrecision(plan_);
  }
}

}  // namespace orqa
