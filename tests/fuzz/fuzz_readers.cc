// libFuzzer target for the checkpoint and data readers: each parses arbitrary
// bytes and must fail with a status, never crash. The reader under test is
// chosen by ORQA_FUZZ_READER (safetensors, pytorch_zip, npy, tfrecord,
// tf_bundle), so the library is compiled once for all of them.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/io/npy.h"
#include "common/io/pytorch_zip.h"
#include "common/io/safetensors.h"
#include "common/io/tf_bundle.h"
#include "common/io/tfrecord.h"

namespace {
std::string reader;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* r = std::getenv("ORQA_FUZZ_READER");
  reader = r ? r : "";
  if (reader != "safetensors" && reader != "pytorch_zip" && reader != "npy" && reader != "tfrecord" &&
      reader != "tf_bundle") {
    std::fprintf(stderr, "fuzz_readers: set ORQA_FUZZ_READER to safetensors, pytorch_zip, npy, tfrecord or tf_bundle\n");
    std::exit(2);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (reader == "safetensors") {
    (void)orqa::ParseSafetensors(data, size, "fuzz", nullptr);
  } else if (reader == "pytorch_zip") {
    (void)orqa::ParsePyTorchZip(nullptr, data, size, "fuzz");
  } else if (reader == "npy") {
    (void)orqa::ParseNpyArray(nullptr, data, size, "fuzz");
    (void)orqa::ParseNpyBytes(data, size, "fuzz", [](int64_t, std::string_view) {});
  } else if (reader == "tfrecord") {
    (void)orqa::ForEachTFRecord(bytes, "fuzz", [](std::string_view r) { (void)orqa::ParseTFExample(r); });
    (void)orqa::ParseTFExample(bytes);
  } else {
    std::vector<orqa::TFBundleEntry> entries;
    int32_t a = 0, b = 0, c = 0;
    (void)orqa::ParseTFBundleIndex(data, size, "fuzz", &entries, &a, &b, &c);
  }
  return 0;
}
