#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "common/index/topk_merge.h"

namespace Xapian {
class Database;
}  // namespace Xapian

namespace orqa {

class BlockStore;

/// BM25 parameters (Robertson's k1 and b; defaults as tuned for passage retrieval).
struct Bm25Options {
  double k1 = 0.9;
  double b = 0.4;
};

/// Sparse retrieval over a block store with Xapian: one document per block
/// (title and text, lower-cased words, English stop words dropped, no
/// stemming), document id = block id + 1, ranked by Xapian's BM25 weight.
class Bm25Index {
 public:
  /// Writes a Xapian database for every block of `store` into `dir`
  /// (replacing what is there); `progress(done, total)` after each batch.
  static absl::Status Build(const BlockStore& store, const std::string& dir,
                            const std::function<void(int64_t, int64_t)>& progress);

  /// Opens a database written by Build. Errors name the directory.
  static absl::StatusOr<std::unique_ptr<Bm25Index>> Open(const std::string& dir, const Bm25Options& options);
  ~Bm25Index();

  /// The best `k` blocks with ids in [begin, end) for `query` (global ids,
  /// BM25 scores), best first, ties by id. A query with no indexed word gives
  /// an empty list. Safe for concurrent use.
  absl::StatusOr<ScoredIds> Search(const std::string& query, int k, int64_t begin, int64_t end) const;

  int64_t size() const { return size_; }
  const std::string& dir() const { return dir_; }

 private:
  Bm25Index() = default;
  mutable std::mutex mu_;  // Xapian databases are not thread-safe
  std::unique_ptr<Xapian::Database> db_;
  Bm25Options options_;
  int64_t size_ = 0;
  std::string dir_;
};

}  // namespace orqa
