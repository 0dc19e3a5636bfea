#include "services/trainer/training_loop.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/train/adamw.h"
#include "services/trainer/data_parallel.h"
#include "services/trainer/job_manager.h"
#include "services/trainer/trainer_metrics.h"

namespace orqa {
namespace {

namespace fs = std::filesystem;
using orqa::v1::Job;

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
  for (const auto& [k, v] : m) {
    if (k != "questions") absl::StrAppendFormat(&s, " %s %.3f", k, v);
  }
  return s;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::unique_lock<std::mutex> LockTorchGenerator() {
  static std::mutex mu;
  return std::unique_lock<std::mutex>(mu);
}

std::string ResumeDir(JobContext& ctx) {
  const Job job = ctx.Snapshot();
  if (job.checkpoint_dir().empty()) return "";
  return fs::exists(job.checkpoint_dir() + "/" + kTrainingStateFile) ? job.checkpoint_dir() : "";
}

absl::Status RunTrainingLoop(JobContext& ctx, TrainingTask& task, const std::string& resume_dir,
                             TrainerMetrics* metrics) {
  const Job start = ctx.Snapshot();
  const orqa::v1::JobSpec& spec = start.spec();
  std::vector<torch::Tensor> params;
  auto named = task.Parameters();
  for (const auto& [name, p] : named) params.push_back(p);
  AdamWOptions adam_options;
  adam_options.weight_decay = spec.weight_decay();
  AdamW adam(named, adam_options);
  if (!resume_dir.empty()) {
    auto state = LoadStateDict(resume_dir + "/" + kTrainingStateFile);
    if (!state.ok()) return state.status();
    if (absl::Status st = adam.LoadState(*state, resume_dir); !st.ok()) return st;
  }
  const int64_t num_steps = spec.num_steps(), first_step = adam.steps();
  const int64_t ckpt_every = spec.checkpoint_every_steps() > 0 ? spec.checkpoint_every_steps()
                             : spec.eval_every_steps() > 0    ? spec.eval_every_steps()
                                                              : std::max<int64_t>(1, num_steps / 10);
  const int keep = spec.keep_checkpoints() > 0 ? spec.keep_checkpoints() : 2;
  DataParallel* dp = ctx.data_parallel();
  const bool writer = dp == nullptr || dp->rank() == 0;  // checkpoints and evaluation
  if (dp != nullptr) {
    if (spec.batch_size() % dp->world_size() != 0) {
      return absl::InvalidArgumentError(absl::StrCat("batch_size: ", spec.batch_size(), " does not split over ",
                                                     dp->world_size(), " data-parallel ranks"));
    }
    if (!task.SetDataShard(dp)) {
      return absl::FailedPreconditionError(
          absl::StrCat(orqa::v1::JobKind_Name(spec.kind()), " cannot split its batches over trainer ranks"));
    }
  }
  const std::string metric = writer ? task.best_metric() : "";
  ctx.Update(
      [&](Job* j) {
        j->set_total(num_steps);
        j->set_step(static_cast<int32_t>(first_step));
        // Steps after the checkpoint were lost with the process and run again.
        while (j->history_size() > 0 && j->history(j->history_size() - 1).step() > first_step) {
          j->mutable_history()->RemoveLast();
        }
      },
      resume_dir.empty() ? "loaded model" : absl::StrCat("resumed from ", resume_dir), true);
  int64_t last_ckpt = first_step;
  double best = start.best_checkpoint_dir().empty() ? -1.0 : start.best_exact_match();
  std::string best_dir = start.best_checkpoint_dir();

  auto checkpoint = [&](int64_t step) -> absl::Status {
    if (!writer) {
      last_ckpt = step;
      return absl::OkStatus();
    }
    const std::string dir = StepDir(spec.output_dir(), step);
    StateDict opt = adam.State();
    std::map<std::string, std::string> meta = {{"orqa_job", start.job_id()}, {"orqa_step", std::to_string(step)},
                                               {"orqa_kind", orqa::v1::JobKind_Name(spec.kind())}};
    if (absl::Status st = WriteModelDir(dir, task.Files(), task.Weights(), meta, &opt); !st.ok()) return st;
    last_ckpt = step;
    PruneCheckpoints(spec.output_dir(), keep, best_dir);
    ctx.Update([&](Job* j) { j->set_checkpoint_dir(dir); }, absl::StrCat("checkpoint ", dir), true);
    return absl::OkStatus();
  };

  auto started = std::chrono::steady_clock::now();
  for (int64_t step = first_step; step < num_steps; ++step) {
    bool cancelled = ctx.cancelled(), stopping = ctx.stopping();
    if (dp != nullptr) {  // every rank leaves at the same step
      auto agreed = dp->AgreeOnStop(cancelled ? 1 : stopping ? 2 : 0);
      if (!agreed.ok()) return agreed.status();
      cancelled = *agreed == 1;
      stopping = *agreed == 2;
    }
    if (cancelled) return absl::CancelledError("cancelled");
    if (stopping) {
      if (step > last_ckpt) {
        if (absl::Status st = checkpoint(step); !st.ok()) return st;
      }
      return absl::AbortedError("trainer stopping");
    }
    // Dropout noise and any sampling are functions of (seed, step).
    auto t0 = std::chrono::steady_clock::now();
    absl::StatusOr<double> loss_or;
    {
      auto generator = LockTorchGenerator();
      torch::manual_seed(static_cast<uint64_t>(spec.seed()) * 1000003ULL + static_cast<uint64_t>(step));
      task.SetTraining(!spec.disable_dropout());
      loss_or = task.Step(step);
    }
    if (!loss_or.ok()) return loss_or.status();
    double loss = *loss_or;
    std::map<std::string, double> step_metrics = task.StepMetrics();
    if (dp != nullptr) {
      auto summed = dp->AllReduceGradients(params, loss);
      if (!summed.ok()) return summed.status();
      loss = *summed;
      step_metrics["allreduce_ms"] = dp->last_allreduce_ms();
    }
    if (!std::isfinite(loss)) return absl::InternalError(absl::StrCat("loss is not finite at step ", step + 1));
    const double lr = WarmupLinearDecay(spec.learning_rate(), step, spec.warmup_steps(), num_steps);
    ClipGradNorm(params, spec.max_grad_norm());
    adam.Step(lr);
    adam.ZeroGrad();

    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double rate = secs > 0 ? static_cast<double>(task.examples_per_step()) / secs : 0;  // the global batch
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const double eta = elapsed / static_cast<double>(step + 1 - first_step) * static_cast<double>(num_steps - step - 1);
    if (metrics) metrics->Step(loss, lr, rate, step_metrics);
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
          h->set_time_unix_ms(NowMs());
          for (const auto& [k, v] : step_metrics) (*h->mutable_metrics())[k] = v;
        },
        absl::StrFormat("step %d/%d loss %.4f lr %.3g %.1f ex/s ETA %.0f s", step + 1, num_steps, loss, lr, rate, eta),
        false);

    const bool last = step + 1 == num_steps;
    const bool do_eval =
        !metric.empty() && ((spec.eval_every_steps() > 0 && (step + 1) % spec.eval_every_steps() == 0) || last);
    if (do_eval || last || (step + 1) % ckpt_every == 0) {
      if (absl::Status st = checkpoint(step + 1); !st.ok()) return st;
    }
    if (!do_eval) continue;
    task.SetTraining(false);
    auto m = task.Evaluate([&] { return ctx.cancelled() || ctx.stopping(); });
    if (!m.ok()) {
      if (m.status().code() == absl::StatusCode::kAborted) continue;  // the loop head ends the job
      return m.status();
    }
    if (m->empty()) continue;
    if (metrics) metrics->Eval(*m);
    const double value = m->count(metric) ? m->at(metric) : -1.0;
    if (value > best) {
      best = value;
      best_dir = StepDir(spec.output_dir(), step + 1);
    }
    ctx.Update(
        [&](Job* j) {
          j->mutable_metrics()->clear();
          for (const auto& [k, v] : *m) (*j->mutable_metrics())[k] = v;
          j->set_best_checkpoint_dir(best_dir);
          j->set_best_exact_match(best);
          auto* h = j->mutable_history(j->history_size() - 1);
          for (const auto& [k, v] : *m) (*h->mutable_metrics())[k] = v;
        },
        absl::StrCat("eval at step ", step + 1, ":", MetricsLine(*m)), true);
  }
  if (ctx.cancelled()) return absl::CancelledError("cancelled");
  return absl::OkStatus();
}

}  // namespace orqa
