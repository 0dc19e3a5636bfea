#pragma once

// Memory-bound exact scans for a few queries at a time: the kernels behind the
// flat searchers' single-query path. One pass over the rows serves up to
// kMaxScanQueries queries (a 16-row block stays in L1 while each query reads
// it), and the top-k selection compares 16 scores with the running k-th best
// at once, so it costs a vector compare per block unless a row enters the list.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/index/topk_merge.h"
#include "common/infra/cpu_level.h"

namespace orqa {

/// The best k (score, id) pairs of a scan that visits ids in ascending order:
/// a row enters only with a score above the current k-th best, so among equal
/// scores the lower id is kept, the order `SortResults` defines.
class ScanTopK {
 public:
  explicit ScanTopK(int k);
  /// The score a row must beat: -infinity until k rows are held.
  float threshold() const { return threshold_; }
  /// Adds a row whose score is above threshold().
  void Push(float score, int64_t id);
  /// The held rows, sorted by descending score then ascending id.
  ScoredIds Sorted() const;

 private:
  int k_;
  float threshold_;
  std::vector<std::pair<float, int64_t>> heap_;  // front: the worst held
};

/// Queries one pass serves; more are scanned in groups.
inline constexpr int kMaxScanQueries = 8;

/// Exact inner products of `nq` queries ([nq, d] fp32) with rows [0, n) of a
/// [n, d] fp32 matrix; row r enters tops[q] as id `id_base + r`.
void ScanFloat32(const float* rows, int64_t n, int d, const float* queries, int nq, int64_t id_base,
                 ScanTopK* tops);

/// The same over bf16 rows (the upper 16 bits of an fp32), widened exactly to
/// fp32 before the product.
void ScanBFloat16(const uint16_t* rows, int64_t n, int d, const float* queries, int nq, int64_t id_base,
                  ScanTopK* tops);

/// int8 rows (QuantizeRowsInt8) against the question's own int8 codes
/// (QuantizeQueryInt8): row r scores (codes_r · codes_q) · (row_scales[r] ·
/// q_scale), the code products summed exactly in int32 (VNNI, AVX2's
/// vpmaddubsw without saturation, or plain loops: the same score at every
/// level). Only the candidates of an exact re-ranking come from it.
void ScanInt8(const int8_t* rows, const float* row_scales, const int32_t* row_sums, int64_t n, int d,
              const float* queries, int nq, int64_t id_base, ScanTopK* tops);

/// Symmetric int8 codes per row (QuantizeQueryInt8 on each row), each row's
/// scale and the sum of its codes.
void QuantizeRowsInt8(const float* in, int64_t n, int d, int8_t* out, float* row_scales, int32_t* row_sums);

/// One vector's codes: scale = max |x| / 127, code = round(x / scale) (all
/// zeros with scale 0 for a zero vector or one holding an infinity; a NaN
/// element codes as 0).
void QuantizeQueryInt8(const float* x, int d, int8_t* out, float* scale);

/// Rounds `count` fp32 values to bf16, to nearest with ties to even (NaN stays NaN).
void ToBFloat16(const float* in, int64_t count, uint16_t* out);

/// The scan kernels chosen here: "avx512+vnni", "avx512", "avx2" or
/// "portable" (plain C++ loops), or one per codec ("fp32 avx2, bf16 avx2,
/// int8 avx2") — at most KernelCpuLevel() (ORQA_MAX_CPU_ISA caps it), and
/// where the CPU has AVX-512 the faster of its kernel and the AVX2 one, timed
/// once per process. Every level scores alike: the fp32 and bf16 scans bit for
/// bit at avx2 and the AVX-512 levels, the int8 scan everywhere.
std::string ScanKernelName();

/// Tests: the scans run the kernels of `cap` (or the widest below it), with
/// no timing (CpuLevel::kAmx: back to the chosen ones).
void CapScanLevelForTesting(CpuLevel cap);

}  // namespace orqa
