#include "common/infra/compute_threads.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"

extern "C" void openblas_set_num_threads(int num_threads);

namespace orqa {

void AddComputeThreadFlags(FlagSet& flags, ComputeThreads* t, bool with_search, bool every_core_by_default) {
  if (every_core_by_default) t->threads = 0;
  flags.Int("threads", &t->threads,
            "Threads this process computes with: LibTorch (and its OpenMP: oneDNN, FAISS), OpenBLAS"
            + std::string(with_search ? " and the index scan" : "") + " all get this many" +
            (every_core_by_default ? " (0: every core of this machine)." : "."));
  flags.Int("torch-threads", &t->torch, "Override of --threads for LibTorch's intra-op threads (0: as --threads).");
  flags.Int("openblas-threads", &t->openblas, "Override of --threads for OpenBLAS's threads (0: as --threads).");
  if (with_search) {
    flags.Int("omp-threads", &t->omp,
              "Override of --threads for one search's threads (scan parts, FAISS's OpenMP; 0: as --threads).");
  }
}

void ResolveEveryCore(ComputeThreads* t) {
  if (t->threads == 0) t->threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

absl::Status ValidateComputeThreads(const ComputeThreads& t) {
  if (t.threads < 1 || t.threads > 256) {
    return absl::InvalidArgumentError(absl::StrCat("--threads: expected 1..256, got ", t.threads));
  }
  for (auto [flag, n] : {std::pair<const char*, int>{"--torch-threads", t.torch},
                         {"--openblas-threads", t.openblas},
                         {"--omp-threads", t.omp}}) {
    if (n < 0 || n > 256) return absl::InvalidArgumentError(absl::StrCat(flag, ": expected 0..256, got ", n));
  }
  return absl::OkStatus();
}

void ApplyComputeThreads(const ComputeThreads& t) {
  static std::once_flag interop;
  // Settable once, before any inter-op work; LibTorch throws on a second call.
  std::call_once(interop, [] { at::set_num_interop_threads(1); });
  at::set_num_threads(t.Torch());
  openblas_set_num_threads(t.OpenBlas());
}

}  // namespace orqa
