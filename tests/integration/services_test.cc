// Starts the four C++ services and orqa-rest as real processes on loopback
// ports and talks to them as a client would: gRPC health and RPCs, /metrics,
// REST with curl, a real Prometheus scraping them, and SIGTERM.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <memory>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "orqa/v1/openqa.grpc.pb.h"
#include "orqa/v1/reader.grpc.pb.h"
#include "orqa/v1/retriever.grpc.pb.h"
#include "orqa/v1/trainer.grpc.pb.h"
#include "tests/integration/health_probe.h"
#include "tests/integration/http_client.h"
#include "tests/integration/process.h"

namespace orqa::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

struct Service {
  std::string name;  // gateway, retriever, reader, trainer
  int grpc_port = 0;
  int metrics_port = 0;
  std::unique_ptr<Process> process;
  std::string log;
  std::string address() const { return "127.0.0.1:" + std::to_string(grpc_port); }
};

class ServicesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(MakeTempDir("orqa-services-"));
    services_ = new std::vector<Service>();
    for (const char* name : {"gateway", "retriever", "reader", "trainer"}) {
      Service s;
      s.name = name;
      s.grpc_port = PickFreePort();
      s.metrics_port = PickFreePort();
      s.log = *dir_ + "/" + name + ".log";
      services_->push_back(std::move(s));
    }
    auto& gw = (*services_)[0];
    for (auto& s : *services_) {
      std::vector<std::string> argv = {Bin("orqa-" + s.name), "--host=127.0.0.1",
                                       "--grpc-port=" + std::to_string(s.grpc_port),
                                       "--metrics-port=" + std::to_string(s.metrics_port),
                                       "--log-format=json"};
      if (s.name == "gateway") {
        argv.push_back("--retrievers=" + (*services_)[1].address());
        argv.push_back("--reader=" + (*services_)[2].address());
        argv.push_back("--trainer=" + (*services_)[3].address());
      }
      if (s.name == "trainer") argv.push_back("--state-dir=" + *dir_ + "/trainer-state");
      s.process = std::make_unique<Process>();
      ASSERT_TRUE(s.process->Start(argv, s.log));
    }
    rest_port_ = PickFreePort();
    rest_ = new Process();
    ASSERT_TRUE(rest_->Start({Bin("orqa-rest"), "--listen=127.0.0.1:" + std::to_string(rest_port_),
                              "--gateway=" + gw.address()},
                             *dir_ + "/rest.log"));
    // Wait until every service answers health (any status) and REST is up.
    auto deadline = std::chrono::steady_clock::now() + seconds(30);
    for (auto& s : *services_) {
      grpc::health::v1::HealthCheckResponse resp;
      while (!CheckHealth(s.address(), &resp).ok()) {
        ASSERT_TRUE(s.process->running()) << s.name << " exited:\n" << ReadFile(s.log);
        ASSERT_LT(std::chrono::steady_clock::now(), deadline) << s.name << " never answered";
        std::this_thread::sleep_for(milliseconds(50));
      }
    }
    while (HttpGet(rest_port_, "/healthz", nullptr) != 200) {
      ASSERT_TRUE(rest_->running()) << "orqa-rest exited:\n" << ReadFile(*dir_ + "/rest.log");
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "orqa-rest never became healthy";
      std::this_thread::sleep_for(milliseconds(50));
    }
  }

  static void TearDownTestSuite() {
    delete rest_;
    delete services_;
    RunCommand("rm -rf '" + *dir_ + "'", nullptr);
    delete dir_;
  }

  static Service& Get(const std::string& name) {
    for (auto& s : *services_) {
      if (s.name == name) return s;
    }
    throw std::runtime_error("no service " + name);
  }

  static double Handled(const Service& s, const std::string& method, const std::string& code) {
    std::string body;
    EXPECT_EQ(HttpGet(s.metrics_port, "/metrics", &body), 200) << s.name;
    return SampleValue(body, {"orqa_grpc_server_handled_total", "method=\"" + method + "\"",
                              "code=\"" + code + "\""});
  }

  // The counter for a call is recorded as its status is sent, which can race
  // with the client's next scrape by a moment: poll briefly for the value.
  static double HandledEventually(const Service& s, const std::string& method, const std::string& code,
                                  double expected) {
    double v = 0;
    for (int i = 0; i < 100; ++i) {
      v = Handled(s, method, code);
      if (v == expected) break;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return v;
  }

  static std::string* dir_;
  static std::vector<Service>* services_;
  static Process* rest_;
  static int rest_port_;
};

std::string* ServicesTest::dir_ = nullptr;
std::vector<Service>* ServicesTest::services_ = nullptr;
Process* ServicesTest::rest_ = nullptr;
int ServicesTest::rest_port_ = 0;

// The trainer needs no model to take jobs; the others serve once one is loaded.
TEST_F(ServicesTest, ModelServicesReportNotServingUntilAModelIsLoadedTheTrainerServes) {
  for (auto& s : *services_) {
    grpc::health::v1::HealthCheckResponse resp;
    ASSERT_TRUE(CheckHealth(s.address(), &resp).ok()) << s.name;
    EXPECT_EQ(resp.status(), s.name == "trainer" ? grpc::health::v1::HealthCheckResponse::SERVING
                                                 : grpc::health::v1::HealthCheckResponse::NOT_SERVING)
        << s.name;
  }
}

TEST_F(ServicesTest, RetrieverGetInfoRaisesItsCounterByOne) {
  Service& s = Get("retriever");
  const std::string method = "/orqa.v1.Retriever/GetInfo";
  double before = Handled(s, method, "OK");
  auto stub = orqa::v1::Retriever::NewStub(
      grpc::CreateChannel(s.address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  orqa::v1::RetrieverInfo info;
  ASSERT_TRUE(stub->GetInfo(&ctx, orqa::v1::GetInfoRequest(), &info).ok());
  EXPECT_EQ(info.num_shards(), 1);
  EXPECT_EQ(info.index_type(), "flat");
  EXPECT_FALSE(info.ready());
  EXPECT_EQ(HandledEventually(s, method, "OK", before + 1), before + 1);
}

TEST_F(ServicesTest, ReaderRejectsEmptyQuestionAndCountsIt) {
  Service& s = Get("reader");
  const std::string method = "/orqa.v1.Reader/Read";
  double before = Handled(s, method, "INVALID_ARGUMENT");
  auto stub = orqa::v1::Reader::NewStub(
      grpc::CreateChannel(s.address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  orqa::v1::ReadResponse resp;
  grpc::Status st = stub->Read(&ctx, orqa::v1::ReadRequest(), &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(), "question: must not be empty or whitespace-only");
  EXPECT_EQ(HandledEventually(s, method, "INVALID_ARGUMENT", before + 1), before + 1);
}

TEST_F(ServicesTest, TrainerListJobsIsEmptyAndCounted) {
  Service& s = Get("trainer");
  const std::string method = "/orqa.v1.Trainer/ListJobs";
  double before = Handled(s, method, "OK");
  auto stub = orqa::v1::Trainer::NewStub(
      grpc::CreateChannel(s.address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  orqa::v1::JobList jobs;
  ASSERT_TRUE(stub->ListJobs(&ctx, orqa::v1::ListTrainerJobsRequest(), &jobs).ok());
  EXPECT_EQ(jobs.jobs_size(), 0);
  EXPECT_EQ(HandledEventually(s, method, "OK", before + 1), before + 1);
}

TEST_F(ServicesTest, GatewayAnswerWithoutALoadedRetrieverIsFailedPreconditionAndCounted) {
  Service& s = Get("gateway");
  const std::string method = "/orqa.v1.OpenQA/Answer";
  double before = Handled(s, method, "FAILED_PRECONDITION");
  auto stub = orqa::v1::OpenQA::NewStub(
      grpc::CreateChannel(s.address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  orqa::v1::AnswerRequest req;
  req.set_question("Who wrote Hamlet?");
  orqa::v1::AnswerResponse resp;
  grpc::Status st = stub->Answer(&ctx, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(st.error_message().find("retriever shard 0 at " + Get("retriever").address() + ": no model loaded"), 0u)
      << st.error_message();
  EXPECT_EQ(HandledEventually(s, method, "FAILED_PRECONDITION", before + 1), before + 1);
}

TEST_F(ServicesTest, RestEmptyQuestionIsHttp400WithJsonError) {
  std::string out;
  std::string cmd = "curl -sS -m 10 -o - -w '\\n%{http_code}' -X POST -H 'Content-Type: application/json' "
                    "-d '{\"question\": \"   \"}' http://127.0.0.1:" +
                    std::to_string(rest_port_) + "/v1/answer";
  ASSERT_EQ(RunCommand(cmd, &out), 0) << out;
  size_t nl = out.rfind('\n');
  ASSERT_NE(nl, std::string::npos) << out;
  EXPECT_EQ(out.substr(nl + 1), "400");
  std::string body = out.substr(0, nl);
  EXPECT_NE(body.find("\"code\":3"), std::string::npos) << body;
  EXPECT_NE(body.find("question: must not be empty or whitespace-only"), std::string::npos) << body;
  // The gateway is still up afterwards.
  grpc::health::v1::HealthCheckResponse resp;
  EXPECT_TRUE(CheckHealth(Get("gateway").address(), &resp).ok());
}

TEST_F(ServicesTest, RestMalformedJsonIsHttp400) {
  std::string out;
  std::string cmd = "curl -sS -m 10 -o /dev/null -w '%{http_code}' -X POST -d '{bad' http://127.0.0.1:" +
                    std::to_string(rest_port_) + "/v1/answer";
  ASSERT_EQ(RunCommand(cmd, &out), 0) << out;
  EXPECT_EQ(out, "400");
}

TEST_F(ServicesTest, PrometheusScrapesAllFourServicesUp) {
  std::string dir = *dir_ + "/prometheus";
  RunCommand("mkdir -p '" + dir + "/data'", nullptr);
  std::string config = "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n";
  for (auto& s : *services_) {
    config += "  - job_name: " + s.name + "\n    static_configs:\n      - targets: ['127.0.0.1:" +
              std::to_string(s.metrics_port) + "']\n";
  }
  {
    FILE* f = std::fopen((dir + "/prometheus.yml").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(config.c_str(), f);
    std::fclose(f);
  }
  int port = PickFreePort();
  Process prom;
  ASSERT_TRUE(prom.Start({"/usr/bin/prometheus", "--config.file=" + dir + "/prometheus.yml",
                          "--storage.tsdb.path=" + dir + "/data",
                          "--web.listen-address=127.0.0.1:" + std::to_string(port)},
                         dir + "/prometheus.log"));
  auto deadline = std::chrono::steady_clock::now() + seconds(60);
  int up = 0;
  std::string body;
  while (std::chrono::steady_clock::now() < deadline) {
    body.clear();
    if (HttpGet(port, "/api/v1/query?query=up%3D%3D1", &body) == 200) {
      up = 0;
      for (auto& s : *services_) {
        if (body.find("\"job\":\"" + s.name + "\"") != std::string::npos) ++up;
      }
      if (up == 4) break;
    }
    ASSERT_TRUE(prom.running()) << ReadFile(dir + "/prometheus.log");
    std::this_thread::sleep_for(milliseconds(500));
  }
  EXPECT_EQ(up, 4) << body;
  EXPECT_EQ(prom.StopAndWait(SIGTERM, milliseconds(20000)), 0);
}

// Runs last (declaration order): every process drains and exits 0 on SIGTERM.
TEST_F(ServicesTest, SigtermStopsEveryProcessWithExitStatusZero) {
  for (auto& s : *services_) {
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(s.process->StopAndWait(SIGTERM, milliseconds(15000)), 0)
        << s.name << ":\n" << ReadFile(s.log);
    EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(12)) << s.name;
    EXPECT_NE(ReadFile(s.log).find("\"msg\":\"" + s.name + " stopped\""), std::string::npos)
        << ReadFile(s.log);
  }
  EXPECT_EQ(rest_->StopAndWait(SIGTERM, milliseconds(15000)), 0);
}

}  // namespace
}  // namespace orqa::testing
