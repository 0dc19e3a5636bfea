#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>

#include "common/infra/flags.h"
#include "common/infra/logging.h"
#include "common/infra/metrics.h"
#include "common/infra/path_roots.h"
#include "common/infra/status_util.h"
#include "common/infra/request_validation.h"

namespace orqa {
namespace {

absl::Status ParseArgs(FlagSet& flags, std::vector<std::string> args) {
  std::vector<char*> argv = {const_cast<char*>("prog")};
  for (auto& a : args) argv.push_back(a.data());
  return flags.Parse(static_cast<int>(argv.size()), argv.data());
}

TEST(FlagSet, ParsesEqualsAndSpaceForms) {
  std::string host = "x";
  int port = 1;
  double grace = 0;
  bool verbose = false;
  FlagSet flags("prog", "");
  flags.String("host", &host, "");
  flags.Int("grpc-port", &port, "");
  flags.Double("grace-period-s", &grace, "");
  flags.Bool("verbose", &verbose, "");
  ASSERT_TRUE(ParseArgs(flags, {"--host=0.0.0.0", "--grpc-port", "5000", "--grace-period-s=2.5",
                                "--verbose", "pos"})
                  .ok());
  EXPECT_EQ(host, "0.0.0.0");
  EXPECT_EQ(port, 5000);
  EXPECT_DOUBLE_EQ(grace, 2.5);
  EXPECT_TRUE(verbose);
  EXPECT_EQ(flags.positional(), std::vector<std::string>{"pos"});
}

TEST(FlagSet, StringListTakesRepeatsAndCommas) {
  std::vector<std::string> from;
  FlagSet flags("prog", "");
  flags.StringList("from", &from, "");
  ASSERT_TRUE(ParseArgs(flags, {"--from", "a/b", "--from=c,d", "--from", "e"}).ok());
  EXPECT_EQ(from, (std::vector<std::string>{"a/b", "c", "d", "e"}));
}

TEST(FlagSet, EnvironmentIsFallbackOnly) {
  int port = 1, metrics = 2;
  FlagSet flags("prog", "");
  flags.Int("grpc-port", &port, "");
  flags.Int("metrics-port", &metrics, "");
  setenv("ORQA_GRPC_PORT", "7000", 1);
  setenv("ORQA_METRICS_PORT", "7001", 1);
  ASSERT_TRUE(ParseArgs(flags, {"--grpc-port=6000"}).ok());
  unsetenv("ORQA_GRPC_PORT");
  unsetenv("ORQA_METRICS_PORT");
  EXPECT_EQ(port, 6000);
  EXPECT_EQ(metrics, 7001);
}

TEST(FlagSet, RejectsTrailingGarbageInIntegers) {
  int port = 1;
  FlagSet flags("prog", "");
  flags.Int("grpc-port", &port, "");
  absl::Status st = ParseArgs(flags, {"--grpc-port=12ab"});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "--grpc-port: expected an integer, got '12ab'");
}

TEST(FlagSet, UnknownFlagAndMissingValueAreNamed) {
  int port = 1;
  FlagSet flags("prog", "");
  flags.Int("grpc-port", &port, "");
  EXPECT_EQ(ParseArgs(flags, {"--nope"}).message(), "unknown flag --nope (see --help)");
  FlagSet flags2("prog", "");
  flags2.Int("grpc-port", &port, "");
  EXPECT_EQ(ParseArgs(flags2, {"--grpc-port"}).message(), "flag --grpc-port needs a value");
}

TEST(FlagSet, EnvNameMapsDashesToUnderscores) {
  EXPECT_EQ(FlagSet::EnvName("max-queue-delay-ms"), "ORQA_MAX_QUEUE_DELAY_MS");
}

TEST(StatusUtil, CodesAndMessagesCarryOver) {
  grpc::Status g = ToGrpcStatus(absl::NotFoundError("block 7"));
  EXPECT_EQ(g.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(g.error_message(), "block 7");
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  absl::Status a = FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "shard 2 down"));
  EXPECT_EQ(a.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(a.message(), "shard 2 down");
}

TEST(StatusUtil, LongMessagesAreTruncated) {
  grpc::Status g = ToGrpcStatus(absl::InternalError(std::string(10000, 'x')));
  EXPECT_EQ(g.error_message().size(), kMaxStatusMessageBytes + std::string("...(truncated)").size());
}

TEST(RequestValidation, Questions) {
  EXPECT_TRUE(ValidateQuestion("question", "Who wrote Hamlet?").ok());
  EXPECT_EQ(ValidateQuestion("question", "").message(),
            "question: must not be empty or whitespace-only");
  EXPECT_EQ(ValidateQuestion("questions[2]", " \t\n\xC2\xA0\xE3\x80\x80").message(),
            "questions[2]: must not be empty or whitespace-only");
  EXPECT_EQ(ValidateQuestion("question", "bad \xFF utf8").message(), "question: is not valid UTF-8");
  // 1000 code points of a 2-byte character pass; 1001 fail.
  std::string q;
  for (int i = 0; i < 1000; ++i) q += "\xC3\xA9";
  EXPECT_TRUE(ValidateQuestion("question", q).ok());
  q += "a";
  EXPECT_EQ(ValidateQuestion("question", q).message(),
            "question: 1001 characters, the limit is 1000");
}

TEST(RequestValidation, Limits) {
  EXPECT_TRUE(ValidateAnswerLimits(0, 0).ok());
  EXPECT_TRUE(ValidateAnswerLimits(5000, 100).ok());
  EXPECT_EQ(ValidateAnswerLimits(5001, 1).message(),
            "k: expected 1..5000 (or 0 for the default), got 5001");
  EXPECT_EQ(ValidateAnswerLimits(-1, 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateAnswerLimits(1, 101).message(),
            "num_answers: expected 1..100 (or 0 for 1), got 101");
}

TEST(Metrics, CountsRpcsByMethodAndCode) {
  Metrics m("test");
  m.ObserveRpc("/a.B/C", "OK", 0.002);
  m.ObserveRpc("/a.B/C", "OK", 0.003);
  m.ObserveRpc("/a.B/C", "NOT_FOUND", 0.001);
  std::string text = m.Serialize();
  EXPECT_NE(text.find(R"(orqa_grpc_server_handled_total{code="OK",method="/a.B/C",service="test"} 2)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(orqa_grpc_server_handled_total{code="NOT_FOUND",method="/a.B/C",service="test"} 1)"),
            std::string::npos);
  EXPECT_NE(text.find(R"(orqa_grpc_server_handling_seconds_count{method="/a.B/C",service="test"} 3)"),
            std::string::npos);
  EXPECT_NE(text.find(R"(orqa_build_info{service="test",version=")"), std::string::npos);
}

TEST(Metrics, CallsInFlightAreAGauge) {
  Metrics m("test");
  m.CallStarted();
  m.CallStarted();
  m.CallFinished();
  EXPECT_EQ(m.active_calls(), 1);
  EXPECT_NE(m.Serialize().find("orqa_grpc_server_in_flight{service=\"test\"} 1\n"), std::string::npos) << m.Serialize();
  m.CallFinished();
  EXPECT_NE(m.Serialize().find("orqa_grpc_server_in_flight{service=\"test\"} 0\n"), std::string::npos);
}

TEST(Metrics, CodeNames) {
  EXPECT_EQ(GrpcCodeName(0), "OK");
  EXPECT_EQ(GrpcCodeName(3), "INVALID_ARGUMENT");
  EXPECT_EQ(GrpcCodeName(16), "UNAUTHENTICATED");
  EXPECT_EQ(GrpcCodeName(99), "UNKNOWN");
}

TEST(Logging, JsonEscape) {
  EXPECT_EQ(JsonEscape("a\"b\\c\n\x01"), "a\\\"b\\\\c\\n\\u0001");
}

TEST(PathRoots, PathsResolveBeforeTheyAreComparedWithTheRoot) {
  namespace fs = std::filesystem;
  const fs::path base = fs::path(::testing::TempDir()) / "orqa-roots-unit";
  fs::remove_all(base);
  fs::create_directories(base / "root" / "models");
  fs::create_directories(base / "rootX");
  fs::create_directories(base / "outside");
  fs::create_symlink(base / "outside", base / "root" / "link");
  PathRoots roots{(base / "root" / "models" / "..").string(), "", ""};
  ASSERT_TRUE(ValidatePathRoots(&roots).ok());
  const std::string root = fs::canonical(base / "root").string();
  EXPECT_EQ(roots.model, root);  // made canonical
  auto check = [&](const fs::path& p) { return CheckUnderRoot("model_dir", p.string(), roots.model, "--model-root"); };
  EXPECT_TRUE(check(base / "root").ok());
  EXPECT_TRUE(check(base / "root" / "models").ok());
  EXPECT_TRUE(check(base / "root" / "not" / "yet" / "made").ok());  // nearest existing folder decides
  EXPECT_TRUE(CheckUnderRoot("model_dir", "", roots.model, "--model-root").ok());  // unset field
  EXPECT_TRUE(CheckUnderRoot("model_dir", "/anything", "", "--model-root").ok());  // no root
  const absl::Status dots = check(base / "root" / "models" / ".." / ".." / "outside");
  EXPECT_EQ(dots.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(dots.message(), "model_dir: " + (base / "root" / "models" / ".." / ".." / "outside").string() +
                                " is outside --model-root " + root + " (it resolves to " +
                                fs::canonical(base / "outside").string() + ")");
  EXPECT_EQ(check(base / "root" / "link" / "x").code(), absl::StatusCode::kPermissionDenied);  // symlink out
  EXPECT_EQ(check(base / "rootX").code(), absl::StatusCode::kPermissionDenied);  // a sibling sharing the prefix
  PathRoots bad{(base / "nope").string(), "", ""};
  EXPECT_EQ(ValidatePathRoots(&bad).message(), "--model-root: '" + (base / "nope").string() + "' is not a directory");
  fs::remove_all(base);
}

}  // namespace
}  // namespace orqa
