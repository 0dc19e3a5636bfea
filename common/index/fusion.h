#pragma once

#include "common/index/topk_merge.h"

namespace orqa {

/// Reciprocal rank fusion (Cormack et al. 2009): score(d) = Σ_lists 1 / (c + rank(d)),
/// rank from 1; the best `k`, ties by id.
ScoredIds ReciprocalRankFusion(const ScoredIds& a, const ScoredIds& b, int k, double c = 60.0);

/// Weighted score fusion: each list's scores min-max normalised to [0, 1]
/// (a block missing from a list scores 0 there), fused = w·a + (1−w)·b; the
/// best `k`, ties by id.
ScoredIds WeightedScoreFusion(const ScoredIds& a, const ScoredIds& b, double w, int k);

}  // namespace orqa
