#pragma once

#include "absl/status/status.h"
#include "orqa/v1/trainer.pb.h"

namespace orqa {

class RetrieverClient;

/// Field checks of a job spec (kinds, ranges); the error names the first bad field.
absl::Status ValidateJobSpec(const orqa::v1::JobSpec& spec);

/// What StartJob checks before queueing, beyond the fields: files exist and
/// are readable, the output location is writable (created if missing), the
/// starting model loads strictly and fits the data (vocab, and proj_size
/// against the retriever when it answers). INVALID_ARGUMENT naming the field.
absl::Status CheckJobInputs(const orqa::v1::JobSpec& spec, RetrieverClient* retriever);

}  // namespace orqa
