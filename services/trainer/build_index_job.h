#pragma once

#include "absl/status/status.h"

namespace orqa {

class JobContext;
class RetrieverClient;
class TrainerMetrics;

/// BUILD_INDEX: embeds every block of a block store (or one shard's slice)
/// with a checkpoint's block embedder into a float32 .npy, resumable from its
/// `.partial` file, with progress; then, if asked, Reloads it into every
/// retriever shard (each takes its own slice). A stop leaves the partial file
/// for the resumed job; a cancel removes it.
absl::Status RunBuildIndex(JobContext& ctx, RetrieverClient& retriever, TrainerMetrics* metrics);

}  // namespace orqa
