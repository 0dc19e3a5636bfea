// TensorFlow REALM/ORQA checkpoints → orqa's layout: the reference
// converter's naming rules, the inverse names, and whole conversions of the
// fixture's weights written as the released TF checkpoints. Generic over
// fixture folders of the realm-tiny format ($ORQA_FIXTURES).
#include <gtest/gtest.h>

#include <stdlib.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/io/safetensors.h"
#include "common/model/model_dir.h"
#include "common/model/realm_config.h"
#include "common/model/span_reader.h"
#include "common/model/text_embedder.h"
#include "common/model/tf_checkpoint.h"
#include "tests/unit/fixture_paths.h"
#include "tests/unit/reference_tf_checkpoints.h"
#include "tests/tensor_element.h"

namespace orqa {
namespace {

using nlohmann::json;
using testing::FixtureDir;

RealmConfig Config() { return *ReadRealmConfig(FixtureDir() + "/config.json"); }

json WeightsIndex() {
  std::ifstream in(FixtureDir() + "/weights_index.json");
  return json::parse(in);
}

bool SameBytes(const TensorView& a, const TensorView& b) {
  return a.dtype == b.dtype && a.shape == b.shape && a.nbytes == b.nbytes &&
         std::memcmp(a.data, b.data, a.nbytes) == 0;
}

// This process's own scratch directory (ctest runs the tests of this binary
// as parallel processes).
const std::string& Scratch() {
  static const std::string* dir = [] {
    std::string pattern = ::testing::TempDir() + "/orqa-tf-convert-XXXXXX";
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    return new std::string(pattern);
  }();
  static const bool cleanup_registered = [] {
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(Scratch(), ec);
    });
    return true;
  }();
  (void)cleanup_registered;
  return *dir;
}

// The fixture written as the released checkpoints.
const testing::ReferenceCheckpoints& Written() {
  static testing::ReferenceCheckpoints* c = [] {
    auto r = testing::WriteReferenceTFCheckpoints(FixtureDir(), Scratch() + "/reference-tf");
    if (!r.ok()) throw std::runtime_error(std::string(r.status().message()));
    return new testing::ReferenceCheckpoints(*r);
  }();
  return *c;
}

TEST(TFConvert, ExpectedKeysAreTheFixtureModelsKeys) {
  const json index = WeightsIndex();
  const std::pair<const char*, RealmKind> models[] = {{"realm_for_open_qa", RealmKind::kOpenQA},
                                                      {"realm_knowledge_aug_encoder", RealmKind::kEncoder},
                                                      {"realm_embedder", RealmKind::kEmbedder},
                                                      {"realm_reader", RealmKind::kReader},
                                                      {"realm_scorer", RealmKind::kScorer}};
  for (const auto& [model, kind] : models) {
    SCOPED_TRACE(model);
    std::map<std::string, std::vector<int64_t>> want;
    for (auto it = index[model]["keys"].begin(); it != index[model]["keys"].end(); ++it) {
      if (it.key().find("decoder.") != std::string::npos) continue;  // tied in TF
      if (index[model]["aliases"].contains(it.key())) continue;
      want[it.key()] = it.value().get<std::vector<int64_t>>();
    }
    std::map<std::string, std::vector<int64_t>> got;
    for (const auto& [key, e] : ExpectedRealmKeys(kind, Config())) {
      got[key] = e.shape;
      if (key == "block_emb") got[key][0] = want.count(key) ? want[key][0] : -1;  // any number of blocks
    }
    EXPECT_EQ(got, want);
  }
}

struct NameCase {
  const char* tf;
  RealmKind kind;
  const char* key;  // "" when skipped or unplaceable
  bool transpose;
  const char* skip;  // substring of the reason; "" when mapped or unplaceable
};

TEST(TFConvert, ReferenceNamesMapAsTheReferenceConverterMapsThem) {
  const NameCase cases[] = {
      {"module/module/module/module/bert/encoder/layer_11/attention/self/query/kernel", RealmKind::kOpenQA,
       "embedder.realm.encoder.layer.11.attention.self.query.weight", true, ""},
      {"module/module/module/bert/embeddings/word_embeddings", RealmKind::kEmbedder,
       "realm.embeddings.word_embeddings.weight", false, ""},
      {"module/module/module/bert/pooler/dense/bias", RealmKind::kScorer, "embedder.realm.pooler.dense.bias", false, ""},
      {"module/module/dense/kernel", RealmKind::kScorer, "embedder.cls.dense.weight", true, ""},
      {"module/module/LayerNorm/gamma", RealmKind::kOpenQA, "embedder.cls.LayerNorm.weight", false, ""},
      {"module/module/module/LayerNorm/beta", RealmKind::kEmbedder, "cls.LayerNorm.bias", false, ""},
      {"module/module/module/cls/predictions/output_bias", RealmKind::kOpenQA, "embedder.cls.predictions.bias", false, ""},
      {"module/module/module/module/cls/predictions/transform/dense/kernel", RealmKind::kEmbedder,
       "cls.predictions.transform.dense.weight", true, ""},
      {"reader/module/bert/encoder/layer_0/output/LayerNorm/beta", RealmKind::kReader,
       "realm.encoder.layer.0.output.LayerNorm.bias", false, ""},
      {"reader/module/bert/encoder/layer_3/intermediate/dense/kernel", RealmKind::kOpenQA,
       "reader.realm.encoder.layer.3.intermediate.dense.weight", true, ""},
      {"reader/module/cls/predictions/transform/LayerNorm/gamma", RealmKind::kOpenQA,
       "reader.cls.predictions.transform.LayerNorm.weight", false, ""},
      {"reader/dense/kernel", RealmKind::kOpenQA, "reader.qa_outputs.dense_intermediate.weight", true, ""},
      {"reader/dense_1/bias", RealmKind::kReader, "qa_outputs.dense_output.bias", false, ""},
      {"reader/layer_normalization/gamma", RealmKind::kOpenQA, "reader.qa_outputs.layer_normalization.weight", false, ""},
      {"bert/pooler/dense/kernel", RealmKind::kEncoder, "realm.pooler.dense.weight", true, ""},
      {"bert/embeddings/token_type_embeddings", RealmKind::kOpenQA,
       "reader.realm.embeddings.token_type_embeddings.weight", false, ""},
      {"cls/predictions/transform/LayerNorm/gamma", RealmKind::kEncoder, "cls.predictions.transform.LayerNorm.weight",
       false, ""},
      {"cls/predictions/output_bias", RealmKind::kOpenQA, "reader.cls.predictions.bias", false, ""},
      {"block_emb", RealmKind::kOpenQA, "block_emb", false, ""},
      {"reader/dense/kernel/adam_m", RealmKind::kOpenQA, "", false, "optimizer slot"},
      {"bert/encoder/layer_0/output/dense/bias/adam_v", RealmKind::kEncoder, "", false, "optimizer slot"},
      {"global_step", RealmKind::kReader, "", false, "training step counter"},
      {"beta1_power", RealmKind::kOpenQA, "", false, "optimizer state"},
      {"cls/seq_relationship/output_weights", RealmKind::kEncoder, "", false, "next-sentence head"},
      {"bert/encoder/layer_0/attention/self/query/kernel", RealmKind::kEmbedder, "", false, "pre-trained BERT"},
      {"bert/encoder/layer_0/attention/self/query/kernel", RealmKind::kReader, "", false, "pre-trained BERT"},
      {"reader/dense/kernel", RealmKind::kEmbedder, "", false, "reader variable"},
      {"module/module/dense/kernel", RealmKind::kEncoder, "", false, "retrieval embedder variable"},
      {"block_emb", RealmKind::kReader, "", false, "block embeddings"},
      {"encoder/layer_0/kernel", RealmKind::kOpenQA, "", false, ""},
      {"module/bert/embeddings/word_embeddings", RealmKind::kOpenQA, "", false, ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.tf) + " as " + RealmKindName(c.kind));
    TFVariablePlan p = PlanTFVariable(c.tf, c.kind);
    EXPECT_EQ(p.key, c.key);
    EXPECT_EQ(p.transpose, c.transpose);
    if (*c.skip) {
      EXPECT_NE(p.skip_reason.find(c.skip), std::string::npos) << p.skip_reason;
    } else {
      EXPECT_EQ(p.skip_reason, "");
    }
  }
}

TEST(TFConvert, EveryFixtureKeyHasAReferenceNameThatMapsBack) {
  auto openqa = ReadSafetensors(FixtureDir() + "/realm_for_open_qa.safetensors");
  auto kae = ReadSafetensors(FixtureDir() + "/realm_knowledge_aug_encoder.safetensors");
  ASSERT_TRUE(openqa.ok() && kae.ok());
  int named = 0;
  for (const auto& [key, view] : openqa->tensors) {
    if (key.find("decoder.") != std::string::npos) {
      EXPECT_EQ(ReferenceTFName(key, TFComponent::kFinetunedOpenQA), "") << key;
      continue;
    }
    const std::string finetuned = ReferenceTFName(key, TFComponent::kFinetunedOpenQA);
    const std::string blocks = ReferenceTFName(key, TFComponent::kEncodedBlocks);
    ASSERT_NE(finetuned.empty(), blocks.empty()) << key << ": exactly one of the two components holds it";
    EXPECT_EQ(PlanTFVariable(finetuned.empty() ? blocks : finetuned, RealmKind::kOpenQA).key, key);
    if (key.compare(0, 9, "embedder.") == 0) {
      const std::string pretrained = ReferenceTFName(key, TFComponent::kPretrainedEmbedder);
      EXPECT_NE(pretrained, finetuned) << key;
      EXPECT_EQ(PlanTFVariable(pretrained, RealmKind::kOpenQA).key, key);
    }
    ++named;
  }
  for (const auto& [key, view] : kae->tensors) {
    const std::string name = ReferenceTFName(key, TFComponent::kPretrainedBert);
    ASSERT_FALSE(name.empty()) << key;
    EXPECT_EQ(PlanTFVariable(name, RealmKind::kEncoder).key, key);
    ++named;
  }
  EXPECT_EQ(ReferenceTFName("embedder.realm.encoder.layer.1.attention.output.LayerNorm.weight",
                            TFComponent::kFinetunedOpenQA),
            "module/module/module/module/bert/encoder/layer_1/attention/output/LayerNorm/gamma");
  EXPECT_EQ(ReferenceTFName("reader.cls.predictions.bias", TFComponent::kFinetunedOpenQA),
            "reader/module/cls/predictions/output_bias");
  EXPECT_EQ(ReferenceTFName("embedder.cls.dense.weight", TFComponent::kPretrainedEmbedder), "module/module/dense/kernel");
  EXPECT_GT(named, 0);
}

// The finetuned ORQA checkpoint plus encoded.ckpt → RealmForOpenQA: every
// tensor byte for byte the fixture's; the MLM decoders (not in TF
// checkpoints) become aliases of the word embeddings, as TF ties them.
TEST(TFConvert, FinetunedCheckpointAndBlockEmbeddingsGiveTheFixtureWeightsBitForBit) {
  auto fixture = ReadSafetensors(FixtureDir() + "/realm_for_open_qa.safetensors");
  ASSERT_TRUE(fixture.ok());
  auto conv = ConvertTFCheckpoints({Written().finetuned, Written().encoded}, RealmKind::kOpenQA, Config(), {});
  ASSERT_TRUE(conv.ok()) << conv.status();
  size_t compared = 0;
  for (const auto& [key, want] : fixture->tensors) {
    SCOPED_TRACE(key);
    if (key.find("decoder.weight") != std::string::npos) {
      const std::string prefix = key.substr(0, key.find("cls."));
      EXPECT_EQ(conv->aliases.at(key), prefix + "realm.embeddings.word_embeddings.weight");
      continue;
    }
    ASSERT_TRUE(conv->tensors.count(key));
    EXPECT_TRUE(SameBytes(conv->tensors.at(key), want));
    ++compared;
  }
  EXPECT_EQ(compared, conv->tensors.size());
  EXPECT_TRUE(conv->initialized.empty());
  EXPECT_TRUE(conv->absent_optional.empty());
  size_t slots = 0, steps = 0;
  for (const auto& p : conv->plan) {
    slots += p.skip_reason == "optimizer slot";
    steps += p.skip_reason == "training step counter";
  }
  EXPECT_EQ(slots, 2 * (conv->tensors.size() - 1));  // every variable but block_emb has adam_m and adam_v
  EXPECT_EQ(steps, 1u);
}

TEST(TFConvert, EachKindFromItsReleasedComponent) {
  auto openqa = ReadSafetensors(FixtureDir() + "/realm_for_open_qa.safetensors");
  auto kae = ReadSafetensors(FixtureDir() + "/realm_knowledge_aug_encoder.safetensors");
  ASSERT_TRUE(openqa.ok() && kae.ok());
  const RealmConfig config = Config();
  // Pre-trained BERT → the knowledge-augmented encoder, aliases included.
  auto encoder = ConvertTFCheckpoints({Written().bert}, RealmKind::kEncoder, config, {});
  ASSERT_TRUE(encoder.ok()) << encoder.status();
  for (const auto& [key, want] : kae->tensors) EXPECT_TRUE(SameBytes(encoder->tensors.at(key), want)) << key;
  EXPECT_EQ(encoder->tensors.size(), kae->tensors.size());
  EXPECT_EQ(encoder->aliases.at("cls.predictions.decoder.weight"), "realm.embeddings.word_embeddings.weight");
  // Pre-trained embedder → RealmEmbedder (keys without the prefix).
  auto embedder = ConvertTFCheckpoints({Written().embedder}, RealmKind::kEmbedder, config, {});
  ASSERT_TRUE(embedder.ok()) << embedder.status();
  for (const auto& [key, got] : embedder->tensors) {
    EXPECT_TRUE(SameBytes(got, openqa->tensors.at("embedder." + key))) << key;
  }
  // Finetuned → RealmReader and RealmScorer (the reader's or the embedder's variables; the rest skipped).
  auto reader = ConvertTFCheckpoints({Written().finetuned}, RealmKind::kReader, config, {});
  ASSERT_TRUE(reader.ok()) << reader.status();
  for (const auto& [key, got] : reader->tensors) {
    EXPECT_TRUE(SameBytes(got, openqa->tensors.at("reader." + key))) << key;
  }
  EXPECT_EQ(reader->tensors.count("qa_outputs.dense_output.weight"), 1u);
  auto scorer = ConvertTFCheckpoints({Written().finetuned}, RealmKind::kScorer, config, {});
  ASSERT_TRUE(scorer.ok()) << scorer.status();
  for (const auto& [key, got] : scorer->tensors) EXPECT_TRUE(SameBytes(got, openqa->tensors.at(key))) << key;
  EXPECT_EQ(scorer->aliases.at("query_embedder.cls.dense.weight"), "embedder.cls.dense.weight");
  // REALM pre-training → an open-QA model to finetune: the reader starts from
  // the pre-trained BERT, its span scorer is initialised as BERT does.
  TFConversionOptions init;
  init.init_missing = true;
  auto start = ConvertTFCheckpoints({Written().bert, Written().embedder, Written().encoded}, RealmKind::kOpenQA,
                                    config, init);
  ASSERT_TRUE(start.ok()) << start.status();
  EXPECT_TRUE(SameBytes(start->tensors.at("reader.realm.encoder.layer.0.output.dense.weight"),
                        kae->tensors.at("realm.encoder.layer.0.output.dense.weight")));
  EXPECT_TRUE(SameBytes(start->tensors.at("embedder.cls.dense.weight"), openqa->tensors.at("embedder.cls.dense.weight")));
  EXPECT_EQ(start->initialized,
            (std::vector<std::string>{"reader.qa_outputs.dense_intermediate.bias", "reader.qa_outputs.dense_intermediate.weight",
                                      "reader.qa_outputs.dense_output.bias", "reader.qa_outputs.dense_output.weight",
                                      "reader.qa_outputs.layer_normalization.bias",
                                      "reader.qa_outputs.layer_normalization.weight"}));
  const TensorView& norm = start->tensors.at("reader.qa_outputs.layer_normalization.weight");
  const TensorView& bias = start->tensors.at("reader.qa_outputs.dense_output.bias");
  EXPECT_EQ(ElementAt<float>(norm, 0), 1.0f);
  EXPECT_EQ(ElementAt<float>(bias, 0), 0.0f);
  // The same without --init-missing names every missing weight.
  auto strict = ConvertTFCheckpoints({Written().bert, Written().embedder}, RealmKind::kOpenQA, config, {});
  ASSERT_FALSE(strict.ok());
  EXPECT_NE(strict.status().message().find("needs 6 weights no checkpoint holds: reader.qa_outputs.dense_intermediate.bias"),
            std::string::npos) << strict.status();
}

TEST(TFConvert, BadCheckpointsFailNamingTheVariableOrCheckpoint) {
  const RealmConfig config = Config();
  const std::string dir = Scratch();
  testing::CheckpointFaults renamed;
  renamed.rename_from = "reader/dense/kernel";
  renamed.rename_to = "reader/dense/kernal";
  auto r = testing::WriteReferenceTFCheckpoints(FixtureDir(), dir + "/renamed", renamed);
  ASSERT_TRUE(r.ok()) << r.status();
  auto conv = ConvertTFCheckpoints({r->finetuned}, RealmKind::kOpenQA, config, {});
  ASSERT_FALSE(conv.ok());
  EXPECT_NE(conv.status().message().find("cannot place TF variable 'reader/dense/kernal': it maps to "
                                         "'reader.qa_outputs.dense_intermediate.kernal'"),
            std::string::npos) << conv.status();

  testing::CheckpointFaults narrow;
  narrow.narrow_kernel = "reader/dense/kernel";
  r = testing::WriteReferenceTFCheckpoints(FixtureDir(), dir + "/narrow", narrow);
  ASSERT_TRUE(r.ok()) << r.status();
  conv = ConvertTFCheckpoints({r->finetuned}, RealmKind::kOpenQA, config, {});
  ASSERT_FALSE(conv.ok());
  const std::string h = std::to_string(config.hidden_size), s2 = std::to_string(2 * config.span_hidden_size);
  EXPECT_NE(conv.status().message().find(
                "TF variable 'reader/dense/kernel' has shape [" + h + ", " + std::to_string(2 * config.span_hidden_size - 1) +
                "] (a kernel, stored [in, out]); 'reader.qa_outputs.dense_intermediate.weight' of this config needs [" +
                s2 + ", " + h + "] as [out, in]"),
            std::string::npos) << conv.status();

  conv = ConvertTFCheckpoints({Written().slots}, RealmKind::kOpenQA, config, {});
  ASSERT_FALSE(conv.ok());
  EXPECT_NE(conv.status().message().find(Written().slots + ": holds no weight of a RealmForOpenQA: its 3 variables "
                                         "are all skipped (2 optimizer slot, 1 training step counter)"),
            std::string::npos) << conv.status();

  conv = ConvertTFCheckpoints({Written().finetuned, Written().finetuned}, RealmKind::kOpenQA, config, {});
  ASSERT_FALSE(conv.ok());
  EXPECT_NE(conv.status().message().find("already set by"), std::string::npos) << conv.status();

  conv = ConvertTFCheckpoints({dir + "/no-such-ckpt"}, RealmKind::kOpenQA, config, {});
  ASSERT_FALSE(conv.ok());
  EXPECT_NE(conv.status().message().find("no-such-ckpt: not a TF checkpoint"), std::string::npos) << conv.status();
}

// The services' loaders take a TF prefix as the weights, or a directory whose
// `checkpoint` file names it.
TEST(TFConvert, ServingLoadersReadATFCheckpointInMemory) {
  const std::string prefix = Written().finetuned;
  auto reader = SpanReader::Load(FixtureDir(), prefix);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_NE((*reader)->version().find("model.ckpt-300.index:"), std::string::npos) << (*reader)->version();
  auto embedder = TextEmbedder::Load(FixtureDir(), prefix + ".index");
  ASSERT_TRUE(embedder.ok()) << embedder.status();
  auto bert_only = SpanReader::Load(FixtureDir(), Written().bert);
  ASSERT_FALSE(bert_only.ok());
  EXPECT_NE(bert_only.status().message().find("missing keys: reader.qa_outputs."), std::string::npos) << bert_only.status();

  const std::string dir = Scratch() + "/tf-model-dir";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/checkpoint") << "model_checkpoint_path: \"" << prefix << "\"\nall_model_checkpoint_paths: \""
                                     << prefix << "\"\n";
  auto found = FindWeights(dir, "");
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, prefix);
}

// A checkpoint directory is taken wherever a prefix is, resolved through its
// `checkpoint` file; one naming another machine's absolute path falls back to
// the file of that name in the directory (the released encoded/checkpoint).
TEST(TFConvert, ACheckpointDirectoryResolvesThroughItsCheckpointFile) {
  const std::string finetuned_dir = Written().finetuned.substr(0, Written().finetuned.rfind('/'));
  const std::string encoded_dir = Written().encoded.substr(0, Written().encoded.rfind('/'));
  EXPECT_EQ(ResolveTFCheckpoint(finetuned_dir).value(), Written().finetuned);
  EXPECT_EQ(ResolveTFCheckpoint(encoded_dir + "/").value(), Written().encoded);
  EXPECT_EQ(ResolveTFCheckpoint(Written().encoded + ".index").value(), Written().encoded);
  EXPECT_EQ(ResolveTFCheckpoint(Scratch() + "/no-such").value(), "");

  auto config = ReadRealmConfig(FixtureDir() + "/config.json");
  ASSERT_TRUE(config.ok()) << config.status();
  auto by_dir = ConvertTFCheckpoints({finetuned_dir, encoded_dir}, RealmKind::kOpenQA, *config, {});
  auto by_prefix = ConvertTFCheckpoints({Written().finetuned, Written().encoded}, RealmKind::kOpenQA, *config, {});
  ASSERT_TRUE(by_dir.ok()) << by_dir.status();
  ASSERT_TRUE(by_prefix.ok()) << by_prefix.status();
  EXPECT_EQ(by_dir->tensors.size(), by_prefix->tensors.size());
  EXPECT_EQ(FindWeights(FixtureDir(), encoded_dir).value(), Written().encoded);

  const std::string bare = Scratch() + "/bare-dir";
  std::filesystem::create_directories(bare);
  EXPECT_EQ(ResolveTFCheckpoint(bare).status().message(),
            bare + ": a directory without a TF `checkpoint` file (pass the prefix, e.g. DIR/model.ckpt-N)");
  std::ofstream(bare + "/checkpoint") << "model_checkpoint_path: \"/elsewhere/model.ckpt-9\"\n";
  EXPECT_EQ(ResolveTFCheckpoint(bare).status().message(),
            bare + "/checkpoint names /elsewhere/model.ckpt-9, and neither /elsewhere/model.ckpt-9.index nor " + bare +
                "/model.ckpt-9.index exists");
  auto conv = ConvertTFCheckpoints({bare}, RealmKind::kOpenQA, *config, {});
  EXPECT_EQ(conv.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace orqa
