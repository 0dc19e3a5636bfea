// `orqa rpc ADDRESS SERVICE/METHOD [JSON]`: one unary call of any RPC orqa
// serves, the request and response as JSON (proto field names), over
// plaintext, TLS or mutual TLS: the operator's grpcurl for orqa's own APIs,
// with no reflection round trip (the descriptors are compiled in).
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/infra/flags.h"
#include "common/infra/main_util.h"
#include "common/infra/tls.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "orqa/v1/admin.grpc.pb.h"
#include "orqa/v1/openqa.grpc.pb.h"
#include "orqa/v1/reader.grpc.pb.h"
#include "orqa/v1/retriever.grpc.pb.h"
#include "orqa/v1/trainer.grpc.pb.h"
#include "services/cli/commands.h"

namespace orqa::cli {
namespace {

constexpr char kCmd[] = "orqa rpc";

// A message of each .proto file, so the generated pool holds every service
// whatever the linker kept.
void TouchDescriptors() {
  (void)orqa::v1::AnswerRequest::descriptor();
  (void)orqa::v1::StartJobRequest::descriptor();
  (void)orqa::v1::RetrieveRequest::descriptor();
  (void)orqa::v1::ReadRequest::descriptor();
  (void)orqa::v1::JobSpec::descriptor();
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
}

std::string ListMethods() {
  std::string out;
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const char* name : {"orqa.v1.OpenQA", "orqa.v1.Admin", "orqa.v1.Retriever", "orqa.v1.Reader",
                           "orqa.v1.Trainer", "grpc.health.v1.Health"}) {
    const auto* s = pool->FindServiceByName(name);
    if (!s) continue;
    for (int i = 0; i < s->method_count(); ++i) {
      const auto* m = s->method(i);
      absl::StrAppend(&out, "  ", s->full_name(), "/", m->name(), m->server_streaming() ? "  (streaming)" : "",
                      "\n");
    }
  }
  return out;
}

}  // namespace

int RunRpc(int argc, char** argv) {
  TouchDescriptors();
  int timeout_ms = 30000;
  std::vector<std::string> headers;
  bool list = false;
  FlagSet flags("orqa rpc ADDRESS SERVICE/METHOD [JSON]",
                "Calls one unary RPC of an orqa service; the request (default {}) and the response are JSON with "
                "the proto field names. Exit 0 on OK, else 1 with the status code and message.");
  flags.Int("timeout-ms", &timeout_ms, "Deadline of the call, in milliseconds.");
  flags.StringList("header", &headers, "Metadata 'name: value' sent with the call (e.g. 'authorization: Bearer T').");
  flags.Bool("list", &list, "Print the RPCs this tool knows and exit.");
  TlsCalling tls;
  AddClientTlsFlags(flags, &tls);
  if (auto code = ParseFlagsOrExit(flags, argc, argv, kCmd)) return *code;
  if (list) {
    std::fputs(ListMethods().c_str(), stdout);
    return 0;
  }
  const auto& args = flags.positional();
  if (args.size() < 2 || args.size() > 3) {
    return ReportFatal(kCmd, absl::InvalidArgumentError("expected ADDRESS SERVICE/METHOD [JSON] (see --list)"), 2);
  }
  if (timeout_ms <= 0) return ReportFatal(kCmd, absl::InvalidArgumentError("--timeout-ms: expected > 0"), 2);
  if (absl::Status st = ValidateTlsCalling(tls, "--tls-"); !st.ok()) return ReportFatal(kCmd, st, 2);
  const std::string& address = args[0];
  std::string path = args[1];
  if (!path.empty() && path[0] == '/') path.erase(0, 1);
  const auto* method =
      google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(absl::StrReplaceAll(path, {{"/", "."}}));
  if (!method || path.find('/') == std::string::npos) {
    return ReportFatal(kCmd, absl::NotFoundError(absl::StrCat("no RPC '", args[1], "' (orqa rpc --list prints the known ones)")), 2);
  }
  if (method->client_streaming() || method->server_streaming()) {
    return ReportFatal(kCmd, absl::InvalidArgumentError(absl::StrCat(
        args[1], " streams; this tool makes unary calls (for WatchJob use 'orqa jobs watch')")), 2);
  }
  auto* factory = google::protobuf::MessageFactory::generated_factory();
  std::unique_ptr<google::protobuf::Message> request(factory->GetPrototype(method->input_type())->New());
  std::unique_ptr<google::protobuf::Message> response(factory->GetPrototype(method->output_type())->New());
  const std::string json = args.size() == 3 ? args[2] : "{}";
  if (auto st = google::protobuf::util::JsonStringToMessage(json, request.get()); !st.ok()) {
    return ReportFatal(kCmd, absl::InvalidArgumentError(absl::StrCat(
        "the request is not a valid ", method->input_type()->full_name(), " in JSON: ", st.ToString())), 2);
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  for (const std::string& h : headers) {
    const size_t colon = h.find(':');
    if (colon == std::string::npos || colon == 0) {
      return ReportFatal(kCmd, absl::InvalidArgumentError(absl::StrCat("--header '", h, "': expected 'name: value'")),
                         2);
    }
    std::string name = h.substr(0, colon), value = h.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    ctx.AddMetadata(name, value);
  }
  std::string bytes;
  request->SerializeToString(&bytes);
  grpc::Slice slice(bytes);
  grpc::ByteBuffer send(&slice, 1), receive;
  grpc::GenericStub stub(grpc::CreateChannel(address, MakeChannelCredentials(tls)));
  std::mutex mu;
  std::condition_variable done_cv;
  bool done = false;
  grpc::Status status;
  stub.UnaryCall(&ctx, absl::StrCat("/", path), grpc::StubOptions(), &send, &receive, [&](grpc::Status s) {
    std::lock_guard<std::mutex> lock(mu);
    status = std::move(s);
    done = true;
    done_cv.notify_all();
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    done_cv.wait(lock, [&] { return done; });
  }
  if (!status.ok()) {
    std::fprintf(stderr, "%s: error: %s: %s (code %d %s)\n", kCmd, address.c_str(), status.error_message().c_str(),
                 status.error_code(),
                 absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())).c_str());
    return 1;
  }
  std::vector<grpc::Slice> slices;
  receive.Dump(&slices).IgnoreError();
  std::string out;
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  if (!response->ParseFromString(out)) {
    return ReportFatal(kCmd, absl::DataLossError(absl::StrCat(address, ": the response is not a ",
                                                              method->output_type()->full_name())));
  }
  std::string text;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(*response, &text, opts);
  std::printf("%s\n", text.c_str());
  return 0;
}

}  // namespace orqa::cli
