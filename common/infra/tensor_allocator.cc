#include "common/infra/tensor_allocator.h"

#include <malloc.h>

namespace orqa {

void KeepTensorAllocationsInHeap() {
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

}  // namespace orqa
