// SpanReader's forward passes: rows go to passes by length, each padded to its
// own longest row, and the answers are those of one pass padded to the longest.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/model/span_reader.h"
#include "tests/unit/fixture_paths.h"

namespace orqa {
namespace {

using testing::FixtureDir;

std::string Words(int n, const std::string& seed) {
  static const std::vector<std::string> words = {"the", "city", "of", "paris", "is", "in", "france", "river",
                                                 "north", "a", "capital", "seine", "and", "museum", "old"};
  std::string out;
  for (int i = 0; i < n; ++i) out += (i ? " " : "") + words[(i * 7 + seed.size() * 3 + seed[0]) % words.size()];
  return out;
}

TEST(SpanReader, PassesByLengthGiveTheAnswersOfOnePaddedPass) {
  auto reader = SpanReader::Load(FixtureDir(), FixtureDir() + "/realm_for_open_qa.safetensors");
  ASSERT_TRUE(reader.ok()) << reader.status();
  // Blocks of very different lengths (one longer than reader_seq_len), short
  // ones first, so that the passes' order is not the rows' order.
  ReaderQuery q1{"what is the capital of france", {}, 3};
  const std::vector<int> lengths = {2, 40, 5, 200, 11, 1, 23};
  for (size_t i = 0; i < lengths.size(); ++i) {
    q1.blocks.push_back({static_cast<int64_t>(i), Words(lengths[i], "b" + std::to_string(i)), 0.1f * i});
  }
  ReaderQuery q2{"which river", {{7, Words(3, "x"), 0.5f}, {8, Words(30, "yy"), -0.2f}}, 2};
  const std::vector<const ReaderQuery*> queries = {&q1, &q2};

  (*reader)->set_max_rows_per_forward(64);  // one pass, every row padded to the longest
  int64_t tokens_one = 0;
  const auto one = (*reader)->Read(queries, &tokens_one);
  for (int rows : {1, 2, 3}) {
    (*reader)->set_max_rows_per_forward(rows);
    int64_t tokens = 0;
    const auto passes = (*reader)->Read(queries, &tokens);
    EXPECT_EQ(tokens, tokens_one);
    ASSERT_EQ(passes.size(), one.size());
    for (size_t q = 0; q < one.size(); ++q) {
      ASSERT_EQ(passes[q].size(), one[q].size()) << "rows " << rows << " query " << q;
      ASSERT_FALSE(one[q].empty());
      for (size_t s = 0; s < one[q].size(); ++s) {
        const ReaderSpan &a = one[q][s], &b = passes[q][s];
        EXPECT_EQ(b.block_id, a.block_id) << "rows " << rows << " query " << q << " span " << s;
        EXPECT_EQ(b.start_token, a.start_token);
        EXPECT_EQ(b.end_token, a.end_token);
        EXPECT_EQ(b.text, a.text);
        EXPECT_NEAR(b.reader_score, a.reader_score, 1e-4f * (1.0f + std::abs(a.reader_score)));
        EXPECT_EQ(b.retrieval_score, a.retrieval_score);
      }
    }
  }
}

}  // namespace
}  // namespace orqa
