#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/infra/tls.h"
#include "orqa/v1/retriever.grpc.pb.h"

namespace orqa {

/// Blocks retrieved for one query over every shard, best first.
struct RetrievedBlocks {
  std::vector<int64_t> ids;
  std::vector<float> scores;
  std::vector<std::string> titles;
  std::vector<std::string> texts;
  std::vector<float> vectors;  // [n, dim] row-major, when asked for
};

/// The trainer's view of the retriever shards: layout, exact top-k over all
/// shards (per-shard top-k merged by score, ties by id, as the gateway does),
/// and Reload. A call that fails UNAVAILABLE is tried again (0.5, 1, 2, … s
/// apart) up to `attempts` times; the final error names the shard and address.
class RetrieverClient {
 public:
  RetrieverClient(std::vector<std::string> addresses, int attempts, const TlsCalling& tls = {});

  /// GetInfo of every shard; fills total blocks and the embedding dimension.
  absl::Status Refresh();
  /// Refresh(), then FAILED_PRECONDITION unless the shards serve
  /// `proj_size`-dimensional embeddings (what the job's model projects to).
  absl::Status RefreshForModel(int proj_size);
  int64_t total_blocks() const { return total_blocks_; }
  int dim() const { return dim_; }
  size_t num_shards() const { return stubs_.size(); }
  const std::string& address(size_t i) const { return addresses_[i]; }

  /// Top `k` (at most total_blocks()) for query vector `q` of length dim().
  absl::StatusOr<RetrievedBlocks> Search(const std::vector<float>& q, int k, bool with_vectors);

  /// Top `k` for a question by the retrievers' own embedder (DENSE) or BM25
  /// (SPARSE), over every shard with the exact merge; texts and, if asked, vectors.
  absl::StatusOr<RetrievedBlocks> Retrieve(const std::string& question, int k, orqa::v1::RetrievalMode mode,
                                           bool with_vectors);

  /// Reload on shard `i`.
  absl::StatusOr<orqa::v1::ReloadResponse> Reload(size_t i, const orqa::v1::ReloadRequest& request);

 private:
  template <typename Call>
  absl::Status WithRetry(size_t shard, const std::string& what, Call&& call);

  std::vector<std::string> addresses_;
  int attempts_;
  std::vector<std::unique_ptr<orqa::v1::Retriever::Stub>> stubs_;
  std::vector<int64_t> shard_blocks_;
  int64_t total_blocks_ = 0;
  int dim_ = 0;
};

}  // namespace orqa
