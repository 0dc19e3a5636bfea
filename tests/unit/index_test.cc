// Block store, searchers and the exact top-k merge.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>

#include "common/index/block_import.h"
#include "common/index/block_store.h"
#include "common/index/embeddings.h"
#include "common/index/flat_scan.h"
#include "common/index/searcher.h"
#include "common/index/topk_merge.h"

namespace orqa {
namespace {

EmbeddingMatrix RandomMatrix(int64_t rows, int64_t dim, std::vector<float>* storage) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  storage->resize(rows * dim);
  for (auto& v : *storage) v = normal(rng);
  EmbeddingMatrix m;
  m.view.dtype = DType::kF32;
  m.view.shape = {rows, dim};
  m.view.data = reinterpret_cast<const uint8_t*>(storage->data());
  m.view.nbytes = storage->size() * 4;
  return m;
}

class ExactSearchers : public ::testing::TestWithParam<std::pair<std::string, int>> {};

TEST_P(ExactSearchers, EqualBruteForce) {
  std::vector<float> data, queries;
  EmbeddingMatrix m = RandomMatrix(5003, 16, &data);
  EmbeddingMatrix q = RandomMatrix(9, 16, &queries);
  SearcherOptions o;
  o.type = GetParam().first;
  o.omp_threads = GetParam().second;
  if (o.omp_threads == 3) o.scan_max_queries = 4;  // the 9 queries take FAISS's path
  auto s = MakeSearcher(m, o);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->size(), 5003);
  for (int k : {1, 10, 100, 5003}) {  // 5003: every row, where near-ties occur
    std::vector<float> scores(9 * k);
    std::vector<int64_t> ids(9 * k);
    ASSERT_TRUE((*s)->Search(q.data(), 9, k, scores.data(), ids.data()).ok());
    for (int i = 0; i < 9; ++i) {
      std::vector<float> want_s;
      std::vector<int64_t> want_i;
      BruteForceTopK(m, q.data() + i * 16, k, &want_s, &want_i);
      std::vector<float> exact(5003);  // brute-force score of every row
      for (size_t r = 0; r < want_i.size(); ++r) exact[want_i[r]] = want_s[r];
      for (int j = 0; j < k; ++j) {
        ASSERT_NEAR(scores[i * k + j], want_s[j], 1e-4) << "query " << i << " rank " << j << " k " << k;
        // Ids agree, except that rows whose scores differ by float rounding
        // only (BLAS vs a plain loop) may trade places.
        if (ids[i * k + j] != want_i[j]) {
          ASSERT_NEAR(exact[ids[i * k + j]], want_s[j], 1e-5) << "query " << i << " rank " << j << " k " << k;
        }
      }
      if (k < 5003) {
        for (int j = 0; j < k; ++j) ASSERT_EQ(ids[i * k + j], want_i[j]) << "query " << i << " rank " << j;
      }
    }
  }
  std::vector<float> sc(1);
  std::vector<int64_t> id(1);
  EXPECT_EQ((*s)->Search(q.data(), 1, 5004, sc.data(), id.data()).code(), absl::StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Types, ExactSearchers,
                         ::testing::Values(std::make_pair(std::string("flat"), 1), std::make_pair(std::string("flat"), 2),
                                           std::make_pair(std::string("flat"), 3), std::make_pair(std::string("bf16"), 1),
                                           std::make_pair(std::string("bf16"), 2), std::make_pair(std::string("int8"), 1),
                                           std::make_pair(std::string("int8"), 2),
                                           std::make_pair(std::string("torch"), 1)));

// The levels the scan kernels can run at here (every level up to
// KernelCpuLevel(), which ORQA_MAX_CPU_ISA caps), plain loops first.
std::vector<CpuLevel> ScanLevels() {
  std::vector<CpuLevel> levels;
  for (CpuLevel l : {CpuLevel::kPortable, CpuLevel::kAvx2, CpuLevel::kAvx512, CpuLevel::kAvx512Vnni}) {
    if (l <= KernelCpuLevel()) levels.push_back(l);
  }
  return levels;
}

// The scan kernels against a plain double-precision loop at every level this
// CPU runs: every dimension remainder of the 16-lane kernels, query groups
// below, at and above one pass (kMaxScanQueries) and row counts that leave
// partial 16-row blocks. int8 scores are the exact code products with the
// question's own codes at every level.
TEST(FlatScan, KernelsEqualAPlainLoopForAnyShape) {
  for (CpuLevel level : ScanLevels()) {
    CapScanLevelForTesting(level);
    for (int d : {1, 7, 16, 20, 33, 128, 129}) {
      for (int64_t n : {int64_t{1}, int64_t{15}, int64_t{37}, int64_t{1000}}) {
        std::vector<float> data, queries;
        EmbeddingMatrix m = RandomMatrix(n, d, &data);
        const int nq = 11;
        RandomMatrix(nq, d, &queries);
        std::vector<uint16_t> bf(data.size());
        ToBFloat16(data.data(), static_cast<int64_t>(data.size()), bf.data());
        std::vector<int8_t> i8(data.size());
        std::vector<float> scales(n);
        std::vector<int32_t> sums(n);
        QuantizeRowsInt8(data.data(), n, d, i8.data(), scales.data(), sums.data());
        for (const std::string codec : {"fp32", "bf16", "int8"}) {
          const int k = static_cast<int>(std::min<int64_t>(n, 9));
          std::vector<ScanTopK> tops(nq, ScanTopK(k));
          if (codec == "bf16") {
            ScanBFloat16(bf.data(), n, d, queries.data(), nq, 100, tops.data());
          } else if (codec == "int8") {
            ScanInt8(i8.data(), scales.data(), sums.data(), n, d, queries.data(), nq, 100, tops.data());
          } else {
            ScanFloat32(data.data(), n, d, queries.data(), nq, 100, tops.data());
          }
          for (int q = 0; q < nq; ++q) {
            std::vector<int8_t> q_codes(d);
            float q_scale = 0;
            QuantizeQueryInt8(queries.data() + q * d, d, q_codes.data(), &q_scale);
            std::vector<std::pair<double, int64_t>> want;
            for (int64_t r = 0; r < n; ++r) {
              if (codec == "int8") {  // exact integer products, then the kernel's two float products
                int32_t dot = 0;
                for (int j = 0; j < d; ++j) dot += int32_t{i8[r * d + j]} * q_codes[j];
                want.emplace_back(-double(float(dot) * (scales[r] * q_scale)), r + 100);
                continue;
              }
              double acc = 0;
              for (int j = 0; j < d; ++j) {
                uint32_t bits = static_cast<uint32_t>(bf[r * d + j]) << 16;
                float w;
                std::memcpy(&w, &bits, 4);
                acc += (codec == "bf16" ? w : data[r * d + j]) * double{queries[q * d + j]};
              }
              want.emplace_back(-acc, r + 100);
            }
            std::sort(want.begin(), want.end());
            ScoredIds got = tops[q].Sorted();
            ASSERT_EQ(got.ids.size(), static_cast<size_t>(k));
            for (int j = 0; j < k; ++j) {
              const std::string where = ScanKernelName() + " " + codec + " d " + std::to_string(d) +
                                        " n " + std::to_string(n) + " q " + std::to_string(q) + " rank " +
                                        std::to_string(j);
              ASSERT_EQ(got.ids[j], want[j].second) << where;
              if (codec == "int8") {
                ASSERT_EQ(got.scores[j], static_cast<float>(-want[j].first)) << where;
              } else {
                ASSERT_NEAR(got.scores[j], -want[j].first, 1e-5 * std::sqrt(double(d))) << where;
              }
            }
          }
        }
      }
    }
  }
  CapScanLevelForTesting(CpuLevel::kAmx);
}

// A fleet of mixed CPUs returns the same results: the AVX2 kernels score
// every fp32 and bf16 row bit for bit as the AVX-512 ones (the same lanes,
// fused products and reduction order).
TEST(FlatScan, Avx2AndAvx512ScoreBitForBitTheSame) {
  if (KernelCpuLevel() < CpuLevel::kAvx512) {
    GTEST_SKIP() << "skipped: needs avx512 (this CPU runs " << DescribeCpuLevel() << ")";
  }
  for (int d : {5, 16, 33, 128, 200}) {
    std::vector<float> data, queries;
    RandomMatrix(53, d, &data);
    RandomMatrix(3, d, &queries);
    std::vector<uint16_t> bf(data.size());
    ToBFloat16(data.data(), static_cast<int64_t>(data.size()), bf.data());
    for (bool bf16 : {false, true}) {
      std::vector<ScoredIds> results;
      for (CpuLevel level : {CpuLevel::kAvx2, CpuLevel::kAvx512}) {
        CapScanLevelForTesting(level);
        std::vector<ScanTopK> tops(3, ScanTopK(53));
        if (bf16) ScanBFloat16(bf.data(), 53, d, queries.data(), 3, 0, tops.data());
        else ScanFloat32(data.data(), 53, d, queries.data(), 3, 0, tops.data());
        for (const auto& t : tops) results.push_back(t.Sorted());
      }
      for (int q = 0; q < 3; ++q) {
        EXPECT_EQ(results[q].ids, results[3 + q].ids) << "d " << d << (bf16 ? " bf16" : " fp32");
        EXPECT_EQ(results[q].scores, results[3 + q].scores) << "d " << d << (bf16 ? " bf16" : " fp32");
      }
    }
  }
  CapScanLevelForTesting(CpuLevel::kAmx);
}

// A row's score does not depend on the rows scanned with it (the re-ranking
// of the compressed searchers scores rows one by one), and so the bf16 and
// int8 searchers return exactly the flat searcher's scores.
TEST(FlatScan, ARowScoresTheSameAloneAndInABlock) {
  for (CpuLevel level : ScanLevels()) {
    CapScanLevelForTesting(level);
    for (int d : {7, 128}) {
      std::vector<float> data, queries;
      RandomMatrix(37, d, &data);
      RandomMatrix(3, d, &queries);
      std::vector<ScanTopK> all(3, ScanTopK(37));
      ScanFloat32(data.data(), 37, d, queries.data(), 3, 0, all.data());
      for (int q = 0; q < 3; ++q) {
        ScoredIds got = all[q].Sorted();
        for (int j = 0; j < 37; ++j) {
          ScanTopK alone(1);
          ScanFloat32(data.data() + got.ids[j] * d, 1, d, queries.data() + q * d, 1, got.ids[j], &alone);
          ASSERT_EQ(alone.Sorted().scores[0], got.scores[j]) << ScanKernelName() << " d " << d << " row " << got.ids[j];
        }
      }
    }
  }
  CapScanLevelForTesting(CpuLevel::kAmx);
  std::vector<float> data, queries;
  EmbeddingMatrix m = RandomMatrix(5003, 128, &data);
  RandomMatrix(9, 128, &queries);
  std::vector<float> flat_scores(90);
  std::vector<int64_t> flat_ids(90);
  SearcherOptions o;
  ASSERT_TRUE((*MakeSearcher(m, o))->Search(queries.data(), 9, 10, flat_scores.data(), flat_ids.data()).ok());
  for (const char* type : {"bf16", "int8"}) {
    o.type = type;
    std::vector<float> scores(90);
    std::vector<int64_t> ids(90);
    ASSERT_TRUE((*MakeSearcher(m, o))->Search(queries.data(), 9, 10, scores.data(), ids.data()).ok());
    EXPECT_EQ(ids, flat_ids) << type;
    EXPECT_EQ(scores, flat_scores) << type;
  }
}

// Equal scores: the lower id wins inside a part and across the parallel parts.
TEST(FlatScan, TiesKeepTheLowerIdAcrossParts) {
  std::vector<float> base;
  RandomMatrix(7, 32, &base);
  const int64_t n = 70000;  // two parts of 35000 rows at 2 threads
  std::vector<float> data(n * 32);
  for (int64_t r = 0; r < n; ++r) std::copy_n(base.begin() + (r % 7) * 32, 32, data.begin() + r * 32);
  EmbeddingMatrix m;
  m.view.dtype = DType::kF32;
  m.view.shape = {n, 32};
  m.view.data = reinterpret_cast<const uint8_t*>(data.data());
  m.view.nbytes = data.size() * 4;
  std::vector<float> q(base.begin(), base.begin() + 32);  // row 0's vector
  int best = 0;
  for (int b = 0; b < 7; ++b) {
    float sb = 0, s0 = 0;
    for (int j = 0; j < 32; ++j) sb += base[b * 32 + j] * q[j], s0 += base[best * 32 + j] * q[j];
    if (sb > s0) best = b;
  }
  for (const char* type : {"flat", "bf16", "int8"}) {
    for (int threads : {1, 2, 3}) {
      SearcherOptions o;
      o.type = type;
      o.omp_threads = threads;
      auto s = MakeSearcher(m, o);
      ASSERT_TRUE(s.ok()) << s.status();
      const int k = 12000;  // more than one part's copies of the best row (5000 in each of 2 parts)
      std::vector<float> scores(k);
      std::vector<int64_t> ids(k);
      ASSERT_TRUE((*s)->Search(q.data(), 1, k, scores.data(), ids.data()).ok());
      for (int j = 0; j < 10000; ++j) {
        ASSERT_EQ(ids[j], best + 7 * j) << type << " threads " << threads << " rank " << j;
        ASSERT_EQ(scores[j], scores[0]) << type << " threads " << threads << " rank " << j;
      }
    }
  }
}

TEST(FlatScan, Int8CodesPerRow) {
  const float rows[3][4] = {{0.5f, -1.27f, 0.01f, 1.0f}, {0, 0, 0, 0}, {1.0f, INFINITY, 2.0f, NAN}};
  int8_t codes[12];
  float scales[3];
  int32_t sums[3];
  QuantizeRowsInt8(&rows[0][0], 3, 4, codes, scales, sums);
  EXPECT_FLOAT_EQ(scales[0], 0.01f);
  EXPECT_EQ(std::vector<int>(codes, codes + 4), (std::vector<int>{50, -127, 1, 100}));
  EXPECT_EQ(std::vector<int>(sums, sums + 3), (std::vector<int>{24, 0, 0}));
  EXPECT_EQ(scales[1], 0.0f);
  EXPECT_EQ(std::vector<int>(codes + 4, codes + 8), (std::vector<int>{0, 0, 0, 0}));
  EXPECT_EQ(scales[2], 0.0f);  // an infinite value: the row scores 0
  EXPECT_EQ(std::vector<int>(codes + 8, codes + 12), (std::vector<int>{0, 0, 0, 0}));
}

TEST(FlatScan, BFloat16RoundsToNearestEven) {
  auto bits = [](uint32_t b) {
    float f;
    std::memcpy(&f, &b, 4);
    uint16_t out;
    ToBFloat16(&f, 1, &out);
    return out;
  };
  EXPECT_EQ(bits(0x3F800000u), 0x3F80);  // 1.0 exactly
  EXPECT_EQ(bits(0x3F808000u), 0x3F80);  // halfway, even below: down
  EXPECT_EQ(bits(0x3F818000u), 0x3F82);  // halfway, odd below: up
  EXPECT_EQ(bits(0x3F808001u), 0x3F81);  // above halfway: up
  EXPECT_EQ(bits(0xBF807FFFu), 0xBF80);  // below halfway, negative: down in magnitude
  EXPECT_EQ(bits(0x7F7FFFFFu), 0x7F80);  // the largest float rounds to infinity
  EXPECT_EQ(bits(0xFF800000u), 0xFF80);  // -infinity stays
  EXPECT_EQ(bits(0x7F800001u) & 0x7F80, 0x7F80);  // a NaN stays a NaN ...
  EXPECT_NE(bits(0x7F800001u) & 0x007F, 0);        // ... not infinity
}

TEST(ApproximateSearchers, BuildAndReturnValidIds) {
  std::vector<float> data;
  EmbeddingMatrix m = RandomMatrix(3000, 16, &data);
  for (const char* type : {"fp16", "sq8", "hnsw", "ivf"}) {
    SearcherOptions o;
    o.type = type;
    auto s = MakeSearcher(m, o);
    ASSERT_TRUE(s.ok()) << type << ": " << s.status();
    std::vector<float> scores(10);
    std::vector<int64_t> ids(10);
    ASSERT_TRUE((*s)->Search(data.data(), 1, 10, scores.data(), ids.data()).ok()) << type;
    EXPECT_EQ(ids[0], 0) << type << ": a stored vector is its own best match";
    for (int j = 1; j < 10; ++j) EXPECT_GE(scores[j - 1], scores[j]) << type;
  }
  SearcherOptions bad;
  bad.type = "lsh";
  EXPECT_EQ(MakeSearcher(m, bad).status().message(),
            "index type: expected flat, bf16, int8, fp16, sq8, hnsw, ivf or torch, got 'lsh'");
}

TEST(TopKMerge, ExactAcrossShardsWithTiesByAscendingId) {
  ScoredIds a{{7, 2, 9}, {5.0f, 3.0f, 1.0f}}, b{{1, 4}, {5.0f, 3.0f}}, c{{12, -1}, {4.0f, 0.0f}};
  ScoredIds m = MergeTopK({a, b, c}, 4);
  EXPECT_EQ(m.ids, (std::vector<int64_t>{1, 7, 12, 2}));
  EXPECT_EQ(m.scores, (std::vector<float>{5, 5, 4, 3}));
}

TEST(ShardRanges, CoverAllRowsContiguously) {
  int64_t next = 0;
  for (int i = 0; i < 3; ++i) {
    auto [b, e] = ShardRange(2067, i, 3);
    EXPECT_EQ(b, next);
    EXPECT_GE(e - b, 688);
    next = e;
  }
  EXPECT_EQ(next, 2067);
}

TEST(ShardRanges, CheckedRangeRefusesMoreShardsThanRowsAndUnknownShards) {
  auto ok = CheckedShardRange(10, 2, 3);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, std::make_pair(int64_t{6}, int64_t{10}));
  auto few = CheckedShardRange(2, 0, 3);
  EXPECT_EQ(few.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(few.status().message(), "2 blocks cannot make 3 shards");
  EXPECT_EQ(CheckedShardRange(10, 3, 3).status().message(), "shard 3 of 3: no such shard");
  EXPECT_EQ(CheckedShardRange(10, -1, 3).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BlockStore, WriteOpenReadAndBadIds) {
  const std::string path = ::testing::TempDir() + "/t.blocks";
  auto w = BlockStoreWriter::Create(path);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Add("Paris", "Paris is the capital of France.").ok());
  ASSERT_TRUE((*w)->Add("", "Water boils at 100 °C.").ok());
  ASSERT_TRUE((*w)->Add("Empty", "").ok());
  ASSERT_TRUE((*w)->Finish().ok());
  auto s = BlockStore::Open(path);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->size(), 3);
  EXPECT_EQ(*(*s)->Title(0), "Paris");
  EXPECT_EQ(*(*s)->Text(0), "Paris is the capital of France.");
  EXPECT_EQ(*(*s)->Title(1), "");
  EXPECT_EQ(*(*s)->Text(1), "Water boils at 100 °C.");
  EXPECT_EQ(*(*s)->Text(2), "");
  EXPECT_TRUE((*s)->VerifyAll().ok());
  EXPECT_EQ((*s)->Text(3).status().message(), "block id 3 outside [0, 3)");
  EXPECT_EQ((*s)->Title(-1).status().code(), absl::StatusCode::kOutOfRange);
}

TEST(BlockStore, TruncatedOrForeignFilesAreRejected) {
  const std::string path = ::testing::TempDir() + "/u.blocks";
  auto w = BlockStoreWriter::Create(path);
  ASSERT_TRUE((*w)->Add("t", "some text").ok());
  ASSERT_TRUE((*w)->Finish().ok());
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  const std::string cut = ::testing::TempDir() + "/cut.blocks";
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() - 3);
  EXPECT_NE(BlockStore::Open(cut).status().message().find(cut + ": invalid block store: sizes do not add up"),
            std::string::npos);
  const std::string foreign = ::testing::TempDir() + "/foreign.blocks";
  std::ofstream(foreign) << std::string(100, 'x');
  EXPECT_EQ(BlockStore::Open(foreign).status().message(),
            foreign + ": invalid block store: missing ORQABLK1 header (not built by orqa build-blocks?)");
  std::string flipped = bytes;
  flipped[20] ^= 1;
  const std::string bad = ::testing::TempDir() + "/bad.blocks";
  std::ofstream(bad, std::ios::binary) << flipped;
  EXPECT_EQ(BlockStore::Open(bad).status().message(), bad + ": invalid block store: header checksum mismatch");
}

}  // namespace
// Block records whose bytes are not UTF-8 (a record cut inside a character)
// are stored with U+FFFD in place of each bad byte and counted: every answer
// that carries a block must be valid UTF-8 on the wire.
TEST(BlockImport, BytesThatAreNotUtf8AreRepairedAndCounted) {
  const std::string out = ::testing::TempDir() + "/cut.blocks";
  auto import = ImportBlocks(std::string(ORQA_SOURCE_DIR) + "/tests/unit/data/npy-memo/cut.npy", "auto", out);
  ASSERT_TRUE(import.ok()) << import.status();
  EXPECT_EQ(import->blocks, 3);
  EXPECT_EQ(import->repaired_utf8, 2);
  EXPECT_EQ(import->first_repaired, 0);
  EXPECT_EQ(DescribeRepairs(*import),
            "; 2 blocks hold bytes that are not UTF-8 (the first: block 0), stored with U+FFFD in their place");
  auto store = BlockStore::Open(out);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->Text(0).value(), "caf\xEF\xBF\xBD");
  EXPECT_EQ((*store)->Text(1).value(), "fine");
  EXPECT_EQ((*store)->Text(2).value(), "\xEF\xBF\xBD\xEF\xBF\xBD" "ab");
  auto clean = ImportBlocks(std::string(ORQA_SOURCE_DIR) + "/tests/unit/data/npy-memo/dup.npy", "npy", out);
  ASSERT_TRUE(clean.ok()) << clean.status();
  EXPECT_EQ(clean->repaired_utf8, 0);
  EXPECT_EQ(DescribeRepairs(*clean), "");
}

}  // namespace orqa
