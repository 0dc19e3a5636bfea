#include "common/model/onednn_matmul.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "common/infra/avx2.h"
#include "common/infra/avx512.h"
#include "common/infra/cpu_level.h"

namespace orqa {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

// ORQA_MAX_CPU_ISA caps oneDNN too, when ONEDNN_MAX_CPU_ISA does not already:
// before oneDNN's first primitive (later, oneDNN refuses and keeps its level).
void CapOneDnn() {
  const char* own = std::getenv("ONEDNN_MAX_CPU_ISA");
  if (own != nullptr && *own != '\0') return;
  switch (CpuLevelCap()) {
    case CpuLevel::kPortable: dnnl::set_max_cpu_isa(dnnl::cpu_isa::sse41); break;
    case CpuLevel::kAvx2: dnnl::set_max_cpu_isa(dnnl::cpu_isa::avx2); break;
    case CpuLevel::kAvx512: dnnl::set_max_cpu_isa(dnnl::cpu_isa::avx512_core); break;
    case CpuLevel::kAvx512Vnni: dnnl::set_max_cpu_isa(dnnl::cpu_isa::avx512_core_vnni); break;
    case CpuLevel::kAvx512Bf16: dnnl::set_max_cpu_isa(dnnl::cpu_isa::avx512_core_bf16); break;
    case CpuLevel::kAmx: break;
  }
}

const dnnl::engine& CpuEngine() {
  static const dnnl::engine engine = [] {
    CapOneDnn();
    return dnnl::engine(dnnl::engine::kind::cpu, 0);
  }();
  return engine;
}

// Runs f(), turning oneDNN's exceptions into LibTorch's (c10::Error, which
// every caller already handles) with what was being done.
template <typename F>
auto Guarded(const char* what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const dnnl::error& e) {
    C10_THROW_ERROR(Error, c10::str(what, ": oneDNN: ", e.what(), " (status ", static_cast<int>(e.status),
                                    ", CPU level ", OneDnnCpuLevel(), ")"));
  }
}


// The matmul FusedDense runs for `rows` × `in` inputs of `element` type
// (bf16 or s8) and `out` outputs written in `dst_type`: bf16 with the bias as
// the matmul's own; int8 scaled per output channel (runtime scales: the
// activation's scale changes per call), then the bias as the first post-op;
// then the kind's activation or residual sum.
dnnl::matmul::primitive_desc DescribeMatmul(int64_t rows, int64_t in, int64_t out, dt element, Epilogue kind,
                                            dt dst_type) {
  const bool int8 = element == dt::s8;
  dnnl::memory::desc src_md({rows, in}, element, tag::ab);
  dnnl::memory::desc any_w({in, out}, element, tag::any);
  dnnl::memory::desc bias_md({1, out}, dt::f32, tag::ab);
  dnnl::memory::desc dst_md({rows, out}, dst_type, tag::ab);
  dnnl::post_ops ops;
  dnnl::primitive_attr attr;
  if (int8) {
    attr.set_output_scales(1 << 1, {DNNL_RUNTIME_F32_VAL});
    ops.append_binary(dnnl::algorithm::binary_add, bias_md);
  }
  if (kind == Epilogue::kBiasGeluTanh) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_gelu_tanh, 0.f, 0.f);
  if (kind == Epilogue::kBiasGeluErf) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_gelu_erf, 0.f, 0.f);
  if (kind == Epilogue::kBiasAddTo) ops.append_binary(dnnl::algorithm::binary_add, dst_md);
  attr.set_post_ops(ops);
  auto desc = int8 ? dnnl::matmul::desc(src_md, any_w, dst_md) : dnnl::matmul::desc(src_md, any_w, bias_md, dst_md);
  return dnnl::matmul::primitive_desc(desc, attr, CpuEngine());
}

// Whether oneDNN has an optimised (not reference) kernel here for FusedDense's
// product of `element` inputs (writing fp32).
bool HasMatmulKernel(dt element) {
  try {
    return std::string(DescribeMatmul(16, 64, 64, element, Epilogue::kBias, dt::f32).impl_info_str()).rfind("ref", 0) != 0;
  } catch (const dnnl::error&) {
    return false;  // "could not create a primitive descriptor iterator": no kernel at all
  }
}

struct OneDnnCaps {
  bool bf16 = false, int8 = false, int8_vnni = false;
  std::string level;
};

const OneDnnCaps& Caps() {
  static const OneDnnCaps caps = [] {
    OneDnnCaps c;
    CpuEngine();  // the cap first
    c.level = OneDnnCpuLevel();
    c.bf16 = HasMatmulKernel(dt::bf16);
    c.int8 = HasMatmulKernel(dt::s8);
    const auto isa = dnnl::get_effective_cpu_isa();
    c.int8_vnni = isa == dnnl::cpu_isa::avx512_core_vnni || isa == dnnl::cpu_isa::avx512_core_bf16 ||
                  isa == dnnl::cpu_isa::avx512_core_amx || isa == dnnl::cpu_isa::avx2_vnni;
    return c;
  }();
  return caps;
}

// int8 weights' largest code: 127, or 63 where oneDNN's int8 kernels add
// byte products in pairs into int16 with saturation (no VNNI).
int Int8WeightCodeMax() { return Caps().int8_vnni ? 127 : 63; }

// Per-tensor symmetric int8 codes of x (fp32 or bf16, [rows, cols] contiguous):
// the scale max|x| / 127 and round(x / scale) — two passes (AVX-512 or AVX2
// as the CPU allows), the rows split over LibTorch's threads.
float AbsMax(const torch::Tensor& x);
void QuantizeInt8(const torch::Tensor& x, float inv_scale, int8_t* out);

}  // namespace

std::string OneDnnCpuLevel() {
  CpuEngine();
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::avx2: return CpuLevelName(CpuLevel::kAvx2);
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core: return CpuLevelName(CpuLevel::kAvx512);
    case dnnl::cpu_isa::avx512_core_vnni: return CpuLevelName(CpuLevel::kAvx512Vnni);
    case dnnl::cpu_isa::avx512_core_bf16: return CpuLevelName(CpuLevel::kAvx512Bf16);
    case dnnl::cpu_isa::avx512_core_amx: return CpuLevelName(CpuLevel::kAmx);
    default: return "sse41";
  }
}

PrecisionPlan PlanPrecision(Precision requested) {
  const OneDnnCaps& caps = Caps();
  PrecisionPlan plan;
  plan.requested = requested;
  plan.bf16_activations = caps.bf16;
  const std::string cpu = caps.level;
  switch (requested) {
    case Precision::kFP32:
      plan.summary = "precision fp32: fp32 products (LibTorch); CPU level " + cpu;
      break;
    case Precision::kBF16:
      if (caps.bf16) {
        plan.dense = Precision::kBF16;
        plan.summary = "precision bf16: bf16 products and attention (oneDNN " + cpu + ")";
      } else {
        plan.summary = "precision bf16 requested; this CPU (" + cpu + ") has no bf16 matmul: running fp32";
      }
      break;
    case Precision::kInt8:
      if (!caps.int8) {
        plan.summary = "precision int8 requested; this CPU (" + cpu + ") has no int8 matmul: running fp32";
        break;
      }
      plan.dense = Precision::kInt8;
      plan.int8_weight_max = Int8WeightCodeMax();
      plan.summary = "precision int8: int8 products (oneDNN " + cpu + ")";
      if (!caps.int8_vnni) {
        plan.summary += " with 7-bit weight codes (no VNNI: 8-bit codes would saturate its int16 pair sums)";
      }
      plan.summary += caps.bf16 ? ", bf16 attention" : ", fp32 attention (no bf16 matmul)";
      break;
  }
  return plan;
}

struct FusedDense::Impl {
  Arithmetic arithmetic = Arithmetic::kBf16;
  int64_t in = 0, out = 0;
  int code_max = 127;          // int8: the weights' largest code
  torch::Tensor weight;        // bf16 or int8 [out, in]: the product's B = Wᵀ in layout "ba"
  torch::Tensor bias;          // fp32 [out]
  torch::Tensor weight_scale;  // int8: fp32 [out], one scale per output channel

  struct Packed {
    dnnl::memory::desc desc;
    dnnl::memory memory;
    torch::Tensor storage;  // owns the bytes when the layout is not the plain one
  };
  struct Entry {
    dnnl::matmul primitive;
    size_t packed = 0;      // index into `packed`
    bool f32_dst = false;  // the product is written in fp32 and converted (see Get)
  };
  std::mutex mu;
  std::vector<Packed> packed;                    // weights in each layout some primitive asked for
  std::map<std::tuple<int64_t, Epilogue, bool>, Entry> cache;  // (rows, kind, fp32 out) → primitive

  bool int8() const { return arithmetic == Arithmetic::kInt8; }
  dt ElementType() const { return int8() ? dt::s8 : dt::bf16; }
  dnnl::memory::desc PlainWeightDesc() const { return dnnl::memory::desc({in, out}, ElementType(), tag::ba); }

  // The primitive for `rows` rows and `kind` (DescribeMatmul), built (and its
  // weight layout prepared) on first use. Where oneDNN has no optimised kernel
  // for a bf16 output (its int8 GEMM on CPUs without AMX falls to the
  // reference loops, ~1000x slower; on AVX2 it has none), the product is
  // written in fp32 and converted instead.
  const Entry& Get(int64_t rows, Epilogue kind, dt dst_type) {
    return Guarded("FusedDense: preparing a product", [&]() -> const Entry& { return GetLocked(rows, kind, dst_type); });
  }

  const Entry& GetLocked(int64_t rows, Epilogue kind, dt dst_type) {
    std::lock_guard<std::mutex> lock(mu);
    auto key = std::make_tuple(rows, kind, dst_type == dt::f32);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
    bool f32_dst = false;
    dnnl::matmul::primitive_desc pd;
    if (dst_type != dt::f32) {
      try {
        pd = Describe(rows, kind, dst_type);
        f32_dst = std::string(pd.impl_info_str()).rfind("ref", 0) == 0;
      } catch (const dnnl::error&) {  // no kernel writes bf16 here (e.g. int8 on AVX2)
        f32_dst = true;
      }
    }
    if (dst_type == dt::f32 || f32_dst) pd = Describe(rows, kind, dt::f32);
    const auto want = pd.weights_desc();
    size_t index = 0;
    while (index < packed.size() && !(packed[index].desc == want)) ++index;
    if (index == packed.size()) {
      Packed p{want, {}, {}};
      dnnl::memory plain(PlainWeightDesc(), CpuEngine(), weight.data_ptr());
      if (want == PlainWeightDesc()) {
        p.memory = plain;
      } else {
        p.storage = torch::empty({static_cast<int64_t>(want.get_size())}, torch::kUInt8);
        p.memory = dnnl::memory(want, CpuEngine(), p.storage.data_ptr());
        dnnl::stream stream(CpuEngine());
        dnnl::reorder(plain, p.memory).execute(stream, plain, p.memory);
        stream.wait();
      }
      packed.push_back(std::move(p));
    }
    return cache.emplace(key, Entry{dnnl::matmul(pd), index, f32_dst}).first->second;
  }

  dnnl::matmul::primitive_desc Describe(int64_t rows, Epilogue kind, dt dst_type) const {
    return DescribeMatmul(rows, in, out, ElementType(), kind, dst_type);
  }

  // x2d: [rows, in] contiguous, bf16 (bf16 arithmetic) or fp32 / bf16 (int8,
  // quantized here). kBiasAddTo: `addend` (fp32, dst's shape) is added.
  void Run(const torch::Tensor& x2d, Epilogue kind, const torch::Tensor& dst, const torch::Tensor& addend = {}) {
    at::internal::lazy_init_num_threads();  // the calling thread's OpenMP threads = LibTorch's
    const int64_t rows = x2d.size(0);
    if (rows == 0) return;
    const dt dst_type = dst.scalar_type() == torch::kFloat32 ? dt::f32 : dt::bf16;
    const Entry& e = Get(rows, kind, dst_type);
    // kBiasAddTo's output is fp32 already, so only a bf16 output is ever staged.
    const torch::Tensor out_buf = e.f32_dst ? torch::empty(dst.sizes(), dst.options().dtype(torch::kFloat32)) : dst;
    const dnnl::memory::desc src_md({rows, in}, ElementType(), tag::ab);
    const dnnl::memory::desc bias_md({1, out}, dt::f32, tag::ab);
    const dnnl::memory::desc dst_md({rows, out}, e.f32_dst ? dt::f32 : dst_type, tag::ab);
    torch::Tensor codes, scales;
    void* src_data = x2d.data_ptr();
    if (int8()) {
      const float amax = AbsMax(x2d);
      const float scale = amax > 0 ? amax / 127.0f : 1.0f;
      codes = torch::empty({rows, in}, torch::kChar);
      QuantizeInt8(x2d, 1.0f / scale, codes.data_ptr<int8_t>());
      src_data = codes.data_ptr();
      scales = weight_scale * scale;
    }
    dnnl::memory src(src_md, CpuEngine(), src_data);
    dnnl::memory b(bias_md, CpuEngine(), bias.data_ptr());
    dnnl::memory d(dst_md, CpuEngine(), out_buf.data_ptr());
    dnnl::memory w;
    {
      std::lock_guard<std::mutex> lock(mu);
      w = packed[e.packed].memory;
    }
    dnnl::stream stream(CpuEngine());
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, d}};
    int post_op = 0;
    if (int8()) {
      args.emplace(DNNL_ARG_ATTR_OUTPUT_SCALES,
                   dnnl::memory(dnnl::memory::desc({out}, dt::f32, tag::a), CpuEngine(), scales.data_ptr()));
      args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(post_op++) | DNNL_ARG_SRC_1, b);
    } else {
      args.emplace(DNNL_ARG_BIAS, b);
    }
    if (kind == Epilogue::kBiasGeluTanh || kind == Epilogue::kBiasGeluErf) ++post_op;
    if (kind == Epilogue::kBiasAddTo) {
      args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(post_op) | DNNL_ARG_SRC_1,
                   dnnl::memory(dst_md, CpuEngine(), addend.data_ptr()));
    }
    Guarded("FusedDense: running a product", [&] {
      e.primitive.execute(stream, args);
      stream.wait();
    });
    if (e.f32_dst) dst.copy_(out_buf);
  }

  torch::Tensor Input(const torch::Tensor& x) const {
    TORCH_CHECK(x.size(-1) == in, "FusedDense: input has ", x.size(-1), " features, expected ", in);
    if (int8() && x.scalar_type() == torch::kBFloat16) return x.reshape({-1, in}).contiguous();
    return x.to(int8() ? torch::kFloat32 : torch::kBFloat16).reshape({-1, in}).contiguous();
  }
};

FusedDense::FusedDense(const torch::Tensor& weight, const torch::Tensor& bias, Arithmetic arithmetic)
    : impl_(std::make_unique<Impl>()) {
  torch::NoGradGuard no_grad;
  TORCH_CHECK(weight.dim() == 2 && bias.dim() == 1 && bias.size(0) == weight.size(0),
              "FusedDense: weight [out, in] and bias [out] expected");
  impl_->arithmetic = arithmetic;
  impl_->out = weight.size(0);
  impl_->in = weight.size(1);
  impl_->bias = bias.detach().to(torch::kFloat32).contiguous();
  const OneDnnCaps& caps = Caps();
  TORCH_CHECK(arithmetic == Arithmetic::kInt8 ? caps.int8 : caps.bf16, "FusedDense: this CPU (", caps.level,
              ") has no oneDNN ", arithmetic == Arithmetic::kInt8 ? "int8" : "bf16",
              " matmul; PlanPrecision chooses what runs instead");
  if (arithmetic == Arithmetic::kInt8) {
    // Symmetric codes per output channel: scale max|w_row| / code_max.
    const int code_max = Int8WeightCodeMax();
    impl_->code_max = code_max;
    auto w = weight.detach().to(torch::kFloat32);
    impl_->weight_scale = (w.abs().amax(1).clamp_min(1e-12) / code_max).contiguous();
    impl_->weight =
        (w / impl_->weight_scale.unsqueeze(1)).round().clamp(-code_max, code_max).to(torch::kChar).contiguous();
  } else {
    impl_->weight = weight.detach().to(torch::kBFloat16).contiguous();
  }
}

FusedDense::~FusedDense() = default;

int64_t FusedDense::in_features() const { return impl_->in; }
int64_t FusedDense::out_features() const { return impl_->out; }
Arithmetic FusedDense::arithmetic() const { return impl_->arithmetic; }
int FusedDense::weight_code_max() const { return impl_->code_max; }

torch::Tensor FusedDense::Forward(const torch::Tensor& x, Epilogue epilogue, torch::ScalarType out_type) const {
  TORCH_CHECK(out_type == torch::kBFloat16 || out_type == torch::kFloat32, "FusedDense: bf16 or fp32 output");
  auto x2d = impl_->Input(x);
  auto sizes = x.sizes().vec();
  sizes.back() = impl_->out;
  auto dst = torch::empty({x2d.size(0), impl_->out}, x.options().dtype(out_type));
  TORCH_CHECK(epilogue != Epilogue::kBiasAddTo, "FusedDense: the residual epilogue is ForwardAddTo's");
  impl_->Run(x2d, epilogue, dst);
  return dst.view(sizes);
}

torch::Tensor FusedDense::ForwardAddTo(const torch::Tensor& x, const torch::Tensor& residual) const {
  auto x2d = impl_->Input(x);
  TORCH_CHECK(residual.numel() == x2d.size(0) * impl_->out, "FusedDense: residual of the wrong size");
  auto addend = residual.to(torch::kFloat32).contiguous();
  auto dst = torch::empty({x2d.size(0), impl_->out}, addend.options());
  impl_->Run(x2d, Epilogue::kBiasAddTo, dst, addend);
  return dst.view(residual.sizes());
}

namespace {

dnnl::memory::desc DescOf(const torch::Tensor& t, dt type) {
  return dnnl::memory::desc(t.sizes().vec(), type, t.strides().vec());
}

struct BatchedKey {
  std::vector<int64_t> a_sizes, a_strides, b_sizes, b_strides;
  bool f32_out;
  bool operator<(const BatchedKey& o) const {
    return std::tie(a_sizes, a_strides, b_sizes, b_strides, f32_out) <
           std::tie(o.a_sizes, o.a_strides, o.b_sizes, o.b_strides, o.f32_out);
  }
};

}  // namespace

torch::Tensor Bf16BatchedMatmul(const torch::Tensor& a, const torch::Tensor& b, torch::ScalarType out_type) {
  TORCH_CHECK(a.dim() == 3 && b.dim() == 3 && a.size(0) == b.size(0) && a.size(2) == b.size(1),
              "Bf16BatchedMatmul: [B, M, K] · [B, K, N] expected");
  TORCH_CHECK(a.scalar_type() == torch::kBFloat16 && b.scalar_type() == torch::kBFloat16,
              "Bf16BatchedMatmul: bf16 inputs expected");
  TORCH_CHECK(out_type == torch::kBFloat16 || out_type == torch::kFloat32, "Bf16BatchedMatmul: bf16 or fp32 output");
  at::internal::lazy_init_num_threads();
  auto dst = torch::empty({a.size(0), a.size(1), b.size(2)}, a.options().dtype(out_type));
  if (dst.numel() == 0) return dst;
  const dt dst_type = out_type == torch::kFloat32 ? dt::f32 : dt::bf16;
  static std::mutex mu;
  static std::map<BatchedKey, dnnl::matmul> cache;
  BatchedKey key{a.sizes().vec(), a.strides().vec(), b.sizes().vec(), b.strides().vec(), dst_type == dt::f32};
  Guarded("Bf16BatchedMatmul", [&] {
    dnnl::matmul primitive;
    {
      std::lock_guard<std::mutex> lock(mu);
      auto it = cache.find(key);
      if (it == cache.end()) {
        if (cache.size() >= 256) cache.clear();  // shapes follow the batch's length; keep it bounded
        dnnl::matmul::primitive_desc pd(
            dnnl::matmul::desc(DescOf(a, dt::bf16), DescOf(b, dt::bf16), DescOf(dst, dst_type)), CpuEngine());
        it = cache.emplace(key, dnnl::matmul(pd)).first;
      }
      primitive = it->second;
    }
    dnnl::memory am(DescOf(a, dt::bf16), CpuEngine(), a.data_ptr());
    dnnl::memory bm(DescOf(b, dt::bf16), CpuEngine(), b.data_ptr());
    dnnl::memory dm(DescOf(dst, dst_type), CpuEngine(), dst.data_ptr());
    dnnl::stream stream(CpuEngine());
    primitive.execute(stream, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, dm}});
    stream.wait();
  });
  return dst;
}

namespace {

// fp32 → bf16, rounding to nearest even (as c10::BFloat16 does).
inline uint16_t ToBf16Bits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

inline float AsFloat(float v) { return v; }
inline float AsFloat(uint16_t v) {
  const uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

void SoftmaxRowPlain(const float* s, const float* bias, float scale, int64_t n, float* tmp, uint16_t* out) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < n; ++j) {
    tmp[j] = s[j] * scale + bias[j];
    mx = std::max(mx, tmp[j]);
  }
  float sum = 0;
  for (int64_t j = 0; j < n; ++j) sum += (tmp[j] = std::exp(tmp[j] - mx));
  const float inv = 1.0f / sum;
  for (int64_t j = 0; j < n; ++j) out[j] = ToBf16Bits(tmp[j] * inv);
}

// GCC 12 reports the masked intrinsics' unset pass-through operands as used uninitialized.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

// exp(x) for x ≤ 0: Cody–Waite reduction by ln 2 and Cephes' degree-6
// polynomial (within 2 ulp of expf); exactly 0 below -87.3 (a masked position).
ORQA_AVX512 inline __m512 ExpNonPositive(__m512 x) {
  const __mmask16 tiny = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.3f), _CMP_LT_OQ);
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.3f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  __m512 y = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_maskz_mov_ps(static_cast<__mmask16>(~tiny), _mm512_scalef_ps(y, n));
}

ORQA_AVX512 void SoftmaxRowAvx512(const float* s, const float* bias, float scale, int64_t n, float* tmp,
                                  uint16_t* out) {
  const __m512 vscale = _mm512_set1_ps(scale);
  __m512 vmax = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = TailMask16(n - j);
    const __m512 x = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, s + j), vscale, _mm512_maskz_loadu_ps(m, bias + j));
    _mm512_mask_storeu_ps(tmp + j, m, x);
    vmax = _mm512_mask_max_ps(vmax, m, vmax, x);
  }
  const __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(vmax));
  __m512 vsum = _mm512_setzero_ps();
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = TailMask16(n - j);
    const __m512 e = ExpNonPositive(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, tmp + j), mx));
    _mm512_mask_storeu_ps(tmp + j, m, e);
    vsum = _mm512_mask_add_ps(vsum, m, vsum, e);
  }
  const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(vsum));
  const __m512i one = _mm512_set1_epi32(1), half = _mm512_set1_epi32(0x7FFF);
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = TailMask16(n - j);
    __m512i bits = _mm512_castps_si512(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, tmp + j), inv));
    bits = _mm512_add_epi32(bits, _mm512_add_epi32(half, _mm512_and_si512(_mm512_srli_epi32(bits, 16), one)));
    _mm256_mask_storeu_epi16(out + j, m, _mm512_cvtepi32_epi16(_mm512_srli_epi32(bits, 16)));
  }
}

// The AVX2 twins of the three kernels above: the same operations in the same
// order on sixteen lanes held as two 8-lane halves (exp's 2^n by adding n to
// the exponent field, exact for n ≥ -126 as scalef is; sums reduced as
// _mm512_reduce_add_ps does), so they give the AVX-512 kernels' bits.
ORQA_AVX2 inline __m256 ExpNonPositive(__m256 x) {
  const __m256 tiny = _mm256_cmp_ps(x, _mm256_set1_ps(-87.3f), _CMP_LT_OQ);
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.3f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  const __m256 y = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(tiny, _mm256_mul_ps(y, _mm256_castsi256_ps(e)));
}

// Lanes [0, remaining) of an 8-wide step, for the masked loads and stores.
ORQA_AVX2 inline __m256i TailMask8(int64_t remaining) {
  const int k = static_cast<int>(std::clamp<int64_t>(remaining, 0, 8));
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

ORQA_AVX2 void SoftmaxRowAvx2(const float* s, const float* bias, float scale, int64_t n, float* tmp, uint16_t* out) {
  const __m256 vscale = _mm256_set1_ps(scale), ninf = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  __m256 vmax[2] = {ninf, ninf};
  for (int64_t j = 0; j < n; j += 8) {
    const __m256i m = TailMask8(n - j);
    const __m256 x = _mm256_fmadd_ps(_mm256_maskload_ps(s + j, m), vscale, _mm256_maskload_ps(bias + j, m));
    _mm256_maskstore_ps(tmp + j, m, x);
    const int h = static_cast<int>((j / 8) % 2);
    vmax[h] = _mm256_blendv_ps(vmax[h], _mm256_max_ps(vmax[h], x), _mm256_castsi256_ps(m));
  }
  const __m256 m8 = _mm256_max_ps(vmax[0], vmax[1]);
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m8), _mm256_extractf128_ps(m8, 1));
  m4 = _mm_max_ps(m4, _mm_shuffle_ps(m4, m4, _MM_SHUFFLE(1, 0, 3, 2)));
  const __m256 mx = _mm256_set1_ps(std::max(_mm_cvtss_f32(m4), _mm_cvtss_f32(_mm_shuffle_ps(m4, m4, 1))));
  __m256 vsum[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t j = 0; j < n; j += 8) {
    const __m256i m = TailMask8(n - j);
    const __m256 e = ExpNonPositive(_mm256_sub_ps(_mm256_maskload_ps(tmp + j, m), mx));
    _mm256_maskstore_ps(tmp + j, m, e);
    const int h = static_cast<int>((j / 8) % 2);
    vsum[h] = _mm256_add_ps(vsum[h], _mm256_and_ps(e, _mm256_castsi256_ps(m)));
  }
  const __m256 inv = _mm256_set1_ps(1.0f / ReduceAddSixteen(vsum[0], vsum[1]));
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256i bits = _mm256_castps_si256(_mm256_mul_ps(_mm256_loadu_ps(tmp + j), inv));
    bits = _mm256_add_epi32(bits, _mm256_add_epi32(_mm256_set1_epi32(0x7FFF),
                                                   _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1))));
    bits = _mm256_srli_epi32(bits, 16);
    const __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(bits), _mm256_extracti128_si256(bits, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + j), packed);
  }
  const float last_inv = _mm256_cvtss_f32(inv);
  for (; j < n; ++j) out[j] = ToBf16Bits(tmp[j] * last_inv);
}

template <typename T>
ORQA_AVX2 float AbsMaxAvx2(const T* p, int64_t n) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 m = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, Load8(p + j)));
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  m4 = _mm_max_ps(m4, _mm_shuffle_ps(m4, m4, _MM_SHUFFLE(1, 0, 3, 2)));
  float r = std::max(_mm_cvtss_f32(m4), _mm_cvtss_f32(_mm_shuffle_ps(m4, m4, 1)));
  for (; j < n; ++j) r = std::max(r, std::fabs(AsFloat(p[j])));
  return r;
}

template <typename T>
ORQA_AVX2 void QuantizeAvx2(const T* p, int64_t n, float inv_scale, int8_t* out) {
  const __m256 inv = _mm256_set1_ps(inv_scale);
  const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256i q = _mm256_cvtps_epi32(_mm256_mul_ps(Load8(p + j), inv));  // nearest, ties to even
    q = _mm256_min_epi32(_mm256_max_epi32(q, lo), hi);
    const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out + j), _mm_packs_epi16(w, w));
  }
  for (; j < n; ++j) out[j] = static_cast<int8_t>(std::clamp(std::nearbyint(AsFloat(p[j]) * inv_scale), -127.0f, 127.0f));
}

template <typename T>
ORQA_AVX512 float AbsMaxAvx512(const T* p, int64_t n) {
  __m512 m = _mm512_setzero_ps();
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 k = TailMask16(n - j);
    m = _mm512_max_ps(m, _mm512_abs_ps(Load16(p + j, k)));
  }
  return _mm512_reduce_max_ps(m);
}

template <typename T>
ORQA_AVX512 void QuantizeAvx512(const T* p, int64_t n, float inv_scale, int8_t* out) {
  const __m512 inv = _mm512_set1_ps(inv_scale);
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 k = TailMask16(n - j);
    __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(Load16(p + j, k), inv));  // nearest, ties to even
    q = _mm512_min_epi32(_mm512_max_epi32(q, lo), hi);
    _mm_mask_storeu_epi8(out + j, k, _mm512_cvtepi32_epi8(q));
  }
}


// Runs f(pointer to the rows' first element, element count) on each of up to
// LibTorch's thread count parts of x; returns the parts' results.
template <typename F>
std::vector<float> OverParts(const torch::Tensor& x, F&& f) {
  const int64_t n = x.numel();
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), n / 4096));
  std::vector<float> result(parts, 0.0f);
  at::parallel_for(0, parts, 1, [&](int64_t begin, int64_t end) {
    for (int64_t part = begin; part < end; ++part) {
      const int64_t a = n * part / parts, b = n * (part + 1) / parts;
      result[part] = x.scalar_type() == torch::kBFloat16
                         ? f(reinterpret_cast<const uint16_t*>(x.data_ptr()) + a, a, b - a)
                         : f(x.data_ptr<float>() + a, a, b - a);
    }
  });
  return result;
}

float AbsMax(const torch::Tensor& x) {
  const CpuLevel level = KernelCpuLevel();
  auto parts = OverParts(x, [&](auto* p, int64_t, int64_t n) -> float {
    if (level >= CpuLevel::kAvx512) return AbsMaxAvx512(p, n);
    if (level >= CpuLevel::kAvx2) return AbsMaxAvx2(p, n);
    float m = 0;
    for (int64_t j = 0; j < n; ++j) m = std::max(m, std::fabs(AsFloat(p[j])));
    return m;
  });
  return *std::max_element(parts.begin(), parts.end());
}

void QuantizeInt8(const torch::Tensor& x, float inv_scale, int8_t* out) {
  const CpuLevel level = KernelCpuLevel();
  OverParts(x, [&](auto* p, int64_t offset, int64_t n) -> float {
    if (level >= CpuLevel::kAvx512) {
      QuantizeAvx512(p, n, inv_scale, out + offset);
    } else if (level >= CpuLevel::kAvx2) {
      QuantizeAvx2(p, n, inv_scale, out + offset);
    } else {
      for (int64_t j = 0; j < n; ++j) {
        out[offset + j] = static_cast<int8_t>(std::clamp(std::nearbyint(AsFloat(p[j]) * inv_scale), -127.0f, 127.0f));
      }
    }
    return 0.0f;
  });
}

}  // namespace

#pragma GCC diagnostic pop

torch::Tensor ScaledMaskedSoftmaxBf16(const torch::Tensor& scores, const torch::Tensor& mask_bias, float scale,
                                      CpuLevel max_level) {
  TORCH_CHECK(scores.dim() == 4 && scores.scalar_type() == torch::kFloat32, "softmax: fp32 [B, heads, L, L] expected");
  const int64_t batch = scores.size(0), heads = scores.size(1), rows = scores.size(2), n = scores.size(3);
  TORCH_CHECK(mask_bias.numel() == batch * n, "softmax: mask_bias [B, 1, 1, L] expected");
  auto s = scores.contiguous();
  auto bias = mask_bias.to(torch::kFloat32).contiguous();
  auto out = torch::empty(s.sizes(), s.options().dtype(torch::kBFloat16));
  const float* sp = s.data_ptr<float>();
  const float* bp = bias.data_ptr<float>();
  auto* op = reinterpret_cast<uint16_t*>(out.data_ptr());
  const CpuLevel level = std::min(KernelCpuLevel(), max_level);
  at::parallel_for(0, batch * heads * rows, 64, [&](int64_t begin, int64_t end) {
    std::vector<float> tmp(static_cast<size_t>(n));
    for (int64_t r = begin; r < end; ++r) {
      const float* row_bias = bp + (r / (heads * rows)) * n;
      if (level >= CpuLevel::kAvx512) SoftmaxRowAvx512(sp + r * n, row_bias, scale, n, tmp.data(), op + r * n);
      else if (level >= CpuLevel::kAvx2) SoftmaxRowAvx2(sp + r * n, row_bias, scale, n, tmp.data(), op + r * n);
      else SoftmaxRowPlain(sp + r * n, row_bias, scale, n, tmp.data(), op + r * n);
    }
  });
  return out;
}

}  // namespace orqa
