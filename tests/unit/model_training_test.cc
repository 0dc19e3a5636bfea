// Training through the open-QA loss, and strict checkpoint loading errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/str_join.h"
#include "common/model/open_qa.h"
#include "tests/unit/fixture_paths.h"

namespace orqa {
namespace {

using nlohmann::json;
using testing::FixtureDir;

struct Loaded {
  RealmConfig config;
  std::unique_ptr<WordPieceTokenizer> tok;
  StateDict weights;
  json meta;
};

Loaded Load() {
  Loaded l;
  l.config = *ReadRealmConfig(FixtureDir() + "/config.json");
  l.tok = std::make_unique<WordPieceTokenizer>(*WordPieceTokenizer::FromVocabFile(FixtureDir() + "/vocab.txt"));
  l.weights = *LoadStateDict(FixtureDir() + "/realm_for_open_qa.safetensors");
  std::ifstream in(FixtureDir() + "/goldens.json");
  l.meta = json::parse(in);
  return l;
}

TEST(Training, BackwardGivesFiniteGradientsAndAdamLowersTheLoss) {
  torch::manual_seed(0);
  Loaded l = Load();
  RealmOpenQA model(l.config, l.tok.get());
  ASSERT_TRUE(model.Load(l.weights, "fixture").ok());
  const auto blocks = l.meta["blocks"].get<std::vector<std::string>>();
  // The first fixture question whose answer is in the searcher beam (a
  // non-zero loss), chosen from the data rather than by index.
  std::string question;
  std::vector<std::string> answers;
  double initial = 0;
  for (const auto& q : l.meta["questions"]) {
    std::vector<std::string> a = q["answers"];
    OpenQAOutput o = model.Forward(q["question"], blocks, &a, /*training=*/true);
    if (o.loss.item<double>() > 0 && o.reader_correct.any().item<bool>()) {
      question = q["question"];
      answers = a;
      initial = o.loss.item<double>();
      break;
    }
  }
  ASSERT_FALSE(question.empty()) << "no fixture question has a gold span in the reader beam";

  std::vector<torch::Tensor> params;
  for (auto& p : model.embedder()->parameters()) params.push_back(p);
  for (auto& p : model.reader()->parameters()) params.push_back(p);
  OpenQAOutput o = model.Forward(question, blocks, &answers, true);
  o.loss.backward();
  int with_grad = 0;
  double embedder_norm = 0, reader_norm = 0;
  for (auto& item : model.embedder()->named_parameters()) {
    if (!item.value().grad().defined()) continue;
    ++with_grad;
    EXPECT_TRUE(torch::isfinite(item.value().grad()).all().item<bool>()) << item.key();
    embedder_norm += item.value().grad().norm().item<double>();
  }
  for (auto& item : model.reader()->named_parameters()) {
    if (!item.value().grad().defined()) continue;
    ++with_grad;
    EXPECT_TRUE(torch::isfinite(item.value().grad()).all().item<bool>()) << item.key();
    reader_norm += item.value().grad().norm().item<double>();
  }
  EXPECT_GT(with_grad, 0);
  EXPECT_GT(embedder_norm, 0) << "question embedder gets no gradient";
  EXPECT_GT(reader_norm, 0) << "reader gets no gradient";

  torch::optim::Adam adam(params, torch::optim::AdamOptions(1e-3));
  double last = initial;
  for (int step = 0; step < 5; ++step) {
    adam.zero_grad();
    OpenQAOutput s = model.Forward(question, blocks, &answers, true);
    s.loss.backward();
    adam.step();
    last = s.loss.item<double>();
  }
  torch::NoGradGuard ng;
  double final_loss = model.Forward(question, blocks, &answers, true).loss.item<double>();
  EXPECT_LT(final_loss, initial) << "loss went " << initial << " -> " << last << " -> " << final_loss;
}

TEST(StrictLoading, MissingKeyIsNamed) {
  Loaded l = Load();
  l.weights.erase("reader.qa_outputs.dense_output.bias");
  RealmOpenQA model(l.config, l.tok.get());
  absl::Status st = model.Load(l.weights, "ckpt.safetensors");
  EXPECT_EQ(st.message(), "ckpt.safetensors: missing keys: reader.qa_outputs.dense_output.bias");
}

TEST(StrictLoading, MisShapedKeyIsNamedWithBothShapes) {
  Loaded l = Load();
  l.weights["embedder.cls.dense.weight"] = torch::zeros({3, 3});
  RealmOpenQA model(l.config, l.tok.get());
  absl::Status st = model.Load(l.weights, "ckpt");
  EXPECT_EQ(st.message(), "ckpt: mis-shaped keys: embedder.cls.dense.weight (checkpoint [3, 3], model [" +
                              std::to_string(l.config.retriever_proj_size) + ", " +
                              std::to_string(l.config.hidden_size) + "])");
}

TEST(StrictLoading, UnexpectedKeyIsNamedButUnusedReferenceKeysAreSkipped) {
  Loaded l = Load();
  l.weights["reader.qa_outputs.extra.weight"] = torch::zeros({1});
  l.weights["embedder.realm.embeddings.position_ids"] = torch::zeros({1}, torch::kLong);  // old HF buffer
  RealmOpenQA model(l.config, l.tok.get());
  absl::Status st = model.Load(l.weights, "ckpt");
  EXPECT_EQ(st.message(), "ckpt: unexpected keys: reader.qa_outputs.extra.weight");
}

TEST(StrictLoading, MissingBlockEmbeddings) {
  Loaded l = Load();
  l.weights.erase("block_emb");
  RealmOpenQA model(l.config, l.tok.get());
  EXPECT_EQ(model.Load(l.weights, "ckpt").message(), "ckpt: missing keys: block_emb");
}

TEST(RealmConfigParsing, ImpossibleValuesNameTheField) {
  EXPECT_EQ(ParseRealmConfig(R"({"hidden_size": 30, "num_attention_heads": 4})", "c.json").status().message(),
            "c.json: hidden_size 30 is not a multiple of num_attention_heads 4");
  EXPECT_EQ(ParseRealmConfig(R"({"max_span_width": "ten"})", "c.json").status().message(),
            "c.json: max_span_width must be an integer");
  EXPECT_EQ(ParseRealmConfig(R"({"hidden_act": "relu"})", "c.json").status().message(),
            "c.json: hidden_act 'relu' is not supported (gelu, gelu_new)");
  EXPECT_EQ(ParseRealmConfig("[1]", "c.json").status().message(), "c.json: not a JSON object");
  EXPECT_EQ(ParseRealmConfig(R"({"reader_question_match": true})", "c.json").status().message(),
            "c.json: reader_question_match needs type_vocab_size >= 3, got 2");
  EXPECT_EQ(ParseRealmConfig(R"({"reader_question_match": 1})", "c.json").status().message(),
            "c.json: reader_question_match must be true or false");
  EXPECT_FALSE(ParseRealmConfig("{}", "c.json")->reader_question_match);
}

// Token types of the block part of each pair, one string of digits per pair.
std::vector<std::string> BlockTypes(const ReaderInputs& in) {
  std::vector<std::string> out;
  for (const PairEncoding& e : in.encodings) {
    std::string s;
    for (int32_t j = 0; j < e.num_b; ++j) s += static_cast<char>('0' + e.token_type_ids[e.b_offset() + j]);
    out.push_back(s);
  }
  return out;
}

TEST(ReaderQuestionMatch, MarksWholeContentWordsFoundInTheQuestion) {
  Loaded l = Load();
  const std::vector<int32_t> q = l.tok->Encode("Which river flows through Paris? tokenization");
  // Pieces: the seine flows through paris ; the river is no token ##ization , rivers .
  const std::string a = "The Seine flows through Paris; the river is no token, rivers.";
  const std::string b = "Tokenization of Paris";
  const std::string c = "The river";
  RealmConfig config = l.config;
  config.type_vocab_size = 3;
  config.reader_question_match = true;
  ReaderInputs in = EncodeReaderInputs(*l.tok, {{&q, &a}, {&q, &b}, {&q, &c}}, config);
  std::vector<std::string> pieces;
  for (const WordPiece& p : in.block_pieces[0]) pieces.push_back(p.piece);
  ASSERT_EQ(absl::StrJoin(pieces, " "), "the seine flows through paris ; the river is no token , rivers .");
  ASSERT_EQ(absl::StrJoin(BlockTypes(in), "|"), "11212112111111|2212|12");
  // "tokenization" is two pieces, both marked; "token" alone is another word.
  ASSERT_EQ(in.block_pieces[1][0].piece + in.block_pieces[1][1].piece, "token##ization");
  // Block tokens keep counting as block tokens for the span candidates.
  EXPECT_TRUE(in.block_mask[0][q.size() + 2 + 4].item<bool>());
  // Off (every released checkpoint): type 1 throughout.
  config.reader_question_match = false;
  EXPECT_EQ(absl::StrJoin(BlockTypes(EncodeReaderInputs(*l.tok, {{&q, &a}, {&q, &c}}, config)), "|"),
            "11111111111111|11");
  // Truncation: only the kept block pieces are looked at.
  config.reader_question_match = true;
  config.reader_seq_len = static_cast<int>(q.size()) + 3 + 5;
  EXPECT_EQ(absl::StrJoin(BlockTypes(EncodeReaderInputs(*l.tok, {{&q, &a}}, config)), "|"), "112121");  // longest_first keeps 6 of 14
}

TEST(ReaderWordShape, MarksNumbersAndCapitalisedWordsNotMatched) {
  Loaded l = Load();
  const std::vector<int32_t> q = l.tok->Encode("Which river flows through Paris?");
  const std::string a = "In 1856 the Seine flows through Paris, said the river's 2nd tokenization.";
  RealmConfig config = l.config;
  config.type_vocab_size = 5;
  config.reader_word_shape = true;
  ReaderInputs in = EncodeReaderInputs(*l.tok, {{&q, &a}}, config);
  std::vector<std::string> pieces;
  for (const WordPiece& p : in.block_pieces[0]) pieces.push_back(p.piece);
  ASSERT_EQ(absl::StrJoin(pieces, " "), "in 1856 the seine flows through paris , said the river ' s 2nd token ##ization .");
  // Without the question match: "In", "Seine", "Paris" capitalised (4), "1856", "2nd" numbers (3).
  EXPECT_EQ(absl::StrJoin(BlockTypes(in), "|"), "43141141111113111");
  // With it, "flows", "Paris" and "river" are matches (2) and stay so ("through" is a stop word).
  config.reader_question_match = true;
  EXPECT_EQ(absl::StrJoin(BlockTypes(EncodeReaderInputs(*l.tok, {{&q, &a}}, config)), "|"), "43142121112113111");
  // A config asking for shapes needs the token types for them.
  EXPECT_EQ(ParseRealmConfig(R"({"reader_word_shape": true, "type_vocab_size": 3})", "c.json").status().message(),
            "c.json: reader_word_shape needs type_vocab_size >= 5, got 3");
  EXPECT_FALSE(ParseRealmConfig("{}", "c.json")->reader_word_shape);
}

}  // namespace
}  // namespace orqa
