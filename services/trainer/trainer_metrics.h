#pragma once

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
class TrainerMetrics {
 public:
  explicit TrainerMetrics(prometheus::Registry& registry);

  void Step(double loss, double learning_rate, double examples_per_second);
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
};

}  // namespace orqa
