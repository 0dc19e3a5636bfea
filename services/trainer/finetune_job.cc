#include "services/trainer/finetune_job.h"

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "common/model/model_dir.h"
#include "services/trainer/data_order.h"
#include "services/trainer/data_parallel.h"
#include "services/trainer/job_manager.h"
#include "services/trainer/openqa_trainee.h"
#include "services/trainer/retriever_client.h"
#include "services/trainer/training_loop.h"

namespace orqa {
namespace {

// ORQA/REALM finetuning of the question embedder and the reader.
class FinetuneTask final : public TrainingTask {
 public:
  FinetuneTask(const orqa::v1::JobSpec& spec, OpenQATrainee trainee, std::vector<QaExample> train,
               std::vector<QaExample> eval, RetrieverClient* retriever)
      : spec_(spec),
        t_(std::move(trainee)),
        train_(std::move(train)),
        eval_(std::move(eval)),
        retriever_(retriever),
        order_(train_.size(), spec.seed()),
        sparse_(spec.finetune_retrieval() == orqa::v1::RETRIEVAL_MODE_SPARSE) {}

  std::vector<std::pair<std::string, torch::Tensor>> Parameters() override {
    std::vector<std::pair<std::string, torch::Tensor>> named;
    for (const auto& item : t_.model->embedder()->named_parameters()) named.push_back({"embedder." + item.key(), item.value()});
    for (const auto& item : t_.model->reader()->named_parameters()) named.push_back({"reader." + item.key(), item.value()});
    return named;
  }

  void SetTraining(bool on) override {
    t_.model->embedder()->train(on);
    t_.model->reader()->train(on);
  }

  absl::StatusOr<double> Step(int64_t step) override {
    const int64_t batch = spec_.batch_size();
    const int beam = static_cast<int>(std::min<int64_t>(t_.config.searcher_beam_size, retriever_->total_blocks()));
    double loss_sum = 0;
    // Data parallelism: this rank's share; each question's loss counts 1/batch of the global mean.
    const int64_t lo = batch * shard_ / shards_, hi = batch * (shard_ + 1) / shards_;
    for (int64_t b = lo; b < hi; ++b) {
      const QaExample& ex = train_[order_.At(step * batch + b)];
      torch::Tensor ids;
      torch::Tensor q = t_.model->EmbedQuestion(ex.question, &ids);
      auto qd = q.detach().contiguous();
      auto hits = sparse_ ? retriever_->Retrieve(ex.question, beam, orqa::v1::RETRIEVAL_MODE_SPARSE, true)
                          : retriever_->Search(std::vector<float>(qd.data_ptr<float>(), qd.data_ptr<float>() + qd.numel()),
                                               beam, /*with_vectors=*/true);
      if (!hits.ok()) return hits.status();
      auto answers = AnswersIn(ex, spec_.regex_answers(), hits->texts);
      if (!answers.ok()) return absl::InvalidArgumentError(absl::StrCat(spec_.train_path(), ":", answers.status().message()));
      const int64_t s = hits->ids.size();
      if (s == 0) continue;  // BM25 found nothing (a question of stop words): no signal
      std::vector<const std::string*> texts;
      for (const auto& text : hits->texts) texts.push_back(&text);
      auto emb = torch::from_blob(hits->vectors.data(), {s, retriever_->dim()}, torch::kFloat32);
      OpenQAOutput out;
      t_.model->ForwardRetrieved(ex.question, q, torch::tensor(hits->ids, torch::kLong), emb, texts, &*answers, &out);
      (out.loss / static_cast<double>(batch)).backward();
      loss_sum += out.loss.item<double>();
    }
    return loss_sum / static_cast<double>(batch);
  }

  int64_t examples_per_step() const override { return spec_.batch_size(); }

  bool SetDataShard(DataParallel* group) override {
    shard_ = group->rank();
    shards_ = group->world_size();
    return true;
  }

  StateDict Weights() override { return TraineeWeights(t_); }

  const ModelDirFiles& Files() const override { return t_.files; }

  absl::StatusOr<std::map<std::string, double>> Evaluate(const std::function<bool()>& stop) override {
    if (eval_.empty()) return std::map<std::string, double>();
    return EvaluateOpenQA(t_, eval_, spec_.eval_limit(), spec_.regex_answers(), *retriever_, sparse_, stop);
  }

  std::string best_metric() const override { return eval_.empty() ? "" : "exact_match"; }

 private:
  orqa::v1::JobSpec spec_;
  OpenQATrainee t_;
  std::vector<QaExample> train_, eval_;
  RetrieverClient* retriever_;
  int shard_ = 0, shards_ = 1;
  DataOrder order_;
  bool sparse_;  // candidates from BM25 instead of the dense index
};

}  // namespace

absl::Status RunFinetune(JobContext& ctx, RetrieverClient& retriever, TrainerMetrics* metrics) {
  const orqa::v1::JobSpec spec = ctx.Snapshot().spec();
  auto train = ReadQaJsonl(spec.train_path());
  if (!train.ok()) return train.status();
  // Resume from the job's last checkpoint when it has one.
  auto start = StartOpenQAJob(spec, ResumeDir(ctx), retriever);
  if (!start.ok()) return start.status();
  FinetuneTask task(spec, std::move(start->trainee), std::move(*train), std::move(start->eval), &retriever);
  return RunTrainingLoop(ctx, task, start->resume_dir, metrics);
}

}  // namespace orqa
