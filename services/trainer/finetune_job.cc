#include "services/trainer/finetune_job.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/model/model_dir.h"
#include "common/train/adamw.h"
#include "common/train/checkpoint.h"
#include "services/trainer/job_manager.h"
#include "services/trainer/openqa_trainee.h"
#include "services/trainer/retriever_client.h"
#include "services/trainer/trainer_metrics.h"

namespace orqa {
namespace {

namespace fs = std::filesystem;
using orqa::v1::Job;
using orqa::v1::JobSpec;

// Example order: a fresh permutation per epoch from (seed, epoch), so the
// example at any global position is known without replaying the run.
class DataOrder {
 public:
  DataOrder(size_t n, int64_t seed) : n_(n), seed_(static_cast<uint64_t>(seed)) {}
  size_t At(int64_t position) {
    const int64_t epoch = position / static_cast<int64_t>(n_);
    if (epoch != epoch_) {
      perm_.resize(n_);
      for (size_t i = 0; i < n_; ++i) perm_[i] = i;
      std::mt19937_64 rng(seed_ * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch));
      std::shuffle(perm_.begin(), perm_.end(), rng);
      epoch_ = epoch;
    }
    return perm_[position % static_cast<int64_t>(n_)];
  }

 private:
  size_t n_;
  uint64_t seed_;
  int64_t epoch_ = -1;
  std::vector<size_t> perm_;
};

std::string StepDir(const std::string& output_dir, int64_t step) {
  return absl::StrFormat("%s/step-%08d", output_dir, step);
}

// Keeps the newest `keep` step directories plus `best`.
void PruneCheckpoints(const std::string& output_dir, int keep, const std::string& best) {
  std::vector<std::string> dirs;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(output_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && name.rfind("step-", 0) == 0 && name.find('.') == std::string::npos) {
      dirs.push_back(e.path().string());
    }
  }
  std::sort(dirs.begin(), dirs.end());
  for (size_t i = 0; i + keep < dirs.size(); ++i) {
    if (dirs[i] != best) fs::remove_all(dirs[i], ec);
  }
}

std::string MetricsLine(const std::map<std::string, double>& m) {
  std::string s;
  for (const char* k : {"exact_match", "official_exact_match", "top_5_match", "top_20_match"}) {
    auto it = m.find(k);
    if (it != m.end()) absl::StrAppendFormat(&s, " %s %.3f", k, it->second);
  }
  return s;
}

}  // namespace

absl::Status RunFinetune(JobContext& ctx, RetrieverClient& retriever, TrainerMetrics* metrics) {
  const Job start = ctx.Snapshot();
  const JobSpec& spec = start.spec();
  auto train = ReadQaJsonl(spec.train_path());
  if (!train.ok()) return train.status();
  std::vector<QaExample> eval;
  if (!spec.eval_path().empty()) {
    auto e = ReadQaJsonl(spec.eval_path());
    if (!e.ok()) return e.status();
    eval = std::move(*e);
  }

  // Resume from the job's last checkpoint when it has one.
  const bool resume = !start.checkpoint_dir().empty() &&
                      fs::exists(start.checkpoint_dir() + "/" + kTrainingStateFile);
  auto trainee = resume ? LoadTrainee(start.checkpoint_dir(), "", spec)
                        : LoadTrainee(spec.model_dir(), spec.weights_path(), spec);
  if (!trainee.ok()) return trainee.status();
  OpenQATrainee& t = *trainee;
  if (absl::Status st = retriever.Refresh(); !st.ok()) return st;
  if (retriever.dim() != t.config.retriever_proj_size) {
    return absl::FailedPreconditionError(absl::StrCat("the retriever serves ", retriever.dim(),
                                                      "-dimensional embeddings but the model projects to ",
                                                      t.config.retriever_proj_size));
  }
  const int beam = static_cast<int>(std::min<int64_t>(t.config.searcher_beam_size, retriever.total_blocks()));

  std::vector<std::pair<std::string, torch::Tensor>> named;
  std::vector<torch::Tensor> params;
  for (const auto& [prefix, module] : {std::pair<std::string, torch::nn::Module*>{"embedder.", t.model->embedder().get()},
                                       {"reader.", t.model->reader().get()}}) {
    for (const auto& item : module->named_parameters()) {
      named.push_back({prefix + item.key(), item.value()});
      params.push_back(item.value());
    }
  }
  AdamWOptions adam_options;
  adam_options.weight_decay = spec.weight_decay();
  AdamW adam(named, adam_options);
  if (resume) {
    auto state = LoadStateDict(start.checkpoint_dir() + "/" + kTrainingStateFile);
    if (!state.ok()) return state.status();
    if (absl::Status st = adam.LoadState(*state, start.checkpoint_dir()); !st.ok()) return st;
  }

  const int64_t num_steps = spec.num_steps(), batch = spec.batch_size();
  const int64_t ckpt_every = spec.checkpoint_every_steps() > 0 ? spec.checkpoint_every_steps()
                             : spec.eval_every_steps() > 0    ? spec.eval_every_steps()
                                                              : std::max<int64_t>(1, num_steps / 10);
  const int keep = spec.keep_checkpoints() > 0 ? spec.keep_checkpoints() : 2;
  const int64_t first_step = adam.steps();
  ctx.Update(
      [&](Job* j) {
        j->set_total(num_steps);
        j->set_step(static_cast<int32_t>(first_step));
        // Steps after the checkpoint were lost with the process and run again.
        while (j->history_size() > 0 && j->history(j->history_size() - 1).step() > first_step) {
          j->mutable_history()->RemoveLast();
        }
      },
      resume ? absl::StrCat("resumed from ", start.checkpoint_dir())
                                                              : "loaded model", true);
  DataOrder order(train->size(), spec.seed());
  int64_t last_ckpt = first_step;
  double best_em = start.best_checkpoint_dir().empty() ? -1.0 : start.best_exact_match();
  std::string best_dir = start.best_checkpoint_dir();

  auto checkpoint = [&](int64_t step) -> absl::Status {
    const std::string dir = StepDir(spec.output_dir(), step);
    StateDict weights = NamedParameters(*t.model->embedder(), "embedder.");
    for (auto& [k, v] : NamedParameters(*t.model->reader(), "reader.")) weights[k] = v;
    StateDict opt = adam.State();
    std::map<std::string, std::string> meta = {{"architecture", "RealmForOpenQA"},
                                               {"orqa_job", start.job_id()},
                                               {"orqa_step", std::to_string(step)}};
    if (absl::Status st = WriteModelDir(dir, t.files, weights, meta, &opt); !st.ok()) return st;
    last_ckpt = step;
    PruneCheckpoints(spec.output_dir(), keep, best_dir);
    ctx.Update([&](Job* j) { j->set_checkpoint_dir(dir); }, absl::StrCat("checkpoint ", dir), true);
    return absl::OkStatus();
  };

  auto started = std::chrono::steady_clock::now();
  for (int64_t step = first_step; step < num_steps; ++step) {
    if (ctx.cancelled()) return absl::CancelledError("cancelled");
    if (ctx.stopping()) {
      if (step > last_ckpt) {
        if (absl::Status st = checkpoint(step); !st.ok()) return st;
      }
      return absl::AbortedError("trainer stopping");
    }
    // Dropout noise is a function of (seed, step) too.
    torch::manual_seed(static_cast<uint64_t>(spec.seed()) * 1000003ULL + static_cast<uint64_t>(step));
    if (spec.disable_dropout()) {
      t.model->embedder()->eval();
      t.model->reader()->eval();
    } else {
      t.model->embedder()->train();
      t.model->reader()->train();
    }
    auto t0 = std::chrono::steady_clock::now();
    double loss_sum = 0;
    for (int64_t b = 0; b < batch; ++b) {
      const QaExample& ex = (*train)[order.At(step * batch + b)];
      torch::Tensor ids;
      torch::Tensor q = t.model->EmbedQuestion(ex.question, &ids);
      auto qd = q.detach().contiguous();
      auto hits = retriever.Search(std::vector<float>(qd.data_ptr<float>(), qd.data_ptr<float>() + qd.numel()), beam,
                                   /*with_vectors=*/true);
      if (!hits.ok()) return hits.status();
      auto answers = AnswersIn(ex, spec.regex_answers(), hits->texts);
      if (!answers.ok()) return absl::InvalidArgumentError(absl::StrCat(spec.train_path(), ":", answers.status().message()));
      const int64_t s = hits->ids.size();
      std::vector<const std::string*> texts;
      for (const auto& text : hits->texts) texts.push_back(&text);
      auto emb = torch::from_blob(hits->vectors.data(), {s, retriever.dim()}, torch::kFloat32);
      OpenQAOutput out;
      t.model->ForwardRetrieved(ex.question, q, torch::tensor(hits->ids, torch::kLong), emb, texts, &*answers, &out);
      (out.loss / static_cast<double>(batch)).backward();
      loss_sum += out.loss.item<double>();
    }
    const double lr = WarmupLinearDecay(spec.learning_rate(), step, spec.warmup_steps(), num_steps);
    ClipGradNorm(params, spec.max_grad_norm());
    adam.Step(lr);
    adam.ZeroGrad();

    const double loss = loss_sum / static_cast<double>(batch);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double rate = secs > 0 ? static_cast<double>(batch) / secs : 0;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const double eta = elapsed / static_cast<double>(step + 1 - first_step) * static_cast<double>(num_steps - step - 1);
    if (!std::isfinite(loss)) return absl::InternalError(absl::StrCat("loss is not finite at step ", step + 1));
    if (metrics) metrics->Step(loss, lr, rate);
    ctx.Update(
        [&](Job* j) {
          j->set_step(static_cast<int32_t>(step + 1));
          j->set_loss(static_cast<float>(loss));
          j->set_learning_rate(static_cast<float>(lr));
          j->set_examples_per_second(rate);
          j->set_eta_s(eta);
          auto* h = j->add_history();
          h->set_step(static_cast<int32_t>(step + 1));
          h->set_loss(static_cast<float>(loss));
          h->set_learning_rate(static_cast<float>(lr));
          h->set_examples_per_second(rate);
          h->set_time_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count());
        },
        absl::StrFormat("step %d/%d loss %.4f lr %.3g %.1f q/s ETA %.0f s", step + 1, num_steps, loss, lr, rate, eta),
        false);

    const bool last = step + 1 == num_steps;
    const bool do_eval = !eval.empty() && ((spec.eval_every_steps() > 0 && (step + 1) % spec.eval_every_steps() == 0) || last);
    if (do_eval || last || (step + 1) % ckpt_every == 0) {
      if (absl::Status st = checkpoint(step + 1); !st.ok()) return st;
    }
    if (do_eval) {
      auto m = EvaluateOpenQA(t, eval, spec.eval_limit(), spec.regex_answers(), retriever,
                              [&] { return ctx.cancelled() || ctx.stopping(); });
      if (!m.ok()) {
        if (m.status().code() == absl::StatusCode::kAborted) continue;  // the loop head ends the job
        return m.status();
      }
      if (metrics) metrics->Eval(*m);
      const double em = m->at("exact_match");
      const std::string dir = StepDir(spec.output_dir(), step + 1);
      if (em > best_em) {
        best_em = em;
        best_dir = dir;
      }
      ctx.Update(
          [&](Job* j) {
            j->mutable_metrics()->clear();
            for (const auto& [k, v] : *m) (*j->mutable_metrics())[k] = v;
            j->set_best_checkpoint_dir(best_dir);
            j->set_best_exact_match(best_em);
            auto* h = j->mutable_history(j->history_size() - 1);
            for (const auto& [k, v] : *m) (*h->mutable_metrics())[k] = v;
          },
          absl::StrCat("eval at step ", step + 1, ":", MetricsLine(*m)), true);
    }
  }
  if (ctx.cancelled()) return absl::CancelledError("cancelled");
  return absl::OkStatus();
}

}  // namespace orqa
