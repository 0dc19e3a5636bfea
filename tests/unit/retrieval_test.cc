// Sparse retrieval (BM25 over Xapian) and the fusion of dense and sparse lists.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "common/eval/qa_dataset.h"
#include "common/index/bm25_index.h"
#include "common/index/block_store.h"
#include "common/index/fusion.h"
#include "tests/unit/fixture_paths.h"

namespace orqa {
namespace {

ScoredIds List(std::vector<int64_t> ids, std::vector<float> scores) { return {std::move(ids), std::move(scores)}; }

TEST(Fusion, ReciprocalRankFusionSumsInverseRanks) {
  // a: 7, 3, 5   b: 3, 9
  ScoredIds f = ReciprocalRankFusion(List({7, 3, 5}, {9, 8, 7}), List({3, 9}, {20, 10}), 10, 60);
  ASSERT_EQ(f.ids, (std::vector<int64_t>{3, 7, 9, 5}));
  EXPECT_FLOAT_EQ(f.scores[0], static_cast<float>(1.0 / 62 + 1.0 / 61));
  EXPECT_FLOAT_EQ(f.scores[1], static_cast<float>(1.0 / 61));
  EXPECT_FLOAT_EQ(f.scores[2], static_cast<float>(1.0 / 62));  // ties with 5 broken by id: 9 ranks 2nd in b, 5 3rd in a
  EXPECT_FLOAT_EQ(f.scores[3], static_cast<float>(1.0 / 63));
  EXPECT_EQ(ReciprocalRankFusion(List({7, 3, 5}, {9, 8, 7}), List({3, 9}, {20, 10}), 2).ids,
            (std::vector<int64_t>{3, 7}));
}

TEST(Fusion, RrfTiesAreBrokenByAscendingId) {
  ScoredIds f = ReciprocalRankFusion(List({8}, {1}), List({2}, {1}), 5);
  EXPECT_EQ(f.ids, (std::vector<int64_t>{2, 8}));
}

TEST(Fusion, WeightedFusionMinMaxNormalisesEachList) {
  // a: 1→10, 2→6, 3→2 (normalised 1, .5, 0); b: 3→4, 4→2 (1, 0).
  ScoredIds f = WeightedScoreFusion(List({1, 2, 3}, {10, 6, 2}), List({3, 4}, {4, 2}), 0.25, 10);
  ASSERT_EQ(f.ids, (std::vector<int64_t>{3, 1, 2, 4}));
  EXPECT_FLOAT_EQ(f.scores[0], 0.75f);   // 0.25·0 + 0.75·1
  EXPECT_FLOAT_EQ(f.scores[1], 0.25f);   // 0.25·1
  EXPECT_FLOAT_EQ(f.scores[2], 0.125f);  // 0.25·0.5
  EXPECT_FLOAT_EQ(f.scores[3], 0.0f);
}

class Bm25 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string t = "/tmp/orqa-bm25-XXXXXX";
    dir_ = new std::string(mkdtemp(t.data()));
    const std::string squad = testing::SharedDir() + "/data/squad-v1.1-dev-open";
    ASSERT_EQ(std::system(("'" + std::string(ORQA_BIN_DIR) + "/orqa' build-blocks --from " + squad + "/blocks.jsonl --out " +
                           *dir_ + "/squad.blocks > /dev/null 2>&1").c_str()),
              0);
    auto store = BlockStore::Open(*dir_ + "/squad.blocks");
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE(Bm25Index::Build(**store, *dir_ + "/bm25", nullptr).ok());
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }
  static std::string* dir_;
};
std::string* Bm25::dir_ = nullptr;

TEST_F(Bm25, FindsTheGoldParagraphOfSquadQuestions) {
  auto index = Bm25Index::Open(*dir_ + "/bm25", {0.9, 0.4});
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ((*index)->size(), 2067);
  auto questions = ReadQaJsonl(testing::SharedDir() + "/data/squad-v1.1-dev-open/qa-dev.jsonl");
  ASSERT_TRUE(questions.ok());
  int at1 = 0, at20 = 0, n = 0;
  for (const auto& q : *questions) {
    auto hits = (*index)->Search(q.question, 20, 0, (*index)->size());
    ASSERT_TRUE(hits.ok()) << hits.status();
    for (size_t i = 1; i < hits->ids.size(); ++i) ASSERT_GE(hits->scores[i - 1], hits->scores[i]);
    ++n;
    for (size_t i = 0; i < hits->ids.size(); ++i) {
      if (hits->ids[i] != q.block_id) continue;
      at1 += i == 0;
      ++at20;
    }
  }
  // Measured: 74.2 % of the 1,490 qa-dev questions have their paragraph first, 96.4 % in the top 20.
  EXPECT_GE(static_cast<double>(at1) / n, 0.72);
  EXPECT_GE(static_cast<double>(at20) / n, 0.95);
}

TEST_F(Bm25, ShardRangeAndEdgeCases) {
  auto index = Bm25Index::Open(*dir_ + "/bm25", {});
  ASSERT_TRUE(index.ok());
  auto all = (*index)->Search("Which NFL team represented the AFC at Super Bowl 50?", 10, 0, 2067);
  ASSERT_TRUE(all.ok());
  ASSERT_FALSE(all->ids.empty());
  // Its paragraph, "Super Bowl 50 was an American football game ...", is block 0.
  EXPECT_NE(std::find(all->ids.begin(), all->ids.end(), 0), all->ids.end());
  auto shard = (*index)->Search("Which NFL team represented the AFC at Super Bowl 50?", 10, 100, 2067);
  ASSERT_TRUE(shard.ok());
  for (int64_t id : shard->ids) EXPECT_GE(id, 100);
  auto none = (*index)->Search("the of and", 10, 0, 2067);  // only stop words
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->ids.empty());
  EXPECT_EQ(Bm25Index::Open(*dir_ + "/missing", {}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Bm25Index::Open(*dir_ + "/bm25", {0.9, 1.5}).status().message(),
            "BM25: k1 must be >= 0 and b in [0, 1], got k1 0.9 b 1.5");
}

}  // namespace
}  // namespace orqa
