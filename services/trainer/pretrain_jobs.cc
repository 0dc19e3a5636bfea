#include "services/trainer/pretrain_jobs.h"

#include <torch/torch.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/model/bert.h"
#include "common/model/model_dir.h"
#include "common/model/realm_models.h"
#include "services/trainer/data_order.h"
#include "services/trainer/job_manager.h"
#include "services/trainer/pretrain_common.h"
#include "services/trainer/data_parallel.h"
#include "services/trainer/pretrain_examples.h"
#include "services/trainer/training_loop.h"

namespace orqa {
namespace {

using orqa::v1::JobSpec;


// What the pre-training tasks share: the job's spec, the starting model and
// corpus, the data order, this rank's share of every batch (data
// parallelism), the step's accuracy metric and the model directory's files.
class PretrainTask : public TrainingTask {
 public:
  PretrainTask(const JobSpec& spec, PretrainStart start, PretrainCorpus corpus)
      : spec_(spec), s_(std::move(start)), corpus_(std::move(corpus)), order_(corpus_.size(), spec.seed()) {}
  bool SetDataShard(DataParallel* group) override {
    group_ = group;
    return true;
  }
  int64_t examples_per_step() const override { return spec_.batch_size(); }
  const ModelDirFiles& Files() const override { return s_.files; }

 protected:
  // Every example of the global batch is drawn (the generator advances in
  // order); this rank computes rows [lo, hi).
  std::pair<int64_t, int64_t> Share(int64_t batch) const {
    if (group_ == nullptr) return {0, batch};
    return {batch * group_->rank() / group_->world_size(), batch * (group_->rank() + 1) / group_->world_size()};
  }
  // The step's example generator: the same on every rank.
  std::mt19937_64 StepRng(int64_t step) const {
    return std::mt19937_64(static_cast<uint64_t>(spec_.seed()) * 7919ULL + static_cast<uint64_t>(step));
  }
  static void Append(torch::nn::Module& module, const std::string& prefix,
                     std::vector<std::pair<std::string, torch::Tensor>>* named) {
    for (const auto& item : module.named_parameters()) named->push_back({prefix + item.key(), item.value()});
  }

  JobSpec spec_;
  PretrainStart s_;
  PretrainCorpus corpus_;
  DataOrder order_;
  DataParallel* group_ = nullptr;
  double accuracy_ = 0;
};

class MlmTask final : public PretrainTask {
 public:
  MlmTask(const JobSpec& spec, PretrainStart start, PretrainCorpus corpus)
      : PretrainTask(spec, std::move(start), std::move(corpus)), head_(s_.config) {
    StateDict head_state = SelectSubmodule(s_.state, "embedder.cls.predictions.", {"transform.", "bias"});
    if (!head_state.empty()) {
      load_status_ = LoadModule(*head_, head_state, "embedder.cls.predictions.", {"decoder."}, "start");
    } else {
      InitFreshHeadTransform(head_->dense->weight, head_->dense->bias, spec.seed());
    }
  }
  absl::Status load_status() const { return load_status_; }

  std::vector<std::pair<std::string, torch::Tensor>> Parameters() override {
    std::vector<std::pair<std::string, torch::Tensor>> named;
    Append(*s_.embedder->realm, "embedder.realm.", &named);
    Append(*head_, "embedder.cls.predictions.", &named);
    return named;
  }
  void SetTraining(bool on) override {
    s_.embedder->train(on);
    head_->train(on);
  }
  absl::StatusOr<double> Step(int64_t step) override {
    const int64_t batch = spec_.batch_size();
    std::mt19937_64 rng = StepRng(step);
    const auto [lo, hi] = Share(batch);
    std::vector<std::vector<int64_t>> ids, labels;
    int64_t masked = 0;  // in the global batch
    for (int64_t b = 0; b < batch; ++b) {
      auto [title, text] = corpus_.Get(static_cast<int64_t>(order_.At(step * batch + b)));
      MlmExample ex = MakeMlmExample(*s_.tok, text, max_len(), mask_prob(), rng);
      for (int64_t l : ex.labels) masked += l != -100;
      if (b < lo || b >= hi) continue;
      ids.emplace_back(ex.input_ids.begin(), ex.input_ids.end());
      labels.push_back(ex.labels);
    }
    torch::Tensor mask;
    auto input = PadRows(ids, s_.tok->pad_id(), &mask);
    auto gold = PadRows(labels, -100);
    auto hidden = s_.embedder->realm(input, mask, torch::zeros_like(input)).last_hidden_state;
    auto where = gold.ne(-100);
    auto picked = hidden.index({where});  // [M, H]
    auto target = gold.index({where});
    auto logits = head_(picked, s_.embedder->realm->embeddings->word_embeddings->weight);
    // The mean over the global batch's masked tokens: this rank's share of it.
    auto loss = group_ == nullptr || group_->world_size() == 1 ? torch::nn::functional::cross_entropy(logits, target)
                             : torch::nn::functional::cross_entropy(
                                   logits, target,
                                   torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum)) /
                                   static_cast<double>(std::max<int64_t>(masked, 1));
    loss.backward();
    {
      torch::NoGradGuard g;
      accuracy_ = logits.argmax(-1).eq(target).to(torch::kFloat32).mean().item<double>();
    }
    return loss.item<double>();
  }
  std::map<std::string, double> StepMetrics() override { return {{"mlm_accuracy", accuracy_}}; }
  StateDict Weights() override {
    StateDict w = s_.state;
    for (auto& [k, v] : NamedParameters(*s_.embedder, "embedder.")) w[k] = v;
    for (auto& [k, v] : NamedParameters(*head_, "embedder.cls.predictions.")) w[k] = v;
    // Both encoders start from the pretrained BERT (the reader has no pooler).
    for (auto& [k, v] : NamedParameters(*s_.embedder->realm, "reader.realm.")) {
      if (k.rfind("reader.realm.pooler.", 0) != 0) w[k] = v;
    }
    w.erase("embedder.cls.predictions.decoder.weight");  // tied to the word embeddings
    w.erase("embedder.cls.predictions.decoder.bias");
    return w;
  }

 private:
  int max_len() const { return spec_.max_seq_length() > 0 ? spec_.max_seq_length() : 128; }
  double mask_prob() const { return spec_.mask_prob() > 0 ? spec_.mask_prob() : 0.15; }

  BertMlmHead head_;
  absl::Status load_status_;
};

class IctTask final : public PretrainTask {
 public:
  using PretrainTask::PretrainTask;

  std::vector<std::pair<std::string, torch::Tensor>> Parameters() override {
    std::vector<std::pair<std::string, torch::Tensor>> named;
    Append(*s_.embedder, "embedder.", &named);
    return named;
  }
  void SetTraining(bool on) override { s_.embedder->train(on); }
  absl::StatusOr<double> Step(int64_t step) override {
    const int64_t batch = spec_.batch_size();
    std::mt19937_64 rng = StepRng(step);
    const WordPieceTokenizer& tok = *s_.tok;
    const auto [lo, hi] = Share(batch);
    std::vector<std::vector<int64_t>> q_rows, c_rows, c_types;
    for (int64_t b = 0; b < batch; ++b) {
      auto [title, text] = corpus_.Get(static_cast<int64_t>(order_.At(step * batch + b)));
      IctExample ex = MakeIctExample(text, keep_prob(), rng);
      if (b < lo || b >= hi) continue;
      std::vector<int32_t> q = tok.Encode(ex.question);
      if (q.size() > 62) q.resize(62);
      std::vector<int64_t> qr = {tok.cls_id()};
      qr.insert(qr.end(), q.begin(), q.end());
      qr.push_back(tok.sep_id());
      q_rows.push_back(std::move(qr));
      // The context as blocks are embedded.
      BlockRow row = EncodeBlockRow(tok, title, ex.context, max_len());
      c_rows.push_back(std::move(row.ids));
      c_types.push_back(std::move(row.types));
    }
    torch::Tensor q_mask, c_mask;
    auto q_ids = PadRows(q_rows, tok.pad_id(), &q_mask);
    auto c_ids = PadRows(c_rows, tok.pad_id(), &c_mask);
    auto c_type = PadRows(c_types, 0);
    auto q = s_.embedder(q_ids, q_mask, torch::zeros_like(q_ids)).projected_score;
    auto c = s_.embedder(c_ids, c_mask, c_type).projected_score;
    if (group_ != nullptr) return ShardedInBatchLoss(q, c, batch, lo);
    // [B, B] in-batch negatives. Scaled by 1/sqrt(D): from random or MLM-only
    // weights the raw inner products of LayerNorm'd projections are in the
    // hundreds, and the softmax then collapses every embedding to one point.
    // Retrieval ranks by the same inner product, so the scale changes no ranking.
    auto scores = torch::matmul(q, c.t()) / std::sqrt(static_cast<double>(q.size(1)));
    auto target = torch::arange(batch, torch::kLong);
    auto loss = torch::nn::functional::cross_entropy(scores, target);
    loss.backward();
    {
      torch::NoGradGuard g;
      accuracy_ = scores.argmax(-1).eq(target).to(torch::kFloat32).mean().item<double>();
    }
    return loss.item<double>();
  }
  std::map<std::string, double> StepMetrics() override { return {{"ict_accuracy", accuracy_}}; }
  StateDict Weights() override {
    StateDict w = s_.state;
    for (auto& [k, v] : NamedParameters(*s_.embedder, "embedder.")) w[k] = v;
    return w;
  }

 private:
  int max_len() const { return spec_.max_seq_length() > 0 ? spec_.max_seq_length() : 288; }
  double keep_prob() const { return spec_.ict_keep_prob() > 0 ? spec_.ict_keep_prob() : 0.1; }

  // The in-batch-negatives loss over the global batch with only this rank's
  // rows [lo, lo + n) embedded here, exactly as one process computes it: the
  // ranks share every query and context vector (all-reduce of zero-padded
  // [B, D] buffers), each computes the loss of its own queries against all
  // contexts, the gradients with respect to every vector are summed over the
  // ranks, and each rank backpropagates those of its own rows.
  absl::StatusOr<double> ShardedInBatchLoss(const torch::Tensor& q, const torch::Tensor& c, int64_t batch, int64_t lo) {
    const int64_t n = q.size(0), d = q.size(1);
    torch::Tensor both = torch::zeros({2, batch, d}, torch::kFloat32);
    {
      torch::NoGradGuard g;
      both[0].narrow(0, lo, n).copy_(q.detach());
      both[1].narrow(0, lo, n).copy_(c.detach());
    }
    if (absl::Status st = group_->AllReduceSum(both); !st.ok()) return st;
    torch::Tensor all_q = both[0].clone().requires_grad_(true), all_c = both[1].clone().requires_grad_(true);
    auto scores = torch::matmul(all_q.narrow(0, lo, n), all_c.t()) / std::sqrt(static_cast<double>(d));  // [n, B]
    auto target = torch::arange(lo, lo + n, torch::kLong);
    auto loss = torch::nn::functional::cross_entropy(
                    scores, target, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum)) /
                static_cast<double>(batch);
    auto grads = torch::autograd::grad({loss}, {all_q, all_c});
    torch::Tensor summed = torch::stack({grads[0], grads[1]}).contiguous();
    if (absl::Status st = group_->AllReduceSum(summed); !st.ok()) return st;
    torch::autograd::backward({q, c}, {summed[0].narrow(0, lo, n), summed[1].narrow(0, lo, n)});
    {
      torch::NoGradGuard g;
      accuracy_ = scores.argmax(-1).eq(target).to(torch::kFloat32).mean().item<double>();
    }
    return loss.item<double>();
  }

};

template <typename Task>
absl::Status RunPretrain(JobContext& ctx, TrainerMetrics* metrics) {
  const JobSpec spec = ctx.Snapshot().spec();
  auto corpus = PretrainCorpus::Open(spec);
  if (!corpus.ok()) return corpus.status();
  const std::string resume = ResumeDir(ctx);
  auto start = resume.empty() ? LoadPretrainStart(spec.model_dir(), spec.weights_path()) : LoadPretrainStart(resume, "");
  if (!start.ok()) return start.status();
  Task task(spec, std::move(*start), std::move(*corpus));
  if constexpr (std::is_same_v<Task, MlmTask>) {
    if (!task.load_status().ok()) return task.load_status();
  }
  return RunTrainingLoop(ctx, task, resume, metrics);
}

}  // namespace

absl::Status RunPretrainMlm(JobContext& ctx, TrainerMetrics* metrics) { return RunPretrain<MlmTask>(ctx, metrics); }
absl::Status RunPretrainIct(JobContext& ctx, TrainerMetrics* metrics) { return RunPretrain<IctTask>(ctx, metrics); }

}  // namespace orqa
