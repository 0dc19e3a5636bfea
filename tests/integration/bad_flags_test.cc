// Bad flags, taken ports and unreadable paths end a service with ONE clear
// error line and a non-zero exit, never an abort or a stack trace.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "tests/integration/process.h"
#include "tests/unit/fixture_paths.h"

namespace orqa::testing {
namespace {

using std::chrono::milliseconds;

struct Outcome {
  int exit_status;
  std::string output;
};

Outcome RunBinary(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {}) {
  std::string log = MakeTempDir("orqa-flags-") + "/out.log";
  Process p;
  EXPECT_TRUE(p.Start(argv, log, env));
  int st = p.Wait(milliseconds(20000));
  return {st, ReadFile(log)};
}

// A socket listening on 127.0.0.1 that holds a port for the test's duration.
class PortHolder {
 public:
  PortHolder() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(fd_, 1);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~PortHolder() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_;
  int port_;
};

class EveryService : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryService, UnknownFlagGivesOneLineAndExit2) {
  Outcome o = RunBinary({Bin(GetParam()), "--no-such-flag=1"});
  EXPECT_EQ(o.exit_status, 2);
  EXPECT_EQ(o.output, GetParam() + ": error: unknown flag --no-such-flag (see --help)\n");
}

TEST_P(EveryService, NonNumericPortInEnvironmentNamesTheVariable) {
  Outcome o = RunBinary({Bin(GetParam())}, {{"ORQA_GRPC_PORT", "abc"}});
  EXPECT_EQ(o.exit_status, 2);
  EXPECT_EQ(o.output, GetParam() +
                          ": error: environment variable ORQA_GRPC_PORT: expected an integer, got 'abc'\n");
}

TEST_P(EveryService, PortOutOfRangeIsRejected) {
  Outcome o = RunBinary({Bin(GetParam()), "--grpc-port=70000"});
  EXPECT_EQ(o.exit_status, 2);
  EXPECT_EQ(o.output, GetParam() + ": error: --grpc-port: expected 0..65535, got 70000\n");
}

TEST_P(EveryService, GrpcPortInUseGivesOneLineAndExit1) {
  PortHolder held;
  std::vector<std::string> argv = {Bin(GetParam()), "--grpc-port=" + std::to_string(held.port()),
                                   "--metrics-port=" + std::to_string(PickFreePort())};
  if (GetParam() == "orqa-trainer") argv.push_back("--state-dir=" + MakeTempDir("orqa-state-"));
  Outcome o = RunBinary(argv);
  EXPECT_EQ(o.exit_status, 1);
  EXPECT_EQ(o.output, GetParam() + ": error: cannot listen for gRPC on 127.0.0.1:" +
                          std::to_string(held.port()) + " (port in use or address not local)\n");
}

TEST_P(EveryService, MetricsPortInUseGivesOneLineAndExit1) {
  PortHolder held;
  std::vector<std::string> argv = {Bin(GetParam()), "--grpc-port=" + std::to_string(PickFreePort()),
                                   "--metrics-port=" + std::to_string(held.port())};
  if (GetParam() == "orqa-trainer") argv.push_back("--state-dir=" + MakeTempDir("orqa-state-"));
  Outcome o = RunBinary(argv);
  EXPECT_EQ(o.exit_status, 1);
  EXPECT_EQ(o.output, GetParam() + ": error: cannot listen for metrics on 127.0.0.1:" +
                          std::to_string(held.port()) + " (port in use or address not local)\n");
}

TEST_P(EveryService, HelpListsEnvironmentFallbacksAndExits0) {
  Outcome o = RunBinary({Bin(GetParam()), "--help"});
  EXPECT_EQ(o.exit_status, 0);
  EXPECT_NE(o.output.find("--grpc-port [ORQA_GRPC_PORT]"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("--log-format [ORQA_LOG_FORMAT]"), std::string::npos) << o.output;
}

INSTANTIATE_TEST_SUITE_P(Services, EveryService,
                         ::testing::Values("orqa-gateway", "orqa-retriever", "orqa-reader",
                                           "orqa-trainer"));

TEST(BadPaths, RetrieverUnreadableModelDirNamesTheFlagAndPath) {
  Outcome o = RunBinary({Bin("orqa-retriever"), "--model-dir=/nonexistent/realm"});
  EXPECT_EQ(o.exit_status, 2);
  EXPECT_EQ(o.output,
            "orqa-retriever: error: --model-dir: cannot read '/nonexistent/realm': No such file or "
            "directory, and it is not a Hugging Face model id (org/name[@revision])\n");
}

TEST(BadPaths, ReaderUnreadableModelDirNamesTheFlagAndPath) {
  Outcome o = RunBinary({Bin("orqa-reader"), "--model-dir=/nonexistent/reader"});
  EXPECT_EQ(o.exit_status, 2);
  EXPECT_EQ(o.output,
            "orqa-reader: error: --model-dir: cannot read '/nonexistent/reader': No such file or "
            "directory, and it is not a Hugging Face model id (org/name[@revision])\n");
}

TEST(BadPaths, TrainerStateDirThatIsAFileIsRejected) {
  Outcome o = RunBinary({Bin("orqa-trainer"), "--state-dir=/etc/hostname"});
  EXPECT_EQ(o.exit_status, 2);
  EXPECT_EQ(o.output, "orqa-trainer: error: --state-dir: '/etc/hostname' is not a directory\n");
}

TEST(BadFlags, GatewayWithoutRetrieversIsRejected) {
  Outcome o = RunBinary({Bin("orqa-gateway"), "--retrievers="});
  EXPECT_EQ(o.exit_status, 2);
  EXPECT_EQ(o.output, "orqa-gateway: error: --retrievers: at least one address is required\n");
}

TEST(BadFlags, UnknownLogFormatIsRejected) {
  Outcome o = RunBinary({Bin("orqa-reader"), "--log-format=xml"});
  EXPECT_EQ(o.exit_status, 2);
  EXPECT_EQ(o.output, "orqa-reader: error: --log-format: expected text or json, got 'xml'\n");
}

TEST(BadFlags, UnknownPrecisionIsRejected) {
  for (const std::string bin : {"orqa-reader", "orqa-retriever"}) {
    Outcome o = RunBinary({Bin(bin), "--precision=fp16"});
    EXPECT_EQ(o.exit_status, 2);
    EXPECT_EQ(o.output, bin + ": error: --precision: precision 'fp16' is not one of fp32, bf16, int8\n");
  }
}

TEST(BadFlags, AnUnknownCpuLevelCapIsRejectedNamingTheVariable) {
  const std::string expected =
      ": error: ORQA_MAX_CPU_ISA: 'avx9' is not a CPU level: expected portable, avx2, avx512, avx512_vnni, "
      "avx512_bf16, amx or oneDNN's AVX2, AVX512_CORE, AVX512_CORE_VNNI, AVX512_CORE_BF16, AVX512_CORE_AMX, ALL\n";
  for (const std::string bin : {"orqa-reader", "orqa-retriever", "orqa-trainer"}) {
    Outcome o = RunBinary({Bin(bin)}, {{"ORQA_MAX_CPU_ISA", "avx9"}});
    EXPECT_EQ(o.exit_status, 2) << bin;
    EXPECT_EQ(o.output, bin + expected);
  }
}

TEST(BadFlags, RetrieverSearcherFlagsAreChecked) {
  Outcome o = RunBinary({Bin("orqa-retriever"), "--index-type=bf17"});
  EXPECT_EQ(o.exit_status, 2);
  EXPECT_EQ(o.output,
            "orqa-retriever: error: --index-type: expected flat, bf16, int8, fp16, sq8, hnsw, ivf or torch, got "
            "'bf17'\n");
  o = RunBinary({Bin("orqa-retriever"), "--index-type=int8", "--rerank-factor=0"});
  EXPECT_EQ(o.exit_status, 2);
  EXPECT_EQ(o.output, "orqa-retriever: error: --rerank-factor: expected 1..1000, got 0\n");
  o = RunBinary({Bin("orqa-retriever"), "--scan-max-queries=-1"});
  EXPECT_EQ(o.exit_status, 2);
  EXPECT_EQ(o.output, "orqa-retriever: error: --scan-max-queries: expected >= 0, got -1\n");
}

TEST(BadFlags, ThreadCountsAreCheckedTheSameWayInEveryComputingProcess) {
  for (const std::string bin : {"orqa-reader", "orqa-retriever", "orqa-trainer"}) {
    Outcome o = RunBinary({Bin(bin), "--threads=0"});
    EXPECT_EQ(o.exit_status, 2);
    EXPECT_EQ(o.output, bin + ": error: --threads: expected 1..256, got 0\n");
    o = RunBinary({Bin(bin), "--openblas-threads=300"});
    EXPECT_EQ(o.exit_status, 2);
    EXPECT_EQ(o.output, bin + ": error: --openblas-threads: expected 0..256, got 300\n");
  }
  Outcome o = RunBinary({Bin("orqa-retriever"), "--omp-threads=-1"});
  EXPECT_EQ(o.exit_status, 2);
  EXPECT_EQ(o.output, "orqa-retriever: error: --omp-threads: expected 0..256, got -1\n");
  o = RunBinary({Bin("orqa"), "embed-blocks", "--model=m", "--blocks=b", "--out=o", "--threads=257"});
  EXPECT_EQ(o.exit_status, 2);
  EXPECT_EQ(o.output, "orqa embed-blocks: error: --threads: expected 1..256, got 257\n");
}

TEST(BadFlags, RestProxyTakenPortIsOneLine) {
  PortHolder held;
  Outcome o = RunBinary({Bin("orqa-rest"), "--listen=127.0.0.1:" + std::to_string(held.port())});
  EXPECT_EQ(o.exit_status, 1);
  EXPECT_EQ(o.output.find("orqa-rest: error: --listen 127.0.0.1:" + std::to_string(held.port())), 0u)
      << o.output;
  EXPECT_EQ(std::count(o.output.begin(), o.output.end(), '\n'), 1) << o.output;
}

TEST(Cli, VersionAndHelp) {
  Outcome v = RunBinary({Bin("orqa"), "--version"});
  EXPECT_EQ(v.exit_status, 0);
  EXPECT_EQ(v.output, std::string("orqa ") + ORQA_VERSION + "\n");
  Outcome h = RunBinary({Bin("orqa"), "--help"});
  EXPECT_EQ(h.exit_status, 0);
  EXPECT_EQ(h.output.find("Usage: orqa <command>"), 0u) << h.output;
  Outcome bad = RunBinary({Bin("orqa"), "frobnicate"});
  EXPECT_EQ(bad.exit_status, 2);
  EXPECT_EQ(bad.output, "orqa: error: unknown command 'frobnicate' (see orqa --help)\n");
}

TEST(Cli, HealthOfNothingListeningFailsWithOneLine) {
  Outcome o = RunBinary({Bin("orqa"), "health", "127.0.0.1:" + std::to_string(PickFreePort()),
                   "--timeout-ms=300"});
  EXPECT_EQ(o.exit_status, 1);
  EXPECT_EQ(o.output.find("orqa health: error: 127.0.0.1:"), 0u) << o.output;
  EXPECT_EQ(std::count(o.output.begin(), o.output.end(), '\n'), 1) << o.output;
}

TEST(Cli, InitModelWordVectorErrorsNameTheirInput) {
  const std::string dir = MakeTempDir("orqa-wv-");
  const std::string vocab = FixtureDir() + "/vocab.txt";
  auto init = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {Bin("orqa"), "init-model", "--out", dir + "/m", "--vocab", vocab};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunBinary(args);
  };
  Outcome o = init({"--word-vectors", dir + "/missing.txt"});
  EXPECT_EQ(o.exit_status, 2);
  EXPECT_EQ(o.output, "orqa init-model: error: --word-vectors: cannot open " + dir + "/missing.txt\n");
  std::ofstream(dir + "/bad.jsonl") << "{\"text\": \"fine\"}\n[1, 2]\n";
  o = init({"--word-vectors", dir + "/bad.jsonl"});
  EXPECT_EQ(o.exit_status, 2);
  EXPECT_EQ(o.output, "orqa init-model: error: " + dir + "/bad.jsonl:2: not a JSON object\n");
  std::ofstream(dir + "/short.txt") << "a few words, a few words\n";
  o = init({"--word-vectors", dir + "/short.txt", "--hidden-size", "64", "--heads", "2"});
  EXPECT_EQ(o.exit_status, 2);
  EXPECT_EQ(o.output,
            "orqa init-model: error: word vectors: 0 pieces occur at least 5 times with a positive PMI; need more "
            "than 64 (more text, or a lower minimum count)\n");
  o = init({"--word-vectors", dir + "/short.txt", "--word-vector-window", "0"});
  EXPECT_EQ(o.exit_status, 2);
  EXPECT_EQ(o.output, "orqa init-model: error: --word-vector-window and --word-vector-min-count must be >= 1\n");
  EXPECT_FALSE(std::filesystem::exists(dir + "/m"));  // nothing written on an error
}

}  // namespace
}  // namespace orqa::testing
