#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace orqa {

/// Arithmetic of the BERT encoders' dense layers at inference (serving,
/// embed-blocks). Training always runs in fp32; fp32 inference matches the
/// reference goldens to 1e-4.
enum class Precision { kFP32, kBF16, kInt8 };

/// "fp32", "bf16", "int8"; the error names the accepted values.
absl::StatusOr<Precision> ParsePrecision(const std::string& name);
const char* PrecisionName(Precision precision);

/// The --precision flag of the reader, the retriever and embed-blocks: sets
/// `*out`, or INVALID_ARGUMENT "--precision: ..." naming the accepted values.
absl::Status ParsePrecisionFlag(const std::string& value, Precision* out);

}  // namespace orqa
