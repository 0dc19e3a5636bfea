#pragma once

#include <cstddef>
#include <string>

namespace orqa::cli {

/// A gzip-compressed JSON-lines QA set built into the binary from data/benchmarks/.
struct EmbeddedDataset {
  const char* key;   // "nq", "wq"
  const char* name;  // e.g. "NQ-open test"
  const unsigned char* gz;
  size_t size;
};

/// The set named `key`, or nullptr.
const EmbeddedDataset* FindEmbeddedDataset(const std::string& key);

}  // namespace orqa::cli
