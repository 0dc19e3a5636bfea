#include "common/index/topk_merge.h"

#include <algorithm>
#include <numeric>

namespace orqa {
namespace {

bool Better(float sa, int64_t ia, float sb, int64_t ib) { return sa > sb || (sa == sb && ia < ib); }

}  // namespace

void SortResults(ScoredIds* r) {
  std::vector<size_t> order(r->ids.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return Better(r->scores[a], r->ids[a], r->scores[b], r->ids[b]);
  });
  ScoredIds out;
  for (size_t i : order) {
    out.ids.push_back(r->ids[i]);
    out.scores.push_back(r->scores[i]);
  }
  *r = std::move(out);
}

ScoredIds MergeTopK(const std::vector<ScoredIds>& shards, int k) {
  ScoredIds all;
  for (const auto& s : shards) {
    for (size_t i = 0; i < s.ids.size(); ++i) {
      if (s.ids[i] < 0) continue;  // FAISS pads short results with -1
      all.ids.push_back(s.ids[i]);
      all.scores.push_back(s.scores[i]);
    }
  }
  SortResults(&all);
  if (static_cast<int>(all.ids.size()) > k) {
    all.ids.resize(k);
    all.scores.resize(k);
  }
  return all;
}

}  // namespace orqa
