#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace prometheus {
class Counter;
class Gauge;
template <typename T>
class Family;
class Registry;
}  // namespace prometheus

namespace orqa {

/// The trainer's Prometheus families:
///   orqa_trainer_steps_total                 optimiser steps done, all jobs
///   orqa_trainer_loss                        latest step's mean loss
///   orqa_trainer_learning_rate               latest learning rate
///   orqa_trainer_examples_per_second         questions (or blocks) per second
///   orqa_trainer_jobs{state}                 jobs in the table per state
///   orqa_trainer_eval{metric}                latest evaluation metrics
///   orqa_trainer_blocks_embedded_total       BUILD_INDEX rows embedded
///   orqa_trainer_step_metric{metric}         latest per-step values (in-batch
///                                            accuracy, index staleness, …)
///   orqa_trainer_index_refreshes_total       PRETRAIN_REALM index refreshes done
///   orqa_trainer_index_refresh_seconds       duration of the latest refresh
class TrainerMetrics {
 public:
  explicit TrainerMetrics(prometheus::Registry& registry);

  void Step(double loss, double learning_rate, double examples_per_second,
            const std::map<std::string, double>& step_metrics = {});
  void IndexRefreshed(double seconds);
  void BlocksEmbedded(int64_t n, double blocks_per_second);
  void Eval(const std::map<std::string, double>& metrics);
  /// Sets orqa_trainer_jobs{state} to the given counts (every state present).
  void Jobs(const std::map<std::string, int>& by_state);

 private:
  prometheus::Registry& registry_;
  prometheus::Counter* steps_;
  prometheus::Counter* blocks_;
  prometheus::Gauge* loss_;
  prometheus::Gauge* lr_;
  prometheus::Gauge* rate_;
  prometheus::Family<prometheus::Gauge>* jobs_;
  prometheus::Family<prometheus::Gauge>* eval_;
  prometheus::Family<prometheus::Gauge>* step_metric_;
  prometheus::Counter* refreshes_;
  prometheus::Gauge* refresh_seconds_;
};

}  // namespace orqa
