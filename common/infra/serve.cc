#include "common/infra/main_util.h"
#include "common/infra/service_host.h"

namespace orqa {

int ServeUntilSignalled(const std::string& program, ServiceHost& host) {
  if (absl::Status st = host.Start(); !st.ok()) return ReportFatal(program, st);
  host.Wait();
  return 0;
}

}  // namespace orqa
