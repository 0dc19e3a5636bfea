#pragma once

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace orqa::testing {

/// `$ORQA_SHARED_DIR`, else `<repo>/../shared`.
inline std::string SharedDir() {
  if (const char* d = std::getenv("ORQA_SHARED_DIR"); d && *d) return d;
  return std::string(ORQA_SOURCE_DIR) + "/../shared";
}

/// `$ORQA_FIXTURES`, else `<shared>/fixtures/realm-tiny`.
inline std::string FixtureDir() {
  if (const char* d = std::getenv("ORQA_FIXTURES"); d && *d) return d;
  return SharedDir() + "/fixtures/realm-tiny";
}

/// Lines of a text file (empty if missing).
inline std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

}  // namespace orqa::testing
