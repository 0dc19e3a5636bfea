// orqa-gateway: the public OpenQA and Admin APIs.
#include <sstream>

#include "common/infra/logging.h"
#include "common/infra/main_util.h"
#include "common/infra/service_host.h"
#include "services/gateway/admin_service.h"
#include "services/gateway/openqa_service.h"

namespace {

constexpr char kProgram[] = "orqa-gateway";

std::vector<std::string> SplitCommaList(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  orqa::BlockTerminationSignals();
  orqa::GatewayOptions options;
  options.server.grpc_port = 50051;
  options.server.metrics_port = 9151;
  std::string retrievers = "127.0.0.1:50052";
  options.reader_address = "127.0.0.1:50053";
  options.trainer_address = "127.0.0.1:50054";

  orqa::FlagSet flags(kProgram, "Public OpenQA (Answer, BatchAnswer) and Admin gRPC API of orqa.");
  orqa::AddServerFlags(flags, &options.server);
  orqa::AddBackendTlsFlags(flags, &options.backend_tls);
  flags.String("retrievers", &retrievers,
               "Comma-separated retriever shard addresses host:port, shard 0 first.");
  flags.String("reader", &options.reader_address, "Reader address host:port.");
  flags.String("trainer", &options.trainer_address, "Trainer address host:port.");
  flags.String("admin-token", &options.admin_token,
               "Bearer token the Admin API requires; empty disables Admin.");
  flags.Int("default-k", &options.default_k, "Blocks retrieved when a request leaves k at 0.");
  flags.String("retrieval", &options.retrieval,
               "Retrieval when a request leaves it unspecified: dense, sparse (BM25) or hybrid.");
  flags.String("fusion", &options.fusion, "Hybrid fusion: rrf (reciprocal rank) or weighted (min-max scores).");
  flags.Double("fusion-weight", &options.fusion_weight, "Weighted fusion: weight of the dense list (0..1).");
  flags.Double("rrf-c", &options.rrf_c, "Reciprocal rank fusion: the c of 1 / (c + rank).");
  if (auto code = orqa::ParseFlagsOrExit(flags, argc, argv, kProgram)) return *code;

  options.retriever_addresses = SplitCommaList(retrievers);
  absl::Status st = orqa::ValidateServerOptions(options.server);
  if (st.ok()) st = orqa::ResolveBackendTls(options.server.tls, &options.backend_tls);
  if (st.ok() && options.retriever_addresses.empty()) {
    st = absl::InvalidArgumentError("--retrievers: at least one address is required");
  }
  if (st.ok() && (options.default_k < 1 || options.default_k > 5000)) {
    st = absl::InvalidArgumentError("--default-k: expected 1..5000");
  }
  if (st.ok() && options.retrieval != "dense" && options.retrieval != "sparse" && options.retrieval != "hybrid") {
    st = absl::InvalidArgumentError("--retrieval: expected dense, sparse or hybrid, got '" + options.retrieval + "'");
  }
  if (st.ok() && options.fusion != "rrf" && options.fusion != "weighted") {
    st = absl::InvalidArgumentError("--fusion: expected rrf or weighted, got '" + options.fusion + "'");
  }
  if (st.ok() && !(options.fusion_weight >= 0 && options.fusion_weight <= 1)) {
    st = absl::InvalidArgumentError("--fusion-weight: expected 0..1");
  }
  if (st.ok() && !(options.rrf_c >= 0)) st = absl::InvalidArgumentError("--rrf-c: expected >= 0");
  if (st.ok()) st = orqa::SetupLogging("gateway", options.server.log_format, options.server.log_level);
  if (!st.ok()) return orqa::ReportFatal(kProgram, st, 2);

  orqa::ServiceHost host("gateway", options.server);
  host.ErrorsCarryRequestId();
  orqa::Backends backends(options);
  orqa::OpenQAService openqa(options, &backends);
  orqa::AdminService admin(options, &backends);
  host.AddService(&openqa);
  host.AddService(&admin);
  if (absl::Status s = host.Start(); !s.ok()) return orqa::ReportFatal(kProgram, s);
  // SERVING while every retriever shard and the reader are SERVING.
  backends.OnChange([&host](bool serving) { host.SetServing("", serving); });
  host.SetServing("", backends.all_serving());
  host.Wait();
  return 0;
}
