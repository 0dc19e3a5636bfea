#include "common/index/fusion.h"

#include <algorithm>
#include <map>

namespace orqa {
namespace {

ScoredIds Best(const std::map<int64_t, double>& fused, int k) {
  std::vector<std::pair<int64_t, double>> v(fused.begin(), fused.end());
  std::sort(v.begin(), v.end(), [](const auto& x, const auto& y) {
    return x.second != y.second ? x.second > y.second : x.first < y.first;
  });
  ScoredIds out;
  for (size_t i = 0; i < v.size() && static_cast<int>(i) < k; ++i) {
    out.ids.push_back(v[i].first);
    out.scores.push_back(static_cast<float>(v[i].second));
  }
  return out;
}

}  // namespace

ScoredIds ReciprocalRankFusion(const ScoredIds& a, const ScoredIds& b, int k, double c) {
  std::map<int64_t, double> fused;
  for (const ScoredIds* list : {&a, &b}) {
    for (size_t r = 0; r < list->ids.size(); ++r) fused[list->ids[r]] += 1.0 / (c + static_cast<double>(r + 1));
  }
  return Best(fused, k);
}

ScoredIds WeightedScoreFusion(const ScoredIds& a, const ScoredIds& b, double w, int k) {
  std::map<int64_t, double> fused;
  auto add = [&](const ScoredIds& list, double weight) {
    if (list.ids.empty()) return;
    const auto [lo, hi] = std::minmax_element(list.scores.begin(), list.scores.end());
    const double range = static_cast<double>(*hi) - static_cast<double>(*lo);
    for (size_t i = 0; i < list.ids.size(); ++i) {
      const double norm = range > 0 ? (static_cast<double>(list.scores[i]) - *lo) / range : 1.0;
      fused[list.ids[i]] += weight * norm;
    }
    for (int64_t id : (&list == &a ? b : a).ids) fused.emplace(id, 0.0);
  };
  add(a, w);
  add(b, 1.0 - w);
  return Best(fused, k);
}

}  // namespace orqa
