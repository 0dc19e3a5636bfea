#include "services/trainer/build_index_job.h"

#include <chrono>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/index/block_store.h"
#include "common/index/embeddings.h"
#include "common/model/text_embedder.h"
#include "common/train/block_embedding.h"
#include "services/trainer/job_manager.h"
#include "services/trainer/retriever_client.h"
#include "services/trainer/trainer_metrics.h"

namespace orqa {

absl::Status RunBuildIndex(JobContext& ctx, RetrieverClient& retriever, TrainerMetrics* metrics) {
  const orqa::v1::Job start = ctx.Snapshot();
  const orqa::v1::JobSpec& spec = start.spec();
  auto precision = ParsePrecision(spec.precision().empty() ? "fp32" : spec.precision());
  if (!precision.ok()) return precision.status();
  auto embedder = TextEmbedder::Load(spec.model_dir(), spec.weights_path(), *precision);
  if (!embedder.ok()) return embedder.status();
  auto store = BlockStore::Open(spec.blocks_path());
  if (!store.ok()) return store.status();
  EmbedBlocksOptions o;
  if (spec.num_shards() > 0) {
    const auto range = CheckedShardRange((*store)->size(), spec.shard_index(), spec.num_shards());
    if (!range.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("num_shards: ", range.status().message(), " (", spec.blocks_path(), ")"));
    }
    std::tie(o.begin, o.end) = *range;
  }
  o.batch_size = spec.batch_size() > 0 ? spec.batch_size() : 16;
  o.max_length = spec.max_block_length() > 0 ? spec.max_block_length() : 288;
  const int64_t total = (o.end < 0 ? (*store)->size() : o.end) - o.begin;
  ctx.Update([&](orqa::v1::Job* j) {
    j->set_total(total);
    j->set_output_path(spec.embeddings_path());
  }, absl::StrCat("embedding ", total, " blocks with ", (*embedder)->version()), true);

  auto started = std::chrono::steady_clock::now();
  int64_t first = 0, counted = -1;  // rows found in the partial file; rows counted in metrics
  absl::Status st = EmbedBlocksToNpy(**embedder, **store, o, spec.embeddings_path(), [&](int64_t done, int64_t n) {
    if (counted < 0) counted = first;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const double rate = secs > 0 ? static_cast<double>(done - first) / secs : 0;
    const double eta = rate > 0 ? static_cast<double>(n - done) / rate : 0;
    if (metrics) metrics->BlocksEmbedded(done - counted, rate);
    counted = done;
    ctx.Update([&](orqa::v1::Job* j) {
      j->set_done(done);
      j->set_examples_per_second(rate);
      j->set_eta_s(eta);
    }, absl::StrFormat("embedded %d/%d blocks %.1f/s ETA %.0f s", done, n, rate, eta), false);
    return !ctx.cancelled() && !ctx.stopping();
  }, &first);
  if (!st.ok()) {
    if (st.code() != absl::StatusCode::kCancelled) return st;
    if (ctx.cancelled()) {
      std::remove((spec.embeddings_path() + ".partial").c_str());
      return st;
    }
    return absl::AbortedError(st.message());  // stopping: the partial file resumes
  }
  ctx.Update([&](orqa::v1::Job* j) { j->set_done(total); }, absl::StrCat("wrote ", spec.embeddings_path()), true);
  if (!spec.reload_retriever()) return absl::OkStatus();
  for (size_t i = 0; i < retriever.num_shards(); ++i) {
    orqa::v1::ReloadRequest req;
    req.set_embeddings_path(spec.embeddings_path());
    auto r = retriever.Reload(i, req);
    if (!r.ok()) return r.status();
    ctx.Update([](orqa::v1::Job*) {}, absl::StrCat("retriever shard ", i, " reloaded ", r->info().embeddings_version()),
               true);
  }
  return absl::OkStatus();
}

}  // namespace orqa
