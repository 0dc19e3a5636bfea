// Training building blocks: AdamW against LibTorch's, the schedule, dropout
// only in training mode, checkpoints the serving loaders accept, the dataset
// reader, the persisted job table and the count-based word vectors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "common/eval/qa_dataset.h"
#include "common/model/model_dir.h"
#include "common/model/open_qa.h"
#include "common/model/span_reader.h"
#include "common/model/text_embedder.h"
#include "common/train/adamw.h"
#include "common/train/checkpoint.h"
#include "common/train/word_vectors.h"
#include "services/trainer/data_order.h"
#include "services/trainer/job_store.h"
#include "services/trainer/pretrain_common.h"
#include "services/trainer/pretrain_examples.h"
#include "tests/unit/fixture_paths.h"

namespace orqa {
namespace {

std::string TempDir() {
  std::string t = "/tmp/orqa-train-test-XXXXXX";
  return mkdtemp(t.data());
}

TEST(WordVectors, CountsPairsWithinTheWindowWeightedByDistance) {
  CooccurrenceCounts c(10);
  c.Add({1, 2, 3, 42, 4}, 2);  // 42 is outside the vocabulary: skipped, its neighbours close up
  c.Add({4, 1}, 2);            // a run of its own: no pair with the 3 before it
  EXPECT_EQ(c.tokens(), 6);
  EXPECT_EQ(c.unigram()[1], 2);
  EXPECT_EQ(c.unigram()[4], 2);
  EXPECT_EQ(c.Pair(1, 2), 1.0);
  EXPECT_EQ(c.Pair(2, 1), 1.0);
  EXPECT_EQ(c.Pair(1, 3), 0.5);
  EXPECT_EQ(c.Pair(3, 4), 1.0);
  EXPECT_EQ(c.Pair(2, 4), 0.5);
  EXPECT_EQ(c.Pair(1, 4), 1.0);  // only from the second run
  EXPECT_EQ(c.Pair(4, 1), 1.0);
  EXPECT_EQ(c.pairs().size(), 12u);
}

TEST(WordVectors, PositivePmiWithSmoothedContexts) {
  CooccurrenceCounts c(3);
  c.Add({0, 1}, 1);
  c.Add({0, 2}, 1);
  WordVectorOptions o;
  o.min_count = 1;
  o.context_alpha = 0.75;
  // Row sums 2, 1, 1; z = 2^0.75 + 2. PMI(0, 1) = log(z / (2 · 1)), PMI(1, 0) = log(z / (1 · 2^0.75)).
  const double z = std::pow(2.0, 0.75) + 2;
  auto e = PpmiEntries(c, o);
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(std::get<0>(e[0]), 0);
  EXPECT_EQ(std::get<1>(e[0]), 1);
  EXPECT_NEAR(std::get<2>(e[0]), std::log(z / 2), 1e-12);
  EXPECT_NEAR(std::get<2>(e[1]), std::log(z / 2), 1e-12);  // (0, 2)
  EXPECT_NEAR(std::get<2>(e[2]), std::log(z / std::pow(2.0, 0.75)), 1e-12);  // (1, 0)
  // A piece under the minimum count takes no part, in rows or in the sums.
  o.min_count = 2;
  EXPECT_TRUE(PpmiEntries(c, o).empty());
}

TEST(WordVectors, WordsOfOneTopicAreEachOthersNeighbours) {
  // Two topics of 20 pieces each (ids 10-29 and 30-49); every run draws from one topic.
  CooccurrenceCounts c(60);
  std::mt19937_64 rng(7);
  for (int run = 0; run < 400; ++run) {
    const int base = run % 2 ? 30 : 10;
    std::vector<int32_t> ids;
    for (int i = 0; i < 30; ++i) ids.push_back(base + static_cast<int>(rng() % 20));
    c.Add(ids, 3);
  }
  WordVectorOptions o;
  o.min_count = 5;
  auto wv = TrainWordVectors(c, 8, o);
  ASSERT_TRUE(wv.ok()) << wv.status();
  EXPECT_EQ(wv->words, 40);
  EXPECT_EQ(wv->known.sum().item<int64_t>(), 40);
  EXPECT_FALSE(wv->known[5].item<bool>());
  EXPECT_EQ(wv->vectors[5].abs().sum().item<float>(), 0.0f);
  EXPECT_NEAR(wv->vectors[10].norm().item<float>(), 1.0f, 1e-5);
  torch::Tensor sim = torch::mm(wv->vectors, wv->vectors.t());
  sim.fill_diagonal_(-2.0);
  for (int id = 10; id < 50; ++id) {
    const int64_t nearest = sim[id].argmax().item<int64_t>();
    EXPECT_EQ((nearest - 10) / 20, (id - 10) / 20) << "piece " << id << " nearest " << nearest;
  }
  // Too few frequent pieces for the dimension: an error that says so.
  EXPECT_EQ(TrainWordVectors(c, 40, o).status().message(),
            "word vectors: 40 pieces occur at least 5 times with a positive PMI; need more than 40 (more text, or a "
            "lower minimum count)");
}

// A masked-LM head the starting weights lack is drawn from the job's seed:
// whatever the process's generator did before (a trainer alone and each
// data-parallel rank differ there), the same seed gives the same head.
TEST(PretrainHeads, AFreshHeadDependsOnTheJobSeedNotTheProcessGenerator) {
  auto draw = [](uint64_t process_seed, int64_t job_seed) {
    torch::manual_seed(process_seed);
    torch::randn({17});  // the process's generator moved on
    auto w = torch::empty({64, 64}), b = torch::ones({64});
    InitFreshHeadTransform(w, b, job_seed);
    EXPECT_EQ(b.abs().sum().item<float>(), 0.0f);
    return w;
  };
  const auto a = draw(1, 42), b = draw(2, 42), c = draw(1, 43);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, c));
  EXPECT_NEAR(a.std().item<double>(), 0.02, 0.002);  // N(0, 0.02), 4,096 draws
  EXPECT_NEAR(a.mean().item<double>(), 0.0, 0.002);
}

TEST(AdamW, MatchesLibTorchAdamWOnThreeSteps) {
  torch::manual_seed(3);
  auto w = torch::randn({4, 3}).requires_grad_(true);
  auto w_ref = w.detach().clone().requires_grad_(true);
  AdamWOptions o;
  o.weight_decay = 0.01;
  AdamW mine({{"layer.weight", w}}, o);
  torch::optim::AdamW ref({w_ref}, torch::optim::AdamWOptions(1e-2).eps(1e-6).weight_decay(0.01));
  for (int step = 0; step < 3; ++step) {
    auto g = torch::randn({4, 3});
    w.mutable_grad() = g.clone();
    w_ref.mutable_grad() = g.clone();
    mine.Step(1e-2);
    ref.step();
  }
  EXPECT_TRUE(torch::allclose(w, w_ref, 1e-6, 1e-7)) << (w - w_ref).abs().max().item<float>();
  EXPECT_EQ(mine.steps(), 3);
}

TEST(AdamW, NoWeightDecayOnBiasesAndLayerNorm) {
  auto bias = torch::ones({2}).requires_grad_(true);
  auto ln = torch::ones({2}).requires_grad_(true);
  AdamWOptions o;
  o.weight_decay = 0.5;
  AdamW adam({{"dense.bias", bias}, {"LayerNorm.weight", ln}}, o);
  bias.mutable_grad() = torch::zeros({2});
  ln.mutable_grad() = torch::zeros({2});
  adam.Step(0.1);  // zero gradients: only weight decay could move them
  EXPECT_TRUE(torch::equal(bias, torch::ones({2})));
  EXPECT_TRUE(torch::equal(ln, torch::ones({2})));
}

TEST(AdamW, StateRoundTripContinuesBitForBit) {
  torch::manual_seed(5);
  auto a = torch::randn({3}).requires_grad_(true);
  auto b = a.detach().clone().requires_grad_(true);
  AdamW first({{"p", a}}, {});
  std::vector<torch::Tensor> grads = {torch::randn({3}), torch::randn({3}), torch::randn({3})};
  a.mutable_grad() = grads[0];
  first.Step(0.1);
  AdamW second({{"p", b}}, {});
  b.mutable_grad() = grads[0];
  second.Step(0.1);
  AdamW resumed({{"p", b}}, {});
  ASSERT_TRUE(resumed.LoadState(second.State(), "state").ok());
  for (int i = 1; i < 3; ++i) {
    a.mutable_grad() = grads[i];
    b.mutable_grad() = grads[i];
    first.Step(0.1);
    resumed.Step(0.1);
  }
  EXPECT_TRUE(torch::equal(a, b));
  StateDict bad = second.State();
  bad.erase("exp_avg.p");
  EXPECT_EQ(resumed.LoadState(bad, "ckpt").message(), "ckpt: missing optimiser key exp_avg.p");
}

TEST(Schedule, WarmupThenLinearDecayToZero) {
  EXPECT_DOUBLE_EQ(WarmupLinearDecay(1.0, 0, 4, 12), 0.25);
  EXPECT_DOUBLE_EQ(WarmupLinearDecay(1.0, 3, 4, 12), 1.0);
  EXPECT_DOUBLE_EQ(WarmupLinearDecay(1.0, 4, 4, 12), 1.0);
  EXPECT_DOUBLE_EQ(WarmupLinearDecay(1.0, 8, 4, 12), 0.5);
  EXPECT_DOUBLE_EQ(WarmupLinearDecay(1.0, 11, 4, 12), 0.125);
  EXPECT_DOUBLE_EQ(WarmupLinearDecay(2.0, 0, 0, 10), 2.0);
}

TEST(ClipGradNorm, ScalesToTheLimitAndReportsTheNorm) {
  auto p = torch::zeros({2}).requires_grad_(true);
  p.mutable_grad() = torch::tensor({3.0f, 4.0f});
  EXPECT_NEAR(ClipGradNorm({p}, 1.0), 5.0, 1e-6);
  EXPECT_NEAR(p.grad().norm().item<double>(), 1.0, 1e-5);
}

TEST(Dropout, OnlyInTrainingModeAndWithinTheConfiguredRate) {
  auto config = ReadRealmConfig(testing::FixtureDir() + "/config.json");
  ASSERT_TRUE(config.ok());
  EXPECT_DOUBLE_EQ(config->hidden_dropout_prob, 0.1);
  RealmEmbedder e(*config);
  EXPECT_FALSE(e->is_training()) << "models start in inference mode";
  auto ids = torch::tensor({{101, 2040, 2003, 102}}, torch::kLong);
  auto mask = torch::ones_like(ids), types = torch::zeros_like(ids);
  torch::NoGradGuard g;
  auto a = e(ids, mask, types).projected_score, b = e(ids, mask, types).projected_score;
  EXPECT_TRUE(torch::equal(a, b));
  e->train();
  torch::manual_seed(1);
  auto c = e(ids, mask, types).projected_score;
  torch::manual_seed(1);
  auto d = e(ids, mask, types).projected_score;
  EXPECT_TRUE(torch::equal(c, d)) << "same seed, same dropout";
  EXPECT_FALSE(torch::equal(a, c)) << "dropout changed nothing in training mode";
}

TEST(Checkpoint, ModelDirIsLoadedUnchangedByTheServingEmbedderAndReader) {
  const std::string fx = testing::FixtureDir(), dir = TempDir();
  auto files = LoadModelFiles(fx, fx + "/realm_for_open_qa.safetensors");
  ASSERT_TRUE(files.ok());
  RealmOpenQA model(files->config, files->tokenizer.get());
  ASSERT_TRUE(model.Load(files->state, "fixture").ok());
  StateDict weights = NamedParameters(*model.embedder(), "embedder.");
  for (auto& [k, v] : NamedParameters(*model.reader(), "reader.")) weights[k] = v;
  auto text = ReadModelDirFiles(fx);
  ASSERT_TRUE(text.ok());
  ASSERT_TRUE(WriteModelDir(dir + "/ckpt", *text, weights, {{"architecture", "RealmForOpenQA"}}).ok());
  EXPECT_FALSE(std::filesystem::exists(dir + "/ckpt.tmp"));
  auto embedder = TextEmbedder::Load(dir + "/ckpt");
  ASSERT_TRUE(embedder.ok()) << embedder.status();
  auto reference = TextEmbedder::Load(fx, fx + "/realm_for_open_qa.safetensors");
  ASSERT_TRUE(reference.ok());
  EXPECT_EQ((*embedder)->EmbedQuestions({"who wrote hamlet?"}), (*reference)->EmbedQuestions({"who wrote hamlet?"}));
  auto reader = SpanReader::Load(dir + "/ckpt");
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::filesystem::remove_all(dir);
}

TEST(QaDataset, ReadsAnswersAndAnswerAsListsOrStrings) {
  const std::string dir = TempDir(), path = dir + "/qa.jsonl";
  std::ofstream(path) << "{\"question\": \"q1\", \"answers\": [\"a\", \"b\"], \"id\": 3}\n"
                         "\n"
                         "{\"question\": \"q2\", \"answer\": \"c\"}\n";
  auto data = ReadQaJsonl(path);
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->size(), 2u);
  EXPECT_EQ((*data)[0].answers, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ((*data)[1].answers, (std::vector<std::string>{"c"}));
  EXPECT_EQ((*data)[1].line, 3);
  std::filesystem::remove_all(dir);
}

TEST(QaDataset, MalformedLinesAreNamedByFileAndLine) {
  const std::string dir = TempDir(), path = dir + "/bad.jsonl";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"question\": \"q\"", "not valid JSON"},
      {"[1, 2]", "expected a JSON object"},
      {"{\"answers\": [\"a\"]}", "\"question\" must be a non-empty string"},
      {"{\"question\": \"q\"}", "no \"answers\" or \"answer\" field"},
      {"{\"question\": \"q\", \"answers\": [1]}", "\"answers\" must hold only strings"},
      {"{\"question\": \"q\", \"answer\": []}", "\"answer\" is empty"},
      {"{\"question\": \"q\", \"answers\": 5}", "\"answers\" must be a string or a list of strings"},
  };
  for (const auto& [line, what] : cases) {
    std::ofstream(path) << "{\"question\": \"fine\", \"answers\": [\"x\"]}\n" << line << "\n";
    auto data = ReadQaJsonl(path);
    EXPECT_EQ(data.status().message(), path + ":2: " + what) << line;
  }
  std::ofstream(path) << "\n";
  EXPECT_EQ(ReadQaJsonl(path).status().message(), path + ": no examples");
  EXPECT_EQ(ReadQaJsonl(dir + "/none").status().message(), dir + "/none: cannot open");
  std::filesystem::remove_all(dir);
}

TEST(JobStore, SavesAndLoadsJobsIgnoringTornTemporaries) {
  const std::string dir = TempDir();
  auto store = JobStore::Open(dir);
  ASSERT_TRUE(store.ok());
  orqa::v1::Job job;
  job.set_job_id("job-0000000000001-000");
  job.set_state(orqa::v1::JOB_STATE_RUNNING);
  job.set_step(12);
  job.mutable_spec()->set_num_steps(40);
  (*job.mutable_metrics())["exact_match"] = 0.25;
  job.add_history()->set_loss(1.5f);
  ASSERT_TRUE(store->Save(job).ok());
  std::ofstream(dir + "/jobs/job-0000000000002-000.json.tmp") << "{\"job_id\": \"torn";
  auto jobs = store->LoadAll();
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].SerializeAsString(), job.SerializeAsString());
  std::ofstream(dir + "/jobs/broken.json") << "not json";
  EXPECT_EQ(store->LoadAll().status().message().rfind(dir + "/jobs/broken.json: not a job record", 0), 0u);
  std::filesystem::remove_all(dir);
}

TEST(DataOrder, EveryEpochIsAPermutationFixedBySeed) {
  DataOrder a(10, 3), b(10, 3), c(10, 4);
  std::vector<size_t> first, again, other;
  for (int64_t i = 0; i < 20; ++i) first.push_back(a.At(i));
  for (int64_t i = 19; i >= 0; --i) again.insert(again.begin(), b.At(i));  // any access order
  for (int64_t i = 0; i < 20; ++i) other.push_back(c.At(i));
  EXPECT_EQ(first, again);
  EXPECT_NE(first, other);
  std::vector<size_t> epoch0(first.begin(), first.begin() + 10), epoch1(first.begin() + 10, first.end());
  EXPECT_NE(epoch0, epoch1);
  std::sort(epoch0.begin(), epoch0.end());
  std::sort(epoch1.begin(), epoch1.end());
  for (size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(epoch0[i], i);
    EXPECT_EQ(epoch1[i], i);
  }
}

TEST(Sentences, SplitAfterTerminalPunctuationAndSpace) {
  EXPECT_EQ(SplitSentences("Paris is big. It has 2.1 million people! Is it old? Yes"),
            (std::vector<std::string>{"Paris is big.", "It has 2.1 million people!", "Is it old?", "Yes"}));
  EXPECT_EQ(SplitSentences("  one sentence  "), (std::vector<std::string>{"one sentence"}));
  EXPECT_TRUE(SplitSentences("").empty());
}

TEST(Ict, RemovesTheQuerySentenceAtTheStatedRate) {
  const std::string text = "Alan Turing was a mathematician. He was born in London. He broke the Enigma code.";
  std::mt19937_64 rng(42);
  int removed = 0;
  for (int i = 0; i < 1000; ++i) {
    IctExample ex = MakeIctExample(text, 0.1, rng);
    ASSERT_NE(text.find(ex.question), std::string::npos);
    const bool in_context = ex.context.find(ex.question) != std::string::npos;
    EXPECT_EQ(in_context, !ex.sentence_removed) << ex.question << " | " << ex.context;
    removed += ex.sentence_removed;
  }
  // 90 % expected; a binomial(1000, 0.9) lies within ±3 % with overwhelming probability.
  EXPECT_NEAR(removed / 1000.0, 0.9, 0.03) << removed;
  std::mt19937_64 same(42);
  EXPECT_EQ(removed, [&] {
    int r = 0;
    for (int i = 0; i < 1000; ++i) r += MakeIctExample(text, 0.1, same).sentence_removed;
    return r;
  }());
}

TEST(Mlm, MasksWholeWordsAtTheStatedRate) {
  auto tok = WordPieceTokenizer::FromVocabFile(testing::FixtureDir() + "/vocab.txt");
  ASSERT_TRUE(tok.ok());
  const std::string text =
      "The Normans were descended from Norse raiders and pirates from Denmark, Iceland and Norway who, under their "
      "leader Rollo, agreed to swear fealty to King Charles III of West Francia.";
  std::vector<WordPiece> pieces = tok->Tokenize(text);
  size_t words = 0;
  for (const auto& p : pieces) words += p.piece.rfind("##", 0) != 0;
  std::mt19937_64 rng(7);
  for (int draw = 0; draw < 50; ++draw) {
    MlmExample ex = MakeMlmExample(*tok, text, 128, 0.15, rng);
    ASSERT_EQ(ex.input_ids.size(), pieces.size() + 2);
    EXPECT_EQ(ex.masked_words, static_cast<int>(0.15 * words + 0.5));
    EXPECT_EQ(ex.input_ids.front(), tok->cls_id());
    EXPECT_EQ(ex.input_ids.back(), tok->sep_id());
    int masked_words = 0;
    for (size_t i = 0; i < pieces.size(); ++i) {
      const bool labelled = ex.labels[i + 1] != -100;
      if (labelled) {
        EXPECT_EQ(ex.labels[i + 1], pieces[i].id);
      } else {
        EXPECT_EQ(ex.input_ids[i + 1], pieces[i].id) << "an unmasked piece changed";
      }
      // A word is masked whole: a continuation piece is labelled exactly when its word start is.
      if (pieces[i].piece.rfind("##", 0) == 0) {
        EXPECT_EQ(labelled, ex.labels[i] != -100) << pieces[i].piece;
      } else {
        masked_words += labelled;
      }
    }
    EXPECT_EQ(masked_words, ex.masked_words);
  }
  // A long text is cut to a window of whole words.
  MlmExample cut = MakeMlmExample(*tok, text, 16, 0.15, rng);
  EXPECT_EQ(cut.input_ids.size(), 16u);
}

// The rule-based salient spans (entities, dates, numbers) of a table of sentences.
TEST(SalientSpans, EntitiesDatesAndNumbersByRule) {
  struct Case {
    std::string sentence;
    std::vector<std::pair<std::string, std::string>> spans;  // text, kind
  };
  const std::vector<Case> cases = {
      {"Neil Armstrong was the first person to walk on the Moon, during the Apollo 11 mission in July 1969.",
       {{"Neil Armstrong", "entity"}, {"Moon", "entity"}, {"Apollo", "entity"}, {"11", "number"}, {"July 1969", "date"}}},
      {"The Eiffel Tower in Paris was completed in 1889 for the World's Fair.",
       {{"Eiffel Tower", "entity"}, {"Paris", "entity"}, {"1889", "number"}, {"World's Fair", "entity"}}},
      {"On 4 July 1976, the United States of America celebrated, with 2.5 million visitors (about 12%).",
       {{"4 July 1976", "date"}, {"United States of America", "entity"}, {"2.5", "number"}, {"12%", "number"}}},
      {"It opened on March 3, 1931 in New York City and Boston.",
       {{"March 3, 1931", "date"}, {"New York City", "entity"}, {"Boston", "entity"}}},
      {"it was cold and dark.", {}},
  };
  for (const auto& c : cases) {
    std::vector<std::pair<std::string, std::string>> got;
    for (const SalientSpan& s : FindSalientSpans(c.sentence)) {
      got.push_back({c.sentence.substr(s.begin, s.end - s.begin), SpanKindName(s.kind)});
    }
    EXPECT_EQ(got, c.spans) << c.sentence;
  }
}

// Cloze questions: every salient span of the passage's sentences is asked
// for, with the question word of its kind; a passage without one gives none.
TEST(SalientSpans, ClozeQuestionsAskForEachSpanWithItsQuestionWord) {
  const std::string text =
      "It opened on March 3, 1931 in Boston. it was cold and dark! About 2.5 million people came.";
  const std::set<std::pair<std::string, std::string>> want = {
      {"It opened on when in Boston?", "March 3, 1931"},
      {"It opened on March 3, 1931 in what?", "Boston"},
      {"About how many million people came?", "2.5"},
  };
  std::set<std::pair<std::string, std::string>> seen;
  std::mt19937_64 rng(5);
  for (int d = 0; d < 200; ++d) {
    ClozeQuestion q = MakeClozeQuestion(text, rng);
    EXPECT_EQ(want.count({q.question, q.answer}), 1u) << q.question << " / " << q.answer;
    seen.insert({q.question, q.answer});
  }
  EXPECT_EQ(seen, want);
  EXPECT_TRUE(MakeClozeQuestion("it was cold and dark. nothing happened.", rng).question.empty());
}

// Every piece of the chosen span is masked and nothing else; over many draws
// every salient span is chosen, and random spans come at the stated rate.
TEST(SalientSpans, RealmExamplesMaskWholeSpans) {
  auto tok = WordPieceTokenizer::FromVocabFile(testing::FixtureDir() + "/vocab.txt");
  ASSERT_TRUE(tok.ok());
  const std::string text =
      "Neil Armstrong was the first person to walk on the Moon, during the Apollo 11 mission in July 1969. "
      "it was a short walk.";
  const std::string sentence = SplitSentences(text)[0];
  std::set<std::string> salient;
  for (const SalientSpan& s : FindSalientSpans(sentence)) salient.insert(sentence.substr(s.begin, s.end - s.begin));
  std::mt19937_64 rng(11);
  std::map<std::string, int> chosen;
  int random = 0;
  const int draws = 1000;
  for (int d = 0; d < draws; ++d) {
    RealmExample ex = MakeRealmExample(*tok, text, 64, 0.25, rng);
    std::vector<WordPiece> pieces = tok->Tokenize(ex.sentence);
    ASSERT_EQ(ex.input_ids.size(), pieces.size() + 2);
    int first = -1, last = -1;
    for (size_t i = 0; i < pieces.size(); ++i) {
      const bool masked = ex.labels[i + 1] != -100;
      if (masked) {
        EXPECT_EQ(ex.labels[i + 1], pieces[i].id);
        EXPECT_EQ(ex.input_ids[i + 1], tok->mask_id());
        if (first < 0) first = static_cast<int>(i);
        EXPECT_TRUE(last < 0 || last == static_cast<int>(i) - 1) << "the mask is not one contiguous span";
        last = static_cast<int>(i);
      } else {
        EXPECT_EQ(ex.input_ids[i + 1], pieces[i].id);
      }
    }
    ASSERT_GE(first, 0);
    // The masked pieces are exactly the span's bytes: whole words, nothing cut.
    EXPECT_EQ(pieces[first].byte_begin, ex.span.begin);
    EXPECT_EQ(pieces[last].byte_end, ex.span.end);
    EXPECT_NE(pieces[first].piece.rfind("##", 0), 0u);
    if (static_cast<size_t>(last) + 1 < pieces.size()) {
      EXPECT_NE(pieces[last + 1].piece.rfind("##", 0), 0u);
    }
    const std::string span = ex.sentence.substr(ex.span.begin, ex.span.end - ex.span.begin);
    if (ex.span.kind == SalientSpan::kRandom) {
      ++random;
    } else {
      EXPECT_EQ(ex.sentence, sentence) << "a sentence without salient spans was chosen for one";
      EXPECT_EQ(salient.count(span), 1u) << span;
      ++chosen[span];
    }
  }
  EXPECT_EQ(chosen.size(), salient.size());
  // 25 % random spans: 250 of 1000 expected, sd ≈ 13.7.
  EXPECT_NEAR(random, 250, 45);
  // A window of the sentence around the span when the sentence is longer.
  RealmExample cut = MakeRealmExample(*tok, text, 10, 0, rng);
  EXPECT_EQ(cut.input_ids.size(), 10u);
  int masked = 0;
  for (int64_t l : cut.labels) masked += l != -100;
  EXPECT_GT(masked, 0);
}

}  // namespace
}  // namespace orqa
