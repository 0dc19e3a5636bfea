// make_tf_checkpoints --fixtures DIR --out DIR [--rename FROM=TO] [--narrow-kernel NAME] [--block-rows N]:
// writes a realm-tiny-format fixture's weights as the released TensorFlow
// REALM/ORQA checkpoints, with the reference's names and layouts, and prints
// each checkpoint's prefix as NAME=PREFIX lines (for tf_convert_test.sh).
#include <cstdio>
#include <string>

#include "tests/unit/reference_tf_checkpoints.h"

int main(int argc, char** argv) {
  std::string fixtures, out;
  orqa::testing::CheckpointFaults faults;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--fixtures") {
      fixtures = value;
    } else if (flag == "--out") {
      out = value;
    } else if (flag == "--rename" && value.find('=') != std::string::npos) {
      faults.rename_from = value.substr(0, value.find('='));
      faults.rename_to = value.substr(value.find('=') + 1);
    } else if (flag == "--block-rows") {
      faults.block_rows = std::stoll(value);
    } else if (flag == "--narrow-kernel") {
      faults.narrow_kernel = value;
    } else {
      std::fprintf(stderr, "make_tf_checkpoints: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (fixtures.empty() || out.empty()) {
    std::fprintf(stderr, "usage: make_tf_checkpoints --fixtures DIR --out DIR [--rename FROM=TO] [--narrow-kernel NAME] [--block-rows N]\n");
    return 2;
  }
  auto c = orqa::testing::WriteReferenceTFCheckpoints(fixtures, out, faults);
  if (!c.ok()) {
    std::fprintf(stderr, "make_tf_checkpoints: %s\n", std::string(c.status().message()).c_str());
    return 1;
  }
  std::printf("BERT=%s\nEMBEDDER=%s\nFINETUNED=%s\nENCODED=%s\nSLOTS=%s\n", c->bert.c_str(), c->embedder.c_str(),
              c->finetuned.c_str(), c->encoded.c_str(), c->slots.c_str());
  return 0;
}
