#include "services/retriever/retriever_state.h"

#include <ctime>

#include "absl/strings/str_cat.h"
#include "common/model/text_embedder.h"

namespace orqa {

absl::StatusOr<std::shared_ptr<const RetrieverState>> LoadRetrieverState(
    const RetrieverSources& src, const std::shared_ptr<const RetrieverState>& base, int shard_index,
    int num_shards, const SearcherOptions& searcher_options) {
  auto s = std::make_shared<RetrieverState>();
  if (base) *s = *base;
  if (!src.model_dir.empty()) {
    auto e = TextEmbedder::Load(src.model_dir, src.weights_path, src.precision);
    if (!e.ok()) return e.status();
    s->embedder = *e;
  }
  if (!src.blocks_path.empty()) {
    auto b = BlockStore::Open(src.blocks_path);
    if (!b.ok()) return b.status();
    s->blocks = *b;
  }
  const bool new_embeddings = !src.embeddings_path.empty();
  EmbeddingMatrix full;
  bool shard_file = false;
  if (new_embeddings) {
    auto m = OpenEmbeddings(src.embeddings_path);
    if (!m.ok()) return m.status();
    full = *m;
    s->embeddings_path = src.embeddings_path;
    s->embeddings_version = WeightsVersion(src.embeddings_path);
    s->total_blocks = full.rows();
    // A file holding just this shard's rows (orqa embed-blocks --shard-index)
    // stands for the whole matrix's slice.
    if (s->blocks && num_shards > 1 && full.rows() != s->blocks->size() && s->blocks->size() >= num_shards) {
      auto [begin, end] = ShardRange(s->blocks->size(), shard_index, num_shards);
      if (full.rows() == end - begin) {
        shard_file = true;
        s->total_blocks = s->blocks->size();
      }
    }
  }
  if (!s->embedder || !s->blocks || (!new_embeddings && !s->searcher)) {
    return absl::FailedPreconditionError("a model directory, a block store and block embeddings are all required");
  }
  const int64_t total = s->total_blocks;
  if (s->blocks->size() != total) {
    return absl::FailedPreconditionError(absl::StrCat("block store ", s->blocks->path(), " holds ",
                                                      s->blocks->size(), " blocks but the embeddings ",
                                                      s->embeddings_path, " have ", total, " rows"));
  }
  if (new_embeddings) {
    if (full.dim() != s->embedder->dim()) {
      return absl::FailedPreconditionError(absl::StrCat(src.embeddings_path, ": embeddings have dimension ",
                                                        full.dim(), " but the embedder projects to ",
                                                        s->embedder->dim()));
    }
    const auto range = CheckedShardRange(total, shard_index, num_shards);
    if (!range.ok()) return absl::FailedPreconditionError(range.status().message());
    const auto [begin, end] = *range;
    s->first_block_id = begin;
    s->embeddings = shard_file ? full : SliceRows(full, begin, end);
    auto searcher = MakeSearcher(s->embeddings, searcher_options);
    if (!searcher.ok()) return searcher.status();
    s->searcher = std::move(*searcher);
    // A searcher holding its own copy lets the kernel drop the mapped pages it
    // read (they come back from the file if return_vectors touches a row); a
    // re-ranking one reads candidate rows from them at every search, so they
    // stay cached (clean file pages: the kernel still reclaims them under
    // memory pressure, and a re-ranked row is then read from disk).
    if (!s->searcher->reads_source_rows()) ReleasePages(s->embeddings.view);
  } else if (s->embedder->dim() != s->searcher->dim()) {
    return absl::FailedPreconditionError(absl::StrCat("the new embedder projects to ", s->embedder->dim(),
                                                      " but the loaded embeddings have dimension ",
                                                      s->searcher->dim()));
  }
  // Warm-up: the first forward and search are slow; do them before serving.
  std::vector<float> q = s->embedder->EmbedQuestions({"warm up the retriever"});
  std::vector<float> scores(1);
  std::vector<int64_t> ids(1);
  absl::Status st = s->searcher->Search(q.data(), 1, 1, scores.data(), ids.data());
  if (!st.ok()) return st;
  s->loaded_at_unix_s = static_cast<int64_t>(std::time(nullptr));
  return std::shared_ptr<const RetrieverState>(s);
}

}  // namespace orqa
