#include "services/trainer/realm_pretrain_job.h"

#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/index/block_store.h"
#include "common/model/text_embedder.h"
#include "common/train/block_embedding.h"
#include "services/trainer/data_order.h"
#include "services/trainer/data_parallel.h"
#include "services/trainer/job_manager.h"
#include "services/trainer/pretrain_common.h"
#include "services/trainer/pretrain_examples.h"
#include "services/trainer/retriever_client.h"
#include "services/trainer/trainer_metrics.h"
#include "services/trainer/training_loop.h"

namespace orqa {
namespace {

namespace fs = std::filesystem;
using orqa::v1::JobSpec;

// Rebuilds the retriever's index from snapshots of the block embedder on a
// thread beside training (REALM's asynchronous refresh). One refresh at a time.
class IndexRefresher {
 public:
  IndexRefresher(const JobSpec& spec, std::shared_ptr<BlockStore> store, RetrieverClient* retriever, JobContext* ctx,
                 TrainerMetrics* metrics)
      : spec_(spec), store_(std::move(store)), retriever_(retriever), ctx_(ctx), metrics_(metrics) {}
  ~IndexRefresher() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  bool busy() const { return busy_; }

  // Starts re-embedding with `weights` (the embedder at `step`); the caller
  // checks busy() first.
  void Start(int64_t step, const ModelDirFiles& files, StateDict weights) {
    if (thread_.joinable()) thread_.join();
    busy_ = true;
    thread_ = std::thread([this, step, files, weights = std::move(weights)] {
      absl::Status st = Run(step, files, weights);
      if (!st.ok() && !stop_) {
        std::lock_guard<std::mutex> l(mu_);
        if (error_.ok()) error_ = absl::Status(st.code(), absl::StrCat("index refresh at step ", step, ": ", st.message()));
      }
      busy_ = false;
    });
  }

  // Waits for a refresh in flight.
  void Wait() {
    if (thread_.joinable()) thread_.join();
  }

  absl::Status error() const {
    std::lock_guard<std::mutex> l(mu_);
    return error_;
  }
  // Step of the embedder behind the served index: 0 = the job's starting
  // index (what the retriever served when it began), -1 = unknown (resumed).
  int64_t served_step() const { return served_step_; }
  void set_served_step(int64_t s) { served_step_ = s; }
  int refreshes() const { return refreshes_; }
  double last_seconds() const { return last_seconds_; }

 private:
  absl::Status Run(int64_t step, const ModelDirFiles& files, const StateDict& weights) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::string dir = absl::StrFormat("%s/index/step-%08d", spec_.output_dir(), step);
    std::error_code ec;
    fs::create_directories(fs::path(dir).parent_path(), ec);
    if (absl::Status st = WriteModelDir(dir, files, weights, {{"orqa_index_refresh_step", std::to_string(step)}});
        !st.ok()) {
      return st;
    }
    auto embedder = TextEmbedder::Load(dir, "");
    if (!embedder.ok()) return embedder.status();
    EmbedBlocksOptions o;
    o.max_length = spec_.max_block_length() > 0 ? spec_.max_block_length() : 288;
    const std::string npy = dir + "/embeddings.npy";
    absl::Status st = EmbedBlocksToNpy(**embedder, *store_, o, npy, [this](int64_t, int64_t) { return !stop_.load(); });
    if (!st.ok()) return st;
    std::string version;
    for (size_t i = 0; i < retriever_->num_shards(); ++i) {
      orqa::v1::ReloadRequest req;
      req.set_embedder_dir(dir);
      req.set_embeddings_path(npy);
      auto r = retriever_->Reload(i, req);
      if (!r.ok()) return r.status();
      version = r->info().embeddings_version();
    }
    last_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const int64_t previous = served_step_.exchange(step);
    ++refreshes_;
    if (metrics_) metrics_->IndexRefreshed(last_seconds_);
    ctx_->Update([](orqa::v1::Job*) {},
                 absl::StrFormat("index refreshed with the embedder of step %d in %.1f s (%s)", step, last_seconds_, version),
                 true);
    // The retrievers hold the new index in memory; older snapshots go.
    if (previous > 0) fs::remove_all(absl::StrFormat("%s/index/step-%08d", spec_.output_dir(), previous), ec);
    return absl::OkStatus();
  }

  JobSpec spec_;
  std::shared_ptr<BlockStore> store_;
  RetrieverClient* retriever_;
  JobContext* ctx_;
  TrainerMetrics* metrics_;
  std::thread thread_;
  std::atomic<bool> stop_{false}, busy_{false};
  std::atomic<int64_t> served_step_{0};
  std::atomic<int> refreshes_{0};
  std::atomic<double> last_seconds_{0};
  mutable std::mutex mu_;
  absl::Status error_;
};

// The knowledge-augmented encoder's starting weights: the reader's BERT, and
// the reader's MLM head or else the embedder's (PRETRAIN_MLM's), or else a new one.
absl::Status LoadEncoder(const StateDict& state, const std::string& source, int64_t seed,
                         RealmKnowledgeAugEncoder& encoder) {
  StateDict enc;
  for (const auto& [k, v] : state) {
    if (k.rfind("reader.realm.", 0) == 0) enc[k.substr(7)] = v;
  }
  if (enc.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": no reader.realm.* weights (the knowledge-augmented encoder starts from the reader's BERT)"));
  }
  bool head = false;
  for (const char* prefix : {"reader.cls.predictions.", "embedder.cls.predictions."}) {
    for (const auto& [k, v] : state) {
      if (k.rfind(prefix, 0) == 0 && k.find(".decoder.") == std::string::npos) {
        enc["cls.predictions." + k.substr(std::string(prefix).size())] = v;
        head = true;
      }
    }
    if (head) break;
  }
  if (!head) {
    torch::NoGradGuard g;
    InitFreshHeadTransform(encoder->predictions->dense->weight, encoder->predictions->dense->bias, seed);
    for (auto& [k, v] : NamedParameters(*encoder, "")) {
      if (k.rfind("cls.", 0) == 0) enc[k] = v.clone();
    }
  }
  return encoder->Load(enc, "", source);
}

class RealmTask final : public TrainingTask {
 public:
  RealmTask(const JobSpec& spec, PretrainStart start, PretrainCorpus corpus, RetrieverClient* retriever,
            IndexRefresher* refresher, bool resumed, int k)
      : spec_(spec),
        s_(std::move(start)),
        corpus_(std::move(corpus)),
        order_(corpus_.size(), spec.seed()),
        encoder_(s_.config),
        retriever_(retriever),
        refresher_(refresher),
        last_refresh_(resumed ? -(1LL << 40) : 0),  // resumed: refresh at the first step
        k_(k) {}

  absl::Status Init(const std::string& source) { return LoadEncoder(s_.state, source, spec_.seed(), encoder_); }

  std::vector<std::pair<std::string, torch::Tensor>> Parameters() override {
    std::vector<std::pair<std::string, torch::Tensor>> named;
    for (const auto& item : s_.embedder->named_parameters()) named.push_back({"embedder." + item.key(), item.value()});
    for (const auto& item : encoder_->named_parameters()) named.push_back({"encoder." + item.key(), item.value()});
    return named;
  }
  void SetTraining(bool on) override {
    s_.embedder->train(on);
    encoder_->train(on);
  }

  bool SetDataShard(DataParallel* group) override {
    group_ = group;
    return true;
  }

  absl::StatusOr<double> Step(int64_t step) override {
    if (absl::Status st = refresher_->error(); !st.ok()) return st;
    if (group_ == nullptr || group_->rank() == 0) MaybeRefresh(step);  // rank 0 refreshes the shared index
    const WordPieceTokenizer& tok = *s_.tok;
    const int64_t global_batch = spec_.batch_size();
    std::mt19937_64 rng(static_cast<uint64_t>(spec_.seed()) * 7919ULL + static_cast<uint64_t>(step));
    // Data parallelism: every example of the global batch is drawn (one
    // generator, in order), this rank's share [lo, hi) is computed.
    const int64_t lo = group_ ? global_batch * group_->rank() / group_->world_size() : 0;
    const int64_t hi = group_ ? global_batch * (group_->rank() + 1) / group_->world_size() : global_batch;
    const int64_t batch = hi - lo;
    int64_t masked = 0;  // in the global batch
    std::vector<RealmExample> ex;
    std::vector<std::string> sources;
    std::vector<std::vector<int64_t>> q_rows, q_labels;
    for (int64_t b = 0; b < global_batch; ++b) {
      auto [title, text] = corpus_.Get(static_cast<int64_t>(order_.At(step * global_batch + b)));
      RealmExample e = MakeRealmExample(tok, text, query_len(), random_span_prob(), rng);
      for (int64_t label : e.labels) masked += label != -100;
      if (b < lo || b >= hi) continue;
      ex.push_back(std::move(e));
      sources.push_back(text);
      q_rows.emplace_back(ex.back().input_ids.begin(), ex.back().input_ids.end());
      q_labels.push_back(ex.back().labels);
    }
    torch::Tensor q_mask;
    auto q_ids = PadRows(q_rows, tok.pad_id(), &q_mask);
    auto q = s_.embedder(q_ids, q_mask, torch::zeros_like(q_ids)).projected_score;  // [B, D]
    auto qd = q.detach().contiguous();
    const int64_t dim = qd.size(1);

    // Candidates from the served (stale) index, the source block left out.
    std::vector<std::vector<int64_t>> c_rows, c_types, j_rows, j_types;
    for (int64_t b = 0; b < batch; ++b) {
      const float* v = qd.data_ptr<float>() + b * dim;
      auto hits = retriever_->Search(std::vector<float>(v, v + dim), k_ + 1, /*with_vectors=*/false);
      if (!hits.ok()) return hits.status();
      std::vector<size_t> keep;
      for (size_t i = 0; i < hits->ids.size() && static_cast<int>(keep.size()) < k_; ++i) {
        if (hits->texts[i] != sources[b]) keep.push_back(i);
      }
      if (static_cast<int>(keep.size()) < k_) {
        return absl::FailedPreconditionError(absl::StrCat("the retriever returned ", keep.size(),
                                                          " candidates besides the source block, expected ", k_));
      }
      const std::vector<int64_t> query(ex[b].input_ids.begin(), ex[b].input_ids.end());
      for (size_t i : keep) {
        BlockRow row = EncodeBlockRow(tok, hits->titles[i], hits->texts[i], block_len());
        // Joined: [CLS] sentence [SEP] + the block's pieces after its [CLS].
        std::vector<int64_t> ids = query, types(query.size(), 0);
        const size_t room = static_cast<size_t>(max_len()) > ids.size() ? max_len() - ids.size() : 0;
        const size_t take = std::min(room, row.ids.size() - 1);
        ids.insert(ids.end(), row.ids.begin() + 1, row.ids.begin() + 1 + static_cast<int64_t>(take));
        if (take > 0 && ids.back() != tok.sep_id()) ids.back() = tok.sep_id();
        types.resize(ids.size(), 1);
        j_rows.push_back(std::move(ids));
        j_types.push_back(std::move(types));
        c_rows.push_back(std::move(row.ids));
        c_types.push_back(std::move(row.types));
      }
      // The null block: the sentence alone.
      j_rows.push_back(query);
      j_types.emplace_back(query.size(), 0);
    }
    torch::Tensor c_mask, j_mask;
    auto c_ids = PadRows(c_rows, tok.pad_id(), &c_mask);
    auto c = s_.embedder(c_ids, c_mask, PadRows(c_types, 0)).projected_score.view({batch, k_, -1});
    // Relevance as in PRETRAIN_ICT (inner products scaled by 1/sqrt(D)); the null block scores 0.
    auto relevance = torch::cat({torch::einsum("bd,bnd->bn", {q, c}) / std::sqrt(static_cast<double>(dim)),
                                 torch::zeros({batch, 1})},
                                1);
    const int64_t n = k_ + 1;
    auto j_ids = PadRows(j_rows, tok.pad_id(), &j_mask);
    const int64_t l = j_ids.size(1);
    auto labels = PadRows(q_labels, -100);
    labels = torch::cat({labels, torch::full({batch, l - labels.size(1)}, -100, torch::kLong)}, 1);
    torch::Tensor lp;
    auto loss = encoder_->MaskedMarginalLoss(j_ids.view({batch, n, l}), j_mask.view({batch, n, l}),
                                             PadRows(j_types, 0).view({batch, n, l}), relevance, labels, &lp);
    if (group_ != nullptr) {  // this share of the mean over the global batch's masked tokens
      const int64_t here = labels.ne(-100).sum().item<int64_t>();
      if (here == 0) return 0.0;  // nothing masked in this share: no gradient from it
      loss = loss * (static_cast<double>(here) / static_cast<double>(std::max<int64_t>(masked, 1)));
    }
    loss.backward();
    {
      torch::NoGradGuard g;
      // Retrieval utility (REALM §4.4): log p(y | best block) − log p(y | null block), per masked token.
      auto rows = labels.ne(-100).nonzero().select(1, 0);
      auto best = relevance.argmax(-1).index_select(0, rows);  // [M]
      auto with_best = lp.gather(1, best.view({-1, 1})).squeeze(1);
      utility_ = (with_best - lp.select(1, n - 1)).mean().item<double>();
      null_prob_ = relevance.softmax(-1).select(1, n - 1).mean().item<double>();
    }
    return loss.item<double>();
  }

  int64_t examples_per_step() const override { return spec_.batch_size(); }

  std::map<std::string, double> StepMetrics() override {
    std::map<std::string, double> m = {{"retrieval_utility", utility_},
                                       {"null_block_prob", null_prob_},
                                       {"index_refreshes", refresher_->refreshes()},
                                       {"index_refresh_seconds", refresher_->last_seconds()}};
    const int64_t served = refresher_->served_step();
    if (served >= 0) {
      m["index_step"] = static_cast<double>(served);
      m["index_staleness_steps"] = static_cast<double>(current_step_ - served);
    }
    return m;
  }

  StateDict Weights() override {
    StateDict w = s_.state;
    for (auto& [k, v] : NamedParameters(*s_.embedder, "embedder.")) w[k] = v;
    for (auto& [k, v] : NamedParameters(*encoder_->realm, "reader.realm.")) w[k] = v;
    for (auto& [k, v] : NamedParameters(*encoder_, "")) {
      if (k.rfind("cls.", 0) == 0) w["reader." + k] = v;
    }
    return w;
  }
  const ModelDirFiles& Files() const override { return s_.files; }

 private:
  int max_len() const {
    const int want = spec_.max_seq_length() > 0 ? spec_.max_seq_length() : 288;
    return std::min(want, s_.config.max_position_embeddings);
  }
  int query_len() const { return std::max(8, std::min(64, max_len() / 2)); }
  int block_len() const {
    const int want = spec_.max_block_length() > 0 ? spec_.max_block_length() : 288;
    return std::min(want, s_.config.max_position_embeddings);
  }
  double random_span_prob() const { return spec_.random_span_prob() > 0 ? spec_.random_span_prob() : 0.1; }

  void MaybeRefresh(int64_t step) {
    current_step_ = step;
    const int every = spec_.index_refresh_steps();
    if (every <= 0 || refresher_->busy() || step - last_refresh_ < every) return;
    last_refresh_ = step;
    StateDict snapshot;
    for (auto& [k, v] : NamedParameters(*s_.embedder, "embedder.")) snapshot[k] = v.clone();
    refresher_->Start(step, s_.files, std::move(snapshot));
  }

  JobSpec spec_;
  PretrainStart s_;
  PretrainCorpus corpus_;
  DataOrder order_;
  RealmKnowledgeAugEncoder encoder_;
  RetrieverClient* retriever_;
  IndexRefresher* refresher_;
  int64_t last_refresh_;
  int64_t current_step_ = 0;
  int k_;
  double utility_ = 0, null_prob_ = 0;
  DataParallel* group_ = nullptr;  // data parallelism: this rank's share of every batch
};

}  // namespace

absl::Status RunPretrainRealm(JobContext& ctx, RetrieverClient& retriever, TrainerMetrics* metrics) {
  const JobSpec spec = ctx.Snapshot().spec();
  auto corpus = PretrainCorpus::Open(spec);
  if (!corpus.ok()) return corpus.status();
  // Validation requires blocks_path for this kind: the corpus holds its store.
  std::shared_ptr<BlockStore> store = corpus->store();
  const std::string resume = ResumeDir(ctx);
  const std::string source = resume.empty() ? spec.model_dir() : resume;
  auto start = resume.empty() ? LoadPretrainStart(spec.model_dir(), spec.weights_path()) : LoadPretrainStart(resume, "");
  if (!start.ok()) return start.status();
  if (absl::Status st = retriever.RefreshForModel(start->config.retriever_proj_size); !st.ok()) return st;
  if (retriever.total_blocks() != store->size()) {
    return absl::FailedPreconditionError(absl::StrCat("the retriever serves ", retriever.total_blocks(),
                                                      " blocks but blocks_path holds ", store->size(),
                                                      ": the index must cover the block store it is refreshed from"));
  }
  const int want = spec.searcher_beam_size() > 0 ? spec.searcher_beam_size() : 8;
  const int k = static_cast<int>(std::min<int64_t>(want, retriever.total_blocks() - 1));
  if (k < 1) return absl::FailedPreconditionError("the retriever serves fewer than 2 blocks");
  IndexRefresher refresher(spec, store, &retriever, &ctx, metrics);
  // Resumed: what the retriever serves is unknown until the first refresh (at once).
  if (!resume.empty()) refresher.set_served_step(-1);
  RealmTask task(spec, std::move(*start), std::move(*corpus), &retriever, &refresher, /*resumed=*/!resume.empty(), k);
  if (absl::Status st = task.Init(source); !st.ok()) return st;
  absl::Status st = RunTrainingLoop(ctx, task, resume, metrics);
  // A refresh in flight finishes with the job (its index is the newest); a
  // stopped or cancelled job leaves it.
  if (st.ok()) {
    refresher.Wait();
    if (absl::Status e = refresher.error(); !e.ok()) return e;
  }
  return st;
}

}  // namespace orqa
