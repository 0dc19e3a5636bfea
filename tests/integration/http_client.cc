#include "tests/integration/http_client.h"

#include <httplib.h>

#include <sstream>

namespace orqa::testing {

int HttpGet(int port, const std::string& path, std::string* body) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(5, 0);
  auto res = client.Get(path.c_str());
  if (!res) return -1;
  if (body) *body = res->body;
  return res->status;
}

double SampleValue(const std::string& exposition, const std::vector<std::string>& parts) {
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    std::string series = line.substr(0, space);
    bool all = true;
    for (const auto& p : parts) {
      if (series.find(p) == std::string::npos) { all = false; break; }
    }
    // The metric name must match exactly, not as a prefix of another name.
    if (all && !parts.empty() && series.compare(0, parts[0].size(), parts[0]) == 0 &&
        (series.size() == parts[0].size() || series[parts[0].size()] == '{')) {
      return std::stod(line.substr(space + 1));
    }
  }
  return 0;
}

}  // namespace orqa::testing
