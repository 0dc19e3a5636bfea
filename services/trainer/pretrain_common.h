#pragma once

#include <torch/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/realm_config.h"
#include "common/model/realm_models.h"
#include "common/train/checkpoint.h"
#include "common/text/wordpiece_tokenizer.h"
#include "orqa/v1/trainer.pb.h"

namespace orqa {

class BlockStore;

/// Pre-training text: the blocks of a store (ids 0…blocks-1), then the lines
/// of at least 40 bytes of a plain-text file (wikitext's headings are shorter).
class PretrainCorpus {
 public:
  static absl::StatusOr<PretrainCorpus> Open(const orqa::v1::JobSpec& spec);
  int64_t size() const;
  /// Title ("" for text lines) and text of passage i.
  std::pair<std::string, std::string> Get(int64_t i) const;
  /// The block store of blocks_path (null without one).
  const std::shared_ptr<BlockStore>& store() const { return store_; }

 private:
  std::shared_ptr<BlockStore> store_;
  std::vector<std::string> lines_;
};

/// Rows padded to the longest with `fill`; `mask` (if given) is 1 on real tokens.
torch::Tensor PadRows(const std::vector<std::vector<int64_t>>& rows, int64_t fill, torch::Tensor* mask = nullptr);

/// A block as the embedder sees it: `[CLS] title [SEP] text [SEP]` (types 0
/// then 1, longest-first truncation to `max_length`), or `[CLS] text [SEP]`
/// without a title.
struct BlockRow {
  std::vector<int64_t> ids, types;
};
BlockRow EncodeBlockRow(const WordPieceTokenizer& tok, const std::string& title, const std::string& text,
                        int max_length);

/// The model a pre-training job starts from: config, tokenizer, the whole
/// starting state (carried into every checkpoint) and the embedder, loaded strictly.
struct PretrainStart {
  RealmConfig config;
  std::unique_ptr<WordPieceTokenizer> tok;
  StateDict state;
  ModelDirFiles files;
  RealmEmbedder embedder{nullptr};
};
absl::StatusOr<PretrainStart> LoadPretrainStart(const std::string& dir, const std::string& weights);

/// A masked-LM head the starting weights do not hold (e.g. an `orqa
/// init-model` model): its transform's weight N(0, 0.02) drawn from the job's
/// seed, its bias zero. Not from the process's generator, whose state differs
/// between a trainer and each data-parallel rank: every rank, and one trainer
/// alone, start from the same head.
void InitFreshHeadTransform(const torch::Tensor& weight, const torch::Tensor& bias, int64_t seed);

}  // namespace orqa
