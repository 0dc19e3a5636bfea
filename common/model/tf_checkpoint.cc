#include "common/model/tf_checkpoint.h"

#include <unistd.h>

#include <cctype>
#include <cstring>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/io/tf_bundle.h"

namespace orqa {
namespace {

bool StartsWith(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool EndsWith(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

std::string ShapeText(const std::vector<int64_t>& shape) { return absl::StrCat("[", absl::StrJoin(shape, ", "), "]"); }

// --- The model's keys ------------------------------------------------------------

void AddBert(std::map<std::string, ExpectedKey>* out, const std::string& p, const RealmConfig& c, bool pooler) {
  const int64_t h = c.hidden_size, inter = c.intermediate_size;
  auto& o = *out;
  o[p + "embeddings.word_embeddings.weight"] = {{c.vocab_size, h}};
  o[p + "embeddings.position_embeddings.weight"] = {{c.max_position_embeddings, h}};
  o[p + "embeddings.token_type_embeddings.weight"] = {{c.type_vocab_size, h}};
  o[p + "embeddings.LayerNorm.weight"] = {{h}};
  o[p + "embeddings.LayerNorm.bias"] = {{h}};
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const std::string l = absl::StrCat(p, "encoder.layer.", i, ".");
    for (const char* m : {"attention.self.query.", "attention.self.key.", "attention.self.value.",
                          "attention.output.dense."}) {
      o[l + m + "weight"] = {{h, h}};
      o[l + m + "bias"] = {{h}};
    }
    for (const char* m : {"attention.output.LayerNorm.", "output.LayerNorm."}) {
      o[l + m + "weight"] = {{h}};
      o[l + m + "bias"] = {{h}};
    }
    o[l + "intermediate.dense.weight"] = {{inter, h}};
    o[l + "intermediate.dense.bias"] = {{inter}};
    o[l + "output.dense.weight"] = {{h, inter}};
    o[l + "output.dense.bias"] = {{h}};
  }
  o[p + "pooler.dense.weight"] = {{h, h}, pooler};
  o[p + "pooler.dense.bias"] = {{h}, pooler};
}

// BERT's masked-LM head; the decoder is tied to the word embeddings.
void AddMlmHead(std::map<std::string, ExpectedKey>* out, const std::string& p, const RealmConfig& c, bool required) {
  const int64_t h = c.hidden_size;
  auto& o = *out;
  o[p + "transform.dense.weight"] = {{h, h}, required};
  o[p + "transform.dense.bias"] = {{h}, required};
  o[p + "transform.LayerNorm.weight"] = {{h}, required};
  o[p + "transform.LayerNorm.bias"] = {{h}, required};
  o[p + "bias"] = {{c.vocab_size}, required};
}

void AddEmbedder(std::map<std::string, ExpectedKey>* out, const std::string& p, const RealmConfig& c) {
  AddBert(out, p + "realm.", c, /*pooler=*/true);
  AddMlmHead(out, p + "cls.predictions.", c, /*required=*/false);
  const int64_t proj = c.retriever_proj_size;
  (*out)[p + "cls.dense.weight"] = {{proj, c.hidden_size}};
  (*out)[p + "cls.dense.bias"] = {{proj}};
  (*out)[p + "cls.LayerNorm.weight"] = {{proj}};
  (*out)[p + "cls.LayerNorm.bias"] = {{proj}};
}

void AddReader(std::map<std::string, ExpectedKey>* out, const std::string& p, const RealmConfig& c) {
  AddBert(out, p + "realm.", c, /*pooler=*/false);
  AddMlmHead(out, p + "cls.predictions.", c, /*required=*/false);
  const int64_t s = c.span_hidden_size;
  auto& o = *out;
  o[p + "qa_outputs.dense_intermediate.weight"] = {{2 * s, c.hidden_size}};
  o[p + "qa_outputs.dense_intermediate.bias"] = {{2 * s}};
  o[p + "qa_outputs.dense_output.weight"] = {{1, s}};
  o[p + "qa_outputs.dense_output.bias"] = {{1}};
  o[p + "qa_outputs.layer_normalization.weight"] = {{s}};
  o[p + "qa_outputs.layer_normalization.bias"] = {{s}};
}

// --- Names -----------------------------------------------------------------------

// Where a checkpoint's variable belongs before the target model is known.
enum class Role { kEmbedder, kReader, kBert, kBlocks };

struct PrefixRule {
  const char* tf;
  Role role;
  const char* rest;  // replaces `tf`
};

// Longest first: the finetuned ORQA checkpoints nest the embedder module one
// level deeper than the pre-trained embedder module.
constexpr PrefixRule kRules[] = {
    {"reader/module/bert/", Role::kReader, "realm/"},
    {"reader/module/cls/", Role::kReader, "cls/"},
    {"reader/dense/", Role::kReader, "qa_outputs/dense_intermediate/"},
    {"reader/dense_1/", Role::kReader, "qa_outputs/dense_output/"},
    {"reader/layer_normalization/", Role::kReader, "qa_outputs/layer_normalization/"},
    {"module/module/module/module/bert/", Role::kEmbedder, "realm/"},
    {"module/module/module/module/cls/predictions/", Role::kEmbedder, "cls/predictions/"},
    {"module/module/module/bert/", Role::kEmbedder, "realm/"},
    {"module/module/module/cls/predictions/", Role::kEmbedder, "cls/predictions/"},
    {"module/module/module/LayerNorm/", Role::kEmbedder, "cls/LayerNorm/"},
    {"module/module/module/dense/", Role::kEmbedder, "cls/dense/"},
    {"module/module/LayerNorm/", Role::kEmbedder, "cls/LayerNorm/"},
    {"module/module/dense/", Role::kEmbedder, "cls/dense/"},
    {"bert/", Role::kBert, "realm/"},
    {"cls/", Role::kBert, "cls/"},
};

// The key prefix a role takes in `kind`, or why the variable is skipped.
bool RolePrefix(Role role, RealmKind kind, std::string* prefix, std::string* skip) {
  const std::string cls = RealmKindClass(kind);
  switch (role) {
    case Role::kEmbedder:
      if (kind == RealmKind::kEmbedder) { *prefix = ""; return true; }
      if (kind == RealmKind::kScorer || kind == RealmKind::kOpenQA) { *prefix = "embedder."; return true; }
      *skip = absl::StrCat("retrieval embedder variable; a ", cls, " has no embedder");
      return false;
    case Role::kReader:
      if (kind == RealmKind::kReader) { *prefix = ""; return true; }
      if (kind == RealmKind::kOpenQA) { *prefix = "reader."; return true; }
      *skip = absl::StrCat("reader variable; a ", cls, " has no reader");
      return false;
    case Role::kBert:
      if (kind == RealmKind::kEncoder) { *prefix = ""; return true; }
      if (kind == RealmKind::kOpenQA) { *prefix = "reader."; return true; }  // the reader starts from it
      *skip = absl::StrCat("pre-trained BERT (knowledge-augmented encoder) variable; a ", cls,
                           " takes only its own variables");
      return false;
    case Role::kBlocks:
      if (kind == RealmKind::kOpenQA) { *prefix = ""; return true; }
      *skip = absl::StrCat("block embeddings; only RealmForOpenQA holds them (or use `orqa import-embeddings`)");
      return false;
  }
  return false;
}

// "layer_3" → "layer", 3.
bool SplitIndexed(const std::string& c, std::string* name, std::string* index) {
  size_t u = c.rfind('_');
  if (u == std::string::npos || u == 0 || u + 1 >= c.size()) return false;
  for (size_t i = 0; i < u; ++i) {
    if (!std::isalpha(static_cast<unsigned char>(c[i]))) return false;
  }
  for (size_t i = u + 1; i < c.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(c[i]))) return false;
  }
  *name = c.substr(0, u);
  *index = c.substr(u + 1);
  return true;
}

std::string SkipReason(const std::vector<std::string>& parts) {
  static const std::set<std::string> kSlots = {"adam_m", "adam_v", "Adam", "Adam_1",
                                               "AdamWeightDecayOptimizer", "AdamWeightDecayOptimizer_1",
                                               "Momentum", "Adagrad", "RMSProp", "RMSProp_1"};
  for (const auto& p : parts) {
    if (kSlots.count(p)) return "optimizer slot";
    if (p == "beta1_power" || p == "beta2_power") return "optimizer state";
    if (p == "global_step") return "training step counter";
    if (p == "_CHECKPOINTABLE_OBJECT_GRAPH" || p == ".ATTRIBUTES" || p == "save_counter") return "checkpoint bookkeeping";
  }
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (parts[i] == "cls" && parts[i + 1] == "seq_relationship") return "next-sentence head (not in REALM models)";
  }
  return "";
}

// Inverse of the path rules below PrefixRule: "encoder.layer.0.attention.self.query.weight"
// → "encoder/layer_0/attention/self/query/kernel" (whether it is stored transposed
// is PlanTFVariable's to say).
std::string ToTFPath(const std::string& rest) {
  std::vector<std::string> parts = absl::StrSplit(rest, '.');
  std::vector<std::string> out;
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& p = parts[i];
    const bool last = i + 1 == parts.size();
    if (!last && !parts[i + 1].empty() &&
        std::all_of(parts[i + 1].begin(), parts[i + 1].end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); })) {
      out.push_back(p + "_" + parts[i + 1]);
      ++i;
      continue;
    }
    if (!last) {
      out.push_back(p);
      continue;
    }
    const std::string prev = out.empty() ? "" : out.back();
    const bool norm = prev == "LayerNorm" || prev == "layer_normalization";
    if (p == "weight") {
      if (EndsWith(prev, "_embeddings")) continue;  // the embedding table is the variable itself
      if (norm) {
        out.push_back("gamma");
      } else {
        out.push_back("kernel");
      }
    } else if (p == "bias") {
      out.push_back(norm ? "beta" : prev == "predictions" ? "output_bias" : "bias");
    } else {
      out.push_back(p);
    }
  }
  return absl::StrJoin(out, "/");
}

absl::Status Fail(const std::string& source, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", what));
}

// BERT's initialisation of one key.
TensorView Initialised(const std::string& key, const std::vector<int64_t>& shape, double std, std::mt19937_64* rng) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  auto buf = std::make_shared<std::vector<float>>(n);
  const BertInit init = BertInitOf(key);
  std::normal_distribution<float> normal(0.0f, static_cast<float>(std));
  for (auto& x : *buf) x = init == BertInit::kZero ? 0.0f : init == BertInit::kOne ? 1.0f : normal(*rng);
  TensorView t;
  t.dtype = DType::kF32;
  t.shape = shape;
  t.data = reinterpret_cast<const uint8_t*>(buf->data());
  t.nbytes = buf->size() * sizeof(float);
  t.owner = buf;
  return t;
}

}  // namespace

absl::StatusOr<RealmKind> ParseRealmKind(const std::string& name) {
  for (RealmKind k : {RealmKind::kEmbedder, RealmKind::kReader, RealmKind::kEncoder, RealmKind::kScorer,
                      RealmKind::kOpenQA}) {
    if (name == RealmKindName(k)) return k;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--kind '", name, "' is not one of embedder, reader, encoder, scorer, openqa"));
}

const char* RealmKindName(RealmKind kind) {
  switch (kind) {
    case RealmKind::kEmbedder: return "embedder";
    case RealmKind::kReader: return "reader";
    case RealmKind::kEncoder: return "encoder";
    case RealmKind::kScorer: return "scorer";
    case RealmKind::kOpenQA: return "openqa";
  }
  return "";
}

const char* RealmKindClass(RealmKind kind) {
  switch (kind) {
    case RealmKind::kEmbedder: return "RealmEmbedder";
    case RealmKind::kReader: return "RealmReader";
    case RealmKind::kEncoder: return "RealmKnowledgeAugEncoder";
    case RealmKind::kScorer: return "RealmScorer";
    case RealmKind::kOpenQA: return "RealmForOpenQA";
  }
  return "";
}

std::map<std::string, ExpectedKey> ExpectedRealmKeys(RealmKind kind, const RealmConfig& config) {
  std::map<std::string, ExpectedKey> out;
  switch (kind) {
    case RealmKind::kEmbedder: AddEmbedder(&out, "", config); break;
    case RealmKind::kScorer: AddEmbedder(&out, "embedder.", config); break;
    case RealmKind::kReader: AddReader(&out, "", config); break;
    case RealmKind::kEncoder:
      AddBert(&out, "realm.", config, /*pooler=*/false);
      AddMlmHead(&out, "cls.predictions.", config, /*required=*/true);
      break;
    case RealmKind::kOpenQA:
      AddEmbedder(&out, "embedder.", config);
      AddReader(&out, "reader.", config);
      out["block_emb"] = {{-1, config.retriever_proj_size}, false};
      break;
  }
  return out;
}

std::map<std::string, std::string> RealmAliases(RealmKind kind, const std::map<std::string, TensorView>& keys) {
  std::map<std::string, std::string> aliases;
  for (const std::string p : {"", "embedder.", "reader."}) {
    if (keys.count(p + "cls.predictions.bias")) aliases[p + "cls.predictions.decoder.bias"] = p + "cls.predictions.bias";
    const std::string words = p + "realm.embeddings.word_embeddings.weight";
    if (keys.count(p + "cls.predictions.transform.dense.weight") && keys.count(words)) {
      aliases[p + "cls.predictions.decoder.weight"] = words;  // TF BERT ties the MLM output to the input embeddings
    }
  }
  if (kind == RealmKind::kScorer) {  // RealmScorer's query_embedder is its embedder
    std::map<std::string, std::string> more;
    for (const auto& [k, v] : keys) {
      if (StartsWith(k, "embedder.")) more["query_embedder." + k.substr(9)] = k;
    }
    for (const auto& [k, v] : aliases) {
      if (StartsWith(k, "embedder.")) more["query_embedder." + k.substr(9)] = v;
    }
    aliases.insert(more.begin(), more.end());
  }
  return aliases;
}

TFVariablePlan PlanTFVariable(const std::string& tf_name, RealmKind kind) {
  TFVariablePlan plan;
  plan.tf_name = tf_name;
  std::vector<std::string> parts = absl::StrSplit(tf_name, '/');
  plan.skip_reason = SkipReason(parts);
  if (!plan.skip_reason.empty()) return plan;
  std::string rest, prefix;
  Role role;
  if (tf_name == "block_emb") {
    role = Role::kBlocks;
    rest = "block_emb";
  } else {
    const PrefixRule* rule = nullptr;
    for (const auto& r : kRules) {
      if (StartsWith(tf_name, r.tf)) {
        rule = &r;
        break;
      }
    }
    if (!rule) return plan;  // cannot be placed
    role = rule->role;
    rest = rule->rest + tf_name.substr(std::strlen(rule->tf));
  }
  if (!RolePrefix(role, kind, &prefix, &plan.skip_reason)) return plan;
  parts = absl::StrSplit(rest, '/');
  std::vector<std::string> out;
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& p = parts[i];
    const bool last = i + 1 == parts.size();
    std::string name, index;
    if (SplitIndexed(p, &name, &index)) {
      out.push_back(name);
      out.push_back(index);
    } else if (last && p == "kernel") {
      out.push_back("weight");
      plan.transpose = true;
    } else if (last && p == "gamma") {
      out.push_back("weight");
    } else if (last && (p == "beta" || p == "output_bias")) {
      out.push_back("bias");
    } else {
      out.push_back(p);
    }
  }
  if (EndsWith(parts.back(), "_embeddings")) out.push_back("weight");
  plan.key = prefix + absl::StrJoin(out, ".");
  return plan;
}

std::string ReferenceTFName(const std::string& key, TFComponent component) {
  struct Inverse {
    const char* key;
    const char* tf;
  };
  static constexpr Inverse kBert[] = {{"realm.", "bert/"}, {"cls.predictions.", "cls/predictions/"}};
  static constexpr Inverse kPretrainedEmbedder[] = {
      {"embedder.realm.", "module/module/module/bert/"},
      {"embedder.cls.predictions.", "module/module/module/cls/predictions/"},
      {"embedder.cls.dense.", "module/module/dense/"},
      {"embedder.cls.LayerNorm.", "module/module/LayerNorm/"}};
  static constexpr Inverse kFinetuned[] = {
      {"embedder.realm.", "module/module/module/module/bert/"},
      {"embedder.cls.predictions.", "module/module/module/module/cls/predictions/"},
      {"embedder.cls.dense.", "module/module/module/dense/"},
      {"embedder.cls.LayerNorm.", "module/module/module/LayerNorm/"},
      {"reader.realm.", "reader/module/bert/"},
      {"reader.cls.predictions.", "reader/module/cls/predictions/"},
      {"reader.qa_outputs.dense_intermediate.", "reader/dense/"},
      {"reader.qa_outputs.dense_output.", "reader/dense_1/"},
      {"reader.qa_outputs.layer_normalization.", "reader/layer_normalization/"}};
  if (component == TFComponent::kEncodedBlocks) return key == "block_emb" ? "block_emb" : "";
  if (key.find("decoder.") != std::string::npos) return "";  // tied to the word embeddings in TF
  auto map = [&](const Inverse* begin, const Inverse* end) -> std::string {
    for (const Inverse* r = begin; r != end; ++r) {
      if (!StartsWith(key, r->key)) continue;
      // The last component of the layout prefix (LayerNorm, predictions, …)
      // decides what "weight" and "bias" become, so it goes through ToTFPath too.
      std::vector<std::string> ctx = absl::StrSplit(r->key, '.', absl::SkipEmpty());
      std::string path = ToTFPath(ctx.back() + "." + key.substr(std::strlen(r->key)));
      return std::string(r->tf) + path.substr(path.find('/') + 1);
    }
    return "";
  };
  switch (component) {
    case TFComponent::kPretrainedBert: return map(std::begin(kBert), std::end(kBert));
    case TFComponent::kPretrainedEmbedder: return map(std::begin(kPretrainedEmbedder), std::end(kPretrainedEmbedder));
    case TFComponent::kFinetunedOpenQA: return map(std::begin(kFinetuned), std::end(kFinetuned));
    case TFComponent::kEncodedBlocks: break;
  }
  return "";
}

TensorView Transpose2D(const TensorView& v) {
  const int64_t rows = v.shape[0], cols = v.shape[1];
  const size_t es = DTypeSize(v.dtype);
  auto buf = std::make_shared<std::vector<uint8_t>>(v.nbytes);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      std::memcpy(buf->data() + (c * rows + r) * es, v.data + (r * cols + c) * es, es);
    }
  }
  TensorView t;
  t.dtype = v.dtype;
  t.shape = {cols, rows};
  t.data = buf->data();
  t.nbytes = buf->size();
  t.owner = buf;
  return t;
}

std::string TFCheckpointPrefix(const std::string& path) {
  auto prefix = ResolveTFCheckpoint(path);
  return prefix.ok() ? *prefix : std::string();
}

absl::StatusOr<TFConversion> ConvertTFCheckpoints(const std::vector<std::string>& prefixes, RealmKind kind,
                                                  const RealmConfig& config, const TFConversionOptions& options) {
  if (prefixes.empty()) return absl::InvalidArgumentError("no TF checkpoint given");
  const std::map<std::string, ExpectedKey> expected = ExpectedRealmKeys(kind, config);
  const std::string cls = RealmKindClass(kind);
  TFConversion out;
  std::map<std::string, std::string> taken_by;  // key → "variable (checkpoint)"
  for (const std::string& given : prefixes) {
    auto resolved = ResolveTFCheckpoint(given);
    if (!resolved.ok()) return resolved.status();
    const std::string prefix = *resolved;
    if (prefix.empty()) {
      return absl::NotFoundError(absl::StrCat(given, ": not a TF checkpoint (no ", given, ".index)"));
    }
    auto reader = TFBundleReader::Open(prefix);
    if (!reader.ok()) return reader.status();
    int placed = 0;
    std::map<std::string, int> skipped;
    for (const TFBundleEntry& e : reader->entries()) {
      TFVariablePlan plan = PlanTFVariable(e.name, kind);
      plan.source = prefix;
      plan.tf_shape = e.shape;
      if (plan.key.empty()) {
        if (plan.skip_reason.empty()) {
          return Fail(prefix, absl::StrCat("cannot place TF variable '", e.name, "' ", ShapeText(e.shape),
                                           " in a ", cls, ": no REALM/ORQA naming rule matches it"));
        }
        ++skipped[plan.skip_reason];
        out.plan.push_back(std::move(plan));
        continue;
      }
      auto want = expected.find(plan.key);
      if (want == expected.end()) {
        return Fail(prefix, absl::StrCat("cannot place TF variable '", e.name, "': it maps to '", plan.key,
                                         "', which a ", cls, " (", config.num_hidden_layers,
                                         " layers) does not have"));
      }
      if (auto t = taken_by.find(plan.key); t != taken_by.end()) {
        return Fail(prefix, absl::StrCat("TF variable '", e.name, "' maps to '", plan.key, "', already set by ",
                                         t->second));
      }
      auto view = reader->Read(e.name);  // checksum verified over the mapping
      if (!view.ok()) return view.status();
      if (view->dtype != DType::kF32) {
        return Fail(prefix, absl::StrCat("'", e.name, "' has dtype ", TFDataTypeName(e.dtype),
                                         "; REALM weights are DT_FLOAT"));
      }
      std::vector<int64_t> shape = view->shape;
      if (plan.transpose && shape.size() != 2) {
        return Fail(prefix, absl::StrCat("kernel '", e.name, "' has shape ", ShapeText(shape), ", not 2-D"));
      }
      if (plan.transpose) std::swap(shape[0], shape[1]);
      bool fits = shape.size() == want->second.shape.size();
      for (size_t d = 0; fits && d < shape.size(); ++d) {
        fits = want->second.shape[d] < 0 || want->second.shape[d] == shape[d];
      }
      if (!fits) {
        return Fail(prefix, absl::StrCat("TF variable '", e.name, "' has shape ", ShapeText(e.shape),
                                         plan.transpose ? " (a kernel, stored [in, out])" : "", "; '", plan.key,
                                         "' of this config needs ", ShapeText(want->second.shape),
                                         plan.transpose ? " as [out, in]" : ""));
      }
      out.tensors[plan.key] = plan.transpose ? Transpose2D(*view) : *view;
      taken_by[plan.key] = absl::StrCat("'", e.name, "' of ", prefix);
      ++placed;
      out.plan.push_back(std::move(plan));
    }
    if (placed == 0) {
      std::vector<std::string> why;
      for (const auto& [reason, n] : skipped) why.push_back(absl::StrCat(n, " ", reason));
      return Fail(prefix, absl::StrCat("holds no weight of a ", cls, ": its ", reader->entries().size(),
                                       " variables are all skipped (", absl::StrJoin(why, ", "), ")"));
    }
  }
  std::vector<std::string> missing;
  std::mt19937_64 rng(options.seed);
  for (const auto& [key, want] : expected) {
    if (out.tensors.count(key)) continue;
    if (!want.required) {
      out.absent_optional.push_back(key);
    } else if (options.init_missing) {
      out.tensors[key] = Initialised(key, want.shape, config.initializer_range, &rng);
      out.initialized.push_back(key);
    } else {
      missing.push_back(key);
    }
  }
  if (!missing.empty() && options.require_complete) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a ", cls, " needs ", missing.size(), " weights no checkpoint holds: ", absl::StrJoin(missing, ", "),
        " (give the checkpoint that has them with another --from, or --init-missing to start them as BERT does)"));
  }
  out.aliases = RealmAliases(kind, out.tensors);
  return out;
}

}  // namespace orqa
