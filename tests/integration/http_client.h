#pragma once

#include <string>
#include <vector>

namespace orqa::testing {

/// GET http://127.0.0.1:<port><path>; returns the HTTP status (-1 if no
/// connection) and fills `body`.
int HttpGet(int port, const std::string& path, std::string* body);

/// Value of the Prometheus sample whose name and labels contain every piece
/// of `selector_parts` (e.g. {"orqa_grpc_server_handled_total", "method=\"/x\"",
/// "code=\"OK\""}); 0 when absent.
double SampleValue(const std::string& exposition, const std::vector<std::string>& selector_parts);

}  // namespace orqa::testing
