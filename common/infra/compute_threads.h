#pragma once

#include "absl/status/status.h"
#include "common/infra/flags.h"

namespace orqa {

/// How many threads one process's arithmetic may use, as one number: every
/// library that computes gets it — LibTorch's intra-op threads (the OpenMP
/// threads its kernels, oneDNN's products and FAISS's searches run on),
/// OpenBLAS's own pool (LibTorch's fp32 products) and orqa's scan threads. So
/// no library starts a pool of its own size beside the others' (with OpenBLAS
/// left to itself, it starts one thread per core and spins them against the
/// other services). LibTorch's inter-op pool gets one thread: a service's
/// requests already run on their own threads.
///
/// `--threads N` sets it (default 1: several services share a host's cores;
/// give a service the cores it may use alone). The per-library flags
/// (`--torch-threads`, `--openblas-threads`, `--omp-threads`) override one
/// library's share, for experiments; 0 = as --threads.
struct ComputeThreads {
  int threads = 1;
  int torch = 0, openblas = 0, omp = 0;

  int Torch() const { return torch > 0 ? torch : threads; }
  int OpenBlas() const { return openblas > 0 ? openblas : threads; }
  /// orqa's scan threads and FAISS's OpenMP threads of one search.
  int Omp() const { return omp > 0 ? omp : threads; }
};

/// Registers --threads and the overrides (--omp-threads only where the
/// process searches an index: `with_search`).
/// `every_core_by_default`: --threads defaults to 0 = every core of the
/// machine (a tool run alone); resolve it with ResolveEveryCore before
/// validating. (The default is written as 0, not as this machine's count, so
/// --help and docs/flags.md are the same on every machine.)
void AddComputeThreadFlags(FlagSet& flags, ComputeThreads* threads, bool with_search,
                           bool every_core_by_default = false);
void ResolveEveryCore(ComputeThreads* threads);

/// --threads 1..256; each override 0..256. The error names the flag.
absl::Status ValidateComputeThreads(const ComputeThreads& threads);

/// Sets LibTorch's intra-op threads (and with them the calling thread's
/// OpenMP threads; other threads take LibTorch's count on their first
/// parallel op), LibTorch's inter-op threads (1, once per process) and
/// OpenBLAS's. The scan's threads are passed to the searcher by the caller.
void ApplyComputeThreads(const ComputeThreads& threads);

}  // namespace orqa
