// Answer end to end with the fixture model as real processes: retriever,
// reader, gateway and the REST proxy, talked to over gRPC and with curl.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/model/realm_config.h"
#include "common/text/answer_metrics.h"
#include "common/text/utf8.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "orqa/v1/admin.grpc.pb.h"
#include "orqa/v1/openqa.grpc.pb.h"
#include "tests/integration/health_probe.h"
#include "tests/integration/http_client.h"
#include "tests/integration/fixture_blocks.h"
#include "tests/integration/process.h"
#include "tests/unit/fixture_paths.h"

namespace orqa::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

// The code points [begin, end) of `text`.
std::string Substr(const std::string& text, int begin, int end) {
  auto cps = DecodeUtf8(text);
  if (begin < 0 || end > static_cast<int>(cps.size()) || begin >= end) return "<bad offsets>";
  return text.substr(cps[begin].byte_begin, cps[end - 1].byte_end - cps[begin].byte_begin);
}

struct Proc {
  std::string name, log;
  int grpc_port = 0, metrics_port = 0;
  std::unique_ptr<Process> p;
  std::string address() const { return "127.0.0.1:" + std::to_string(grpc_port); }
};

class AnswerTest : public ::testing::Test {
 protected:
  static constexpr double kReaderQueueDelayMs = 200;

  static void SetUpTestSuite() {
    dir_ = new std::string(MakeTempDir("orqa-answer-"));
    // ORQA_TEST_WEIGHTS / ORQA_TEST_EMBEDDINGS serve the fixture model from other
    // files, e.g. TF checkpoints converted in memory (tf_convert_test.sh).
    const std::string fx = FixtureDir();
    const char* w = std::getenv("ORQA_TEST_WEIGHTS");
    const char* e = std::getenv("ORQA_TEST_EMBEDDINGS");
    const std::string weights = w && *w ? w : fx + "/realm_for_open_qa.safetensors";
    const std::string embeddings = e && *e ? e : weights;
    weights_ = new std::string(weights);
    std::string out;
    num_blocks_ = BuildFixtureBlocks(fx, *dir_ + "/fixture.blocks", &out);
    ASSERT_GT(num_blocks_, 0) << out;
    std::ifstream in(fx + "/goldens.json");
    meta_ = new json(json::parse(in));
    config_ = new RealmConfig(*ReadRealmConfig(fx + "/config.json"));
    procs_ = new std::vector<Proc>();
    auto start = [&](const std::string& name, const std::string& bin, std::vector<std::string> args) {
      Proc pr;
      pr.name = name;
      pr.grpc_port = PickFreePort();
      pr.metrics_port = PickFreePort();
      pr.log = *dir_ + "/" + name + ".log";
      std::vector<std::string> argv = {Bin(bin), "--grpc-port=" + std::to_string(pr.grpc_port),
                                       "--metrics-port=" + std::to_string(pr.metrics_port)};
      argv.insert(argv.end(), args.begin(), args.end());
      pr.p = std::make_unique<Process>();
      EXPECT_TRUE(pr.p->Start(argv, pr.log));
      procs_->push_back(std::move(pr));
      return procs_->back().address();
    };
    std::string retriever = start("retriever", "orqa-retriever",
                                  {"--model-dir=" + fx, "--weights=" + weights, "--blocks=" + *dir_ + "/fixture.blocks",
                                   "--embeddings=" + embeddings});
    std::string reader = start("reader", "orqa-reader",
                               {"--model-dir=" + fx, "--weights=" + weights, "--max-batch-size=8",
                                "--max-queue-delay-ms=" + std::to_string(kReaderQueueDelayMs)});
    std::string gateway = start("gateway", "orqa-gateway",
                                {"--retrievers=" + retriever, "--reader=" + reader, "--admin-token=s3cret",
                                 "--trainer=127.0.0.1:" + std::to_string(PickFreePort()),
                                 "--default-k=" + std::to_string(config_->reader_beam_size)});
    rest_port_ = PickFreePort();
    rest_ = new Process();
    ASSERT_TRUE(rest_->Start({Bin("orqa-rest"), "--listen=127.0.0.1:" + std::to_string(rest_port_),
                              "--gateway=" + gateway}, *dir_ + "/rest.log"));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!IsServing(gateway)) {
      for (auto& pr : *procs_) ASSERT_TRUE(pr.p->running()) << pr.name << ":\n" << ReadFile(pr.log);
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "gateway never became SERVING";
      std::this_thread::sleep_for(milliseconds(100));
    }
    while (HttpGet(rest_port_, "/healthz", nullptr) != 200) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "orqa-rest never became healthy";
      std::this_thread::sleep_for(milliseconds(50));
    }
    stub_ = orqa::v1::OpenQA::NewStub(grpc::CreateChannel(gateway, grpc::InsecureChannelCredentials())).release();
  }

  static void TearDownTestSuite() {
    delete stub_;
    EXPECT_EQ(rest_->StopAndWait(SIGTERM, milliseconds(15000)), 0);
    delete rest_;
    for (auto it = procs_->rbegin(); it != procs_->rend(); ++it) {
      EXPECT_EQ(it->p->StopAndWait(SIGTERM, milliseconds(15000)), 0) << it->name << ":\n" << ReadFile(it->log);
    }
    delete procs_;
    if (!std::getenv("ORQA_KEEP_TEST_FILES")) RunCommand("rm -rf '" + *dir_ + "'", nullptr);
    delete dir_;
    delete weights_;
    delete meta_;
    delete config_;
  }

  static const Proc& Get(const std::string& name) {
    for (const auto& p : *procs_) {
      if (p.name == name) return p;
    }
    throw std::runtime_error(name);
  }

  static grpc::Status Ask(const std::string& q, orqa::v1::AnswerResponse* out, int deadline_ms = 30000, int k = 0) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(deadline_ms));
    orqa::v1::AnswerRequest req;
    req.set_question(q);
    req.set_k(k);
    return stub_->Answer(&ctx, req, out);
  }

  // curl POST; returns the HTTP status and fills the body.
  static int Curl(const std::string& path, const std::string& body, std::string* out,
                  const std::string& extra = "") {
    std::string file = *dir_ + "/body.json";
    std::ofstream(file) << body;
    std::string result;
    RunCommand("curl -sS -m 30 -o " + *dir_ + "/resp.json -w '%{http_code}' -X POST -H 'Content-Type: application/json' " +
                   extra + " --data-binary @" + file + " http://127.0.0.1:" + std::to_string(rest_port_) + path,
               &result);
    *out = ReadFile(*dir_ + "/resp.json");
    return std::atoi(result.c_str());
  }

  static double Metric(const std::string& service, const std::vector<std::string>& parts) {
    std::string body;
    HttpGet(Get(service).metrics_port, "/metrics", &body);
    return SampleValue(body, parts);
  }

  static std::string* dir_;
  static std::string* weights_;  // what the services were started with
  static json* meta_;
  static RealmConfig* config_;
  static std::vector<Proc>* procs_;
  static Process* rest_;
  static int rest_port_;
  static int num_blocks_;  // blocks of the fixture's store
  static orqa::v1::OpenQA::Stub* stub_;
};
std::string* AnswerTest::dir_ = nullptr;
std::string* AnswerTest::weights_ = nullptr;
json* AnswerTest::meta_ = nullptr;
int AnswerTest::num_blocks_ = 0;
RealmConfig* AnswerTest::config_ = nullptr;
std::vector<Proc>* AnswerTest::procs_ = nullptr;
Process* AnswerTest::rest_ = nullptr;
int AnswerTest::rest_port_ = 0;
orqa::v1::OpenQA::Stub* AnswerTest::stub_ = nullptr;

TEST_F(AnswerTest, EveryFixtureQuestionOverGrpcAndRestMatchesTheGolden) {
  int checked = 0;
  for (const auto& e : (*meta_)["openqa"]) {
    if (e["mode"] != "eval") continue;
    const std::string q = e["question"];
    SCOPED_TRACE(q);
    orqa::v1::AnswerResponse resp;
    ASSERT_TRUE(Ask(q, &resp).ok());
    ASSERT_GE(resp.answers_size(), 1);
    const auto& a = resp.answers(0);
    EXPECT_EQ(NormalizeAnswer(a.text()), NormalizeAnswer(e["predicted_answer"]));
    const int64_t golden_block = e["retrieved_block_ids"][e["block_idx"].get<int>()];
    EXPECT_EQ(a.evidence().block_id(), golden_block);
    EXPECT_EQ(a.evidence().passage(), (*meta_)["blocks"][golden_block].get<std::string>());
    EXPECT_EQ(Substr(a.evidence().passage(), a.evidence().answer_char_begin(), a.evidence().answer_char_end()),
              a.text());
    std::string body;
    ASSERT_EQ(Curl("/v1/answer", json({{"question", q}}).dump(), &body), 200) << body;
    json rest = json::parse(body);
    EXPECT_EQ(rest["answers"][0]["text"], a.text());
    EXPECT_EQ(rest["answers"][0]["evidence"]["block_id"], std::to_string(golden_block));  // int64 → JSON string
    EXPECT_EQ(rest["answers"][0]["evidence"]["answer_char_begin"], a.evidence().answer_char_begin());
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>((*meta_)["questions"].size()));
}

TEST_F(AnswerTest, BatchAnswerEqualsIndividualAnswers) {
  orqa::v1::BatchAnswerRequest req;
  for (const auto& q : (*meta_)["questions"]) req.add_questions(q["question"].get<std::string>());
  grpc::ClientContext ctx;
  orqa::v1::BatchAnswerResponse batch;
  ASSERT_TRUE(stub_->BatchAnswer(&ctx, req, &batch).ok());
  ASSERT_EQ(batch.responses_size(), req.questions_size());
  for (int i = 0; i < req.questions_size(); ++i) {
    orqa::v1::AnswerResponse single;
    ASSERT_TRUE(Ask(req.questions(i), &single).ok());
    ASSERT_EQ(batch.responses(i).answers_size(), single.answers_size());
    EXPECT_EQ(batch.responses(i).answers(0).text(), single.answers(0).text()) << req.questions(i);
    EXPECT_EQ(batch.responses(i).answers(0).evidence().block_id(), single.answers(0).evidence().block_id());
  }
  std::string body;
  json rest_req = {{"questions", json::array()}};
  for (const auto& q : (*meta_)["questions"]) rest_req["questions"].push_back(q["question"]);
  ASSERT_EQ(Curl("/v1/answer:batch", rest_req.dump(), &body), 200) << body;
  EXPECT_EQ(json::parse(body)["responses"].size(), (*meta_)["questions"].size());
}

TEST_F(AnswerTest, ReadingEveryBlockForManyQuestionsAtOnceMatchesOneByOne) {
  // Every question x every block read together (8 x 12 in realm-tiny) exceed
  // one reader forward pass (2048 / reader_seq_len rows, 32 for realm-tiny):
  // the passes must give the same answers as single requests.
  orqa::v1::BatchAnswerRequest req;
  for (const auto& q : (*meta_)["questions"]) req.add_questions(q["question"].get<std::string>());
  req.set_k(num_blocks_);
  req.set_num_answers(3);
  grpc::ClientContext ctx;
  orqa::v1::BatchAnswerResponse batch;
  ASSERT_TRUE(stub_->BatchAnswer(&ctx, req, &batch).ok());
  for (int i = 0; i < req.questions_size(); ++i) {
    grpc::ClientContext c;
    orqa::v1::AnswerRequest one;
    one.set_question(req.questions(i));
    one.set_k(num_blocks_);
    one.set_num_answers(3);
    orqa::v1::AnswerResponse single;
    ASSERT_TRUE(stub_->Answer(&c, one, &single).ok());
    ASSERT_EQ(single.answers_size(), 3);
    ASSERT_EQ(batch.responses(i).answers_size(), 3);
    for (int a = 0; a < 3; ++a) {
      EXPECT_EQ(batch.responses(i).answers(a).text(), single.answers(a).text()) << req.questions(i) << " #" << a;
      EXPECT_NEAR(batch.responses(i).answers(a).score(), single.answers(a).score(), 1e-4);
    }
  }
}

TEST_F(AnswerTest, SixteenConcurrentClientsAreBatchedAndGetTheSameAnswers) {
  std::vector<std::string> questions;
  std::map<std::string, std::string> unbatched;
  for (const auto& q : (*meta_)["questions"]) {
    questions.push_back(q["question"]);
    orqa::v1::AnswerResponse r;
    ASSERT_TRUE(Ask(questions.back(), &r).ok());
    unbatched[questions.back()] = r.answers(0).text();
  }
  const std::vector<std::string> count = {"orqa_reader_batch_size_count"};
  const std::vector<std::string> ones = {"orqa_reader_batch_size_bucket", "le=\"1\""};
  double batches_before = Metric("reader", count), singles_before = Metric("reader", ones);
  std::vector<std::future<std::pair<std::string, std::string>>> clients;
  for (int c = 0; c < 16; ++c) {
    clients.push_back(std::async(std::launch::async, [&, c] {
      orqa::v1::AnswerResponse r;
      const std::string& q = questions[c % questions.size()];
      grpc::Status st = Ask(q, &r);
      return std::make_pair(q, st.ok() && r.answers_size() ? r.answers(0).text() : "<" + st.error_message() + ">");
    }));
  }
  for (auto& f : clients) {
    auto [q, text] = f.get();
    EXPECT_EQ(text, unbatched[q]) << q;
  }
  double batches = Metric("reader", count) - batches_before;
  double singles = Metric("reader", ones) - singles_before;
  EXPECT_GT(batches, 0);
  EXPECT_LT(batches, 16) << "16 requests ran in 16 batches: no batching happened";
  EXPECT_LT(singles, batches) << "every batch held one request";
}

TEST_F(AnswerTest, ShortDeadlineIsDeadlineExceededAndTheReaderDropsTheRequest) {
  const std::vector<std::string> dropped = {"orqa_reader_dropped_total"};
  double before = Metric("reader", dropped);
  orqa::v1::AnswerResponse r;
  grpc::Status st = Ask("What is the capital of France?", &r, /*deadline_ms=*/60);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << st.error_message();
  std::string body;
  EXPECT_EQ(Curl("/v1/answer", R"({"question": "Who wrote the first computer algorithm?"})", &body,
                 "-H 'Grpc-Timeout: 60m'"), 504) << body;
  // Both requests sat in the reader's queue past their deadline: dropped, not computed.
  double after = before;
  for (int i = 0; i < 50 && after < before + 2; ++i) {
    std::this_thread::sleep_for(milliseconds(50));
    after = Metric("reader", dropped);
  }
  EXPECT_EQ(after, before + 2);
}

TEST_F(AnswerTest, BadInputGetsTheDocumentedStatusAndServicesKeepServing) {
  orqa::v1::AnswerResponse r;
  auto expect = [](grpc::Status st, const std::string& message) {
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << message;
    EXPECT_EQ(st.error_message(), message);
  };
  expect(Ask("", &r), "question: must not be empty or whitespace-only");
  expect(Ask("  \t\n", &r), "question: must not be empty or whitespace-only");
  expect(Ask(std::string(1001, 'a'), &r), "question: 1001 characters, the limit is 1000");
  expect(Ask("who?", &r, 30000, 5001), "k: expected 1..5000 (or 0 for the default), got 5001");
  expect(Ask("who?", &r, 30000, num_blocks_ + 1),
         "k: " + std::to_string(num_blocks_ + 1) + " exceeds the " + std::to_string(num_blocks_) + " blocks served");
  {
    grpc::ClientContext ctx;
    orqa::v1::AnswerRequest req;
    req.set_question("who?");
    req.set_num_answers(101);
    expect(stub_->Answer(&ctx, req, &r), "num_answers: expected 1..100 (or 0 for 1), got 101");
  }
  {
    // Not UTF-8 (the C++ client sends it; the server's parse rejects it).
    grpc::ClientContext ctx;
    orqa::v1::AnswerRequest req;
    req.set_question("caf\xe9 au lait?");
    grpc::Status st = stub_->Answer(&ctx, req, &r);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
    EXPECT_EQ(st.error_message(), "question: not valid UTF-8 (orqa.v1.AnswerRequest.question)");
  }
  std::string body;
  EXPECT_EQ(Curl("/v1/answer", R"({"question": "   "})", &body), 400);
  EXPECT_NE(body.find("question: must not be empty or whitespace-only"), std::string::npos) << body;
  EXPECT_EQ(Curl("/v1/answer", R"({"question": "who?", "k": 5001})", &body), 400);
  EXPECT_NE(body.find("k: expected 1..5000"), std::string::npos) << body;
  EXPECT_EQ(Curl("/v1/answer", R"({"question": "who?", "num_answers": -1})", &body), 400);
  EXPECT_EQ(Curl("/v1/answer", R"({"question": )", &body), 400);
  EXPECT_EQ(Curl("/v1/answer", R"({"questions": "wrong field"})", &body), 400);
  EXPECT_NE(body.find(R"(unknown field \"questions\")"), std::string::npos) << body;
  // A field the API does not define is refused even next to a valid request (proto3 JSON).
  EXPECT_EQ(Curl("/v1/answer", R"({"question": "What is the capital of France?", "top_k": 3})", &body), 400);
  EXPECT_NE(body.find(R"(unknown field \"top_k\")"), std::string::npos) << body;
  EXPECT_EQ(json::parse(body, nullptr, false).value("code", -1), 3) << body;  // INVALID_ARGUMENT
  EXPECT_EQ(Curl("/v1/no-such-route", "{}", &body), 404);
  EXPECT_EQ(json::parse(body, nullptr, false).value("code", -1), 5) << body;  // JSON, NOT_FOUND
  EXPECT_NE(body.find("Not Found"), std::string::npos) << body;
  // Everything still answers.
  for (const auto& pr : *procs_) EXPECT_TRUE(IsServing(pr.address())) << pr.name;
  EXPECT_TRUE(Ask("What is the capital of France?", &r).ok());
}

TEST_F(AnswerTest, OpenApiDocumentIsServed) {
  std::string body;
  ASSERT_EQ(HttpGet(rest_port_, "/openapi.json", &body), 200);
  json doc = json::parse(body);
  EXPECT_TRUE(doc["paths"].contains("/v1/answer"));
  EXPECT_TRUE(doc["paths"].contains("/v1/answer:batch"));
  EXPECT_TRUE(doc["paths"].contains("/v1/admin/status"));
}

TEST_F(AnswerTest, AdminNeedsTheTokenAndDeployHotSwapsWithoutChangingAnswers) {
  auto admin = orqa::v1::Admin::NewStub(grpc::CreateChannel(Get("gateway").address(), grpc::InsecureChannelCredentials()));
  orqa::v1::GetStatusResponse status;
  {
    grpc::ClientContext ctx;
    EXPECT_EQ(admin->GetStatus(&ctx, {}, &status).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer wrong");
    EXPECT_EQ(admin->GetStatus(&ctx, {}, &status).error_message(), "invalid admin token");
  }
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer s3cret");
  ASSERT_TRUE(admin->GetStatus(&ctx, {}, &status).ok());
  ASSERT_EQ(status.backends_size(), 3);  // one shard, the reader, the (not started) trainer
  EXPECT_EQ(status.backends(0).role(), "retriever");
  EXPECT_EQ(status.backends(0).health(), "SERVING");
  EXPECT_EQ(status.backends(0).num_blocks(), num_blocks_);
  EXPECT_EQ(status.total_blocks(), num_blocks_);
  EXPECT_EQ(status.backends(1).role(), "reader");
  EXPECT_NE(status.backends(1).model().version().find("realm_for_open_qa.safetensors"), std::string::npos);
  // What each backend's encoder runs at on its CPU (the stack runs at fp32), and the retriever's scan kernel.
  const std::string fp32 = "precision fp32: fp32 products (LibTorch); CPU level ";
  EXPECT_EQ(status.backends(0).arithmetic().rfind(fp32, 0), 0u) << status.backends(0).arithmetic();
  EXPECT_EQ(status.backends(0).arithmetic().size() - status.backends(0).arithmetic().rfind(" scan"), 5u)
      << status.backends(0).arithmetic();
  EXPECT_EQ(status.backends(1).arithmetic().rfind(fp32, 0), 0u) << status.backends(1).arithmetic();
  EXPECT_EQ(status.backends(2).role(), "trainer");
  EXPECT_EQ(status.backends(2).health(), "UNREACHABLE");

  orqa::v1::AnswerResponse before;
  ASSERT_TRUE(Ask("Who was the first person to walk on the Moon?", &before).ok());
  // The fixture folder's pytorch_model.bin holds the same weights as the
  // safetensors file the services started with.
  grpc::ClientContext dctx;
  dctx.AddMetadata("authorization", "Bearer s3cret");
  orqa::v1::DeployRequest deploy;
  deploy.set_checkpoint_dir(FixtureDir());
  orqa::v1::DeployResponse deployed;
  grpc::Status st = admin->Deploy(&dctx, deploy, &deployed);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_NE(deployed.embedder().version().find("pytorch_model.bin"), std::string::npos);
  EXPECT_NE(deployed.reader().version().find("pytorch_model.bin"), std::string::npos);
  orqa::v1::AnswerResponse after;
  ASSERT_TRUE(Ask("Who was the first person to walk on the Moon?", &after).ok());
  EXPECT_EQ(after.answers(0).text(), before.answers(0).text());
  EXPECT_NE(after.reader_version().find("pytorch_model.bin"), std::string::npos) << after.reader_version();
  // A checkpoint that does not load keeps the deployed model serving.
  grpc::ClientContext bctx;
  bctx.AddMetadata("authorization", "Bearer s3cret");
  deploy.set_checkpoint_dir("/nonexistent");
  st = admin->Deploy(&bctx, deploy, &deployed);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(st.error_message().find("reload failed, still serving the previous state"), std::string::npos)
      << st.error_message();
  ASSERT_TRUE(Ask("Who was the first person to walk on the Moon?", &after).ok());
  EXPECT_EQ(after.answers(0).text(), before.answers(0).text());
}

// Deploy with a weights file (or TF checkpoint prefix) beside the model
// directory: both parts reload from it and answer as before.
TEST_F(AnswerTest, DeployTakesWeightsBesideTheDirectory) {
  auto admin = orqa::v1::Admin::NewStub(grpc::CreateChannel(Get("gateway").address(), grpc::InsecureChannelCredentials()));
  orqa::v1::AnswerResponse before, after;
  ASSERT_TRUE(Ask("Who was the first person to walk on the Moon?", &before).ok());
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer s3cret");
  orqa::v1::DeployRequest deploy;
  deploy.set_checkpoint_dir(FixtureDir());
  deploy.set_weights_path(*weights_);
  orqa::v1::DeployResponse deployed;
  grpc::Status st = admin->Deploy(&ctx, deploy, &deployed);
  ASSERT_TRUE(st.ok()) << st.error_message();
  const std::string base = weights_->substr(weights_->find_last_of('/') + 1);
  EXPECT_NE(deployed.embedder().version().find(base), std::string::npos) << deployed.embedder().version();
  EXPECT_NE(deployed.reader().version().find(base), std::string::npos) << deployed.reader().version();
  ASSERT_TRUE(Ask("Who was the first person to walk on the Moon?", &after).ok());
  EXPECT_EQ(after.answers(0).text(), before.answers(0).text());
  EXPECT_NEAR(after.answers(0).score(), before.answers(0).score(), 1e-4);

  grpc::ClientContext jctx;
  jctx.AddMetadata("authorization", "Bearer s3cret");
  deploy.clear_checkpoint_dir();
  deploy.set_job_id("job-1");
  st = admin->Deploy(&jctx, deploy, &deployed);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(), "weights_path: goes with checkpoint_dir, not with job_id");
}

TEST_F(AnswerTest, AShardThatIsDownGivesUnavailableNamingIt) {
  int dead = PickFreePort();
  Process gw;
  int port = PickFreePort();
  ASSERT_TRUE(gw.Start({Bin("orqa-gateway"), "--grpc-port=" + std::to_string(port),
                        "--metrics-port=" + std::to_string(PickFreePort()),
                        "--retrievers=127.0.0.1:" + std::to_string(dead), "--reader=" + Get("reader").address()},
                       *dir_ + "/gw2.log"));
  grpc::Status st;
  for (int i = 0; i < 100; ++i) {
    // A fresh channel per try: one that found the gateway not yet listening backs off for seconds.
    auto stub = orqa::v1::OpenQA::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    orqa::v1::AnswerRequest req;
    req.set_question("who?");
    orqa::v1::AnswerResponse resp;
    st = stub->Answer(&ctx, req, &resp);
    if (st.error_code() != grpc::StatusCode::UNAVAILABLE || st.error_message().find("retriever") != std::string::npos) break;
    std::this_thread::sleep_for(milliseconds(50));  // the gateway itself is still starting
  }
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(st.error_message().find("retriever shard 0 at 127.0.0.1:" + std::to_string(dead) + " is unavailable"), 0u)
      << st.error_message();
  EXPECT_EQ(gw.StopAndWait(SIGTERM, milliseconds(15000)), 0);
}

// A --default-k above the corpus is capped at the blocks served when a
// request leaves k unset; an explicit k beyond them stays an error.
TEST_F(AnswerTest, DefaultKIsCappedAtTheBlocksServed) {
  Process gw;
  int port = PickFreePort();
  const std::string address = "127.0.0.1:" + std::to_string(port);
  ASSERT_TRUE(gw.Start({Bin("orqa-gateway"), "--grpc-port=" + std::to_string(port),
                        "--metrics-port=" + std::to_string(PickFreePort()),
                        "--retrievers=" + Get("retriever").address(), "--reader=" + Get("reader").address(),
                        "--default-k=5000"},
                       *dir_ + "/gw-default-k.log"));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!IsServing(address)) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << ReadFile(*dir_ + "/gw-default-k.log");
    std::this_thread::sleep_for(milliseconds(50));
  }
  auto stub = orqa::v1::OpenQA::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  orqa::v1::AnswerRequest req;
  req.set_question("Who was the first person to walk on the Moon?");
  req.set_read_k(1);
  req.set_return_retrieved(true);
  orqa::v1::AnswerResponse resp;
  {
    grpc::ClientContext ctx;
    grpc::Status st = stub->Answer(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(resp.retrieved_size(), num_blocks_);
  }
  req.set_k(num_blocks_ + 1);
  grpc::ClientContext ctx;
  grpc::Status st = stub->Answer(&ctx, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(), "k: " + std::to_string(num_blocks_ + 1) + " exceeds the " + std::to_string(num_blocks_) +
                                    " blocks served");
  EXPECT_EQ(gw.StopAndWait(SIGTERM, milliseconds(15000)), 0);
}

}  // namespace
}  // namespace orqa::testing
