// The bf16 and int8 inference kernels behind --precision (common/model/onednn_matmul):
// each against the same arithmetic done by LibTorch in fp32 on the same
// rounded inputs. A kernel the CPU has no oneDNN product for is skipped,
// saying so; ORQA_MAX_CPU_ISA / ONEDNN_MAX_CPU_ISA run the lower levels'
// paths on any machine (tests/unit/CMakeLists.txt runs this file at each).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <limits>

#include "common/model/onednn_matmul.h"

namespace orqa {
namespace {

torch::Tensor Bf16Rounded(const torch::Tensor& t) { return t.to(torch::kBFloat16).to(torch::kFloat32); }

// Largest |got - want| / (|want| + floor): a bf16 result is within 2⁻⁸ of
// the fp32 value it rounds (plus what a different summation order adds).
double RelativeError(const torch::Tensor& got, const torch::Tensor& want, double floor) {
  return ((got.to(torch::kFloat32) - want).abs() / (want.abs() + floor)).max().item<double>();
}

// Skips a bf16 test where oneDNN has no bf16 matmul (below AVX-512).
#define SKIP_WITHOUT_BF16_MATMUL()                                                                    \
  if (PlanPrecision(Precision::kBF16).dense != Precision::kBF16) {                                   \
    GTEST_SKIP() << "skipped: needs avx512 (oneDNN's bf16 matmul); oneDNN runs at " << OneDnnCpuLevel(); \
  }

struct Layer {
  torch::Tensor weight, bias;
};

Layer RandomLayer(int64_t out, int64_t in) {
  return {torch::randn({out, in}) / std::sqrt(static_cast<double>(in)), torch::randn({out})};
}

TEST(FusedDense, EachEpilogueIsTheFp32ArithmeticOnBf16Inputs) {
  SKIP_WITHOUT_BF16_MATMUL();
  torch::manual_seed(7);
  const Layer layer = RandomLayer(37, 50);
  FusedDense mm(layer.weight, layer.bias, Arithmetic::kBf16);
  EXPECT_EQ(mm.in_features(), 50);
  EXPECT_EQ(mm.out_features(), 37);
  // Row counts change between calls (each has its own primitive); 21 twice.
  for (int64_t rows : {21, 5, 1, 21}) {
    SCOPED_TRACE(rows);
    auto x = torch::randn({rows, 1, 50});
    auto product = torch::linear(Bf16Rounded(x), Bf16Rounded(layer.weight), layer.bias);
    auto out = mm.Forward(x, Epilogue::kBias);
    EXPECT_EQ(out.scalar_type(), torch::kBFloat16);
    EXPECT_EQ(out.sizes().vec(), (std::vector<int64_t>{rows, 1, 37}));
    EXPECT_LE(RelativeError(out, product, 1e-3), 1.0 / 256);
    auto out32 = mm.Forward(x, Epilogue::kBias, torch::kFloat32);
    EXPECT_EQ(out32.scalar_type(), torch::kFloat32);
    EXPECT_LE(RelativeError(out32, product, 1e-3), 1e-4);
    EXPECT_LE(RelativeError(mm.Forward(x, Epilogue::kBiasGeluTanh), torch::gelu(product, "tanh"), 1e-4), 1.0 / 128);
    EXPECT_LE(RelativeError(mm.Forward(x, Epilogue::kBiasGeluErf), torch::gelu(product), 1e-4), 1.0 / 128);
    auto residual = torch::randn({rows, 1, 37});
    auto sum = mm.ForwardAddTo(x, residual);
    EXPECT_EQ(sum.scalar_type(), torch::kFloat32);
    EXPECT_LE(RelativeError(sum, product + residual, 1e-3), 1e-4);
  }
}

// int8: codes round(w / s_w) per output channel and round(x / s_x) per call,
// s_w = max|w_row| / c (c = 127, or 63 where the CPU has no VNNI), s_x =
// max|x| / 127; the int32 sums are exact, so the product is
// (codes_x · codes_wᵀ) · s_x · s_w + b to fp32 rounding.
TEST(FusedDense, Int8IsTheProductOfSymmetricCodes) {
  torch::manual_seed(5);
  // 300 inputs: long sums, where int16 pair sums would saturate and show.
  const Layer layer = RandomLayer(19, 300);
  FusedDense mm(layer.weight, layer.bias, Arithmetic::kInt8);
  EXPECT_EQ(mm.arithmetic(), Arithmetic::kInt8);
  const int code_max = mm.weight_code_max();
  EXPECT_EQ(code_max, PlanPrecision(Precision::kInt8).int8_weight_max);
  const std::string level = OneDnnCpuLevel();
  const bool vnni = level == "avx512_vnni" || level == "avx512_bf16" || level == "amx" || level == "avx2_vnni";
  EXPECT_EQ(code_max, vnni ? 127 : 63) << level;
  auto w_scale = layer.weight.abs().amax(1) / code_max;
  auto w_codes = (layer.weight / w_scale.unsqueeze(1)).round();
  for (bool bf16_input : {false, true}) {
    SCOPED_TRACE(bf16_input ? "bf16 input" : "fp32 input");
    // Large codes in every column: a pair of 8-bit products would overflow int16.
    auto x = torch::randn({6, 300}).sign() * (torch::rand({6, 300}) * 0.2 + 0.8);
    if (bf16_input) x = x.to(torch::kBFloat16);
    auto xf = x.to(torch::kFloat32);
    const double x_scale = xf.abs().max().item<double>() / 127;
    auto x_codes = (xf / x_scale).round();
    auto product = torch::mm(x_codes.to(torch::kDouble), w_codes.to(torch::kDouble).t()) * x_scale *
                       w_scale.to(torch::kDouble).unsqueeze(0) + layer.bias.to(torch::kDouble);
    product = product.to(torch::kFloat32);
    EXPECT_LE(RelativeError(mm.Forward(x, Epilogue::kBias, torch::kFloat32), product, 1e-3), 1e-5);
    EXPECT_LE(RelativeError(mm.Forward(x, Epilogue::kBias), product, 1e-3), 1.0 / 256);
    EXPECT_LE(RelativeError(mm.Forward(x, Epilogue::kBiasGeluTanh), torch::gelu(product, "tanh"), 1e-4), 1.0 / 128);
    auto residual = torch::randn({6, 19});
    EXPECT_LE(RelativeError(mm.ForwardAddTo(x, residual), product + residual, 1e-3), 1e-5);
  }
  // All zeros: scale 1, codes 0, the bias alone.
  EXPECT_TRUE(torch::allclose(mm.Forward(torch::zeros({2, 300}), Epilogue::kBias, torch::kFloat32),
                              layer.bias.expand({2, 19})));
}

TEST(FusedDense, NoRowsGiveAnEmptyResultAndAWrongWidthThrows) {
  const Layer layer = RandomLayer(8, 16);
  for (Arithmetic a : {Arithmetic::kBf16, Arithmetic::kInt8}) {
    if (a == Arithmetic::kBf16 && PlanPrecision(Precision::kBF16).dense != Precision::kBF16) {
      // No bf16 matmul here: constructing one is a clear error, not a crash.
      EXPECT_THROW(FusedDense(layer.weight, layer.bias, a), c10::Error);
      continue;
    }
    FusedDense mm(layer.weight, layer.bias, a);
    EXPECT_EQ(mm.Forward(torch::zeros({0, 16}), Epilogue::kBias).sizes().vec(), (std::vector<int64_t>{0, 8}));
    EXPECT_THROW(mm.Forward(torch::zeros({3, 15}), Epilogue::kBias), c10::Error);
    EXPECT_THROW(mm.ForwardAddTo(torch::zeros({3, 16}), torch::zeros({3, 7})), c10::Error);
  }
}

TEST(Bf16BatchedMatmul, ContiguousAndTransposedOperands) {
  SKIP_WITHOUT_BF16_MATMUL();
  torch::manual_seed(3);
  auto a = torch::randn({4, 9, 16}).to(torch::kBFloat16);
  auto b = torch::randn({4, 11, 16}).to(torch::kBFloat16);
  auto want = torch::bmm(a.to(torch::kFloat32), b.to(torch::kFloat32).transpose(1, 2));
  auto got = Bf16BatchedMatmul(a, b.transpose(1, 2), torch::kFloat32);
  EXPECT_EQ(got.sizes().vec(), (std::vector<int64_t>{4, 9, 11}));
  EXPECT_LE(RelativeError(got, want, 1e-3), 1e-5);
  auto c = torch::randn({4, 11, 5}).to(torch::kBFloat16);
  auto want2 = torch::bmm(Bf16Rounded(got), c.to(torch::kFloat32));
  EXPECT_LE(RelativeError(Bf16BatchedMatmul(got.to(torch::kBFloat16), c, torch::kBFloat16), want2, 1e-2), 1.0 / 128);
  EXPECT_THROW(Bf16BatchedMatmul(a, b, torch::kFloat32), c10::Error);  // [4,9,16] · [4,11,16]
}

TEST(ScaledMaskedSoftmax, MatchesLibTorchWithMaskedPositionsExactlyZero) {
  torch::manual_seed(11);
  // 37 columns: two full 16-lane steps and a tail of 5.
  auto scores = torch::randn({2, 3, 5, 37}) * 4;
  auto mask = torch::ones({2, 37});
  mask.index_put_({0, torch::indexing::Slice(30, torch::indexing::None)}, 0);
  mask.index_put_({1, 3}, 0);
  auto mask_bias = ((1.0 - mask) * std::numeric_limits<float>::lowest()).view({2, 1, 1, 37});
  const float scale = 0.125f;
  auto want = torch::softmax(scores * scale + mask_bias, -1);
  for (CpuLevel level : {CpuLevel::kAmx, CpuLevel::kAvx2, CpuLevel::kPortable}) {
    SCOPED_TRACE(CpuLevelName(std::min(level, KernelCpuLevel())));
    auto got = ScaledMaskedSoftmaxBf16(scores, mask_bias, scale, level);
    EXPECT_EQ(got.scalar_type(), torch::kBFloat16);
    EXPECT_EQ(got.sizes(), scores.sizes());
    // Each value is the fp32 softmax rounded to bf16, give or take one bf16 step.
    EXPECT_LE(((got.to(torch::kFloat32) - want).abs() - want.abs() / 128).max().item<double>(), 1e-7);
    EXPECT_EQ(got.select(0, 0).narrow(-1, 30, 7).to(torch::kFloat32).abs().max().item<float>(), 0.0f);
    EXPECT_EQ(got.select(0, 1).select(-1, 3).to(torch::kFloat32).abs().max().item<float>(), 0.0f);
    EXPECT_NEAR(got.to(torch::kFloat32).sum(-1).min().item<double>(), 1.0, 0.02);
  }
  // SIMD and plain loops agree to the last bit but for ties in exp's last
  // place; AVX2 and AVX-512 agree bit for bit (a mixed fleet answers alike).
  auto simd = ScaledMaskedSoftmaxBf16(scores, mask_bias, scale).to(torch::kFloat32);
  auto plain = ScaledMaskedSoftmaxBf16(scores, mask_bias, scale, CpuLevel::kPortable).to(torch::kFloat32);
  EXPECT_LE((simd - plain).abs().max().item<double>(), 1.0 / 128);
  if (KernelCpuLevel() >= CpuLevel::kAvx512) {
    EXPECT_TRUE(torch::equal(ScaledMaskedSoftmaxBf16(scores, mask_bias, scale, CpuLevel::kAvx2), 
                             ScaledMaskedSoftmaxBf16(scores, mask_bias, scale, CpuLevel::kAvx512)));
  }
}

// What runs for each precision follows from oneDNN's level here, and the
// plan says it in one line: bf16 needs a bf16 matmul (AVX-512 and up), int8
// gets 7-bit weight codes below VNNI.
TEST(PrecisionPlan, NamesWhatRunsOnThisCpu) {
  const std::string level = OneDnnCpuLevel();
  const bool bf16 = level != "avx2" && level != "avx2_vnni" && level != "sse41";
  const bool vnni = level == "avx512_vnni" || level == "avx512_bf16" || level == "amx" || level == "avx2_vnni";
  PrecisionPlan fp32 = PlanPrecision(Precision::kFP32);
  EXPECT_EQ(fp32.dense, Precision::kFP32);
  EXPECT_EQ(fp32.summary, "precision fp32: fp32 products (LibTorch); CPU level " + level);
  PrecisionPlan b = PlanPrecision(Precision::kBF16);
  EXPECT_EQ(b.requested, Precision::kBF16);
  EXPECT_EQ(b.dense, bf16 ? Precision::kBF16 : Precision::kFP32);
  EXPECT_EQ(b.bf16_activations, bf16);
  EXPECT_EQ(b.summary, bf16 ? "precision bf16: bf16 products and attention (oneDNN " + level + ")"
                            : "precision bf16 requested; this CPU (" + level + ") has no bf16 matmul: running fp32");
  PrecisionPlan i = PlanPrecision(Precision::kInt8);
  if (level == "sse41" && i.dense == Precision::kFP32) {  // oneDNN may have only reference int8 loops there
    EXPECT_EQ(i.summary, "precision int8 requested; this CPU (sse41) has no int8 matmul: running fp32");
    return;
  }
  EXPECT_EQ(i.dense, Precision::kInt8);
  EXPECT_EQ(i.int8_weight_max, vnni ? 127 : 63);
  EXPECT_EQ(i.summary, "precision int8: int8 products (oneDNN " + level + ")" +
                           (vnni ? "" : " with 7-bit weight codes (no VNNI: 8-bit codes would saturate its int16 pair sums)") +
                           (bf16 ? ", bf16 attention" : ", fp32 attention (no bf16 matmul)"));
}

// ORQA_MAX_CPU_ISA / ONEDNN_MAX_CPU_ISA cap orqa's kernels and oneDNN alike.
TEST(CpuLevel, TheEnvironmentCapsOrqaAndOneDnn) {
  EXPECT_LE(KernelCpuLevel(), DetectedCpuLevel());
  EXPECT_LE(KernelCpuLevel(), CpuLevelCap());
  const char* cap = std::getenv("ORQA_MAX_CPU_ISA");
  if (cap == nullptr && std::getenv("ONEDNN_MAX_CPU_ISA") == nullptr) {
    EXPECT_EQ(KernelCpuLevel(), DetectedCpuLevel());  // no cap: the CPU's own level
    return;
  }
  if (cap == nullptr) cap = std::getenv("ONEDNN_MAX_CPU_ISA");
  auto level = ParseCpuLevel(cap);
  ASSERT_TRUE(level.ok()) << level.status();
  EXPECT_EQ(KernelCpuLevel(), std::min(*level, DetectedCpuLevel()));
  auto onednn = ParseCpuLevel(OneDnnCpuLevel());
  ASSERT_TRUE(onednn.ok());
  EXPECT_LE(*onednn, *level) << "oneDNN runs at " << OneDnnCpuLevel();
}

}  // namespace
}  // namespace orqa
