#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace orqa {

/// Where a model named on a command line or in a request is: `name` itself
/// when that path exists; otherwise a Hugging Face model id ("org/name", or
/// "org/name@revision") resolved through the Hub cache — its snapshot,
/// pulled first when not cached (progress on stderr), or only looked up
/// under HF_HUB_OFFLINE, or when `download` is false (a request handler must
/// not start a 20 GB transfer: the error says to run `orqa pull` first).
/// `what` (e.g. "--model-dir") starts error messages.
absl::StatusOr<std::string> ResolveModelPath(const std::string& name, const std::string& what, bool download = true);

/// True when `name` is not an existing path but reads as a Hub model id.
bool NamesHubModel(const std::string& name);

}  // namespace orqa
