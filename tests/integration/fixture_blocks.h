#pragma once

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/integration/process.h"
#include "tests/unit/fixture_paths.h"

namespace orqa::testing {

/// Builds the fixture's block store at `out` with `orqa build-blocks`: from
/// the "blocks" of the fixture's goldens.json when it carries them (so the
/// tests follow any fixture folder of the realm-tiny format), else from the
/// shared hf-format/block_records.npy. Returns the number of blocks, or -1
/// with the reason in `error`.
inline int BuildFixtureBlocks(const std::string& fixture_dir, const std::string& out, std::string* error) {
  std::ifstream in(fixture_dir + "/goldens.json");
  const nlohmann::json meta = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  std::string source = SharedDir() + "/fixtures/hf-format/block_records.npy";
  int count = -1;
  if (meta.is_object() && meta.contains("blocks") && meta["blocks"].is_array()) {
    source = out + ".jsonl";
    std::ofstream jsonl(source);
    count = 0;
    for (const auto& b : meta["blocks"]) {
      jsonl << nlohmann::json{{"id", count++}, {"title", ""}, {"text", b}}.dump() << "\n";
    }
  }
  std::string output;
  if (RunCommand(Bin("orqa") + " build-blocks --from " + source + " --out " + out, &output) != 0) {
    *error = output;
    return -1;
  }
  if (count < 0) {
    // "wrote N blocks ..." is not a contract; count by the store itself through the CLI's output.
    const size_t at = output.find("wrote ");
    count = at == std::string::npos ? -1 : std::atoi(output.c_str() + at + 6);
    if (count < 0) *error = "cannot tell the block count from: " + output;
  }
  return count;
}

}  // namespace orqa::testing
