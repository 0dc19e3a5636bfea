#pragma once

namespace orqa {

/// Keeps LibTorch's large CPU tensors in the malloc heap instead of fresh
/// mmap()s. glibc serves every allocation above its mmap threshold (at most
/// 32 MiB) with mmap and returns it with munmap on free, so each forward pass
/// over more than ~9 BERT-base rows of 288 tokens page-faults and zero-fills
/// its activations again: measured here, 507 ms per row at 10 rows against
/// 338 at 5, with half the CPU time in the kernel. With mmap off for
/// allocations (M_MMAP_MAX 0) and trimming only above 1 GiB, per-row time
/// stays flat (329 ms at 10 rows, 339 at 40). Called first thing by every
/// binary that runs models; the price is that RSS keeps its peak (less 1 GiB).
void KeepTensorAllocationsInHeap();

}  // namespace orqa
