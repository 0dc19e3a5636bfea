#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <cstdio>

#include "common/infra/tls.h"
#include "absl/strings/str_cat.h"
#include "common/infra/flags.h"
#include "common/infra/main_util.h"
#include "common/text/utf8.h"
#include "orqa/v1/openqa.grpc.pb.h"
#include "services/cli/commands.h"

namespace orqa::cli {
namespace {

// The passage with the answer's code-point range wrapped in « ».
std::string MarkAnswer(const std::string& passage, int begin, int end) {
  std::vector<CodePoint> cps = DecodeUtf8(passage);
  if (begin < 0 || end > static_cast<int>(cps.size()) || begin > end) return passage;
  size_t b = begin < static_cast<int>(cps.size()) ? cps[begin].byte_begin : passage.size();
  size_t e = end > 0 ? cps[end - 1].byte_end : 0;
  return passage.substr(0, b) + "\u00ab" + passage.substr(b, e - b) + "\u00bb" + passage.substr(e);
}

}  // namespace

int RunAsk(int argc, char** argv) {
  constexpr char kCmd[] = "orqa ask";
  std::string gateway = "127.0.0.1:50051";
  int k = 0, num_answers = 1, timeout_ms = 30000;
  bool json = false;
  FlagSet flags("orqa ask \"QUESTION\"", "Asks a running orqa-gateway and prints the answer with its passage.");
  flags.String("gateway", &gateway, "orqa-gateway address host:port.");
  flags.Int("k", &k, "Blocks to retrieve and read (0 = the gateway's default).");
  flags.Int("num-answers", &num_answers, "Answers to print, best first.");
  flags.Int("timeout-ms", &timeout_ms, "Deadline of the call, in milliseconds.");
  flags.Bool("json", &json, "Print the response as JSON (proto field names).");
  TlsCalling tls;
  AddClientTlsFlags(flags, &tls);
  if (auto code = ParseFlagsOrExit(flags, argc, argv, kCmd)) return *code;
  if (flags.positional().size() != 1) {
    return ReportFatal(kCmd, absl::InvalidArgumentError("expected one QUESTION argument (quote it)"), 2);
  }
  if (timeout_ms <= 0) return ReportFatal(kCmd, absl::InvalidArgumentError("--timeout-ms: expected > 0"), 2);
  if (absl::Status st = ValidateTlsCalling(tls, "--tls-"); !st.ok()) return ReportFatal(kCmd, st, 2);
  auto stub = orqa::v1::OpenQA::NewStub(grpc::CreateChannel(gateway, MakeChannelCredentials(tls)));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  orqa::v1::AnswerRequest req;
  req.set_question(flags.positional()[0]);
  req.set_k(k);
  req.set_num_answers(num_answers);
  req.set_return_timings(true);
  orqa::v1::AnswerResponse resp;
  grpc::Status st = stub->Answer(&ctx, req, &resp);
  if (!st.ok()) {
    return ReportFatal(kCmd, absl::Status(static_cast<absl::StatusCode>(st.error_code()),
                                          absl::StrCat(gateway, ": ", st.error_message())));
  }
  if (json) {
    std::string out;
    google::protobuf::util::JsonPrintOptions opts;
    opts.preserve_proto_field_names = true;
    (void)google::protobuf::util::MessageToJsonString(resp, &out, opts);
    std::printf("%s\n", out.c_str());
    return 0;
  }
  if (resp.answers_size() == 0) {
    std::printf("No answer found.\n");
    return 0;
  }
  for (int i = 0; i < resp.answers_size(); ++i) {
    const auto& a = resp.answers(i);
    std::printf("%s%s\n", resp.answers_size() > 1 ? absl::StrCat(i + 1, ". ").c_str() : "Answer: ", a.text().c_str());
    std::printf("  score %.3f = reader %.3f + retrieval %.3f\n", a.score(), a.reader_score(), a.retrieval_score());
    std::printf("  from block %lld%s%s\n", static_cast<long long>(a.evidence().block_id()),
                a.evidence().title().empty() ? "" : ": ", a.evidence().title().c_str());
    std::printf("  %s\n", MarkAnswer(a.evidence().passage(), a.evidence().answer_char_begin(),
                                     a.evidence().answer_char_end()).c_str());
  }
  std::printf("(%.0f ms: retrieve %.0f, read %.0f)\n", resp.timings().total_ms(), resp.timings().retrieve_ms(),
              resp.timings().read_ms());
  return 0;
}

}  // namespace orqa::cli
