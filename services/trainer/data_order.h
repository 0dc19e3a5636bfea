#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

namespace orqa {

/// Example order of a training job: a fresh permutation of [0, n) per epoch,
/// drawn from (seed, epoch), so the example at any global position is known
/// without replaying the run (what an exact resume needs).
class DataOrder {
 public:
  DataOrder(size_t n, int64_t seed) : n_(n), seed_(static_cast<uint64_t>(seed)) {}

  /// The example at global position `position` (epoch = position / n).
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

}  // namespace orqa
