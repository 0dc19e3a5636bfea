#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "common/model/onednn_matmul.h"
#include "common/model/precision.h"
#include "common/model/realm_config.h"

namespace orqa {

/// Activation named by config.hidden_act: "gelu" is the exact erf form,
/// "gelu_new" the tanh approximation Hugging Face calls NewGELUActivation.
torch::Tensor Activation(const std::string& name, const torch::Tensor& x);

/// BERT's masked-LM head as `cls.predictions`: transform (dense, activation,
/// LayerNorm), then the word embeddings as the decoder (tied), plus a bias.
/// Parameter names: transform.dense.*, transform.LayerNorm.*, bias. Used by
/// the knowledge-augmented encoder and the MLM pre-training job.
struct BertMlmHeadImpl : torch::nn::Module {
  explicit BertMlmHeadImpl(const RealmConfig& c);
  /// Vocabulary logits [..., V] of hidden states [..., H].
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& word_embeddings);
  std::string act;
  torch::nn::Linear dense{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};
  torch::Tensor bias;
};
TORCH_MODULE(BertMlmHead);

/// A Linear layer's weights prepared for inference at a lower precision, run
/// by oneDNN's matmul directly (FusedDense: bias, activation or residual sum
/// fused into the product, AMX where the CPU has it), as a PrecisionPlan says:
///   bf16: bf16 weights and inputs, fp32 accumulation;
///   int8: weights quantized per output channel (symmetric), inputs per call
///         (symmetric, per tensor), int32 accumulation.
/// Products that feed another product come out in the plan's activation type
/// (bf16, or fp32 where the CPU has no bf16 matmul). Falls back to the module
/// itself for fp32, while training, or before Prepare.
class LowPrecisionLinear {
 public:
  void Prepare(const torch::nn::Linear& linear, const PrecisionPlan& plan);
  /// From a weight [out, in] and bias [out] (e.g. the query, key and value
  /// layers stacked into one product).
  void Prepare(const torch::Tensor& weight, const torch::Tensor& bias, const PrecisionPlan& plan);
  /// True when a product below fp32 is prepared.
  bool prepared() const { return fused_ != nullptr; }
  /// The type Product and Activation return: bf16 or fp32.
  torch::ScalarType activation_type() const { return activation_type_; }
  /// Prepared only: x · Wᵀ + b in activation_type() (bias fused), for a
  /// consumer that takes it (attention, the next dense layer).
  torch::Tensor Product(const torch::Tensor& x) const;
  /// Prepared only: Activation(act, x · Wᵀ + b) in activation_type(), the activation fused.
  torch::Tensor Activation(const torch::Tensor& x, const std::string& act) const;
  /// Prepared only: residual + x · Wᵀ + b in fp32, the sum fused.
  torch::Tensor AddTo(const torch::Tensor& x, const torch::Tensor& residual) const;
  /// x · Wᵀ + b at the prepared precision; `linear` itself (its fp32
  /// parameters) for fp32 or while it is training.
  torch::Tensor operator()(const torch::nn::Linear& linear, const torch::Tensor& x) const;

 private:
  torch::ScalarType activation_type_ = torch::kFloat32;
  std::shared_ptr<const FusedDense> fused_;  // bf16 / int8: the product
};

/// Parameter names below mirror the Hugging Face REALM checkpoint keys
/// (`realm.embeddings.word_embeddings.weight`, `...attention.self.query`).
struct BertEmbeddingsImpl : torch::nn::Module {
  explicit BertEmbeddingsImpl(const RealmConfig& c);
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& token_type_ids);
  torch::nn::Embedding word_embeddings{nullptr}, position_embeddings{nullptr},
      token_type_embeddings{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};
  double dropout;
};
TORCH_MODULE(BertEmbeddings);

struct BertSelfAttentionImpl : torch::nn::Module {
  explicit BertSelfAttentionImpl(const RealmConfig& c);
  /// `mask_bias` is [B,1,1,L]: 0 where attended, float32 min where masked.
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& mask_bias);
  int heads, head_dim;
  double dropout;
  torch::nn::Linear query{nullptr}, key{nullptr}, value{nullptr};
  void SetPrecision(const PrecisionPlan& plan);
  /// query, key and value stacked: one product at bf16 / int8.
  LowPrecisionLinear fast_qkv;
};
TORCH_MODULE(BertSelfAttention);

/// dense → (+ residual) → LayerNorm; used after attention and after the FFN.
struct BertResidualOutputImpl : torch::nn::Module {
  BertResidualOutputImpl(int in, int out, double eps, double dropout);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual);
  double dropout;
  torch::nn::Linear dense{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};
  void SetPrecision(const PrecisionPlan& plan) { fast_dense.Prepare(dense, plan); }
  LowPrecisionLinear fast_dense;
};
TORCH_MODULE(BertResidualOutput);

struct BertAttentionImpl : torch::nn::Module {
  explicit BertAttentionImpl(const RealmConfig& c);
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& mask_bias);
  BertSelfAttention self{nullptr};
  BertResidualOutput output{nullptr};
};
TORCH_MODULE(BertAttention);

struct BertIntermediateImpl : torch::nn::Module {
  explicit BertIntermediateImpl(const RealmConfig& c);
  torch::Tensor forward(const torch::Tensor& x);
  std::string act;
  torch::nn::Linear dense{nullptr};
  void SetPrecision(const PrecisionPlan& plan) { fast_dense.Prepare(dense, plan); }
  LowPrecisionLinear fast_dense;
};
TORCH_MODULE(BertIntermediate);

struct BertLayerImpl : torch::nn::Module {
  explicit BertLayerImpl(const RealmConfig& c);
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& mask_bias);
  BertAttention attention{nullptr};
  BertIntermediate intermediate{nullptr};
  BertResidualOutput output{nullptr};
};
TORCH_MODULE(BertLayer);

struct BertPoolerImpl : torch::nn::Module {
  explicit BertPoolerImpl(const RealmConfig& c);
  torch::Tensor forward(const torch::Tensor& hidden);  // tanh(dense(h[:, 0]))
  torch::nn::Linear dense{nullptr};
};
TORCH_MODULE(BertPooler);

struct BertOutput {
  torch::Tensor embedding_output;   // [B, L, H]
  torch::Tensor last_hidden_state;  // [B, L, H]
  torch::Tensor pooler_output;      // [B, H], undefined without a pooler
};

/// Post-LN BERT encoder (RealmBertModel). Registered as "realm" by its owners.
struct BertModelImpl : torch::nn::Module {
  BertModelImpl(const RealmConfig& c, bool with_pooler);
  BertOutput forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                     const torch::Tensor& token_type_ids);
  BertEmbeddings embeddings{nullptr};
  torch::nn::ModuleList layers{nullptr};  // registered as "encoder.layer"
  BertPooler pooler{nullptr};
  /// Prepares every encoder layer's dense layers for inference at `p` as
  /// this CPU allows (PlanPrecision; call after loading the weights; the
  /// prepared copies do not follow later changes of the parameters). Throws
  /// c10::Error if oneDNN fails.
  void SetPrecision(Precision p);
  /// What SetPrecision chose (fp32 before it is called).
  const PrecisionPlan& precision_plan() const { return plan_; }

 private:
  PrecisionPlan plan_;
};
TORCH_MODULE(BertModel);

}  // namespace orqa
