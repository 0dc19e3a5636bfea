// The bf16 inference kernels behind --precision bf16 (common/model/onednn_matmul):
// each against the same arithmetic done by LibTorch in fp32 on the same
// bf16-rounded inputs.
#include <gtest/gtest.h>
#include <torch/torch.h>

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

struct Layer {
  torch::Tensor weight, bias;
};

Layer RandomLayer(int64_t out, int64_t in) {
  return {torch::randn({out, in}) / std::sqrt(static_cast<double>(in)), torch::randn({out})};
}

TEST(FusedDense, EachEpilogueIsTheFp32ArithmeticOnBf16Inputs) {
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
// s = max|.| / 127; the int32 sums are exact, so the product is
// (codes_x · codes_wᵀ) · s_x · s_w + b to fp32 rounding.
TEST(FusedDense, Int8IsTheProductOfSymmetricCodes) {
  torch::manual_seed(5);
  const Layer layer = RandomLayer(19, 40);
  FusedDense mm(layer.weight, layer.bias, Arithmetic::kInt8);
  EXPECT_EQ(mm.arithmetic(), Arithmetic::kInt8);
  auto w_scale = layer.weight.abs().amax(1) / 127;
  auto w_codes = (layer.weight / w_scale.unsqueeze(1)).round();
  for (bool bf16_input : {false, true}) {
    SCOPED_TRACE(bf16_input ? "bf16 input" : "fp32 input");
    auto x = torch::randn({6, 40});
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
  EXPECT_TRUE(torch::allclose(mm.Forward(torch::zeros({2, 40}), Epilogue::kBias, torch::kFloat32),
                              layer.bias.expand({2, 19})));
}

TEST(FusedDense, NoRowsGiveAnEmptyResultAndAWrongWidthThrows) {
  const Layer layer = RandomLayer(8, 16);
  for (Arithmetic a : {Arithmetic::kBf16, Arithmetic::kInt8}) {
    FusedDense mm(layer.weight, layer.bias, a);
    EXPECT_EQ(mm.Forward(torch::zeros({0, 16}), Epilogue::kBias).sizes().vec(), (std::vector<int64_t>{0, 8}));
    EXPECT_THROW(mm.Forward(torch::zeros({3, 15}), Epilogue::kBias), c10::Error);
    EXPECT_THROW(mm.ForwardAddTo(torch::zeros({3, 16}), torch::zeros({3, 7})), c10::Error);
  }
}

TEST(Bf16BatchedMatmul, ContiguousAndTransposedOperands) {
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
  for (bool simd : {true, false}) {
    SCOPED_TRACE(simd ? "simd" : "plain");
    auto got = ScaledMaskedSoftmaxBf16(scores, mask_bias, scale, simd);
    EXPECT_EQ(got.scalar_type(), torch::kBFloat16);
    EXPECT_EQ(got.sizes(), scores.sizes());
    // Each value is the fp32 softmax rounded to bf16, give or take one bf16 step.
    EXPECT_LE(((got.to(torch::kFloat32) - want).abs() - want.abs() / 128).max().item<double>(), 1e-7);
    EXPECT_EQ(got.select(0, 0).narrow(-1, 30, 7).to(torch::kFloat32).abs().max().item<float>(), 0.0f);
    EXPECT_EQ(got.select(0, 1).select(-1, 3).to(torch::kFloat32).abs().max().item<float>(), 0.0f);
    EXPECT_NEAR(got.to(torch::kFloat32).sum(-1).min().item<double>(), 1.0, 0.02);
  }
  // The two paths agree to the last bit but for ties in exp's last place.
  auto simd = ScaledMaskedSoftmaxBf16(scores, mask_bias, scale, true).to(torch::kFloat32);
  auto plain = ScaledMaskedSoftmaxBf16(scores, mask_bias, scale, false).to(torch::kFloat32);
  EXPECT_LE((simd - plain).abs().max().item<double>(), 1.0 / 128);
}

}  // namespace
}  // namespace orqa
