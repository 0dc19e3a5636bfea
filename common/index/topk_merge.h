#pragma once

#include <cstdint>
#include <vector>

namespace orqa {

/// One shard's top-k for one query: global block ids and their scores,
/// sorted by descending score, ties by ascending id.
struct ScoredIds {
  std::vector<int64_t> ids;
  std::vector<float> scores;
};

/// Exact merge of per-shard top-k lists into the global top-k: since each
/// shard's list holds its k best, the k best overall are among them. Ties are
/// broken by ascending block id, the same order a single index gives.
ScoredIds MergeTopK(const std::vector<ScoredIds>& shards, int k);

/// Sorts one result list by (score descending, id ascending).
void SortResults(ScoredIds* r);

}  // namespace orqa
