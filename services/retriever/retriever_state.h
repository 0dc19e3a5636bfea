#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/index/block_store.h"
#include "common/index/searcher.h"
#include "common/model/precision.h"
#include "common/model/text_embedder.h"

namespace orqa {

/// Everything one shard serves, immutable once built; a reload builds a new
/// one and swaps the pointer, so in-flight requests finish on the old state.
struct RetrieverState {
  std::shared_ptr<TextEmbedder> embedder;
  std::shared_ptr<BlockStore> blocks;
  std::shared_ptr<Searcher> searcher;
  /// Rows of this shard (a view kept alive for return_vectors), global id of its first row.
  EmbeddingMatrix embeddings;
  int64_t first_block_id = 0;
  int64_t total_blocks = 0;
  std::string embeddings_path, embeddings_version;
  int64_t loaded_at_unix_s = 0;
};

/// What to load; an empty field takes the value from `base` (for Reload).
struct RetrieverSources {
  std::string model_dir, weights_path, blocks_path, embeddings_path;
  /// The question embedder's arithmetic (RetrieverOptions::precision).
  Precision precision = Precision::kFP32;
};

/// Loads and checks a state: embedder dim = embeddings dim, block store size =
/// embeddings rows, then builds the shard's searcher and runs a warm-up query.
/// Errors name the file and the mismatch.
absl::StatusOr<std::shared_ptr<const RetrieverState>> LoadRetrieverState(
    const RetrieverSources& sources, const std::shared_ptr<const RetrieverState>& base, int shard_index,
    int num_shards, const SearcherOptions& searcher_options);

}  // namespace orqa
