#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/model_dir.h"
#include "common/model/precision.h"
#include "common/model/realm_config.h"
#include "common/text/wordpiece_tokenizer.h"

namespace orqa {

/// A REALM embedder ready to serve: config, vocabulary and weights from a
/// model directory, inference only, safe for concurrent use.
class TextEmbedder {
 public:
  /// `model_dir` holds config.json and vocab.txt; weights come from
  /// `weights_path` when given, else model.safetensors or pytorch_model.bin in
  /// the directory. The embedder's keys may be prefixed `embedder.` (a
  /// RealmForOpenQA checkpoint) or not (a standalone RealmEmbedder).
  /// `precision` as for SpanReader::Load.
  static absl::StatusOr<std::shared_ptr<TextEmbedder>> Load(const std::string& model_dir,
                                                            const std::string& weights_path = "",
                                                            Precision precision = Precision::kFP32);
  ~TextEmbedder();

  /// Questions as `[CLS] q [SEP]`, padded together: [n, dim] float32, row-major.
  std::vector<float> EmbedQuestions(const std::vector<std::string>& questions) const;
  /// Blocks as `[CLS] title [SEP] text [SEP]` (or `[CLS] text [SEP]` when the
  /// title is empty), truncated to `max_length` tokens.
  std::vector<float> EmbedBlocks(const std::vector<std::string>& titles, const std::vector<std::string>& texts,
                                 int max_length) const;

  int dim() const;
  const RealmConfig& config() const;
  const WordPieceTokenizer& tokenizer() const;
  /// Identifies the weights: file name, size and a checksum of its head.
  const std::string& version() const { return version_; }
  const std::string& weights_path() const { return weights_path_; }
  /// What the encoder runs at on this CPU: the requested precision and what
  /// replaced it where the CPU cannot (PrecisionPlan::summary).
  const std::string& arithmetic() const { return arithmetic_; }

 private:
  TextEmbedder() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string version_, weights_path_, arithmetic_;
};

}  // namespace orqa
