// libFuzzer targets for the checkpoint and data readers: each parses
// arbitrary bytes and must fail with a status, never crash. The reader is
// chosen at build time with -DORQA_FUZZ_<NAME>.
#include <cstdint>
#include <string>

#include "common/io/npy.h"
#include "common/io/pytorch_zip.h"
#include "common/io/safetensors.h"
#include "common/io/tf_bundle.h"
#include "common/io/tfrecord.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
#if defined(ORQA_FUZZ_SAFETENSORS)
  (void)orqa::ParseSafetensors(data, size, "fuzz", nullptr);
#elif defined(ORQA_FUZZ_PYTORCH_ZIP)
  (void)orqa::ParsePyTorchZip(nullptr, data, size, "fuzz");
#elif defined(ORQA_FUZZ_NPY)
  (void)orqa::ParseNpyArray(nullptr, data, size, "fuzz");
  (void)orqa::ParseNpyBytes(data, size, "fuzz", [](int64_t, std::string_view) {});
#elif defined(ORQA_FUZZ_TFRECORD)
  (void)orqa::ForEachTFRecord(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz",
                              [](std::string_view r) { (void)orqa::ParseTFExample(r); });
  (void)orqa::ParseTFExample(std::string_view(reinterpret_cast<const char*>(data), size));
#elif defined(ORQA_FUZZ_TF_BUNDLE)
  std::vector<orqa::TFBundleEntry> entries;
  int32_t a = 0, b = 0, c = 0;
  (void)orqa::ParseTFBundleIndex(data, size, "fuzz", &entries, &a, &b, &c);
#else
#error "define one ORQA_FUZZ_<READER>"
#endif
  return 0;
}
