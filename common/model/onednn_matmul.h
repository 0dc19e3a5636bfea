#pragma once

#include <torch/types.h>

#include <memory>

namespace orqa {

/// What a fused bf16 dense layer does after its product (one pass over the
/// output, inside oneDNN's matmul kernel instead of separate LibTorch ops).
enum class Epilogue {
  kBias,          // x·Wᵀ + b
  kBiasGeluTanh,  // gelu_tanh(x·Wᵀ + b)   (config hidden_act "gelu_new")
  kBiasGeluErf,   // gelu_erf(x·Wᵀ + b)    (config hidden_act "gelu")
};

/// The arithmetic of a FusedDense product.
enum class Arithmetic {
  kBf16,  // bf16 inputs and weights
  kInt8,  // int8 weights (symmetric, a scale per output channel) and int8
          // inputs (symmetric, one scale per call from the call's largest |x|)
};

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
  /// weight [out, in] and bias [out], any float dtype (copied).
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
/// bf16 [B, heads, L, L]. AVX-512 where the CPU has it and `simd` is true,
/// plain loops elsewhere (tests compare the two).
torch::Tensor ScaledMaskedSoftmaxBf16(const torch::Tensor& scores, const torch::Tensor& mask_bias, float scale,
                                      bool simd = true);

}  // namespace orqa
