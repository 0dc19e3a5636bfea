#include "services/retriever/retriever_service.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/fetch/model_source.h"
#include "common/batching/batching_metrics.h"
#include "common/index/flat_scan.h"
#include "common/infra/deadline.h"
#include "common/infra/request_validation.h"
#include "common/infra/status_util.h"
#include "common/text/utf8.h"

namespace orqa {
namespace {

constexpr int kMaxK = 5000;
constexpr int kMaxSearchQueries = 1024;

double MsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}


absl::Status NotLoaded() {
  return absl::FailedPreconditionError(
      "no model loaded: start orqa-retriever with --model-dir, --blocks and --embeddings, or call Reload");
}

absl::Status CheckK(int k, int64_t shard_blocks) {
  if (k < 1 || k > kMaxK) return absl::InvalidArgumentError(absl::StrCat("k: expected 1..", kMaxK, ", got ", k));
  if (k > shard_blocks) {
    return absl::InvalidArgumentError(
        absl::StrCat("k: ", k, " exceeds the ", shard_blocks, " blocks this shard serves"));
  }
  return absl::OkStatus();
}

}  // namespace

RetrieverService::RetrieverService(const RetrieverOptions& options, Metrics* metrics) : options_(options) {
  auto& reg = metrics->registry();
  const prometheus::Labels labels = {{"service", metrics->service()}};
  embed_seconds_ = &prometheus::BuildHistogram().Name("orqa_retriever_embed_seconds")
                        .Help("Question embedding time per batch, in seconds.").Register(reg)
                        .Add(labels, Metrics::LatencyBuckets());
  search_seconds_ = &prometheus::BuildHistogram().Name("orqa_retriever_search_seconds")
                         .Help("Inner-product search time per batch, in seconds.").Register(reg)
                         .Add(labels, Metrics::LatencyBuckets());
  sparse_seconds_ = &prometheus::BuildHistogram().Name("orqa_retriever_sparse_search_seconds")
                         .Help("BM25 search time per question, in seconds.").Register(reg)
                         .Add(labels, Metrics::LatencyBuckets());
  blocks_ = &prometheus::BuildGauge().Name("orqa_retriever_blocks")
                 .Help("Blocks served by this shard.").Register(reg).Add(labels);
  index_bytes_ = &prometheus::BuildGauge().Name("orqa_retriever_index_bytes")
                      .Help("Bytes held by the search index.").Register(reg).Add(labels);
  model_info_ = &prometheus::BuildGauge().Name("orqa_retriever_model_info")
                     .Help("1 for the loaded embedder and embeddings versions.").Register(reg);
  reloads_ = &prometheus::BuildCounter().Name("orqa_retriever_reloads_total")
                  .Help("Reload calls by result.").Register(reg);

  batching_ = BatchingMetrics::Register(reg, "orqa_retriever", labels, "Retrieve");
  batcher_ = std::make_unique<Batcher<Query, Hits>>(
      options_.batching, [this](const std::vector<const Query*>& b) { return RunBatch(b); }, batching_.Observer());
}

RetrieverService::~RetrieverService() { batcher_.reset(); }

void RetrieverService::SetState(std::shared_ptr<const RetrieverState> state) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    state_ = state;
  }
  if (state) PublishStateMetrics(*state);
}

bool RetrieverService::ready() const { return Snapshot() != nullptr; }

std::shared_ptr<const RetrieverState> RetrieverService::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

void RetrieverService::PublishStateMetrics(const RetrieverState& s) {
  blocks_->Set(static_cast<double>(s.searcher->size()));
  index_bytes_->Set(static_cast<double>(s.searcher->memory_bytes()));
  if (current_model_info_) current_model_info_->Set(0);
  current_model_info_ = &model_info_->Add({{"embedder_version", s.embedder->version()},
                                           {"embeddings_version", s.embeddings_version}});
  current_model_info_->Set(1);
}

std::vector<absl::StatusOr<RetrieverService::Hits>> RetrieverService::RunBatch(
    const std::vector<const Query*>& batch) {
  auto state = Snapshot();
  std::vector<absl::StatusOr<Hits>> out;
  if (!state) {
    out.assign(batch.size(), NotLoaded());
    return out;
  }
  std::vector<std::string> questions;
  std::vector<int64_t> searched;  // the rows that search (k > 0; k = 0 only embeds)
  int max_k = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    questions.push_back(batch[i]->question);
    if (batch[i]->k > 0) searched.push_back(static_cast<int64_t>(i));
    max_k = std::max(max_k, batch[i]->k);
  }
  max_k = static_cast<int>(std::min<int64_t>(max_k, state->searcher->size()));
  auto t0 = std::chrono::steady_clock::now();
  std::vector<float> vectors = state->embedder->EmbedQuestions(questions);
  double embed_ms = MsSince(t0);
  embed_seconds_->Observe(embed_ms / 1000);
  const int dim = state->searcher->dim();
  const int64_t nq = batch.size(), ns = searched.size();
  std::vector<float> scores(ns * max_k);
  std::vector<int64_t> ids(ns * max_k);
  std::vector<int64_t> row_of(nq, -1);  // batch row → row of the search
  absl::Status st;
  double search_ms = 0;
  if (ns > 0) {
    std::vector<float> gathered;  // only when some rows just embed
    if (ns < nq) {
      for (int64_t r : searched) gathered.insert(gathered.end(), vectors.begin() + r * dim, vectors.begin() + (r + 1) * dim);
    }
    for (int64_t j = 0; j < ns; ++j) row_of[searched[j]] = j;
    auto t1 = std::chrono::steady_clock::now();
    st = state->searcher->Search(ns < nq ? gathered.data() : vectors.data(), ns, max_k, scores.data(), ids.data());
    search_ms = MsSince(t1);
    search_seconds_->Observe(search_ms / 1000);
  }
  for (int64_t i = 0; i < nq; ++i) {
    if (!st.ok()) {
      out.push_back(st);
      continue;
    }
    Hits h;
    h.state = state;
    const int64_t row = row_of[i];
    const int k = row < 0 ? 0 : std::min(batch[i]->k, max_k);
    for (int j = 0; j < k; ++j) {
      h.ids.push_back(ids[row * max_k + j] + state->first_block_id);
      h.scores.push_back(scores[row * max_k + j]);
    }
    h.query_vector.assign(vectors.begin() + i * dim, vectors.begin() + (i + 1) * dim);
    h.embed_ms = embed_ms;
    h.search_ms = search_ms;
    out.push_back(std::move(h));
  }
  return out;
}

void RetrieverService::FillBlock(const RetrieverState& s, int64_t id, float score, bool texts, bool vectors,
                                 orqa::v1::Block* b) const {
  b->set_id(id);
  b->set_retrieval_score(score);
  if (texts) {
    auto title = s.blocks->Title(id);
    auto text = s.blocks->Text(id);
    if (title.ok()) b->set_title(std::string(*title));
    if (text.ok()) b->set_text(std::string(*text));
  }
  if (vectors) {
    const float* row = s.embeddings.data() + (id - s.first_block_id) * s.embeddings.dim();
    for (int64_t j = 0; j < s.embeddings.dim(); ++j) b->add_embedding(row[j]);
  }
}

grpc::Status RetrieverService::Retrieve(grpc::ServerContext* context, const orqa::v1::RetrieveRequest* request,
                                        orqa::v1::RetrieveResponse* response) {
  ORQA_RETURN_GRPC_IF_ERROR(callers_.Allow(*context, "orqa.v1.Retriever/Retrieve", {"gateway", "trainer"}));
  const std::string& q = request->question();
  ORQA_RETURN_GRPC_IF_ERROR(ValidateQuestion("question", q));
  auto state = Snapshot();
  if (!state) return ToGrpcStatus(NotLoaded());
  const bool embed_only = request->embed_only();
  if (!embed_only) ORQA_RETURN_GRPC_IF_ERROR(CheckK(request->k(), state->searcher->size()));
  if (embed_only && request->mode() == orqa::v1::RETRIEVAL_MODE_SPARSE) {
    return ToGrpcStatus(absl::InvalidArgumentError("embed_only: needs RETRIEVAL_MODE_DENSE (BM25 embeds nothing)"));
  }
  switch (request->mode()) {
    case orqa::v1::RETRIEVAL_MODE_UNSPECIFIED:
    case orqa::v1::RETRIEVAL_MODE_DENSE:
      break;
    case orqa::v1::RETRIEVAL_MODE_SPARSE:
      return RetrieveSparse(*state, *request, response);
    default:
      return ToGrpcStatus(absl::InvalidArgumentError(
          "mode: a retriever serves RETRIEVAL_MODE_DENSE or RETRIEVAL_MODE_SPARSE (the gateway fuses hybrid)"));
  }
  auto hits = batcher_->Submit(Query{q, embed_only ? 0 : request->k()}, SteadyDeadline(*context),
                               [context] { return context->IsCancelled(); });
  if (!hits.ok()) return ToGrpcStatus(hits.status());
  for (size_t i = 0; i < hits->ids.size(); ++i) {
    FillBlock(*hits->state, hits->ids[i], hits->scores[i], request->return_texts(), request->return_vectors(),
              response->add_blocks());
  }
  if (request->return_query_vector() || embed_only) {
    for (float v : hits->query_vector) response->add_query_vector(v);
  }
  response->set_embed_ms(hits->embed_ms);
  response->set_search_ms(hits->search_ms);
  return grpc::Status::OK;
}

grpc::Status RetrieverService::RetrieveSparse(const RetrieverState& state, const orqa::v1::RetrieveRequest& request,
                                              orqa::v1::RetrieveResponse* response) {
  if (!bm25_) {
    return ToGrpcStatus(absl::FailedPreconditionError(
        "mode: sparse retrieval needs a BM25 index: start orqa-retriever with --bm25-index (orqa build-bm25)"));
  }
  auto t0 = std::chrono::steady_clock::now();
  auto hits = bm25_->Search(request.question(), request.k(), state.first_block_id,
                            state.first_block_id + state.searcher->size());
  if (!hits.ok()) return ToGrpcStatus(hits.status());
  const double ms = MsSince(t0);
  sparse_seconds_->Observe(ms / 1000);
  for (size_t i = 0; i < hits->ids.size(); ++i) {
    FillBlock(state, hits->ids[i], hits->scores[i], request.return_texts(), request.return_vectors(),
              response->add_blocks());
  }
  response->set_search_ms(ms);
  return grpc::Status::OK;
}

grpc::Status RetrieverService::Search(grpc::ServerContext* context, const orqa::v1::SearchRequest* request,
                                      orqa::v1::SearchResponse* response) {
  ORQA_RETURN_GRPC_IF_ERROR(callers_.Allow(*context, "orqa.v1.Retriever/Search", {"gateway", "trainer"}));
  auto state = Snapshot();
  if (!state) return ToGrpcStatus(NotLoaded());
  if (request->queries_size() == 0 || request->queries_size() > kMaxSearchQueries) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("queries: expected 1..", kMaxSearchQueries, " vectors, got ", request->queries_size())));
  }
  ORQA_RETURN_GRPC_IF_ERROR(CheckK(request->k(), state->searcher->size()));
  const int dim = state->searcher->dim();
  std::vector<float> flat;
  for (int i = 0; i < request->queries_size(); ++i) {
    const auto& v = request->queries(i).values();
    if (v.size() != dim) {
      return ToGrpcStatus(absl::InvalidArgumentError(
          absl::StrCat("queries[", i, "]: expected ", dim, " values, got ", v.size())));
    }
    flat.insert(flat.end(), v.begin(), v.end());
  }
  const int k = request->k();
  const int64_t nq = request->queries_size();
  std::vector<float> scores(nq * k);
  std::vector<int64_t> ids(nq * k);
  auto t0 = std::chrono::steady_clock::now();
  ORQA_RETURN_GRPC_IF_ERROR(state->searcher->Search(flat.data(), nq, k, scores.data(), ids.data()));
  search_seconds_->Observe(MsSince(t0) / 1000);
  for (int64_t i = 0; i < nq; ++i) {
    auto* r = response->add_results();
    for (int j = 0; j < k; ++j) {
      FillBlock(*state, ids[i * k + j] + state->first_block_id, scores[i * k + j], request->return_texts(),
                request->return_vectors(), r->add_blocks());
    }
  }
  return grpc::Status::OK;
}

void RetrieverService::FillInfo(const RetrieverState* s, orqa::v1::RetrieverInfo* info) const {
  info->set_shard_index(options_.shard_index);
  info->set_num_shards(options_.num_shards);
  info->set_index_type(options_.searcher.type);
  info->set_ready(s != nullptr);
  info->set_has_sparse(bm25_ != nullptr);
  info->set_scan_kernel(ScanKernelName());
  if (!s) return;
  info->set_arithmetic(s->embedder->arithmetic());
  info->set_first_block_id(s->first_block_id);
  info->set_num_blocks(s->searcher->size());
  info->set_dim(s->searcher->dim());
  info->set_index_bytes(s->searcher->memory_bytes());
  info->set_embeddings_version(s->embeddings_version);
  auto* m = info->mutable_embedder();
  m->set_version(s->embedder->version());
  m->set_path(s->embedder->weights_path());
  m->set_loaded_at_unix_s(s->loaded_at_unix_s);
}

grpc::Status RetrieverService::GetInfo(grpc::ServerContext* context, const orqa::v1::GetInfoRequest*,
                                       orqa::v1::RetrieverInfo* response) {
  ORQA_RETURN_GRPC_IF_ERROR(callers_.Allow(*context, "orqa.v1.Retriever/GetInfo", {"gateway", "trainer", "admin"}));
  auto state = Snapshot();
  FillInfo(state.get(), response);
  return grpc::Status::OK;
}

grpc::Status RetrieverService::Reload(grpc::ServerContext* context, const orqa::v1::ReloadRequest* request,
                                      orqa::v1::ReloadResponse* response) {
  ORQA_RETURN_GRPC_IF_ERROR(callers_.Allow(*context, "orqa.v1.Retriever/Reload", {"gateway", "trainer"}));
  if (request->embedder_dir().empty() && request->embeddings_path().empty() && request->blocks_path().empty()) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        "embedder_dir, embeddings_path, blocks_path: at least one is required"));
  }
  // A Hub model id is taken from the cache only: a request does not start a download.
  auto embedder_dir = ResolveModelPath(request->embedder_dir(), "embedder_dir", /*download=*/false);
  if (!embedder_dir.ok()) {
    return ToGrpcStatus(absl::FailedPreconditionError(
        absl::StrCat("reload failed, still serving the previous state: ", embedder_dir.status().message())));
  }
  // Paths from the request stay inside the configured roots (checked before anything is opened).
  const PathRoots& roots = options_.roots;
  ORQA_RETURN_GRPC_IF_ERROR(CheckUnderRoot("embedder_dir", *embedder_dir, roots.model, "--model-root"));
  ORQA_RETURN_GRPC_IF_ERROR(CheckUnderRoot("weights_path", request->weights_path(), roots.model, "--model-root"));
  ORQA_RETURN_GRPC_IF_ERROR(CheckUnderRoot("blocks_path", request->blocks_path(), roots.data, "--data-root"));
  ORQA_RETURN_GRPC_IF_ERROR(
      CheckUnderRoot("embeddings_path", request->embeddings_path(), roots.data, "--data-root"));
  std::lock_guard<std::mutex> reload_lock(reload_mu_);
  RetrieverSources src{*embedder_dir, request->weights_path(), request->blocks_path(),
                       request->embeddings_path(), options_.precision};
  auto t0 = std::chrono::steady_clock::now();
  auto state = LoadRetrieverState(src, Snapshot(), options_.shard_index, options_.num_shards, options_.searcher);
  if (!state.ok()) {
    reloads_->Add({{"result", "failed"}}).Increment();
    spdlog::warn("reload failed, keeping the loaded state: {}", std::string(state.status().message()));
    return ToGrpcStatus(absl::FailedPreconditionError(
        absl::StrCat("reload failed, still serving the previous state: ", state.status().message())));
  }
  SetState(*state);
  reloads_->Add({{"result", "ok"}}).Increment();
  spdlog::info("reloaded in {:.0f} ms: embedder {} ({}), embeddings {}", MsSince(t0), (*state)->embedder->version(),
               (*state)->embedder->arithmetic(),
               (*state)->embeddings_version);
  if (on_ready_) on_ready_(true);
  FillInfo(state->get(), response->mutable_info());
  return grpc::Status::OK;
}

}  // namespace orqa
