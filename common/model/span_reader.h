#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/precision.h"
#include "common/model/realm_config.h"
#include "common/text/wordpiece_tokenizer.h"

namespace orqa {

/// One block to read: its text and its retrieval logit.
struct ReaderBlock {
  int64_t id = 0;
  std::string text;
  float retrieval_score = 0;
};

/// One question with its retrieved blocks.
struct ReaderQuery {
  std::string question;
  std::vector<ReaderBlock> blocks;
  int num_spans = 1;
};

/// An answer span, mapped back to the original block text.
struct ReaderSpan {
  int block_index = 0;
  int64_t block_id = 0;
  int start_token = 0, end_token = 0;  // positions in [CLS] q [SEP] block [SEP]
  int char_begin = 0, char_end = 0;    // code points into the block text, [begin, end)
  std::string text;                     // original characters of the block
  float reader_score = 0, retrieval_score = 0, score = 0;
};

/// The REALM reader ready to serve: builds `[CLS] question [SEP] block [SEP]`
/// exactly as the reference (question round trip, longest_first truncation to
/// reader_seq_len, padding to the longest), scores every span of up to
/// max_span_width tokens inside the blocks, adds each block's retrieval logit
/// and returns the best spans with their original, cased text. Several
/// queries run as one padded forward pass.
class SpanReader {
 public:
  /// `model_dir` holds config.json and vocab.txt; weights as for TextEmbedder
  /// (keys prefixed `reader.` in a RealmForOpenQA checkpoint, or not).
  /// `precision`: the encoder's dense layers at fp32 (matches the goldens),
  /// bf16 or int8 (faster; see precision.h).
  static absl::StatusOr<std::shared_ptr<SpanReader>> Load(const std::string& model_dir,
                                                          const std::string& weights_path = "",
                                                          Precision precision = Precision::kFP32);
  ~SpanReader();

  /// Reads all queries in one forward pass; `tokens` gets the number of
  /// non-padding tokens processed.
  std::vector<std::vector<ReaderSpan>> Read(const std::vector<const ReaderQuery*>& queries,
                                            int64_t* tokens = nullptr) const;

  const RealmConfig& config() const;
  /// Most rows (question-block pairs) one forward pass takes; Read runs more
  /// in passes of this size. Default: DefaultMaxReaderRows(config).
  int max_rows_per_forward() const { return max_rows_; }
  void set_max_rows_per_forward(int rows) { max_rows_ = rows > 0 ? rows : 1; }
  const std::string& version() const { return version_; }
  const std::string& weights_path() const { return weights_path_; }
  /// What the encoder runs at on this CPU: the requested precision and what
  /// replaced it where the CPU cannot (PrecisionPlan::summary).
  const std::string& arithmetic() const { return arithmetic_; }

 private:
  SpanReader() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string version_, weights_path_, arithmetic_;
  int max_rows_ = 1;
};

/// Rows per forward pass (and per dynamic batch) by default: 2,048 tokens'
/// worth, max(1, 2048 / reader_seq_len) — 7 rows of 288 for BERT-base, 32 of
/// 64 for realm-tiny. On CPU a BERT-base forward gains nothing per row from
/// more rows (measured 313 ms per row at 1 row, 326 at 5, 329 at 10, 339 at 40,
/// with large tensors kept in the heap), and batching two five-block requests
/// only made both wait for the pair (0.62 against 0.70 answers/s unbatched at
/// 4 clients); small models still batch many requests into one pass.
int DefaultMaxReaderRows(const RealmConfig& config);

}  // namespace orqa
