// Block store, searchers and the exact top-k merge.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "common/index/block_store.h"
#include "common/index/embeddings.h"
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
                                           std::make_pair(std::string("flat"), 3),
                                           std::make_pair(std::string("torch"), 1)));

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
            "index type: expected flat, fp16, sq8, hnsw, ivf or torch, got 'lsh'");
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
}  // namespace orqa
