// The web page served by orqa-rest, driven by a real headless Chromium
// (Debian's chromium): ask a fixture question, an empty one, and open a job in
// the Operate view. Screenshots of each view go to $ORQA_TEST_ARTIFACTS
// (default <build>/test-artifacts).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "orqa/v1/admin.grpc.pb.h"
#include "orqa/v1/openqa.grpc.pb.h"
#include "tests/integration/health_probe.h"
#include "tests/integration/http_client.h"
#include "tests/integration/process.h"
#include "tests/unit/fixture_paths.h"

namespace orqa::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

std::string UrlEncode(const std::string& s) {
  std::string out;
  char buf[4];
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// Undoes the HTML escaping Chromium's DOM dump applies to text.
std::string Unescape(std::string s) {
  for (auto [from, to] : {std::pair<std::string, std::string>{"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""},
                          {"&#39;", "'"}, {"&amp;", "&"}}) {
    for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
  }
  return s;
}

std::string Capture(const std::regex& re, const std::string& text) {
  std::smatch m;
  return std::regex_search(text, m, re) ? Unescape(m[1].str()) : "<not found>";
}

class WebTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (RunCommand("command -v chromium >/dev/null", nullptr) != 0) return;
    dir_ = new std::string(MakeTempDir("orqa-web-"));
    artifacts_ = new std::string(std::getenv("ORQA_TEST_ARTIFACTS") ? std::getenv("ORQA_TEST_ARTIFACTS")
                                                                      : std::string(ORQA_BIN_DIR) + "/../test-artifacts");
    std::filesystem::create_directories(*artifacts_);
    const std::string fx = FixtureDir(), weights = fx + "/realm_for_open_qa.safetensors";
    std::ifstream in(fx + "/goldens.json");
    meta_ = new json(json::parse(in));
    {
      std::ofstream blocks(*dir_ + "/blocks.jsonl"), train(*dir_ + "/train.jsonl");
      int id = 0;
      for (const auto& b : (*meta_)["blocks"]) blocks << json{{"id", id++}, {"title", "Fixture"}, {"text", b}}.dump() << "\n";
      for (const auto& q : (*meta_)["questions"]) train << json{{"question", q["question"]}, {"answers", q["answers"]}}.dump() << "\n";
    }
    std::string out;
    ASSERT_EQ(RunCommand(Bin("orqa") + " build-blocks --from " + *dir_ + "/blocks.jsonl --out " + *dir_ + "/fx.blocks", &out), 0);
    procs_ = new std::vector<std::unique_ptr<Process>>();
    auto start = [&](const std::string& name, std::vector<std::string> argv) {
      procs_->push_back(std::make_unique<Process>());
      EXPECT_TRUE(procs_->back()->Start(argv, *dir_ + "/" + name + ".log"));
    };
    const int r = PickFreePort(), rd = PickFreePort(), t = PickFreePort();
    gateway_ = new std::string("127.0.0.1:" + std::to_string(PickFreePort()));
    rest_port_ = PickFreePort();
    start("retriever", {Bin("orqa-retriever"), "--grpc-port=" + std::to_string(r), "--metrics-port=0", "--model-dir=" + fx,
                        "--weights=" + weights, "--blocks=" + *dir_ + "/fx.blocks", "--embeddings=" + weights});
    start("reader", {Bin("orqa-reader"), "--grpc-port=" + std::to_string(rd), "--metrics-port=0", "--model-dir=" + fx,
                     "--weights=" + weights});
    start("trainer", {Bin("orqa-trainer"), "--grpc-port=" + std::to_string(t), "--metrics-port=0",
                      "--state-dir=" + *dir_ + "/state", "--retriever=127.0.0.1:" + std::to_string(r)});
    start("gateway", {Bin("orqa-gateway"), "--grpc-port=" + gateway_->substr(10), "--metrics-port=0",
                      "--retrievers=127.0.0.1:" + std::to_string(r), "--reader=127.0.0.1:" + std::to_string(rd),
                      "--trainer=127.0.0.1:" + std::to_string(t), "--admin-token=s3cret", "--default-k=3"});
    start("rest", {Bin("orqa-rest"), "--listen=127.0.0.1:" + std::to_string(rest_port_), "--gateway=" + *gateway_});
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!IsServing(*gateway_) || HttpGet(rest_port_, "/healthz", nullptr) != 200) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << ReadFile(*dir_ + "/gateway.log");
      std::this_thread::sleep_for(milliseconds(100));
    }
  }

  static void TearDownTestSuite() {
    if (!procs_) return;
    for (auto it = procs_->rbegin(); it != procs_->rend(); ++it) EXPECT_EQ((*it)->StopAndWait(SIGTERM, milliseconds(15000)), 0);
    delete procs_;
    if (!std::getenv("ORQA_KEEP_TEST_FILES")) RunCommand("rm -rf '" + *dir_ + "'", nullptr);
  }

  void SetUp() override {
    if (!procs_) GTEST_SKIP() << "Debian's chromium is not installed (scripts/install-deps.sh installs it)";
  }

  // The DOM after the page's scripts ran (and its fetches answered); a screenshot beside it.
  static std::string Browse(const std::string& path, const std::string& screenshot) {
    const std::string url = "http://127.0.0.1:" + std::to_string(rest_port_) + path;
    const std::string flags = "chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars "
                              "--virtual-time-budget=15000 --window-size=1100,1400 ";
    std::string dom;
    EXPECT_EQ(RunCommand(flags + "--dump-dom '" + url + "' 2>/dev/null", &dom), 0);
    RunCommand(flags + "--screenshot=" + *artifacts_ + "/" + screenshot + " '" + url + "' >/dev/null 2>&1", nullptr);
    return dom;
  }

  static std::string* dir_;
  static std::string* artifacts_;
  static std::string* gateway_;
  static int rest_port_;
  static json* meta_;
  static std::vector<std::unique_ptr<Process>>* procs_;
};

std::string* WebTest::dir_ = nullptr;
std::string* WebTest::artifacts_ = nullptr;
std::string* WebTest::gateway_ = nullptr;
int WebTest::rest_port_ = 0;
json* WebTest::meta_ = nullptr;
std::vector<std::unique_ptr<Process>>* WebTest::procs_ = nullptr;

TEST_F(WebTest, AskShowsTheGrpcAnswerAndHighlightsExactlyItsCharacters) {
  const std::regex answer_re("class=\"answer-text\" data-rank=\"0\">([^<]*)<");
  const std::regex mark_re("<mark>([^<]*)</mark>");
  for (int i = 0; i < 3; ++i) {
    const std::string q = (*meta_)["questions"][i]["question"];
    auto stub = orqa::v1::OpenQA::NewStub(grpc::CreateChannel(*gateway_, grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    orqa::v1::AnswerRequest req;
    req.set_question(q);
    req.set_k(6);
    req.set_read_k(3);
    orqa::v1::AnswerResponse resp;
    ASSERT_TRUE(stub->Answer(&ctx, req, &resp).ok());
    ASSERT_GT(resp.answers_size(), 0);
    const std::string dom = Browse("/?q=" + UrlEncode(q) + "&k=6&read_k=3", "web-ask-" + std::to_string(i) + ".png");
    EXPECT_EQ(Capture(answer_re, dom), resp.answers(0).text()) << q;
    // The highlight is the passage's characters at the answer's offsets, which are the answer.
    EXPECT_EQ(Capture(mark_re, dom), resp.answers(0).text()) << q;
    EXPECT_NE(dom.find("block " + std::to_string(resp.answers(0).evidence().block_id()) + " · Fixture"), std::string::npos);
  }
}

TEST_F(WebTest, AnEmptyQuestionShowsTheApiErrorInline) {
  const std::string dom = Browse("/?q=%20%20", "web-ask-error.png");
  EXPECT_EQ(Capture(std::regex("id=\"ask-error\" class=\"error\" role=\"alert\">([^<]*)<"), dom),
            "question: must not be empty or whitespace-only (HTTP 400)");
  EXPECT_EQ(dom.find("id=\"ask-error\" class=\"error\" role=\"alert\" hidden"), std::string::npos);
}

TEST_F(WebTest, OperateListsAJobAndDrawsItsLossCurve) {
  auto admin = orqa::v1::Admin::NewStub(grpc::CreateChannel(*gateway_, grpc::InsecureChannelCredentials()));
  orqa::v1::StartJobRequest start;
  auto* spec = start.mutable_spec();
  spec->set_kind(orqa::v1::JOB_KIND_FINETUNE);
  spec->set_model_dir(FixtureDir());
  spec->set_weights_path(FixtureDir() + "/realm_for_open_qa.safetensors");
  spec->set_train_path(*dir_ + "/train.jsonl");
  spec->set_eval_path(*dir_ + "/train.jsonl");
  spec->set_eval_every_steps(5);
  spec->set_output_dir(*dir_ + "/out");
  spec->set_num_steps(15);
  spec->set_batch_size(4);
  spec->set_learning_rate(1e-3f);
  orqa::v1::Job job;
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer s3cret");
    ASSERT_TRUE(admin->StartJob(&ctx, start, &job).ok());
  }
  for (int i = 0; i < 600 && job.state() != orqa::v1::JOB_STATE_SUCCEEDED; ++i) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer s3cret");
    orqa::v1::GetJobRequest req;
    req.set_job_id(job.job_id());
    ASSERT_TRUE(admin->GetJob(&ctx, req, &job).ok());
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_EQ(job.state(), orqa::v1::JOB_STATE_SUCCEEDED) << job.error();
  // The token travels in the fragment, which the browser never sends to a server.
  const std::string dom = Browse("/#operate&token=s3cret&job=" + job.job_id(), "web-operate.png");
  EXPECT_NE(dom.find("<td>" + job.job_id() + "</td>"), std::string::npos) << "the jobs list lacks the job";
  EXPECT_NE(dom.find("<td>SUCCEEDED</td>"), std::string::npos);
  EXPECT_NE(dom.find("Job " + job.job_id()), std::string::npos) << "the job was not opened";
  // One loss path over 15 steps, and the eval metrics at steps 5, 10, 15.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(dom, m, std::regex("<path d=\"(M[^\"]*)\"[^>]*class=\"series\" data-name=\"loss\"")))
      << "no loss curve";
  const std::string path = m[1].str();
  EXPECT_EQ(std::count(path.begin(), path.end(), 'L'), 14);
  EXPECT_NE(dom.find("data-name=\"exact_match\""), std::string::npos) << "no eval curve";
  // Without the token the view says what is wrong, in words.
  const std::string denied = Browse("/#operate&token=wrong", "web-operate-denied.png");
  EXPECT_EQ(Capture(std::regex("id=\"op-error\" class=\"error\" role=\"alert\">([^<]*)<"), denied),
            "invalid admin token (HTTP 401)");
}

}  // namespace
}  // namespace orqa::testing
