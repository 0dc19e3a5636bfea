#include "services/trainer/retriever_client.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/index/topk_merge.h"
#include "common/infra/status_util.h"

namespace orqa {

RetrieverClient::RetrieverClient(std::vector<std::string> addresses, int attempts, const TlsCalling& tls)
    : addresses_(std::move(addresses)), attempts_(std::max(1, attempts)) {
  for (const auto& a : addresses_) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    args.SetMaxReceiveMessageSize(256 << 20);  // 5000 blocks with texts and vectors
    stubs_.push_back(orqa::v1::Retriever::NewStub(grpc::CreateCustomChannel(a, MakeChannelCredentials(tls), args)));
  }
  shard_blocks_.assign(stubs_.size(), 0);
}

template <typename Call>
absl::Status RetrieverClient::WithRetry(size_t shard, const std::string& what, Call&& call) {
  grpc::Status st;
  auto pause = std::chrono::milliseconds(500);
  for (int attempt = 1; attempt <= attempts_; ++attempt) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    st = call(&ctx);
    if (st.ok() || st.error_code() != grpc::StatusCode::UNAVAILABLE) break;
    if (attempt < attempts_) {
      std::this_thread::sleep_for(pause);
      pause *= 2;
    }
  }
  if (st.ok()) return absl::OkStatus();
  absl::Status s = FromGrpcStatus(st);
  return absl::Status(s.code(), absl::StrCat(what, " on retriever shard ", shard, " at ", addresses_[shard],
                                             st.error_code() == grpc::StatusCode::UNAVAILABLE
                                                 ? absl::StrCat(" failed after ", attempts_, " tries (unavailable): ")
                                                 : ": ",
                                             st.error_message()));
}

absl::Status RetrieverClient::RefreshForModel(int proj_size) {
  if (absl::Status st = Refresh(); !st.ok()) return st;
  if (dim_ != proj_size) {
    return absl::FailedPreconditionError(absl::StrCat("the retriever serves ", dim_,
                                                      "-dimensional embeddings but the model projects to ", proj_size));
  }
  return absl::OkStatus();
}

absl::Status RetrieverClient::Refresh() {
  int64_t total = 0;
  for (size_t i = 0; i < stubs_.size(); ++i) {
    orqa::v1::RetrieverInfo info;
    absl::Status st = WithRetry(i, "GetInfo", [&](grpc::ClientContext* ctx) { return stubs_[i]->GetInfo(ctx, {}, &info); });
    if (!st.ok()) return st;
    if (!info.ready()) {
      return absl::FailedPreconditionError(absl::StrCat("retriever shard ", i, " at ", addresses_[i], " is not ready"));
    }
    if (i > 0 && info.dim() != dim_) {
      return absl::FailedPreconditionError(absl::StrCat("retriever shard ", i, " has dimension ", info.dim(),
                                                        ", shard 0 has ", dim_));
    }
    dim_ = info.dim();
    shard_blocks_[i] = info.num_blocks();
    total += info.num_blocks();
  }
  total_blocks_ = total;
  return absl::OkStatus();
}

namespace {

using BlockList = google::protobuf::RepeatedPtrField<orqa::v1::Block>;

// The exact top k over per-shard lists (by score, ties by id), with texts and vectors.
absl::StatusOr<RetrievedBlocks> MergeShards(const std::vector<const BlockList*>& lists, int k, bool with_vectors,
                                            int dim) {
  std::vector<ScoredIds> parts;
  std::map<int64_t, const orqa::v1::Block*> by_id;
  for (const BlockList* list : lists) {
    ScoredIds part;
    for (const auto& b : *list) {
      part.ids.push_back(b.id());
      part.scores.push_back(b.retrieval_score());
      by_id[b.id()] = &b;
    }
    parts.push_back(std::move(part));
  }
  ScoredIds merged = parts.size() == 1 ? parts[0] : MergeTopK(parts, k);
  RetrievedBlocks out;
  out.ids = merged.ids;
  out.scores = merged.scores;
  for (int64_t id : merged.ids) {
    const orqa::v1::Block& b = *by_id.at(id);
    out.titles.push_back(b.title());
    out.texts.push_back(b.text());
    if (!with_vectors) continue;
    if (b.embedding_size() != dim) {
      return absl::InternalError(absl::StrCat("retriever returned a vector of ", b.embedding_size(), " floats for block ",
                                              id, ", expected ", dim));
    }
    out.vectors.insert(out.vectors.end(), b.embedding().begin(), b.embedding().end());
  }
  return out;
}

}  // namespace

absl::StatusOr<RetrievedBlocks> RetrieverClient::Search(const std::vector<float>& q, int k, bool with_vectors) {
  std::vector<orqa::v1::SearchResponse> responses(stubs_.size());
  std::vector<const BlockList*> lists;
  for (size_t i = 0; i < stubs_.size(); ++i) {
    orqa::v1::SearchRequest req;
    req.add_queries()->mutable_values()->Assign(q.begin(), q.end());
    req.set_k(static_cast<int>(std::min<int64_t>(k, shard_blocks_[i])));
    req.set_return_texts(true);
    req.set_return_vectors(with_vectors);
    absl::Status st =
        WithRetry(i, "Search", [&](grpc::ClientContext* ctx) { return stubs_[i]->Search(ctx, req, &responses[i]); });
    if (!st.ok()) return st;
    if (responses[i].results_size() != 1) {
      return absl::InternalError(absl::StrCat("retriever shard ", i, " returned ", responses[i].results_size(),
                                              " results for 1 query"));
    }
    lists.push_back(&responses[i].results(0).blocks());
  }
  return MergeShards(lists, k, with_vectors, dim_);
}

absl::StatusOr<RetrievedBlocks> RetrieverClient::Retrieve(const std::string& question, int k,
                                                           orqa::v1::RetrievalMode mode, bool with_vectors) {
  std::vector<orqa::v1::RetrieveResponse> responses(stubs_.size());
  std::vector<const BlockList*> lists;
  for (size_t i = 0; i < stubs_.size(); ++i) {
    orqa::v1::RetrieveRequest req;
    req.set_question(question);
    req.set_k(static_cast<int>(std::min<int64_t>(k, shard_blocks_[i])));
    req.set_return_texts(true);
    req.set_return_vectors(with_vectors);
    req.set_mode(mode);
    absl::Status st =
        WithRetry(i, "Retrieve", [&](grpc::ClientContext* ctx) { return stubs_[i]->Retrieve(ctx, req, &responses[i]); });
    if (!st.ok()) return st;
    lists.push_back(&responses[i].blocks());
  }
  return MergeShards(lists, k, with_vectors, dim_);
}

absl::StatusOr<orqa::v1::ReloadResponse> RetrieverClient::Reload(size_t i, const orqa::v1::ReloadRequest& request) {
  orqa::v1::ReloadResponse resp;
  absl::Status st = WithRetry(i, "Reload", [&](grpc::ClientContext* ctx) { return stubs_[i]->Reload(ctx, request, &resp); });
  if (!st.ok()) return st;
  return resp;
}

}  // namespace orqa
