// `orqa build-bm25`: a Xapian BM25 index over a block store, for orqa-retriever --bm25-index.
#include <cstdio>

#include "common/index/bm25_index.h"
#include "common/index/block_store.h"
#include "common/infra/flags.h"
#include "common/infra/main_util.h"
#include "services/cli/commands.h"
#include "services/cli/progress.h"

namespace orqa::cli {

int RunBuildBm25(int argc, char** argv) {
  constexpr char kCmd[] = "orqa build-bm25";
  std::string blocks_path, out;
  FlagSet flags(kCmd, "Indexes every block of a block store for BM25 retrieval (Xapian).");
  flags.String("blocks", &blocks_path, "Block store (orqa build-blocks).");
  flags.String("out", &out, "Index directory to write (replaced).");
  if (auto code = ParseFlagsOrExit(flags, argc, argv, kCmd)) return *code;
  if (blocks_path.empty() || out.empty()) {
    return ReportFatal(kCmd, absl::InvalidArgumentError("--blocks and --out are required"), 2);
  }
  auto store = BlockStore::Open(blocks_path);
  if (!store.ok()) return ReportFatal(kCmd, store.status());
  Progress progress("indexed blocks", (*store)->size());
  absl::Status st = Bm25Index::Build(**store, out, [&](int64_t done, int64_t) { progress.Update(done); });
  if (!st.ok()) return ReportFatal(kCmd, st);
  progress.Done((*store)->size());
  std::printf("wrote BM25 index of %lld blocks to %s\n", static_cast<long long>((*store)->size()), out.c_str());
  return 0;
}

}  // namespace orqa::cli
