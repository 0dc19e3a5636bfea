#include "services/trainer/trainer_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

namespace orqa {

TrainerMetrics::TrainerMetrics(prometheus::Registry& registry) : registry_(registry) {
  steps_ = &prometheus::BuildCounter().Name("orqa_trainer_steps_total").Help("Optimiser steps done, all jobs").Register(registry).Add({});
  blocks_ = &prometheus::BuildCounter()
                 .Name("orqa_trainer_blocks_embedded_total")
                 .Help("Blocks embedded by BUILD_INDEX jobs")
                 .Register(registry)
                 .Add({});
  loss_ = &prometheus::BuildGauge().Name("orqa_trainer_loss").Help("Mean loss of the latest step").Register(registry).Add({});
  lr_ = &prometheus::BuildGauge().Name("orqa_trainer_learning_rate").Help("Learning rate of the latest step").Register(registry).Add({});
  rate_ = &prometheus::BuildGauge()
               .Name("orqa_trainer_examples_per_second")
               .Help("Questions (FINETUNE) or blocks (BUILD_INDEX) per second of the running job")
               .Register(registry)
               .Add({});
  jobs_ = &prometheus::BuildGauge().Name("orqa_trainer_jobs").Help("Jobs in the job table by state").Register(registry);
  eval_ = &prometheus::BuildGauge().Name("orqa_trainer_eval").Help("Latest evaluation metrics by name").Register(registry);
  step_metric_ = &prometheus::BuildGauge()
                      .Name("orqa_trainer_step_metric")
                      .Help("Latest per-step values of the running job by name (in-batch accuracy, index staleness)")
                      .Register(registry);
  refreshes_ = &prometheus::BuildCounter()
                    .Name("orqa_trainer_index_refreshes_total")
                    .Help("Asynchronous index refreshes completed by PRETRAIN_REALM jobs")
                    .Register(registry)
                    .Add({});
  refresh_seconds_ = &prometheus::BuildGauge()
                          .Name("orqa_trainer_index_refresh_seconds")
                          .Help("Seconds the latest index refresh took (snapshot, embedding, reload)")
                          .Register(registry)
                          .Add({});
}

void TrainerMetrics::Step(double loss, double learning_rate, double examples_per_second,
                          const std::map<std::string, double>& step_metrics) {
  steps_->Increment();
  for (const auto& [name, value] : step_metrics) step_metric_->Add({{"metric", name}}).Set(value);
  loss_->Set(loss);
  lr_->Set(learning_rate);
  rate_->Set(examples_per_second);
}

void TrainerMetrics::BlocksEmbedded(int64_t n, double blocks_per_second) {
  blocks_->Increment(static_cast<double>(n));
  rate_->Set(blocks_per_second);
}

void TrainerMetrics::IndexRefreshed(double seconds) {
  refreshes_->Increment();
  refresh_seconds_->Set(seconds);
}

void TrainerMetrics::Eval(const std::map<std::string, double>& metrics) {
  for (const auto& [name, value] : metrics) eval_->Add({{"metric", name}}).Set(value);
}

void TrainerMetrics::Jobs(const std::map<std::string, int>& by_state) {
  for (const auto& [state, n] : by_state) jobs_->Add({{"state", state}}).Set(n);
}

}  // namespace orqa
