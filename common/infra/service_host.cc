#include "common/infra/service_host.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <httplib.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <grpc/grpc.h>

#include <atomic>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/infra/request_id.h"
#include "common/infra/rpc_metrics_interceptor.h"
#include "common/infra/tls.h"
#include "common/infra/utf8_request_errors.h"

namespace orqa {

void BlockTerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

ServiceHost::ServiceHost(std::string service_name, ServerOptions options)
    : name_(std::move(service_name)), options_(std::move(options)), metrics_(name_) {}

ServiceHost::~ServiceHost() {
  if (http_) http_->stop();
  if (http_thread_.joinable()) http_thread_.join();
  if (server_) server_->Shutdown(std::chrono::system_clock::now());
}

void ServiceHost::AddService(grpc::Service* service) { services_.push_back(service); }

absl::Status ServiceHost::Start() {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  // Without this gRPC sets SO_REUSEPORT and a second process would silently
  // share the port instead of failing.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  std::string address = absl::StrCat(options_.host, ":", options_.grpc_port);
  builder.AddListeningPort(address, MakeServerCredentials(options_.tls), &grpc_port_);
  builder.SetMaxReceiveMessageSize(64 << 20);
  for (grpc::Service* s : services_) builder.RegisterService(s);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  creators.push_back(MakeRequestIdInterceptorFactory());         // first: every call has its id
  creators.push_back(MakeUtf8RequestErrorInterceptorFactory());  // before the metrics: they see its code
  creators.push_back(MakeRpcMetricsInterceptorFactory(&metrics_, errors_carry_request_id_));  // last
  builder.experimental().SetInterceptorCreators(std::move(creators));
  server_ = builder.BuildAndStart();
  if (!server_ || grpc_port_ == 0) {
    server_.reset();
    return absl::UnavailableError(absl::StrCat(
        "cannot listen for gRPC on ", address, " (port in use or address not local)"));
  }

  http_ = std::make_unique<httplib::Server>();
  Metrics* metrics = &metrics_;
  http_->Get("/metrics", [metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics->Serialize(), "text/plain; version=0.0.4; charset=utf-8");
  });
  http_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  if (options_.metrics_port == 0) {
    metrics_port_ = http_->bind_to_any_port(options_.host);
  } else if (http_->bind_to_port(options_.host, options_.metrics_port)) {
    metrics_port_ = options_.metrics_port;
  }
  if (metrics_port_ <= 0) {
    server_->Shutdown(std::chrono::system_clock::now());
    server_.reset();
    return absl::UnavailableError(
        absl::StrCat("cannot listen for metrics on ", options_.host, ":", options_.metrics_port,
                     " (port in use or address not local)"));
  }
  http_thread_ = std::thread([this] { http_->listen_after_bind(); });

  SetServing("", false);
  spdlog::info("{} listening: grpc {}:{} ({}) metrics http://{}:{}/metrics", name_, options_.host, grpc_port_,
               DescribeTls(options_.tls), options_.host, metrics_port_);
  const bool loopback = options_.host == "127.0.0.1" || options_.host == "localhost" || options_.host == "::1" ||
                        options_.host.rfind("127.", 0) == 0;
  if (!options_.tls.mutual() && !loopback) {
    spdlog::warn("{} listens on {} without --tls-client-ca: callers are not authenticated, so the per-RPC caller "
                 "policy (who may Reload, StartJob, ...) is not enforced; anyone who reaches the port may call "
                 "every RPC",
                 name_, options_.host);
  }
  return absl::OkStatus();
}

void ServiceHost::SetServing(const std::string& service_name, bool serving) {
  std::lock_guard<std::mutex> lock(server_mu_);
  if (!server_ || stopping_) return;
  server_->GetHealthCheckService()->SetServingStatus(service_name, serving);
  if (service_name.empty()) metrics_.SetServing(serving);
}

void ServiceHost::Wait() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  spdlog::info("{} received {}: draining in-flight calls for up to {} s", name_, strsignal(sig),
               options_.grace_period_s);
  {
    std::lock_guard<std::mutex> lock(server_mu_);
    stopping_ = true;  // no more health changes
  }
  metrics_.SetServing(false);
  if (on_stopping_) on_stopping_();
  if (server_) {
    // Health flips first so load balancers stop sending; then no new calls are
    // accepted and in-flight ones get the grace period before cancellation.
    server_->GetHealthCheckService()->Shutdown();
    auto grace = std::chrono::milliseconds(static_cast<int64_t>(options_.grace_period_s * 1000));
    std::atomic<bool> shutdown_called{false};
    std::thread shutdown([&] {
      shutdown_called = true;
      server_->Shutdown(std::chrono::system_clock::now() + grace);
    });
    // gRPC's shutdown also waits for idle client connections to go away, which
    // a connected gateway never does: once no call is in flight, disconnect them.
    auto until = std::chrono::steady_clock::now() + grace;
    while (!shutdown_called) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    while (metrics_.active_calls() > 0 && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    grpc_server_cancel_all_calls(server_->c_server());
    shutdown.join();
    server_->Wait();
    std::lock_guard<std::mutex> lock(server_mu_);
    server_.reset();
  }
  if (http_) http_->stop();
  if (http_thread_.joinable()) http_thread_.join();
  spdlog::info("{} stopped", name_);
}

}  // namespace orqa
