#include "services/gateway/answer_pipeline.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <future>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/index/fusion.h"
#include "common/index/topk_merge.h"
#include "common/infra/status_util.h"

namespace orqa {
namespace {

double MsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

// Calls `rpc` with a fresh client context that inherits the server call's
// deadline and cancellation (`response` cleared first); if it fails
// UNAVAILABLE because the channel is still backing off from an earlier
// failure (a backend that just restarted), waits up to a second (within the
// deadline) for the channel to connect and tries once more.
template <typename Response, typename Rpc>
grpc::Status CallBackend(grpc::Channel& channel, grpc::ServerContext& server_ctx, Response* response, Rpc&& rpc) {
  auto attempt = [&] {
    auto ctx = grpc::ClientContext::FromServerContext(server_ctx);
    response->Clear();
    return rpc(ctx.get());
  };
  grpc::Status st = attempt();
  if (st.error_code() != grpc::StatusCode::UNAVAILABLE) return st;
  auto limit = std::min(server_ctx.deadline(), std::chrono::system_clock::now() + std::chrono::seconds(1));
  if (!channel.WaitForConnected(limit)) return st;
  return attempt();
}

}  // namespace

absl::Status AnswerPipeline::Answer(grpc::ServerContext* context, const AnswerParams& p,
                                    orqa::v1::AnswerResponse* response) const {
  auto t_start = std::chrono::steady_clock::now();
  const size_t shards = backends_->num_shards();
  // Each shard is asked for at most the blocks it holds (sizes from the monitor's last poll).
  int64_t total_blocks = 0;
  bool sizes_known = true;
  std::vector<int> shard_k(shards, p.k);
  for (size_t i = 0; i < shards; ++i) {
    const int64_t blocks = backends_->shard_state(i).num_blocks;
    if (blocks > 0) shard_k[i] = static_cast<int>(std::min<int64_t>(p.k, blocks));
    sizes_known = sizes_known && blocks > 0;
    total_blocks += blocks;
  }
  if (sizes_known && p.k > total_blocks) {
    return absl::InvalidArgumentError(absl::StrCat("k: ", p.k, " exceeds the ", total_blocks, " blocks served"));
  }

  // 1. Retrieve on every shard in parallel (dense, sparse, or both for hybrid),
  //    each call inheriting the deadline; exact merge per mode, then fusion.
  auto t_retrieve = std::chrono::steady_clock::now();
  std::map<int64_t, orqa::v1::Block> blocks;
  double embed_ms = 0, search_ms = 0;
  ScoredIds merged;
  if (p.mode == orqa::v1::RETRIEVAL_MODE_HYBRID) {
    auto dense = std::async(std::launch::async, [&] {
      std::map<int64_t, orqa::v1::Block> b;
      double e = 0, s = 0;
      auto r = RetrieveAll(context, p.question, p.k, shard_k, orqa::v1::RETRIEVAL_MODE_DENSE, &b, &e, &s);
      return std::make_tuple(std::move(r), std::move(b), e, s);
    });
    auto sparse = RetrieveAll(context, p.question, p.k, shard_k, orqa::v1::RETRIEVAL_MODE_SPARSE, &blocks, &embed_ms, &search_ms);
    auto [dense_ids, dense_blocks, e, s] = dense.get();
    if (!dense_ids.ok()) return dense_ids.status();
    if (!sparse.ok()) return sparse.status();
    blocks.insert(dense_blocks.begin(), dense_blocks.end());
    embed_ms = std::max(embed_ms, e);
    search_ms = std::max(search_ms, s);
    merged = fusion_.weighted ? WeightedScoreFusion(*dense_ids, *sparse, fusion_.dense_weight, p.k)
                              : ReciprocalRankFusion(*dense_ids, *sparse, p.k, fusion_.rrf_c);
  } else {
    auto r = RetrieveAll(context, p.question, p.k, shard_k, p.mode, &blocks, &embed_ms, &search_ms);
    if (!r.ok()) return r.status();
    merged = std::move(*r);
  }
  double retrieve_ms = MsSince(t_retrieve);

  // 2. Read the merged blocks.
  auto t_read = std::chrono::steady_clock::now();
  orqa::v1::ReadRequest read;
  read.set_question(p.question);
  read.set_num_spans(p.num_answers);
  const size_t to_read = p.read_k > 0 ? std::min<size_t>(p.read_k, merged.ids.size()) : merged.ids.size();
  for (size_t j = 0; j < to_read; ++j) {
    *read.add_blocks() = blocks[merged.ids[j]];
    // The reader adds the retrieval logit to its span scores: only the dense
    // score is on the scale it was trained with.
    read.mutable_blocks(static_cast<int>(j))
        ->set_retrieval_score(p.mode == orqa::v1::RETRIEVAL_MODE_DENSE ? merged.scores[j] : 0.0f);
  }
  orqa::v1::ReadResponse spans;
  if (read.blocks_size() > 0) {  // BM25 finds nothing for a question of stop words only
    grpc::Status st = CallBackend(backends_->reader_channel(), *context, &spans, [&](grpc::ClientContext* ctx) {
      return backends_->reader().Read(ctx, read, &spans);
    });
    if (!st.ok()) return DownstreamError(st, "reader", backends_->reader_address());
  }
  double read_ms = MsSince(t_read);

  // 3. Answers with their evidence, in the reader's order.
  for (const auto& s : spans.spans()) {
    const orqa::v1::Block& b = blocks[s.block_id()];
    auto* a = response->add_answers();
    a->set_text(s.text());
    a->set_score(s.score());
    a->set_reader_score(s.reader_score());
    a->set_retrieval_score(s.retrieval_score());
    auto* e = a->mutable_evidence();
    e->set_block_id(s.block_id());
    e->set_title(b.title());
    e->set_passage(b.text());
    e->set_answer_char_begin(s.char_begin());
    e->set_answer_char_end(s.char_end());
  }
  if (p.return_retrieved) {
    for (size_t j = 0; j < merged.ids.size(); ++j) {
      auto* b = response->add_retrieved();
      *b = blocks[merged.ids[j]];
      b->set_retrieval_score(merged.scores[j]);
    }
  }
  if (p.return_timings) {
    auto* t = response->mutable_timings();
    t->set_embed_ms(embed_ms);
    t->set_search_ms(search_ms);
    t->set_retrieve_ms(retrieve_ms);
    t->set_read_ms(read_ms);
    t->set_total_ms(MsSince(t_start));
  }
  if (shards > 0) response->set_embedder_version(backends_->shard_state(0).version);
  response->set_reader_version(backends_->reader_state().version);
  response->set_retrieval(p.mode);
  return absl::OkStatus();
}

absl::StatusOr<ScoredIds> AnswerPipeline::RetrieveAll(grpc::ServerContext* context, const std::string& question,
                                                      int k, const std::vector<int>& shard_k, orqa::v1::RetrievalMode mode,
                                                      std::map<int64_t, orqa::v1::Block>* blocks, double* embed_ms,
                                                      double* search_ms) const {
  const size_t shards = shard_k.size();
  // One call per shard, all in parallel: the shard's status, blocks (best
  // first) and timings as it reports them (-1: not reported).
  struct ShardResult {
    grpc::Status status;
    google::protobuf::RepeatedPtrField<orqa::v1::Block> blocks;
    double embed_ms = -1, search_ms = -1;
  };
  std::function<ShardResult(size_t)> call_shard;
  orqa::v1::Vector query;
  if (shards > 1 && mode != orqa::v1::RETRIEVAL_MODE_SPARSE) {
    // Dense over several shards: the question is embedded once (by the shards
    // in turn) and every shard searches with that vector.
    const size_t e = next_embedding_shard_.fetch_add(1) % shards;
    orqa::v1::RetrieveRequest req;
    req.set_question(question);
    req.set_embed_only(true);
    orqa::v1::RetrieveResponse resp;
    grpc::Status st = CallBackend(backends_->retriever_channel(e), *context, &resp, [&](grpc::ClientContext* ctx) {
      return backends_->retriever(e).Retrieve(ctx, req, &resp);
    });
    if (!st.ok()) return DownstreamError(st, absl::StrCat("retriever shard ", e), backends_->retriever_address(e));
    *embed_ms = resp.embed_ms();
    *query.mutable_values() = resp.query_vector();
    call_shard = [&](size_t i) {
      orqa::v1::SearchRequest req;
      *req.add_queries() = query;
      req.set_k(shard_k[i]);
      req.set_return_texts(true);
      orqa::v1::SearchResponse resp;
      grpc::Status st = CallBackend(backends_->retriever_channel(i), *context, &resp, [&](grpc::ClientContext* ctx) {
        return backends_->retriever(i).Search(ctx, req, &resp);
      });
      ShardResult r;
      r.status = st;
      if (st.ok() && resp.results_size() == 1) r.blocks.Swap(resp.mutable_results(0)->mutable_blocks());
      return r;
    };
  } else {
    call_shard = [&](size_t i) {
      orqa::v1::RetrieveRequest req;
      req.set_question(question);
      req.set_k(shard_k[i]);
      req.set_return_texts(true);
      req.set_mode(mode);
      orqa::v1::RetrieveResponse resp;
      grpc::Status st = CallBackend(backends_->retriever_channel(i), *context, &resp, [&](grpc::ClientContext* ctx) {
        return backends_->retriever(i).Retrieve(ctx, req, &resp);
      });
      ShardResult r;
      r.status = st;
      r.blocks.Swap(resp.mutable_blocks());
      r.embed_ms = resp.embed_ms();
      r.search_ms = resp.search_ms();
      return r;
    };
  }
  auto t_search = std::chrono::steady_clock::now();
  std::vector<std::future<ShardResult>> calls;
  for (size_t i = 0; i < shards; ++i) calls.push_back(std::async(std::launch::async, call_shard, i));
  std::vector<ScoredIds> parts;
  absl::Status failure;
  double reported_search_ms = -1;
  for (size_t i = 0; i < shards; ++i) {
    ShardResult r = calls[i].get();
    if (!r.status.ok()) {
      if (failure.ok()) {
        failure = DownstreamError(r.status, absl::StrCat("retriever shard ", i), backends_->retriever_address(i));
      }
      continue;
    }
    ScoredIds part;
    for (const auto& b : r.blocks) {
      part.ids.push_back(b.id());
      part.scores.push_back(b.retrieval_score());
      (*blocks)[b.id()] = b;
    }
    parts.push_back(std::move(part));
    *embed_ms = std::max(*embed_ms, r.embed_ms);
    reported_search_ms = std::max(reported_search_ms, r.search_ms);
  }
  // The shards' own search time where they report it (Retrieve), else the
  // fan-out's wall time (Search).
  *search_ms = reported_search_ms >= 0 ? reported_search_ms : MsSince(t_search);
  if (!failure.ok()) return failure;
  return MergeTopK(parts, k);
}

}  // namespace orqa
