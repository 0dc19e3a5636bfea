// Soak with restarts: 20,000 Answer calls (ORQA_SOAK_CALLS) from 16 clients
// over loopback to a gateway with two retriever shards and a reader (the
// fixture model), while the reader is restarted twice and retriever shard 1
// once. Every call must succeed with the answer it got with everything up, or
// fail UNAVAILABLE / DEADLINE_EXCEEDED within its deadline; success must resume
// within 2 s of a restarted backend serving again; the gateway's and shard 0's
// threads, open files and resident memory must not grow with the requests.
// ORQA_SOAK_TLS=1 (ctest integration.soak_tls): every hop over mutual TLS with
// certificates from scripts/make-certs.sh, the client as the admin role.
#include <dirent.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/infra/tls.h"
#include "orqa/v1/openqa.grpc.pb.h"
#include "tests/integration/fixture_blocks.h"
#include "tests/integration/health_probe.h"
#include "tests/integration/process.h"
#include "tests/unit/fixture_paths.h"

namespace orqa::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct Usage {
  int64_t threads = 0, fds = 0, rss_kb = 0;
};

Usage UsageOf(pid_t pid) {
  Usage u;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("Threads:", 0) == 0) u.threads = std::stoll(line.substr(8));
    if (line.rfind("VmRSS:", 0) == 0) u.rss_kb = std::stoll(line.substr(6));
  }
  if (DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
    while (readdir(d) != nullptr) ++u.fds;
    closedir(d);
    u.fds -= 2;  // . and ..
  }
  return u;
}

// One service process that can be stopped and started again on its ports.
struct Service {
  std::string name, log;
  std::vector<std::string> argv;
  int port = 0;
  Process p;
  std::shared_ptr<grpc::ChannelCredentials> credentials;  // for its health probes
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
  void Add(const std::vector<std::string>& args) { argv.insert(argv.end(), args.begin(), args.end()); }
  bool Start() { return p.Start(argv, log); }
  bool WaitServing(std::chrono::seconds limit) {
    auto end = Clock::now() + limit;
    while (Clock::now() < end) {
      if (IsServing(address(), credentials)) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return false;
  }
};

TEST(Soak, RestartsLoseNoCallAndGrowNothing) {
  const char* env_calls = std::getenv("ORQA_SOAK_CALLS");
  const int total_calls = env_calls && *env_calls ? std::atoi(env_calls) : 20000;
  const int clients = 16;
  const auto deadline = milliseconds(2000);
  const std::string dir = MakeTempDir("orqa-soak-"), fx = FixtureDir();
  const std::string weights = fx + "/realm_for_open_qa.safetensors";
  const char* env_tls = std::getenv("ORQA_SOAK_TLS");
  const bool tls = env_tls && std::string(env_tls) == "1";
  std::shared_ptr<grpc::ChannelCredentials> client_credentials = grpc::InsecureChannelCredentials();
  auto tls_flags = [&](const std::string& role) -> std::vector<std::string> {
    if (!tls) return {};
    const std::string c = dir + "/certs/";
    return {"--tls-cert=" + c + role + ".crt", "--tls-key=" + c + role + ".key", "--tls-client-ca=" + c + "ca.crt"};
  };
  if (tls) {
    const std::string make = std::string(ORQA_SOURCE_DIR) + "/scripts/make-certs.sh " + dir + "/certs > /dev/null";
    ASSERT_EQ(std::system(make.c_str()), 0) << make;
    TlsCalling admin{dir + "/certs/ca.crt", dir + "/certs/admin.crt", dir + "/certs/admin.key"};
    client_credentials = MakeChannelCredentials(admin);
  }
  std::string out;
  ASSERT_GT(BuildFixtureBlocks(fx, dir + "/fixture.blocks", &out), 0) << out;
  std::ifstream in(fx + "/goldens.json");
  const nlohmann::json meta = nlohmann::json::parse(in);
  std::vector<std::string> questions;
  for (const auto& q : meta["questions"]) questions.push_back(q["question"].get<std::string>());

  std::map<std::string, std::unique_ptr<Service>> s;
  auto make = [&](const std::string& name, const std::string& bin, std::vector<std::string> args) {
    auto svc = std::make_unique<Service>();
    svc->name = name;
    svc->port = PickFreePort();
    svc->log = dir + "/" + name + ".log";
    svc->argv = {Bin(bin), "--grpc-port=" + std::to_string(svc->port), "--metrics-port=" + std::to_string(PickFreePort())};
    svc->argv.insert(svc->argv.end(), args.begin(), args.end());
    s[name] = std::move(svc);
  };
  for (int i = 0; i < 2; ++i) {
    make("shard" + std::to_string(i), "orqa-retriever",
         {"--model-dir=" + fx, "--weights=" + weights, "--blocks=" + dir + "/fixture.blocks", "--embeddings=" + weights,
          "--shard-index=" + std::to_string(i), "--num-shards=2"});
    s["shard" + std::to_string(i)]->Add(tls_flags("retriever"));
  }
  make("reader", "orqa-reader", {"--model-dir=" + fx, "--weights=" + weights});
  s["reader"]->Add(tls_flags("reader"));
  make("gateway", "orqa-gateway",
       {"--retrievers=" + s["shard0"]->address() + "," + s["shard1"]->address(), "--reader=" + s["reader"]->address(),
        "--default-k=3"});
  s["gateway"]->Add(tls_flags("gateway"));
  if (tls) s["gateway"]->Add({"--backend-tls-ca=" + dir + "/certs/ca.crt"});
  for (auto& [name, svc] : s) svc->credentials = client_credentials;
  for (const char* name : {"shard0", "shard1", "reader", "gateway"}) ASSERT_TRUE(s[name]->Start()) << name;
  for (const char* name : {"shard0", "shard1", "reader", "gateway"}) {
    ASSERT_TRUE(s[name]->WaitServing(std::chrono::seconds(60))) << name << ":\n" << ReadFile(s[name]->log);
  }

  auto channel = grpc::CreateChannel(s["gateway"]->address(), client_credentials);
  auto stub = orqa::v1::OpenQA::NewStub(channel);
  // The answers with everything up.
  std::map<std::string, std::string> expected;
  for (const auto& q : questions) {
    grpc::ClientContext ctx;
    orqa::v1::AnswerRequest req;
    req.set_question(q);
    orqa::v1::AnswerResponse resp;
    ASSERT_TRUE(stub->Answer(&ctx, req, &resp).ok());
    ASSERT_GT(resp.answers_size(), 0);
    expected[q] = resp.answers(0).text();
  }

  std::atomic<int> issued{0}, done{0};
  std::mutex mu;
  std::map<grpc::StatusCode, int> codes;
  std::map<grpc::StatusCode, std::string> messages;  // one message per code
  std::vector<std::string> wrong;
  double slowest_ms = 0;
  std::vector<std::pair<Clock::time_point, bool>> outcomes;  // end time, ok
  auto client = [&] {
    for (int n; (n = issued.fetch_add(1)) < total_calls;) {
      const std::string& q = questions[n % questions.size()];
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + deadline);
      orqa::v1::AnswerRequest req;
      req.set_question(q);
      orqa::v1::AnswerResponse resp;
      auto t0 = Clock::now();
      grpc::Status st = stub->Answer(&ctx, req, &resp);
      auto t1 = Clock::now();
      std::lock_guard<std::mutex> lock(mu);
      ++codes[st.error_code()];
      if (!st.ok()) messages[st.error_code()] = st.error_message();
      slowest_ms = std::max(slowest_ms, std::chrono::duration<double, std::milli>(t1 - t0).count());
      if (st.ok() && (resp.answers_size() == 0 || resp.answers(0).text() != expected[q])) wrong.push_back(q);
      outcomes.emplace_back(t1, st.ok());
      ++done;
    }
  };
  auto wait_for_done = [&](int n) {
    while (done.load() < n && done.load() < total_calls) std::this_thread::sleep_for(milliseconds(5));
  };

  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) threads.emplace_back(client);
  // Usage once the load has warmed up, and at the end, for the processes never restarted.
  wait_for_done(total_calls / 10);
  const Usage gw_early = UsageOf(s["gateway"]->p.pid()), shard0_early = UsageOf(s["shard0"]->p.pid());

  // Restarts: reader, reader, shard 1, spread over the run; each back serving when its
  // health says so (the time success must resume from).
  std::vector<std::pair<std::string, Clock::time_point>> returns;
  for (auto [name, at] : std::vector<std::pair<std::string, double>>{{"reader", 0.2}, {"reader", 0.45}, {"shard1", 0.7}}) {
    wait_for_done(static_cast<int>(total_calls * at));
    Service& svc = *s[name];
    ASSERT_EQ(svc.p.StopAndWait(SIGTERM, milliseconds(15000)), 0) << ReadFile(svc.log);
    std::this_thread::sleep_for(milliseconds(300));  // calls meet the backend down
    ASSERT_TRUE(svc.Start()) << name;
    ASSERT_TRUE(svc.WaitServing(std::chrono::seconds(60))) << name << ":\n" << ReadFile(svc.log);
    returns.emplace_back(name, Clock::now());
  }
  for (auto& t : threads) t.join();
  const Usage gw_late = UsageOf(s["gateway"]->p.pid()), shard0_late = UsageOf(s["shard0"]->p.pid());

  int ok = codes[grpc::StatusCode::OK];
  std::string summary;
  for (const auto& [code, n] : codes) summary += " code " + std::to_string(code) + ": " + std::to_string(n) + ";";
  std::printf("soak%s: %d calls,%s slowest %.0f ms; gateway threads %lld→%lld, fds %lld→%lld, RSS %lld→%lld kB; "
              "shard 0 threads %lld→%lld, fds %lld→%lld, RSS %lld→%lld kB\n",
              tls ? " (mutual TLS)" : "", total_calls, summary.c_str(), slowest_ms, (long long)gw_early.threads, (long long)gw_late.threads,
              (long long)gw_early.fds, (long long)gw_late.fds, (long long)gw_early.rss_kb, (long long)gw_late.rss_kb,
              (long long)shard0_early.threads, (long long)shard0_late.threads, (long long)shard0_early.fds,
              (long long)shard0_late.fds, (long long)shard0_early.rss_kb, (long long)shard0_late.rss_kb);
  EXPECT_EQ(done.load(), total_calls);
  for (const auto& [code, n] : codes) {
    EXPECT_TRUE(code == grpc::StatusCode::OK || code == grpc::StatusCode::UNAVAILABLE ||
                code == grpc::StatusCode::DEADLINE_EXCEEDED)
        << n << " calls ended with code " << code << ", e.g. " << messages[code];
  }
  EXPECT_GT(ok, total_calls / 2);
  EXPECT_TRUE(wrong.empty()) << wrong.size() << " answers differ, e.g. for: " << wrong.front();
  EXPECT_LT(slowest_ms, deadline.count() + 500) << "a call outlived its deadline";
  // Success resumes within 2 s of each return.
  std::sort(outcomes.begin(), outcomes.end());
  for (const auto& [name, back] : returns) {
    auto first_ok = std::find_if(outcomes.begin(), outcomes.end(), [&](const auto& o) { return o.first >= back && o.second; });
    ASSERT_NE(first_ok, outcomes.end()) << "no success after " << name << " returned";
    EXPECT_LT(std::chrono::duration<double>(first_ok->first - back).count(), 2.0) << name;
  }
  // Nothing grows with the requests (the last 90 % of them).
  EXPECT_LE(gw_late.threads, gw_early.threads + 4);
  EXPECT_LE(gw_late.fds, gw_early.fds + 8);
  EXPECT_LE(gw_late.rss_kb, gw_early.rss_kb * 5 / 4 + 8192);
  EXPECT_LE(shard0_late.threads, shard0_early.threads + 4);
  EXPECT_LE(shard0_late.fds, shard0_early.fds + 8);
  EXPECT_LE(shard0_late.rss_kb, shard0_early.rss_kb * 5 / 4 + 8192);

  for (const char* name : {"gateway", "reader", "shard1", "shard0"}) {
    EXPECT_EQ(s[name]->p.StopAndWait(SIGTERM, milliseconds(15000)), 0) << name << ":\n" << ReadFile(s[name]->log);
  }
  if (!std::getenv("ORQA_KEEP_TEST_FILES")) RunCommand("rm -rf '" + dir + "'", nullptr);
}

}  // namespace
}  // namespace orqa::testing
