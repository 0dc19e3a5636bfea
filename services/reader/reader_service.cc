#include "services/reader/reader_service.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <ctime>

#include "absl/strings/str_cat.h"
#include "common/fetch/model_source.h"
#include "common/batching/batching_metrics.h"
#include "common/infra/deadline.h"
#include "common/infra/request_validation.h"
#include "common/infra/status_util.h"
#include "common/text/utf8.h"

namespace orqa {
namespace {

constexpr int kMaxBlocks = 5000;
constexpr int kMaxSpans = 100;


absl::Status NotLoaded() {
  return absl::FailedPreconditionError("no reader model loaded: start orqa-reader with --model-dir, or call Reload");
}

}  // namespace

ReaderService::ReaderService(const ReaderOptions& options, Metrics* metrics) : options_(options) {
  auto& reg = metrics->registry();
  const prometheus::Labels labels = {{"service", metrics->service()}};
  forward_seconds_ = &prometheus::BuildHistogram().Name("orqa_reader_forward_seconds")
                          .Help("Reader forward time per batch, in seconds.").Register(reg)
                          .Add(labels, Metrics::LatencyBuckets());
  tokens_per_second_ = &prometheus::BuildGauge().Name("orqa_reader_tokens_per_second")
                            .Help("Tokens per second of the last forward pass.").Register(reg).Add(labels);
  tokens_ = &prometheus::BuildCounter().Name("orqa_reader_tokens_total")
                 .Help("Tokens run through the reader (rate() gives tokens/s).").Register(reg).Add(labels);
  model_info_ = &prometheus::BuildGauge().Name("orqa_reader_model_info")
                     .Help("1 for the loaded reader version.").Register(reg);
  reloads_ = &prometheus::BuildCounter().Name("orqa_reader_reloads_total").Help("Reload calls by result.").Register(reg);

  batching_ = BatchingMetrics::Register(reg, "orqa_reader", labels, "Read");
  batcher_ = std::make_unique<Batcher<ReaderQuery, Result>>(
      options_.batching, [this](const std::vector<const ReaderQuery*>& b) { return RunBatch(b); }, batching_.Observer(),
      [](const ReaderQuery& q) { return static_cast<int>(q.blocks.size()); });
}

ReaderService::~ReaderService() { batcher_.reset(); }

void ReaderService::SetModel(std::shared_ptr<SpanReader> model) {
  if (options_.max_batch_rows > 0) model->set_max_rows_per_forward(options_.max_batch_rows);
  batcher_->set_max_batch_cost(model->max_rows_per_forward());
  std::lock_guard<std::mutex> lock(mu_);
  model_ = std::move(model);
  loaded_at_unix_s_ = static_cast<int64_t>(std::time(nullptr));
  if (current_model_info_) current_model_info_->Set(0);
  current_model_info_ = &model_info_->Add({{"version", model_->version()}});
  current_model_info_->Set(1);
}

bool ReaderService::ready() const { return Model() != nullptr; }

std::shared_ptr<SpanReader> ReaderService::Model() const {
  std::lock_guard<std::mutex> lock(mu_);
  return model_;
}

std::vector<absl::StatusOr<ReaderService::Result>> ReaderService::RunBatch(const std::vector<const ReaderQuery*>& batch) {
  auto model = Model();
  if (!model) return std::vector<absl::StatusOr<Result>>(batch.size(), NotLoaded());
  auto t0 = std::chrono::steady_clock::now();
  int64_t tokens = 0;
  auto spans = model->Read(batch, &tokens);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  forward_seconds_->Observe(seconds);
  tokens_->Increment(static_cast<double>(tokens));
  if (seconds > 0) tokens_per_second_->Set(tokens / seconds);
  std::vector<absl::StatusOr<Result>> out;
  for (auto& s : spans) out.push_back(Result{std::move(s), seconds * 1000, std::chrono::steady_clock::now()});
  return out;
}

grpc::Status ReaderService::Read(grpc::ServerContext* context, const orqa::v1::ReadRequest* request,
                                 orqa::v1::ReadResponse* response) {
  ORQA_RETURN_GRPC_IF_ERROR(callers_.Allow(*context, "orqa.v1.Reader/Read", {"gateway", "trainer"}));
  const std::string& q = request->question();
  ORQA_RETURN_GRPC_IF_ERROR(ValidateQuestion("question", q));
  if (request->blocks_size() == 0 || request->blocks_size() > kMaxBlocks) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("blocks: expected 1..", kMaxBlocks, ", got ", request->blocks_size())));
  }
  if (request->num_spans() < 0 || request->num_spans() > kMaxSpans) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("num_spans: expected 1..", kMaxSpans, " (or 0 for 1), got ", request->num_spans())));
  }
  if (!Model()) return ToGrpcStatus(NotLoaded());
  ReaderQuery query;
  query.question = q;
  query.num_spans = std::max(1, request->num_spans());
  for (const auto& b : request->blocks()) {
    query.blocks.push_back({b.id(), b.text(), request->reader_score_only() ? 0.0f : b.retrieval_score()});
  }
  auto enqueued = std::chrono::steady_clock::now();
  auto result = batcher_->Submit(std::move(query), SteadyDeadline(*context), [context] { return context->IsCancelled(); });
  if (!result.ok()) return ToGrpcStatus(result.status());
  for (const ReaderSpan& s : result->spans) {
    auto* o = response->add_spans();
    o->set_block_id(s.block_id);
    o->set_block_index(s.block_index);
    o->set_start_token(s.start_token);
    o->set_end_token(s.end_token);
    o->set_char_begin(s.char_begin);
    o->set_char_end(s.char_end);
    o->set_text(s.text);
    o->set_reader_score(s.reader_score);
    o->set_retrieval_score(s.retrieval_score);
    o->set_score(s.score);
  }
  response->set_forward_ms(result->forward_ms);
  double total_ms = std::chrono::duration<double, std::milli>(result->computed_at - enqueued).count();
  response->set_queue_ms(std::max(0.0, total_ms - result->forward_ms));
  return grpc::Status::OK;
}

void ReaderService::FillInfo(orqa::v1::ReaderInfo* info) const {
  auto model = Model();
  info->set_max_batch_size(options_.batching.max_batch_size);
  info->set_ready(model != nullptr);
  if (!model) return;
  info->set_max_span_width(model->config().max_span_width);
  info->set_reader_seq_len(model->config().reader_seq_len);
  info->mutable_model()->set_version(model->version());
  info->mutable_model()->set_path(model->weights_path());
  info->set_arithmetic(model->arithmetic());
  std::lock_guard<std::mutex> lock(mu_);
  info->mutable_model()->set_loaded_at_unix_s(loaded_at_unix_s_);
}

grpc::Status ReaderService::GetInfo(grpc::ServerContext* context, const orqa::v1::GetReaderInfoRequest*,
                                    orqa::v1::ReaderInfo* response) {
  ORQA_RETURN_GRPC_IF_ERROR(callers_.Allow(*context, "orqa.v1.Reader/GetInfo", {"gateway", "trainer", "admin"}));
  FillInfo(response);
  return grpc::Status::OK;
}

grpc::Status ReaderService::Reload(grpc::ServerContext* context, const orqa::v1::ReloadReaderRequest* request,
                                   orqa::v1::ReaderInfo* response) {
  ORQA_RETURN_GRPC_IF_ERROR(callers_.Allow(*context, "orqa.v1.Reader/Reload", {"gateway"}));
  if (request->model_dir().empty()) {
    return ToGrpcStatus(absl::InvalidArgumentError("model_dir: must not be empty"));
  }
  // A Hub model id is taken from the cache only: a request does not start a download.
  auto dir = ResolveModelPath(request->model_dir(), "model_dir", /*download=*/false);
  if (!dir.ok()) {
    reloads_->Add({{"result", "failed"}}).Increment();
    return ToGrpcStatus(absl::FailedPreconditionError(
        absl::StrCat("reload failed, still serving the previous model: ", dir.status().message())));
  }
  ORQA_RETURN_GRPC_IF_ERROR(CheckUnderRoot("model_dir", *dir, options_.roots.model, "--model-root"));
  ORQA_RETURN_GRPC_IF_ERROR(
      CheckUnderRoot("weights_path", request->weights_path(), options_.roots.model, "--model-root"));
  std::lock_guard<std::mutex> lock(reload_mu_);
  auto model = SpanReader::Load(*dir, request->weights_path(), options_.precision);
  if (!model.ok()) {
    reloads_->Add({{"result", "failed"}}).Increment();
    return ToGrpcStatus(absl::FailedPreconditionError(
        absl::StrCat("reload failed, still serving the previous model: ", model.status().message())));
  }
  SetModel(*model);
  reloads_->Add({{"result", "ok"}}).Increment();
  if (on_ready_) on_ready_(true);
  FillInfo(response);
  return grpc::Status::OK;
}

}  // namespace orqa
