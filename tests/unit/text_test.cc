// Tokenizer and answer-metric parity with the reference goldens in
// $ORQA_FIXTURES (tokenizer_cases, pair_encoding_cases, question_roundtrip_cases,
// normalize_answer_cases, exact_match_cases, block_has_answer_cases).
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <nlohmann/json.hpp>

#include "common/text/answer_metrics.h"
#include "common/text/utf8.h"
#include "common/text/wordpiece_tokenizer.h"
#include "tests/unit/fixture_paths.h"

namespace orqa {
namespace {

using nlohmann::json;
using testing::FixtureDir;
using testing::ReadLines;

const WordPieceTokenizer& Tokenizer() {
  static const WordPieceTokenizer* tok = [] {
    auto t = WordPieceTokenizer::FromVocabFile(FixtureDir() + "/vocab.txt");
    if (!t.ok()) {
      ADD_FAILURE() << t.status();
      std::abort();
    }
    return new WordPieceTokenizer(std::move(*t));
  }();
  return *tok;
}

std::vector<json> Cases(const std::string& file) {
  std::vector<json> out;
  for (const auto& line : ReadLines(FixtureDir() + "/" + file)) out.push_back(json::parse(line));
  EXPECT_FALSE(out.empty()) << "no cases in " << FixtureDir() << "/" << file;
  return out;
}

TEST(WordPieceTokenizer, MatchesEveryTokenizerCase) {
  const auto& tok = Tokenizer();
  for (const json& c : Cases("tokenizer_cases.jsonl")) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const std::string text = c["text"];
    EXPECT_EQ(tok.BasicTokenize(text), c["basic_tokens"].get<std::vector<std::string>>());
    std::vector<std::string> pieces;
    std::vector<int32_t> ids;
    for (const WordPiece& p : tok.Tokenize(text)) {
      pieces.push_back(p.piece);
      ids.push_back(p.id);
      // Every piece maps back to a non-empty range of the original text.
      EXPECT_LE(p.byte_begin, p.byte_end);
      EXPECT_LE(p.byte_end, text.size());
    }
    EXPECT_EQ(pieces, c["tokens"].get<std::vector<std::string>>());
    EXPECT_EQ(ids, c["ids"].get<std::vector<int32_t>>());
    std::vector<int32_t> input_ids = {tok.cls_id()};
    input_ids.insert(input_ids.end(), ids.begin(), ids.end());
    input_ids.push_back(tok.sep_id());
    EXPECT_EQ(input_ids, c["input_ids"].get<std::vector<int32_t>>());
    EXPECT_EQ(tok.Decode(input_ids, true, true), c["decoded_skip_special"].get<std::string>());
    EXPECT_EQ(tok.Encode(tok.Decode(input_ids, true, true)),
              c["retokenized_ids"].get<std::vector<int32_t>>());
  }
}

TEST(WordPieceTokenizer, OffsetsPointAtOriginalCasedText) {
  const auto& tok = Tokenizer();
  const std::string text = "Café in München, 8,848.86 metres";
  std::vector<std::string> spans;
  for (const WordPiece& p : tok.Tokenize(text)) {
    spans.push_back(text.substr(p.byte_begin, p.byte_end - p.byte_begin));
  }
  EXPECT_EQ(spans, (std::vector<std::string>{"Café", "in", "München", ",", "8", ",", "84", "8",
                                             ".", "86", "metres"}));
}

TEST(WordPieceTokenizer, PairEncodingCases) {
  const auto& tok = Tokenizer();
  for (const json& c : Cases("pair_encoding_cases.jsonl")) {
    SCOPED_TRACE(c.value("name", std::string("?")));
    if (c["question"].is_array()) {  // the padded batch line
      std::vector<PairEncoding> batch;
      for (size_t i = 0; i < c["question"].size(); ++i) {
        batch.push_back(EncodePair(tok.Encode(c["question"][i].get<std::string>()),
                                   tok.Encode(c["block"][i].get<std::string>()),
                                   c["max_length"], tok.cls_id(), tok.sep_id()));
      }
      PadToLongest(&batch, tok.pad_id());
      for (size_t i = 0; i < batch.size(); ++i) {
        EXPECT_EQ(batch[i].input_ids, c["input_ids"][i].get<std::vector<int32_t>>());
        EXPECT_EQ(batch[i].token_type_ids, c["token_type_ids"][i].get<std::vector<int32_t>>());
        EXPECT_EQ(batch[i].attention_mask, c["attention_mask"][i].get<std::vector<int32_t>>());
        EXPECT_EQ(batch[i].special_tokens_mask, c["special_tokens_mask"][i].get<std::vector<int32_t>>());
      }
      continue;
    }
    PairEncoding e = EncodePair(tok.Encode(c["question"].get<std::string>()),
                                tok.Encode(c["block"].get<std::string>()), c["max_length"],
                                tok.cls_id(), tok.sep_id());
    EXPECT_EQ(e.input_ids, c["input_ids"].get<std::vector<int32_t>>());
    EXPECT_EQ(e.token_type_ids, c["token_type_ids"].get<std::vector<int32_t>>());
    EXPECT_EQ(e.attention_mask, c["attention_mask"].get<std::vector<int32_t>>());
    EXPECT_EQ(e.special_tokens_mask, c["special_tokens_mask"].get<std::vector<int32_t>>());
    if (c.contains("block_mask")) {
      std::vector<int32_t> block_mask;
      for (size_t i = 0; i < e.input_ids.size(); ++i) {
        block_mask.push_back(!e.special_tokens_mask[i] && e.token_type_ids[i] ? 1 : 0);
      }
      std::vector<int32_t> expected;
      for (const auto& v : c["block_mask"]) expected.push_back(v.is_boolean() ? v.get<bool>() : v.get<int>());
      EXPECT_EQ(block_mask, expected);
    }
  }
}

TEST(WordPieceTokenizer, QuestionRoundTripCases) {
  const auto& tok = Tokenizer();
  for (const json& c : Cases("question_roundtrip_cases.jsonl")) {
    SCOPED_TRACE(c["question"].get<std::string>());
    std::vector<int32_t> ids = c["question_input_ids"];
    std::vector<int32_t> encoded = {tok.cls_id()};
    for (int32_t id : tok.Encode(c["question"].get<std::string>())) encoded.push_back(id);
    encoded.push_back(tok.sep_id());
    EXPECT_EQ(encoded, ids);
    EXPECT_EQ(tok.Decode(ids, true, true), c["decoded_cleanup_true"].get<std::string>());
    EXPECT_EQ(tok.Decode(ids, true, false), c["decoded_cleanup_false"].get<std::string>());
    EXPECT_EQ(tok.RoundTripQuestion(c["question"].get<std::string>()),
              c["reencoded_ids_cleanup_true"].get<std::vector<int32_t>>());
    EXPECT_EQ(tok.Encode(tok.Decode(ids, true, false)),
              c["reencoded_ids_cleanup_false"].get<std::vector<int32_t>>());
  }
}

// Every code point against the reference's rules (tests/unit/data/
// basic_tokenizer_shapes.txt, generated by gen_basic_tokenizer_shapes.py):
// whitespace splits exactly where Python's str.split() does after cleaning,
// controls are dropped, punctuation stands alone, the rest joins the word.
TEST(WordPieceTokenizer, EveryCodePointSplitsAsTheReferenceRulesSay) {
  std::ifstream in(std::string(ORQA_SOURCE_DIR) + "/tests/unit/data/basic_tokenizer_shapes.txt");
  ASSERT_TRUE(in) << "missing tests/unit/data/basic_tokenizer_shapes.txt";
  std::string line;
  int64_t compared = 0, next = 0;
  std::map<char, int64_t> by_shape;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string hex;
    int64_t count = 0;
    char shape = 0;
    fields >> hex >> count >> shape;
    const int64_t first = std::stoll(hex, nullptr, 16);
    ASSERT_EQ(first, next) << "the table skips code points";
    next = first + count;
    if (shape == 'U') continue;
    for (int64_t cp = first; cp < first + count; ++cp) {
      std::string text = "a";
      AppendUtf8(static_cast<char32_t>(cp), &text);
      text += "b";
      const std::vector<std::string> words = Tokenizer().BasicTokenize(text);
      char got = 'O';
      if (words == std::vector<std::string>{"a", "b"}) got = 'S';
      else if (words == std::vector<std::string>{"ab"}) got = 'D';
      else if (words.size() == 3 && words[0] == "a" && words[2] == "b") got = 'P';
      else if (words.size() == 1) got = 'J';
      ASSERT_EQ(got, shape) << "U+" << std::hex << cp;
      ++compared;
      ++by_shape[shape];
    }
  }
  EXPECT_EQ(next, 0x110000);
  EXPECT_GT(compared, 250000);
  // \t \n \r, the 17 Zs, U+2028 and U+2029 (the rest of str.isspace() are controls, dropped).
  EXPECT_EQ(by_shape['S'], 22);
}

TEST(WordPieceTokenizer, BadVocabularyIsNamed) {
  auto t = WordPieceTokenizer::FromVocab({"a", "b"});
  EXPECT_EQ(t.status().message(), "vocabulary lacks the special token [UNK]");
  auto f = WordPieceTokenizer::FromVocabFile("/nonexistent/vocab.txt");
  EXPECT_EQ(f.status().message(), "/nonexistent/vocab.txt: cannot open vocabulary file");
}

TEST(AnswerMetrics, NormalizeAnswerCases) {
  for (const json& c : Cases("normalize_answer_cases.jsonl")) {
    EXPECT_EQ(NormalizeAnswer(c["input"]), c["normalized"].get<std::string>()) << c["input"];
  }
}

TEST(AnswerMetrics, ExactMatchCases) {
  for (const json& c : Cases("exact_match_cases.jsonl")) {
    SCOPED_TRACE(c["prediction"].get<std::string>());
    EXPECT_EQ(NormalizeAnswer(c["prediction"]), c["normalized_prediction"].get<std::string>());
    std::vector<std::string> refs = c["references"];
    for (size_t i = 0; i < refs.size(); ++i) {
      EXPECT_EQ(NormalizeAnswer(refs[i]), c["normalized_references"][i].get<std::string>());
    }
    EXPECT_EQ(OfficialExactMatch(c["prediction"], refs), c["official_exact_match"].get<bool>());
  }
}

TEST(AnswerMetrics, BlockHasAnswerCases) {
  const auto& tok = Tokenizer();
  for (const json& c : Cases("block_has_answer_cases.jsonl")) {
    SCOPED_TRACE(c["name"].get<std::string>());
    std::vector<std::vector<int32_t>> answer_ids;
    if (c["answers"].is_null()) {
      answer_ids = {{-1}};
    } else {
      for (const auto& a : c["answers"]) answer_ids.push_back(tok.Encode(a.get<std::string>()));
    }
    EXPECT_EQ(answer_ids, c["answer_ids"].get<std::vector<std::vector<int32_t>>>());
    std::vector<PairEncoding> batch;
    std::vector<int32_t> q = tok.Encode(c["question"].get<std::string>());
    for (const auto& b : c["blocks"]) {
      batch.push_back(EncodePair(q, tok.Encode(b.get<std::string>()), c["max_length"], tok.cls_id(),
                                 tok.sep_id()));
    }
    PadToLongest(&batch, tok.pad_id());
    std::vector<std::vector<int32_t>> ids;
    for (const auto& e : batch) ids.push_back(e.input_ids);
    EXPECT_EQ(ids, c["input_ids"].get<std::vector<std::vector<int32_t>>>());
    GoldSpans g = FindGoldSpans(ids, answer_ids, tok.sep_id());
    EXPECT_EQ(g.has_answers, c["has_answers"].get<std::vector<bool>>());
    bool any = false;
    for (bool h : g.has_answers) any = any || h;
    if (!any) {  // the reference returns empty rows when no block has an answer
      for (auto& r : g.start_pos) r.clear();
      for (auto& r : g.end_pos) r.clear();
    }
    EXPECT_EQ(g.start_pos, c["start_pos"].get<std::vector<std::vector<int32_t>>>());
    EXPECT_EQ(g.end_pos, c["end_pos"].get<std::vector<std::vector<int32_t>>>());
  }
}

// Patterns on which Python's re (ORQA: IGNORECASE | UNICODE | MULTILINE,
// search) and ECMAScript std::regex disagree or which std::regex rejects;
// the expected values are re.search's.
TEST(AnswerMetrics, RegexMatchFollowsPythonReOnTrickyPatterns) {
  struct Case {
    const char* text;
    const char* pattern;
    bool match;
  };
  const Case cases[] = {
      {"September", "Sept?(ember)?|Feb(ruary)?", true},
      {"Long Island", "Long Island|New\\s?York|Roosevelt Field", true},
      {"NEWYORK", "New\\s?York", true},
      {"paris", "(?i)PARIS", true},                       // inline flag: std::regex rejects it
      {"Mount Everest", "(?<=Mount )Everest", true},      // look-behind: std::regex lacks it
      {"Everest", "(?<=Mount )Everest", false},
      {"abab", "(?P<x>ab)(?P=x)", true},                  // Python's named groups
      {"CAFÉ au lait", "\\bcafé\\b", true},              // Unicode case folding and word boundary
      {"naïve", "^na\\w+e$", true},                        // \w covers ï with re.UNICODE
      {"٣ apples", "\\d", true},                          // \d covers Arabic-Indic digits with re.UNICODE
      {"first line\nsecond", "^second$", true},           // MULTILINE: ^ and $ at line breaks
      {"no digits here", "\\d", false},
      {"\u00a0x", "\\sx", true},                          // NBSP is whitespace for re.UNICODE
      {"aaa", "a{2}", true},
  };
  // As re.compile, a quantifier whose minimum exceeds its maximum is an error.
  EXPECT_EQ(RegexMatch("xx", "x{2,1}").status().code(), absl::StatusCode::kInvalidArgument);
  for (const Case& c : cases) {
    auto m = RegexMatch(c.text, c.pattern);
    ASSERT_TRUE(m.ok()) << c.pattern << ": " << m.status();
    EXPECT_EQ(*m, c.match) << c.text << " ~ " << c.pattern;
  }
}

TEST(AnswerMetrics, RegexMatchIsCaseInsensitiveSearch) {
  EXPECT_TRUE(*RegexMatch("The Beatles", "beatles?"));
  EXPECT_FALSE(*RegexMatch("Rolling Stones", "^beatles$"));
  EXPECT_EQ(RegexMatch("x", "(unclosed").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RegexMatch("x", "(unclosed").status().message().rfind("invalid answer pattern '(unclosed' at offset 9: ", 0), 0u)
      << RegexMatch("x", "(unclosed").status();
}

}  // namespace
TEST(Utf8, ValidityAndRepairAgreeWithTheDecoder) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9 \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("caf\xC3"));              // cut inside a character
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));             // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));         // a surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));     // past U+10FFFF
  EXPECT_EQ(RepairUtf8("caf\xC3"), "caf\xEF\xBF\xBD");
  EXPECT_EQ(RepairUtf8("a\xC0\xAF" "b"), "a\xEF\xBF\xBD\xEF\xBF\xBD" "b");
  const std::string mixed = "x\xFF\xC3\xA9\xED\xA0\x80y";
  std::u32string decoded;
  for (const CodePoint& c : DecodeUtf8(mixed)) decoded += c.cp;
  EXPECT_EQ(RepairUtf8(mixed), EncodeUtf8(decoded));
  EXPECT_TRUE(IsValidUtf8(RepairUtf8(mixed)));
}

}  // namespace orqa
