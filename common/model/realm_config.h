#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace orqa {

/// BERT's initialisation of a parameter, by its name: biases 0, LayerNorm
/// (TF: layer_normalization) scales and offsets 1 and 0 — both end in "bias"
/// or not —, every other weight ~ N(0, initializer_range). The rule `orqa
/// init-model` and `orqa convert --init-missing` share.
enum class BertInit { kZero, kOne, kNormal };
BertInit BertInitOf(const std::string& name);

/// The RealmConfig fields orqa uses, read from a Hugging Face config.json.
/// Defaults are RealmConfig's.
struct RealmConfig {
  int vocab_size = 30522;
  int hidden_size = 768;
  int retriever_proj_size = 128;
  int num_hidden_layers = 12;
  int num_attention_heads = 12;
  int num_candidates = 8;
  int intermediate_size = 3072;
  /// "gelu" (exact erf form) or "gelu_new" (tanh approximation).
  std::string hidden_act = "gelu_new";
  int max_position_embeddings = 512;
  int type_vocab_size = 2;
  double layer_norm_eps = 1e-12;
  int span_hidden_size = 256;
  int max_span_width = 10;
  double reader_layer_norm_eps = 1e-3;
  int reader_beam_size = 5;
  int reader_seq_len = 320;
  int num_block_records = 13353718;
  int searcher_beam_size = 5000;
  /// Dropout after embeddings and each residual branch, and on attention
  /// probabilities; applied only while a module is in training mode.
  double hidden_dropout_prob = 0.1;
  double attention_probs_dropout_prob = 0.1;
  /// Standard deviation of freshly initialised weights.
  double initializer_range = 0.02;
  /// orqa's addition, off in every released checkpoint: the reader gives
  /// each block word that also occurs in the question (stop words and
  /// punctuation aside) token type 2 instead of 1, the "exact match" input
  /// feature of DrQA-style readers. Needs type_vocab_size >= 3. It lets a
  /// reader trained from nothing on a few thousand questions find where a
  /// paragraph talks about the question, which pre-trained BERT knows.
  bool reader_question_match = false;
  /// orqa's addition, off in every released checkpoint: the reader gives each
  /// block word not marked by the question match a shape type — 3 when it
  /// holds a digit, 4 when it starts with an upper-case letter in the
  /// original text (the uncased vocabulary loses that) — the shape features
  /// of feature-based SQuAD readers, so that a reader trained from nothing can
  /// tell numbers and names from the words of its few questions. Needs
  /// type_vocab_size >= 5.
  bool reader_word_shape = false;

  int head_dim() const { return hidden_size / num_attention_heads; }
};

/// Parses config.json; unknown fields are ignored, wrong types and
/// impossible values (hidden_size not divisible by heads, ...) are errors
/// naming the field.
absl::StatusOr<RealmConfig> ReadRealmConfig(const std::string& path);
absl::StatusOr<RealmConfig> ParseRealmConfig(const std::string& json_text, const std::string& name);

}  // namespace orqa
