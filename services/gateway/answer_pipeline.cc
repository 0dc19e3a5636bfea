#include "services/gateway/answer_pipeline.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <map>

#include "common/infra/request_id.h"
#include "absl/strings/str_cat.h"
#include "common/index/fusion.h"
#include "common/index/topk_merge.h"
#include "common/infra/status_util.h"
#include "services/gateway/fan_out.h"

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
    auto ctx = BackendContext(server_ctx);
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

// One retrieval mode's calls to every shard, in flight on a FanOut.
struct AnswerPipeline::PendingRetrieval {
  orqa::v1::RetrievalMode mode;
  bool by_vector = false;  // Search with one embedding (dense, several shards) instead of Retrieve
  std::vector<orqa::v1::RetrieveRequest> retrieve_req;
  std::vector<orqa::v1::RetrieveResponse> retrieve_resp;
  std::vector<orqa::v1::SearchRequest> search_req;
  std::vector<orqa::v1::SearchResponse> search_resp;
  std::vector<size_t> calls;  // FanOut index per shard
  double embed_ms = -1;
  std::chrono::steady_clock::time_point started;
};

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
  {
    // Every shard call of both modes in flight at once on gRPC's callback
    // API (no thread per shard); the dense embedding is computed while the
    // sparse calls run.
    // (The pending calls' requests and responses outlive the FanOut, whose
    // destructor waits for calls still running after an early return.)
    PendingRetrieval sparse, dense;
    FanOut fan(*context);
    const bool hybrid = p.mode == orqa::v1::RETRIEVAL_MODE_HYBRID;
    const bool want_sparse = hybrid || p.mode == orqa::v1::RETRIEVAL_MODE_SPARSE;
    const bool want_dense = hybrid || p.mode == orqa::v1::RETRIEVAL_MODE_DENSE;
    if (want_sparse) {
      absl::Status st = StartRetrieval(context, p.question, shard_k, orqa::v1::RETRIEVAL_MODE_SPARSE, &fan, &sparse);
      if (!st.ok()) return st;
    }
    if (want_dense) {
      absl::Status st = StartRetrieval(context, p.question, shard_k, orqa::v1::RETRIEVAL_MODE_DENSE, &fan, &dense);
      if (!st.ok()) return st;
    }
    fan.Wait();
    absl::StatusOr<ScoredIds> dense_ids, sparse_ids;
    if (want_dense) {
      dense_ids = FinishRetrieval(dense, fan, p.k, &blocks, &embed_ms, &search_ms);
      if (!dense_ids.ok()) return dense_ids.status();
    }
    if (want_sparse) {
      sparse_ids = FinishRetrieval(sparse, fan, p.k, &blocks, &embed_ms, &search_ms);
      if (!sparse_ids.ok()) return sparse_ids.status();
    }
    if (hybrid) {
      merged = fusion_.weighted ? WeightedScoreFusion(*dense_ids, *sparse_ids, fusion_.dense_weight, p.k)
                                : ReciprocalRankFusion(*dense_ids, *sparse_ids, p.k, fusion_.rrf_c);
    } else {
      merged = std::move(p.mode == orqa::v1::RETRIEVAL_MODE_SPARSE ? *sparse_ids : *dense_ids);
    }
  }
  double retrieve_ms = MsSince(t_retrieve);

  // 2. Read the merged blocks.
  auto t_read = std::chrono::steady_clock::now();
  orqa::v1::ReadRequest read;
  read.set_question(p.question);
  read.set_num_spans(p.num_answers);
  // Only dense scores are on the scale the reader adds to its span scores.
  read.set_reader_score_only(p.mode != orqa::v1::RETRIEVAL_MODE_DENSE);
  const size_t to_read = p.read_k > 0 ? std::min<size_t>(p.read_k, merged.ids.size()) : merged.ids.size();
  for (size_t j = 0; j < to_read; ++j) {
    *read.add_blocks() = blocks[merged.ids[j]];
    read.mutable_blocks(static_cast<int>(j))->set_retrieval_score(merged.scores[j]);
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


absl::Status AnswerPipeline::StartRetrieval(grpc::ServerContext* context, const std::string& question,
                                            const std::vector<int>& shard_k, orqa::v1::RetrievalMode mode,
                                            FanOut* fan, PendingRetrieval* r) const {
  const size_t shards = shard_k.size();
  r->mode = mode;
  r->by_vector = shards > 1 && mode != orqa::v1::RETRIEVAL_MODE_SPARSE;
  if (r->by_vector) {
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
    r->embed_ms = resp.embed_ms();
    r->search_req.resize(shards);
    r->search_resp.resize(shards);
    for (size_t i = 0; i < shards; ++i) {
      *r->search_req[i].add_queries()->mutable_values() = resp.query_vector();
      r->search_req[i].set_k(shard_k[i]);
      r->search_req[i].set_return_texts(true);
    }
  } else {
    r->retrieve_req.resize(shards);
    r->retrieve_resp.resize(shards);
    for (size_t i = 0; i < shards; ++i) {
      r->retrieve_req[i].set_question(question);
      r->retrieve_req[i].set_k(shard_k[i]);
      r->retrieve_req[i].set_return_texts(true);
      r->retrieve_req[i].set_mode(mode);
    }
  }
  r->started = std::chrono::steady_clock::now();
  for (size_t i = 0; i < shards; ++i) {
    auto* stub = backends_->retriever(i).async();
    FanOut::Start start;
    if (r->by_vector) {
      start = [stub, req = &r->search_req[i], resp = &r->search_resp[i]](grpc::ClientContext* ctx, auto done) {
        resp->Clear();
        stub->Search(ctx, req, resp, std::move(done));
      };
    } else {
      start = [stub, req = &r->retrieve_req[i], resp = &r->retrieve_resp[i]](grpc::ClientContext* ctx, auto done) {
        resp->Clear();
        stub->Retrieve(ctx, req, resp, std::move(done));
      };
    }
    r->calls.push_back(fan->Add(&backends_->retriever_channel(i), std::move(start)));
  }
  return absl::OkStatus();
}

absl::StatusOr<ScoredIds> AnswerPipeline::FinishRetrieval(PendingRetrieval& r, const FanOut& fan, int k,
                                                          std::map<int64_t, orqa::v1::Block>* blocks,
                                                          double* embed_ms, double* search_ms) const {
  std::vector<ScoredIds> parts;
  absl::Status failure;
  double reported_search_ms = -1;
  *embed_ms = std::max(*embed_ms, r.embed_ms);
  for (size_t i = 0; i < r.calls.size(); ++i) {
    const grpc::Status& st = fan.status(r.calls[i]);
    if (!st.ok()) {
      if (failure.ok()) failure = DownstreamError(st, absl::StrCat("retriever shard ", i), backends_->retriever_address(i));
      continue;
    }
    google::protobuf::RepeatedPtrField<orqa::v1::Block>* shard_blocks;
    if (r.by_vector) {
      if (r.search_resp[i].results_size() != 1) {
        if (failure.ok()) {
          failure = absl::InternalError(absl::StrCat("retriever shard ", i, " at ", backends_->retriever_address(i),
                                                     " answered one query with ", r.search_resp[i].results_size(),
                                                     " results"));
        }
        continue;
      }
      shard_blocks = r.search_resp[i].mutable_results(0)->mutable_blocks();
    } else {
      shard_blocks = r.retrieve_resp[i].mutable_blocks();
      *embed_ms = std::max(*embed_ms, r.retrieve_resp[i].embed_ms());
      reported_search_ms = std::max(reported_search_ms, r.retrieve_resp[i].search_ms());
    }
    ScoredIds part;
    for (auto& b : *shard_blocks) {
      part.ids.push_back(b.id());
      part.scores.push_back(b.retrieval_score());
      (*blocks)[b.id()] = std::move(b);
    }
    parts.push_back(std::move(part));
  }
  // The shards' own search time where they report it (Retrieve), else the
  // fan-out's wall time (Search).
  *search_ms = std::max(*search_ms, reported_search_ms >= 0 ? reported_search_ms : MsSince(r.started));
  if (!failure.ok()) return failure;
  return MergeTopK(parts, k);
}

}  // namespace orqa
