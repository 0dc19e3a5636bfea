#include "common/model/realm_config.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/model/precision.h"

namespace orqa {
namespace {

template <typename T>
absl::Status Read(const nlohmann::json& j, const char* key, T* out, const std::string& name) {
  if (!j.contains(key) || j[key].is_null()) return absl::OkStatus();
  const auto& v = j[key];
  if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) return absl::InvalidArgumentError(absl::StrCat(name, ": ", key, " must be a string"));
    *out = v.get<std::string>();
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) return absl::InvalidArgumentError(absl::StrCat(name, ": ", key, " must be true or false"));
    *out = v.get<bool>();
  } else if constexpr (std::is_same_v<T, int>) {
    if (!v.is_number_integer()) return absl::InvalidArgumentError(absl::StrCat(name, ": ", key, " must be an integer"));
    *out = v.get<int>();
  } else {
    if (!v.is_number()) return absl::InvalidArgumentError(absl::StrCat(name, ": ", key, " must be a number"));
    *out = v.get<double>();
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RealmConfig> ParseRealmConfig(const std::string& text, const std::string& name) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": not a JSON object"));
  }
  RealmConfig c;
  absl::Status st;
#define ORQA_READ(field)                                  \
  st = Read(j, #field, &c.field, name);                   \
  if (!st.ok()) return st;
  ORQA_READ(vocab_size) ORQA_READ(hidden_size) ORQA_READ(retriever_proj_size)
  ORQA_READ(num_hidden_layers) ORQA_READ(num_attention_heads) ORQA_READ(num_candidates)
  ORQA_READ(intermediate_size) ORQA_READ(hidden_act) ORQA_READ(max_position_embeddings)
  ORQA_READ(type_vocab_size) ORQA_READ(layer_norm_eps) ORQA_READ(span_hidden_size)
  ORQA_READ(max_span_width) ORQA_READ(reader_layer_norm_eps) ORQA_READ(reader_beam_size)
  ORQA_READ(reader_seq_len) ORQA_READ(num_block_records) ORQA_READ(searcher_beam_size)
  ORQA_READ(hidden_dropout_prob) ORQA_READ(attention_probs_dropout_prob) ORQA_READ(initializer_range)
  ORQA_READ(reader_question_match) ORQA_READ(reader_word_shape)
#undef ORQA_READ
  auto positive = [&](const char* field, int v) -> absl::Status {
    if (v <= 0) return absl::InvalidArgumentError(absl::StrCat(name, ": ", field, " must be > 0, got ", v));
    return absl::OkStatus();
  };
  for (auto [f, v] : {std::pair<const char*, int>{"vocab_size", c.vocab_size},
                      {"hidden_size", c.hidden_size}, {"retriever_proj_size", c.retriever_proj_size},
                      {"num_hidden_layers", c.num_hidden_layers},
                      {"num_attention_heads", c.num_attention_heads},
                      {"intermediate_size", c.intermediate_size},
                      {"max_position_embeddings", c.max_position_embeddings},
                      {"type_vocab_size", c.type_vocab_size}, {"span_hidden_size", c.span_hidden_size},
                      {"max_span_width", c.max_span_width}, {"reader_beam_size", c.reader_beam_size},
                      {"reader_seq_len", c.reader_seq_len}, {"searcher_beam_size", c.searcher_beam_size}}) {
    if (absl::Status s = positive(f, v); !s.ok()) return s;
  }
  for (auto [f, v] : {std::pair<const char*, double>{"hidden_dropout_prob", c.hidden_dropout_prob},
                      {"attention_probs_dropout_prob", c.attention_probs_dropout_prob}}) {
    if (!(v >= 0 && v < 1)) return absl::InvalidArgumentError(absl::StrCat(name, ": ", f, " must be in [0, 1), got ", v));
  }
  if (!(c.initializer_range > 0 && c.initializer_range < 10)) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": initializer_range must be in (0, 10), got ", c.initializer_range));
  }
  if (c.hidden_size % c.num_attention_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": hidden_size ", c.hidden_size,
                                                   " is not a multiple of num_attention_heads ",
                                                   c.num_attention_heads));
  }
  if (c.hidden_act != "gelu" && c.hidden_act != "gelu_new") {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": hidden_act '", c.hidden_act, "' is not supported (gelu, gelu_new)"));
  }
  if (c.reader_question_match && c.type_vocab_size < 3) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": reader_question_match needs type_vocab_size >= 3, got ",
                                                   c.type_vocab_size));
  }
  if (c.reader_word_shape && c.type_vocab_size < 5) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": reader_word_shape needs type_vocab_size >= 5, got ",
                                                   c.type_vocab_size));
  }
  if (c.reader_seq_len > c.max_position_embeddings) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": reader_seq_len ", c.reader_seq_len,
                                                   " exceeds max_position_embeddings ",
                                                   c.max_position_embeddings));
  }
  return c;
}

absl::StatusOr<RealmConfig> ReadRealmConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open config"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseRealmConfig(ss.str(), path);
}

BertInit BertInitOf(const std::string& name) {
  if (name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0) return BertInit::kZero;
  if (name.find("LayerNorm") != std::string::npos || name.find("layer_normalization") != std::string::npos) {
    return BertInit::kOne;
  }
  return BertInit::kNormal;
}

absl::StatusOr<Precision> ParsePrecision(const std::string& name) {
  for (Precision p : {Precision::kFP32, Precision::kBF16, Precision::kInt8}) {
    if (name == PrecisionName(p)) return p;
  }
  return absl::InvalidArgumentError(absl::StrCat("precision '", name, "' is not one of fp32, bf16, int8"));
}

absl::Status ParsePrecisionFlag(const std::string& value, Precision* out) {
  auto p = ParsePrecision(value);
  if (!p.ok()) return absl::InvalidArgumentError(absl::StrCat("--precision: ", p.status().message()));
  *out = *p;
  return absl::OkStatus();
}

const char* PrecisionName(Precision precision) {
  switch (precision) {
    case Precision::kFP32: return "fp32";
    case Precision::kBF16: return "bf16";
    case Precision::kInt8: return "int8";
  }
  return "";
}

}  // namespace orqa
