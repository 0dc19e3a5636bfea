#pragma once

#include <torch/types.h>

#include <memory>
#include <string>

#include "common/infra/cpu_level.h"
#include "common/model/precision.h"

namespace orqa {

/// What a fused bf16 dense layer does after its product (one pass over the
/// output, inside oneDNN's matmul kernel instead of separate LibTorch ops).
enum class Epilogue {
  kBias,          // x·Wᵀ + b
  kBiasGeluTanh,  // gelu_tanh(x·Wᵀ + b)   (config hidden_act "gelu_new")
  kBiasGeluErf,   // gelu_erf(x·Wᵀ + b)    (config hidden_act "gelu")
  kBiasAddTo,     // x·Wᵀ + b + residual   (ForwardAddTo only)
};

/// The arithmetic of a FusedDense product.
enum class Arithmetic {
  kBf16,  // bf16 inputs and weights
  kInt8,  // int8 weights (symmetric, a scale per output channel) and int8
          // inputs (symmetric, one scale per call from the call's largest |x|)
};

/// What runs for a requested precision on this CPU, decided once per process
/// by asking oneDNN (Debian's 2.6) which products it has kernels for:
///   bf16 needs a bf16 matmul (oneDNN has none below AVX-512): else fp32;
///   int8 needs an int8 matmul; without VNNI (AVX2, AVX-512 before Cascade
///   Lake) oneDNN's int8 kernels add byte products in pairs into int16 with
///   saturation (vpmaddubsw), so the weights get 7-bit codes (|code| ≤ 63),
///   which keeps every pair sum exact; the attention runs in bf16 where a bf16
///   matmul exists, else in fp32.
/// Never a throw at request time: what cannot run is replaced here, at load.
struct PrecisionPlan {
  Precision requested = Precision::kFP32;
  Precision dense = Precision::kFP32;  ///< the dense layers' arithmetic
  bool bf16_activations = false;       ///< bf16 between the products and in the attention (else fp32)
  int int8_weight_max = 127;           ///< int8: the weights' largest code
  std::string summary;                 ///< one line for the log and GetInfo
};

/// The plan for `requested` here (ORQA_MAX_CPU_ISA / ONEDNN_MAX_CPU_ISA cap it).
PrecisionPlan PlanPrecision(Precision requested);

/// oneDNN's instruction-set level in this process, in orqa's names
/// (CpuLevelName) or "avx2_vnni" / "sse41".
std::string OneDnnCpuLevel();

/// One dense layer for inference, run by oneDNN's matmul directly: the weight
/// is converted to bf16 or int8 once (and, where oneDNN prefers a blocked
/// layout for the CPU — AMX tiles on Sapphire Rapids — reordered into it once),
/// the bias, the activation or the residual sum are fused into the product as
/// post-ops, and the primitive for each row count is built once and kept.
/// Products accumulate in fp32 (bf16) or int32 (int8). Thread-safe: Forward
/// may be called from several threads at once. The threads of a product are
/// oneDNN's OpenMP threads (LibTorch's intra-op count).
class FusedDense {
 public:
  /// weight [out, in] and bias [out], any float dtype (copied). Throws
  /// c10::Error when this CPU has no oneDNN kernel for `arithmetic` (see
  /// PlanPrecision: load-time callers ask it first). int8 weights get codes up
  /// to PlanPrecision(kInt8).int8_weight_max.
  FusedDense(const torch::Tensor& weight, const torch::Tensor& bias, Arithmetic arithmetic);
  ~FusedDense();
  FusedDense(const FusedDense&) = delete;
  FusedDense& operator=(const FusedDense&) = delete;

  /// x [..., in] (fp32 or bf16) → [..., out]
  /// in `out_type` (bf16 or fp32; the product accumulates in fp32 either way).
  torch::Tensor Forward(const torch::Tensor& x, Epilogue epilogue,
                        torch::ScalarType out_type = torch::kBFloat16) const;
  /// residual + x·Wᵀ + b in fp32, x [..., in], residual fp32 [..., out]
  /// (a new tensor; residual is not changed).
  torch::Tensor ForwardAddTo(const torch::Tensor& x, const torch::Tensor& residual) const;

  int64_t in_features() const;
  int64_t out_features() const;
  Arithmetic arithmetic() const;
  /// int8: the weights' largest code (127, or 63 where the CPU lacks VNNI).
  int weight_code_max() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Batched bf16 product a · b through oneDNN's matmul: a [B, M, K] and b
/// [B, K, N] bf16 (any strides oneDNN takes for a plain layout: contiguous, or
/// the last two dimensions transposed, e.g. k.transpose(-1, -2)), the result
/// [B, M, N] in `out_type` (bf16 or fp32; fp32 accumulation). The primitive
/// for each shape is built once and kept.
torch::Tensor Bf16BatchedMatmul(const torch::Tensor& a, const torch::Tensor& b, torch::ScalarType out_type);

/// Scaled, masked softmax over the last dimension, one pass: for scores
/// [B, heads, L, L] fp32 and mask_bias [B, 1, 1, L] fp32 (0 where attended, a
/// large negative number where not), softmax(scores · scale + mask_bias) as
/// bf16 [B, heads, L, L]. AVX-512 or AVX2 (the same bits) as the CPU allows,
/// at most `max_level` (tests compare the levels), plain loops below AVX2.
torch::Tensor ScaledMaskedSoftmaxBf16(const torch::Tensor& scores, const torch::Tensor& mask_bias, float scale,
                                      CpuLevel max_level = CpuLevel::kAmx);

}  // namespace orqa
