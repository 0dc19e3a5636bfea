// orqa-retriever as real processes: golden top-k over the fixture blocks,
// brute-force agreement on 2,067 real Wikipedia paragraphs, exact sharding,
// reload under load, bad input and bad files.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include <unistd.h>
#include <cstring>

#include "common/index/embeddings.h"
#include "common/index/flat_scan.h"
#include "common/index/searcher.h"
#include "common/index/topk_merge.h"
#include "common/io/safetensors.h"
#include "common/model/onednn_matmul.h"
#include "common/model/realm_config.h"
#include "common/model/text_embedder.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "orqa/v1/openqa.grpc.pb.h"
#include "orqa/v1/reader.grpc.pb.h"
#include "orqa/v1/retriever.grpc.pb.h"
#include "tests/integration/health_probe.h"
#include "tests/integration/http_client.h"
#include "tests/integration/fixture_blocks.h"
#include "tests/integration/process.h"
#include "tests/unit/fixture_paths.h"
#include "tests/tensor_element.h"

namespace orqa::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr double kTol = 1e-4;

bool Close(double a, double b) { return std::fabs(a - b) <= kTol + kTol * std::fabs(b); }

// One orqa-retriever process with a stub to it.
class Retriever {
 public:
  Retriever(const std::string& dir, const std::string& name, std::vector<std::string> args) {
    port_ = PickFreePort();
    metrics_port_ = PickFreePort();
    log_ = dir + "/" + name + ".log";
    std::vector<std::string> argv = {Bin("orqa-retriever"), "--grpc-port=" + std::to_string(port_),
                                     "--metrics-port=" + std::to_string(metrics_port_)};
    argv.insert(argv.end(), args.begin(), args.end());
    EXPECT_TRUE(process_.Start(argv, log_));
    stub_ = orqa::v1::Retriever::NewStub(grpc::CreateChannel(address(), grpc::InsecureChannelCredentials()));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline && process_.running()) {
      if ((serving_ = IsServing(address()))) break;
      std::this_thread::sleep_for(milliseconds(50));
    }
    EXPECT_TRUE(serving_) << name << " never became SERVING:\n" << ReadFile(log_);
  }
  ~Retriever() { EXPECT_EQ(process_.StopAndWait(SIGTERM, milliseconds(15000)), 0) << ReadFile(log_); }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return process_.pid(); }
  orqa::v1::Retriever::Stub& stub() { return *stub_; }
  // Questions this process has embedded (its embed histogram's count).
  int64_t Embedded() const {
    std::string body;
    if (HttpGet(metrics_port_, "/metrics", &body) != 200) return -1;
    int64_t n = 0;
    std::istringstream in(body);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("orqa_retriever_embed_seconds_count", 0) == 0) n += std::stoll(line.substr(line.rfind(' ') + 1));
    }
    return n;
  }

  grpc::Status Retrieve(const std::string& q, int k, orqa::v1::RetrieveResponse* out, bool query_vector = false) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    orqa::v1::RetrieveRequest req;
    req.set_question(q);
    req.set_k(k);
    req.set_return_query_vector(query_vector);
    return stub_->Retrieve(&ctx, req, out);
  }

 private:
  int port_, metrics_port_;
  std::string log_;
  Process process_;
  bool serving_ = false;
  std::unique_ptr<orqa::v1::Retriever::Stub> stub_;
};

class RetrieverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(MakeTempDir("orqa-retriever-"));
    fixture_ = new std::string(FixtureDir());
    const std::string shared = SharedDir();
    std::string out;
    num_blocks_ = BuildFixtureBlocks(*fixture_, *dir_ + "/fixture.blocks", &out);
    ASSERT_GT(num_blocks_, 0) << out;
    auto config = ReadRealmConfig(*fixture_ + "/config.json");
    ASSERT_TRUE(config.ok()) << config.status();
    dim_ = config->retriever_proj_size;
    ASSERT_EQ(RunCommand(Bin("orqa") + " build-blocks --from " + shared +
                             "/data/squad-v1.1-dev-open/blocks.jsonl --out " + *dir_ + "/squad.blocks", &out), 0)
        << out;
    ASSERT_EQ(RunCommand(Bin("orqa") + " embed-blocks --model " + *fixture_ + " --weights " + Weights() +
                             " --blocks " + *dir_ + "/squad.blocks --out " + *dir_ + "/squad.npy --batch-size 64",
                         &out), 0)
        << out;
    for (const auto& line : ReadLines(shared + "/data/squad-v1.1-dev-open/qa-dev.jsonl")) {
      if (questions_.size() == 100) break;
      questions_.push_back(json::parse(line)["question"].get<std::string>());
    }
  }
  static void TearDownTestSuite() {
    // ORQA_KEEP_TEST_FILES=1 keeps the logs and files for a post-mortem.
    if (!std::getenv("ORQA_KEEP_TEST_FILES")) RunCommand("rm -rf '" + *dir_ + "'", nullptr);
    delete dir_;
    delete fixture_;
  }
  static std::string Weights() { return *fixture_ + "/realm_for_open_qa.safetensors"; }
  static std::vector<std::string> SquadArgs() {
    return {"--model-dir=" + *fixture_, "--weights=" + Weights(), "--blocks=" + *dir_ + "/squad.blocks",
            "--embeddings=" + *dir_ + "/squad.npy"};
  }

  static std::string* dir_;
  static std::string* fixture_;
  static std::vector<std::string> questions_;
  static int num_blocks_;  // of the fixture's store
  static int dim_;         // retriever_proj_size of the fixture
};
std::string* RetrieverTest::dir_ = nullptr;
std::string* RetrieverTest::fixture_ = nullptr;
std::vector<std::string> RetrieverTest::questions_;
int RetrieverTest::num_blocks_ = 0;
int RetrieverTest::dim_ = 0;

// `n` retriever shards over the SQuAD paragraphs behind one gateway (with a
// reader), started and SERVING; the test stops gateway and reader.
struct ShardedStack {
  std::vector<std::unique_ptr<Retriever>> shards;
  Process reader, gateway;
  std::string gateway_address;

  ShardedStack(const std::string& dir, const std::string& name, int n, const std::vector<std::string>& squad_args,
               const std::string& fixture, const std::string& weights) {
    std::string addresses;
    for (int i = 0; i < n; ++i) {
      auto args = squad_args;
      args.push_back("--shard-index=" + std::to_string(i));
      args.push_back("--num-shards=" + std::to_string(n));
      shards.push_back(std::make_unique<Retriever>(dir, name + std::to_string(i), args));
      addresses += (i ? "," : "") + shards.back()->address();
    }
    const int reader_port = PickFreePort(), gateway_port = PickFreePort();
    EXPECT_TRUE(reader.Start({Bin("orqa-reader"), "--grpc-port=" + std::to_string(reader_port),
                              "--metrics-port=" + std::to_string(PickFreePort()), "--model-dir=" + fixture,
                              "--weights=" + weights},
                             dir + "/" + name + "-reader.log"));
    gateway_address = "127.0.0.1:" + std::to_string(gateway_port);
    EXPECT_TRUE(gateway.Start({Bin("orqa-gateway"), "--grpc-port=" + std::to_string(gateway_port),
                               "--metrics-port=" + std::to_string(PickFreePort()), "--retrievers=" + addresses,
                               "--reader=127.0.0.1:" + std::to_string(reader_port)},
                              dir + "/" + name + "-gateway.log"));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!IsServing(gateway_address) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(100));
    }
    EXPECT_TRUE(IsServing(gateway_address)) << ReadFile(dir + "/" + name + "-gateway.log");
  }
};

TEST_F(RetrieverTest, FixtureQuestionsGetTheGoldenTopK) {
  auto config = ReadRealmConfig(*fixture_ + "/config.json");
  ASSERT_TRUE(config.ok());
  auto goldens = ReadSafetensors(*fixture_ + "/goldens.safetensors");
  ASSERT_TRUE(goldens.ok());
  std::ifstream in(*fixture_ + "/goldens.json");
  json meta = json::parse(in);
  Retriever r(*dir_, "fixture", {"--model-dir=" + *fixture_, "--weights=" + Weights(),
                                 "--blocks=" + *dir_ + "/fixture.blocks", "--embeddings=" + Weights()});
  const auto& questions = meta["questions"];
  for (int k : {config->reader_beam_size, config->searcher_beam_size}) {
    const std::string p = "retrieval.top" + std::to_string(k) + ".";
    const TensorView& ids = goldens->tensors.at(p + "ids");
    const TensorView& scores = goldens->tensors.at(p + "scores");
    ASSERT_EQ(ids.shape[0], static_cast<int64_t>(questions.size()));
    for (size_t q = 0; q < questions.size(); ++q) {
      SCOPED_TRACE(p + " q" + std::to_string(q));
      orqa::v1::RetrieveResponse resp;
      ASSERT_TRUE(r.Retrieve(questions[q]["question"], k, &resp).ok());
      ASSERT_EQ(resp.blocks_size(), k);
      for (int j = 0; j < k; ++j) {
        EXPECT_EQ(resp.blocks(j).id(), ElementAt<int64_t>(ids, q * k + j));
        EXPECT_TRUE(Close(resp.blocks(j).retrieval_score(), ElementAt<float>(scores, q * k + j)))
            << resp.blocks(j).retrieval_score();
      }
    }
  }
}

// Every --precision starts on this CPU, whatever it is capped to
// (ORQA_MAX_CPU_ISA), says in its log and GetInfo what it runs, and embeds
// questions within that arithmetic's tolerance of fp32 (relative to the
// largest |value|: ModelParity's bounds, the int8 one scaled by the weights'
// code range); the bf16 and int8 indexes scan at the same kernel level.
TEST_F(RetrieverTest, EveryPrecisionStartsSaysWhatRunsAndStaysWithinItsTolerance) {
  auto fp32 = TextEmbedder::Load(*fixture_, Weights());
  ASSERT_TRUE(fp32.ok()) << fp32.status();
  const std::vector<std::string> qs(questions_.begin(), questions_.begin() + 20);
  const std::vector<float> want = (*fp32)->EmbedQuestions(qs);
  double largest = 0;
  for (float v : want) largest = std::max(largest, static_cast<double>(std::fabs(v)));
  for (Precision p : {Precision::kFP32, Precision::kBF16, Precision::kInt8}) {
    const std::string name = PrecisionName(p);
    SCOPED_TRACE(name);
    const PrecisionPlan plan = PlanPrecision(p);
    const double bound = plan.dense == Precision::kFP32   ? 1e-5
                         : plan.dense == Precision::kBF16 ? 0.04
                                                          : 0.08 * 127.0 / plan.int8_weight_max;
    auto args = SquadArgs();
    args.push_back("--precision=" + name);
    args.push_back(std::string("--index-type=") + (p == Precision::kFP32 ? "flat" : name));
    Retriever r(*dir_, "precision-" + name, args);
    grpc::ClientContext ctx;
    orqa::v1::RetrieverInfo info;
    ASSERT_TRUE(r.stub().GetInfo(&ctx, {}, &info).ok());
    EXPECT_EQ(info.arithmetic(), plan.summary);
    // Below AVX-512 the level decides the kernels; above it a timing per process does.
    if (KernelCpuLevel() < CpuLevel::kAvx512) EXPECT_EQ(info.scan_kernel(), ScanKernelName());
    EXPECT_FALSE(info.scan_kernel().empty());
    EXPECT_NE(ReadFile(*dir_ + "/precision-" + name + ".log").find(plan.summary), std::string::npos);
    double worst = 0;
    for (size_t q = 0; q < qs.size(); ++q) {
      orqa::v1::RetrieveResponse resp;
      ASSERT_TRUE(r.Retrieve(qs[q], 5, &resp, true).ok());
      ASSERT_EQ(resp.query_vector_size(), dim_);
      ASSERT_EQ(resp.blocks_size(), 5);
      for (int j = 0; j < dim_; ++j) {
        worst = std::max(worst, std::fabs(resp.query_vector(j) - want[q * dim_ + j]) / largest);
      }
    }
    std::printf("%s: %s; question embeddings within %.4g of fp32 (bound %.4g)\n", name.c_str(), plan.summary.c_str(),
                worst, bound);
    EXPECT_LE(worst, bound);
    // The reader at the same precision starts and says the same.
    Process reader;
    const int port = PickFreePort();
    const std::string log = *dir_ + "/precision-reader-" + name + ".log";
    ASSERT_TRUE(reader.Start({Bin("orqa-reader"), "--grpc-port=" + std::to_string(port),
                              "--metrics-port=" + std::to_string(PickFreePort()), "--model-dir=" + *fixture_,
                              "--weights=" + Weights(), "--precision=" + name},
                             log));
    const std::string address = "127.0.0.1:" + std::to_string(port);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!IsServing(address) && reader.running() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(50));
    }
    ASSERT_TRUE(IsServing(address)) << ReadFile(log);
    auto stub = orqa::v1::Reader::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    grpc::ClientContext rctx;
    orqa::v1::ReaderInfo rinfo;
    ASSERT_TRUE(stub->GetInfo(&rctx, {}, &rinfo).ok());
    EXPECT_EQ(rinfo.arithmetic(), plan.summary);
    EXPECT_EQ(reader.StopAndWait(SIGTERM, milliseconds(15000)), 0) << ReadFile(log);
  }
}

TEST_F(RetrieverTest, SquadResultsEqualInProcessBruteForce) {
  auto embedder = TextEmbedder::Load(*fixture_, Weights());
  ASSERT_TRUE(embedder.ok()) << embedder.status();
  auto matrix = OpenEmbeddings(*dir_ + "/squad.npy");
  ASSERT_TRUE(matrix.ok()) << matrix.status();
  ASSERT_EQ(matrix->rows(), 2067);
  Retriever r(*dir_, "squad", SquadArgs());
  const int k = 20;
  for (const auto& q : questions_) {
    SCOPED_TRACE(q);
    std::vector<float> v = (*embedder)->EmbedQuestions({q});
    std::vector<float> scores;
    std::vector<int64_t> ids;
    BruteForceTopK(*matrix, v.data(), k, &scores, &ids);
    orqa::v1::RetrieveResponse resp;
    ASSERT_TRUE(r.Retrieve(q, k, &resp, /*query_vector=*/true).ok());
    ASSERT_EQ(resp.blocks_size(), k);
    for (int j = 0; j < k; ++j) {
      EXPECT_EQ(resp.blocks(j).id(), ids[j]) << "rank " << j;
      EXPECT_TRUE(Close(resp.blocks(j).retrieval_score(), scores[j]));
    }
    ASSERT_EQ(resp.query_vector_size(), static_cast<int>(v.size()));
    for (size_t i = 0; i < v.size(); ++i) EXPECT_TRUE(Close(resp.query_vector(i), v[i]));
  }
}

TEST_F(RetrieverTest, ThreeShardsMergeToTheSingleIndexResults) {
  Retriever single(*dir_, "single", SquadArgs());
  std::vector<std::unique_ptr<Retriever>> shards;
  for (int i = 0; i < 3; ++i) {
    auto args = SquadArgs();
    args.push_back("--shard-index=" + std::to_string(i));
    args.push_back("--num-shards=3");
    shards.push_back(std::make_unique<Retriever>(*dir_, "shard" + std::to_string(i), args));
  }
  const int k = 10;
  for (const auto& q : questions_) {
    SCOPED_TRACE(q);
    orqa::v1::RetrieveResponse whole;
    ASSERT_TRUE(single.Retrieve(q, k, &whole).ok());
    std::vector<ScoredIds> parts;
    for (auto& s : shards) {
      orqa::v1::RetrieveResponse resp;
      ASSERT_TRUE(s->Retrieve(q, k, &resp).ok());
      ScoredIds part;
      for (const auto& b : resp.blocks()) {
        part.ids.push_back(b.id());
        part.scores.push_back(b.retrieval_score());
      }
      parts.push_back(part);
    }
    ScoredIds merged = MergeTopK(parts, k);
    ASSERT_EQ(merged.ids.size(), static_cast<size_t>(k));
    for (int j = 0; j < k; ++j) {
      EXPECT_EQ(merged.ids[j], whole.blocks(j).id()) << "rank " << j;
      EXPECT_EQ(merged.scores[j], whole.blocks(j).retrieval_score());
    }
  }
  // Each shard serves a contiguous third of the ids.
  int64_t next = 0;
  for (auto& s : shards) {
    grpc::ClientContext ctx;
    orqa::v1::RetrieverInfo info;
    ASSERT_TRUE(s->stub().GetInfo(&ctx, {}, &info).ok());
    EXPECT_EQ(info.first_block_id(), next);
    next += info.num_blocks();
  }
  EXPECT_EQ(next, 2067);
}

// With several shards the gateway embeds each question once (the shards take
// turns) and sends the vector to every shard's Search; the merged top k is
// still the single index's.
TEST_F(RetrieverTest, GatewayEmbedsEachQuestionOnceAcrossShards) {
  Retriever single(*dir_, "single-once", SquadArgs());
  {
    // embed_only: the question's vector (the one Retrieve returns), no blocks.
    orqa::v1::RetrieveResponse full, only;
    ASSERT_TRUE(single.Retrieve(questions_[0], 3, &full, /*query_vector=*/true).ok());
    grpc::ClientContext ctx;
    orqa::v1::RetrieveRequest req;
    req.set_question(questions_[0]);
    req.set_embed_only(true);
    ASSERT_TRUE(single.stub().Retrieve(&ctx, req, &only).ok());
    EXPECT_EQ(only.blocks_size(), 0);
    ASSERT_EQ(only.query_vector_size(), dim_);
    for (int j = 0; j < dim_; ++j) EXPECT_EQ(only.query_vector(j), full.query_vector(j));
    grpc::ClientContext sctx;
    req.set_mode(orqa::v1::RETRIEVAL_MODE_SPARSE);
    grpc::Status st = single.stub().Retrieve(&sctx, req, &only);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(st.error_message(), "embed_only: needs RETRIEVAL_MODE_DENSE (BM25 embeds nothing)");
  }
  ShardedStack stack(*dir_, "once", 3, SquadArgs(), *fixture_, Weights());
  ASSERT_TRUE(IsServing(stack.gateway_address));
  std::vector<int64_t> before;
  for (auto& s : stack.shards) before.push_back(s->Embedded());
  auto stub = orqa::v1::OpenQA::NewStub(grpc::CreateChannel(stack.gateway_address, grpc::InsecureChannelCredentials()));
  const int k = 10, asked = 12;
  for (int n = 0; n < asked; ++n) {
    const std::string& q = questions_[n];
    SCOPED_TRACE(q);
    orqa::v1::RetrieveResponse whole;
    ASSERT_TRUE(single.Retrieve(q, k, &whole).ok());
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    orqa::v1::AnswerRequest req;
    req.set_question(q);
    req.set_k(k);
    req.set_read_k(1);
    req.set_return_retrieved(true);
    orqa::v1::AnswerResponse resp;
    grpc::Status st = stub->Answer(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ASSERT_EQ(resp.retrieved_size(), k);
    for (int j = 0; j < k; ++j) {
      EXPECT_EQ(resp.retrieved(j).id(), whole.blocks(j).id()) << "rank " << j;
      EXPECT_EQ(resp.retrieved(j).retrieval_score(), whole.blocks(j).retrieval_score()) << "rank " << j;
    }
  }
  int64_t embedded = 0;
  for (size_t i = 0; i < stack.shards.size(); ++i) {
    const int64_t n = stack.shards[i]->Embedded() - before[i];
    EXPECT_EQ(n, asked / 3) << "shard " << i << " embeds its turn";
    embedded += n;
  }
  EXPECT_EQ(embedded, asked);
  EXPECT_EQ(stack.gateway.StopAndWait(SIGTERM, milliseconds(15000)), 0);
  EXPECT_EQ(stack.reader.StopAndWait(SIGTERM, milliseconds(15000)), 0);
}

int ThreadsOf(pid_t pid) {
  std::istringstream in(ReadFile("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

// Eight shards behind one gateway: the exact merge equals one index, the
// client's deadline and cancellation reach a shard that stopped answering,
// and the gateway's threads do not grow with shards x requests in flight
// (the shards are called through gRPC's callback API).
TEST_F(RetrieverTest, EightShardsFanOutWithoutAThreadPerShard) {
  Retriever single(*dir_, "single-eight", SquadArgs());
  ShardedStack stack(*dir_, "eight", 8, SquadArgs(), *fixture_, Weights());
  ASSERT_TRUE(IsServing(stack.gateway_address));
  auto stub = orqa::v1::OpenQA::NewStub(grpc::CreateChannel(stack.gateway_address, grpc::InsecureChannelCredentials()));
  auto ask = [&](const std::string& q, int k, std::chrono::milliseconds timeout, orqa::v1::AnswerResponse* resp,
                 grpc::ClientContext* ctx) {
    ctx->set_deadline(std::chrono::system_clock::now() + timeout);
    orqa::v1::AnswerRequest req;
    req.set_question(q);
    req.set_k(k);
    req.set_read_k(1);
    req.set_return_retrieved(true);
    return stub->Answer(ctx, req, resp);
  };
  const int k = 10;
  for (int n = 0; n < 12; ++n) {
    SCOPED_TRACE(questions_[n]);
    orqa::v1::RetrieveResponse whole;
    ASSERT_TRUE(single.Retrieve(questions_[n], k, &whole).ok());
    grpc::ClientContext ctx;
    orqa::v1::AnswerResponse resp;
    grpc::Status st = ask(questions_[n], k, milliseconds(30000), &resp, &ctx);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ASSERT_EQ(resp.retrieved_size(), k);
    for (int j = 0; j < k; ++j) {
      EXPECT_EQ(resp.retrieved(j).id(), whole.blocks(j).id()) << "rank " << j;
      EXPECT_EQ(resp.retrieved(j).retrieval_score(), whole.blocks(j).retrieval_score()) << "rank " << j;
    }
  }

  // 16 clients at once: 8 x 16 = 128 shard calls in flight would have been
  // 128 threads; the gateway's count stays near its idle one.
  const int idle_threads = ThreadsOf(stack.gateway.pid());
  std::atomic<int> peak{idle_threads}, failed{0};
  std::atomic<bool> done{false};
  std::thread sampler([&] {
    while (!done) {
      peak = std::max(peak.load(), ThreadsOf(stack.gateway.pid()));
      std::this_thread::sleep_for(milliseconds(2));
    }
  });
  std::vector<std::thread> clients;
  for (int c = 0; c < 16; ++c) {
    clients.emplace_back([&, c] {
      for (int n = 0; n < 15; ++n) {
        grpc::ClientContext ctx;
        orqa::v1::AnswerResponse resp;
        if (!ask(questions_[(c * 15 + n) % questions_.size()], k, milliseconds(30000), &resp, &ctx).ok()) ++failed;
      }
    });
  }
  for (auto& t : clients) t.join();
  done = true;
  sampler.join();
  EXPECT_EQ(failed.load(), 0);
  // The sync server's own thread per call in flight (16) and gRPC's pollers
  // may come and go; a thread per shard call would add up to 128.
  std::printf("gateway threads: idle %d, peak %d with 16 clients x 8 shards\n", idle_threads, peak.load());
  EXPECT_LE(peak.load() - idle_threads, 40) << "idle " << idle_threads << ", peak " << peak.load();

  // A shard that stops answering: the client's deadline ends the call on
  // time (no hang), and so does the client cancelling.
  ASSERT_EQ(kill(stack.shards[5]->pid(), SIGSTOP), 0);
  {
    grpc::ClientContext ctx;
    orqa::v1::AnswerResponse resp;
    auto t0 = std::chrono::steady_clock::now();
    grpc::Status st = ask(questions_[0], k, milliseconds(1500), &resp, &ctx);
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(st.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << st.error_message();
    EXPECT_LT(took, milliseconds(2500));
  }
  {
    grpc::ClientContext ctx;
    orqa::v1::AnswerResponse resp;
    std::thread canceller([&] {
      std::this_thread::sleep_for(milliseconds(500));
      ctx.TryCancel();
    });
    auto t0 = std::chrono::steady_clock::now();
    grpc::Status st = ask(questions_[1], k, milliseconds(20000), &resp, &ctx);
    const auto took = std::chrono::steady_clock::now() - t0;
    canceller.join();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::CANCELLED) << st.error_message();
    EXPECT_LT(took, milliseconds(1500));
  }
  ASSERT_EQ(kill(stack.shards[5]->pid(), SIGCONT), 0);
  {
    grpc::ClientContext ctx;
    orqa::v1::AnswerResponse resp;
    grpc::Status st = ask(questions_[2], k, milliseconds(30000), &resp, &ctx);
    EXPECT_TRUE(st.ok()) << st.error_message();
  }
  EXPECT_EQ(stack.gateway.StopAndWait(SIGTERM, milliseconds(15000)), 0) << ReadFile(*dir_ + "/eight-stack.gateway.log");
  EXPECT_EQ(stack.reader.StopAndWait(SIGTERM, milliseconds(15000)), 0);
}

TEST_F(RetrieverTest, ReloadUnderLoadLosesNoRequest) {
  const std::string copy = *dir_ + "/squad-copy.npy", corrupt = *dir_ + "/corrupt.npy";
  ASSERT_EQ(RunCommand("cp " + *dir_ + "/squad.npy " + copy + " && head -c 5000 " + *dir_ + "/squad.npy > " + corrupt,
                       nullptr), 0);
  Retriever r(*dir_, "reload", SquadArgs());
  std::atomic<int> ok{0}, failed{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; !stop && i < 400; ++i) {
        orqa::v1::RetrieveResponse resp;
        grpc::Status st = r.Retrieve(questions_[(t * 37 + i) % questions_.size()], 5, &resp);
        (st.ok() && resp.blocks_size() == 5 ? ok : failed)++;
      }
    });
  }
  auto reload = [&](const std::string& path) {
    grpc::ClientContext ctx;
    orqa::v1::ReloadRequest req;
    req.set_embeddings_path(path);
    orqa::v1::ReloadResponse resp;
    return r.stub().Reload(&ctx, req, &resp);
  };
  while (ok < 100) std::this_thread::sleep_for(milliseconds(10));
  EXPECT_TRUE(reload(copy).ok());
  grpc::Status bad = reload(corrupt);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(bad.error_message().find(corrupt + ": invalid .npy"), std::string::npos) << bad.error_message();
  EXPECT_TRUE(reload(*dir_ + "/squad.npy").ok());
  for (auto& c : clients) c.join();
  EXPECT_GE(ok + failed, 500);
  EXPECT_EQ(failed, 0);
  grpc::ClientContext ctx;
  orqa::v1::RetrieverInfo info;
  ASSERT_TRUE(r.stub().GetInfo(&ctx, {}, &info).ok());
  EXPECT_NE(info.embeddings_version().find("squad.npy"), std::string::npos) << info.embeddings_version();
}

TEST_F(RetrieverTest, BadRequestsNameTheField) {
  Retriever r(*dir_, "badinput", {"--model-dir=" + *fixture_, "--weights=" + Weights(),
                                  "--blocks=" + *dir_ + "/fixture.blocks", "--embeddings=" + Weights()});
  orqa::v1::RetrieveResponse resp;
  auto expect = [&](grpc::Status st, const std::string& message) {
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(st.error_message(), message);
  };
  expect(r.Retrieve("", 3, &resp), "question: must not be empty or whitespace-only");
  expect(r.Retrieve(" \t ", 3, &resp), "question: must not be empty or whitespace-only");
  expect(r.Retrieve("who?", 0, &resp), "k: expected 1..5000, got 0");
  expect(r.Retrieve("who?", 5001, &resp), "k: expected 1..5000, got 5001");
  expect(r.Retrieve("who?", num_blocks_ + 1, &resp), "k: " + std::to_string(num_blocks_ + 1) + " exceeds the " +
                                                        std::to_string(num_blocks_) + " blocks this shard serves");
  grpc::ClientContext ctx;
  orqa::v1::SearchRequest search;
  search.set_k(3);
  auto* v = search.add_queries();
  for (int i = 0; i < dim_ - 1; ++i) v->add_values(0.1f);
  orqa::v1::SearchResponse sresp;
  expect(r.stub().Search(&ctx, search, &sresp),
         "queries[0]: expected " + std::to_string(dim_) + " values, got " + std::to_string(dim_ - 1));
  // Still serving afterwards.
  EXPECT_TRUE(r.Retrieve("who?", 3, &resp).ok());
}

TEST_F(RetrieverTest, EmbedBlocksResumesAnInterruptedRun) {
  const std::string full_path = *dir_ + "/squad.npy", out = *dir_ + "/resumed.npy";
  const std::string full = ReadFile(full_path);
  auto header = OpenEmbeddings(full_path);
  ASSERT_TRUE(header.ok());
  const size_t row = static_cast<size_t>(dim_) * 4, body = full.size() - 2067 * row;
  // An interrupted run: 1000 complete rows and part of the next.
  { std::ofstream(out + ".partial", std::ios::binary) << full.substr(0, body + 1000 * row + 7); }
  std::string log;
  ASSERT_EQ(RunCommand(Bin("orqa") + " embed-blocks --model " + *fixture_ + " --weights " + Weights() + " --blocks " +
                           *dir_ + "/squad.blocks --out " + out + " --batch-size 50", &log), 0) << log;
  EXPECT_NE(log.find("resuming " + out + ".partial at block 1000 of 2067"), std::string::npos) << log;
  auto a = OpenEmbeddings(full_path), b = OpenEmbeddings(out);
  ASSERT_TRUE(a.ok() && b.ok()) << b.status();
  ASSERT_EQ(b->rows(), 2067);
  EXPECT_EQ(std::memcmp(a->data(), b->data(), 1000 * row), 0) << "kept rows changed";
  for (int64_t i = 1000 * dim_; i < 2067 * dim_; ++i) {
    ASSERT_NEAR(a->data()[i], b->data()[i], 1e-4) << "element " << i;  // other batch padding: fp noise only
  }
  EXPECT_NE(access((out + ".partial").c_str(), F_OK), 0) << "the partial file was not renamed";
}

// A sharded index build (the Kubernetes Indexed Job): each shard's rows
// embedded on their own, and the retriever of that shard loading the file.
TEST_F(RetrieverTest, OneShardsEmbeddingsServeThatShard) {
  const std::string out = *dir_ + "/shard1of3.npy";
  std::string log;
  ASSERT_EQ(RunCommand(Bin("orqa") + " embed-blocks --model " + *fixture_ + " --weights " + Weights() + " --blocks " +
                           *dir_ + "/squad.blocks --out " + out + " --batch-size 64 --shard-index 1 --num-shards 3",
                       &log), 0) << log;
  EXPECT_NE(log.find("wrote 689 x " + std::to_string(dim_) + " embeddings to " + out + " (blocks 689..1377"),
            std::string::npos) << log;
  auto full = OpenEmbeddings(*dir_ + "/squad.npy"), part = OpenEmbeddings(out);
  ASSERT_TRUE(full.ok() && part.ok()) << part.status();
  ASSERT_EQ(part->rows(), 689);
  for (int64_t i = 0; i < 689 * dim_; ++i) {
    ASSERT_NEAR(part->data()[i], full->data()[689 * dim_ + i], 1e-4) << "element " << i;
  }
  auto args = SquadArgs();
  args.push_back("--shard-index=1");
  args.push_back("--num-shards=3");
  Retriever whole(*dir_, "shard1-full", args);
  args[3] = "--embeddings=" + out;
  Retriever own(*dir_, "shard1-own", args);
  grpc::ClientContext ctx;
  orqa::v1::RetrieverInfo info;
  ASSERT_TRUE(own.stub().GetInfo(&ctx, {}, &info).ok());
  EXPECT_EQ(info.first_block_id(), 689);
  EXPECT_EQ(info.num_blocks(), 689);
  for (int i = 0; i < 10; ++i) {
    orqa::v1::RetrieveResponse a, b;
    ASSERT_TRUE(whole.Retrieve(questions_[i], 5, &a).ok());
    ASSERT_TRUE(own.Retrieve(questions_[i], 5, &b).ok());
    ASSERT_EQ(b.blocks_size(), 5);
    for (int j = 0; j < 5; ++j) {
      EXPECT_EQ(a.blocks(j).id(), b.blocks(j).id()) << questions_[i] << " rank " << j;
      EXPECT_NEAR(a.blocks(j).retrieval_score(), b.blocks(j).retrieval_score(), 1e-3);
    }
  }
  // A shard index outside the shards is refused before any work.
  EXPECT_EQ(RunCommand(Bin("orqa") + " embed-blocks --model " + *fixture_ + " --blocks " + *dir_ +
                           "/squad.blocks --out " + out + " --shard-index 3 --num-shards 3", &log), 2);
  EXPECT_NE(log.find("orqa embed-blocks: error: --shard-index: expected 0..2 for --num-shards 3, got 3"),
            std::string::npos) << log;
}

TEST_F(RetrieverTest, ImportEmbeddingsFromEveryFormat) {
  auto reference = OpenEmbeddings(Weights());  // block_emb in the safetensors checkpoint
  ASSERT_TRUE(reference.ok()) << reference.status();
  for (const std::string& src : {Weights(), *fixture_ + "/pytorch_model.bin"}) {
    std::string out = *dir_ + "/imported.npy", log;
    ASSERT_EQ(RunCommand(Bin("orqa") + " import-embeddings --from " + src + " --out " + out, &log), 0) << log;
    EXPECT_NE(log.find("wrote " + std::to_string(num_blocks_) + " x " + std::to_string(dim_) + " embeddings to " + out),
              std::string::npos)
        << log;
    auto m = OpenEmbeddings(out);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(std::memcmp(m->data(), reference->data(), static_cast<size_t>(num_blocks_) * dim_ * 4), 0) << src;
  }
  // float16 .npy is widened to float32.
  std::string out = *dir_ + "/from16.npy", log;
  ASSERT_EQ(RunCommand(Bin("orqa") + " import-embeddings --from " + SharedDir() +
                           "/fixtures/hf-format/block_emb_f16.npy --out " + out, &log), 0) << log;
  auto m = OpenEmbeddings(out);
  ASSERT_TRUE(m.ok());
  for (int i = 0; i < 192; ++i) EXPECT_NEAR(m->data()[i], i / 7.0, 0.02) << i;
  EXPECT_NE(RunCommand(Bin("orqa") + " import-embeddings --from /nonexistent.npy --out " + out, &log), 0);
  EXPECT_NE(log.find("orqa import-embeddings: error: /nonexistent.npy: No such file or directory"), std::string::npos) << log;
}

TEST_F(RetrieverTest, CorruptFilesStopStartupWithOneLine) {
  const std::string bad_blocks = *dir_ + "/bad.blocks", bad_emb = *dir_ + "/bad.npy";
  ASSERT_EQ(RunCommand("head -c 100 " + *dir_ + "/squad.blocks > " + bad_blocks + " && head -c 3000 " + *dir_ +
                           "/squad.npy > " + bad_emb, nullptr), 0);
  for (auto [blocks, emb, want] :
       {std::tuple<std::string, std::string, std::string>{bad_blocks, *dir_ + "/squad.npy",
                                                          bad_blocks + ": invalid block store: sizes do not add up"},
        {*dir_ + "/squad.blocks", bad_emb, bad_emb + ": invalid .npy: body holds"}}) {
    Process p;
    std::string log = *dir_ + "/corrupt.log";
    ASSERT_TRUE(p.Start({Bin("orqa-retriever"), "--grpc-port=" + std::to_string(PickFreePort()),
                         "--metrics-port=" + std::to_string(PickFreePort()), "--model-dir=" + *fixture_,
                         "--weights=" + Weights(), "--blocks=" + blocks, "--embeddings=" + emb},
                        log));
    EXPECT_EQ(p.Wait(milliseconds(30000)), 1);
    std::string out = ReadFile(log);
    EXPECT_EQ(out.find("orqa-retriever: error: " + want), 0u) << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  }
}

}  // namespace
}  // namespace orqa::testing
