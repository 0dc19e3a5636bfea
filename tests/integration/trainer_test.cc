// The trainer as a real process behind the gateway: finetune against the
// reference losses, lifecycle, restart and resume, index builds, bad input.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <sstream>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/io/npy.h"
#include "common/io/safetensors.h"
#include "common/model/model_dir.h"
#include "orqa/v1/admin.grpc.pb.h"
#include "orqa/v1/openqa.grpc.pb.h"
#include "orqa/v1/retriever.grpc.pb.h"
#include "orqa/v1/trainer.grpc.pb.h"
#include "tests/integration/health_probe.h"
#include "tests/integration/http_client.h"
#include "tests/integration/process.h"
#include "tests/unit/fixture_paths.h"
#include "tests/tensor_element.h"

namespace orqa::testing {
namespace {

using nlohmann::json;
using orqa::v1::Job;
using orqa::v1::JobSpec;
using std::chrono::milliseconds;
using std::chrono::seconds;

struct Service {
  std::string name, log;
  std::vector<std::string> argv;
  int grpc_port = 0, metrics_port = 0;
  std::unique_ptr<Process> p;
  std::string address() const { return "127.0.0.1:" + std::to_string(grpc_port); }
  void Start() {
    p = std::make_unique<Process>();
    ASSERT_TRUE(p->Start(argv, log));
  }
};

bool WaitServing(Service& s, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!IsServing(s.address())) {
    if (!s.p->running() || std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(50));
  }
  return true;
}

class TrainerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(MakeTempDir("orqa-trainer-"));
    services_ = new std::vector<std::unique_ptr<Service>>();
    const std::string fx = FixtureDir();
    std::ifstream in(fx + "/goldens.json");
    meta_ = new json(json::parse(in));
    // The fixture's blocks as a block store and its questions as training data.
    {
      std::ofstream blocks(*dir_ + "/blocks.jsonl"), train(*dir_ + "/train.jsonl");
      int id = 0;
      for (const auto& b : (*meta_)["blocks"]) blocks << json{{"id", id++}, {"title", ""}, {"text", b}}.dump() << "\n";
      for (const auto& q : (*meta_)["questions"]) {
        train << json{{"question", q["question"]}, {"answers", q["answers"]}}.dump() << "\n";
      }
    }
    std::string out;
    ASSERT_EQ(RunCommand(Bin("orqa") + " build-blocks --from " + *dir_ + "/blocks.jsonl --out " + *dir_ + "/fx.blocks", &out), 0) << out;
    weights_ = new std::string(fx + "/realm_for_open_qa.safetensors");
    Service& retriever = Add("retriever", "orqa-retriever",
                             {"--model-dir=" + fx, "--weights=" + *weights_, "--blocks=" + *dir_ + "/fx.blocks",
                              "--embeddings=" + *weights_});
    Service& reader = Add("reader", "orqa-reader", {"--model-dir=" + fx, "--weights=" + *weights_});
    Service& trainer = Add("trainer", "orqa-trainer",
                           {"--state-dir=" + *dir_ + "/state", "--retriever=" + retriever.address(), "--queue-limit=1",
                            "--grace-period-s=20"});
    Add("gateway", "orqa-gateway",
        {"--retrievers=" + retriever.address(), "--reader=" + reader.address(), "--trainer=" + trainer.address(),
         "--admin-token=s3cret"});
    for (auto& s : *services_) {
      s->Start();
      ASSERT_TRUE(WaitServing(*s, seconds(60))) << s->name << ":\n" << ReadFile(s->log);
    }
    admin_ = orqa::v1::Admin::NewStub(grpc::CreateChannel(Get("gateway").address(), grpc::InsecureChannelCredentials()))
                 .release();
  }

  static void TearDownTestSuite() {
    delete admin_;
    for (auto it = services_->rbegin(); it != services_->rend(); ++it) {
      if ((*it)->p && (*it)->p->running()) {
        EXPECT_EQ((*it)->p->StopAndWait(SIGTERM, milliseconds(30000)), 0) << (*it)->name << ":\n" << ReadFile((*it)->log);
      }
    }
    delete services_;
    if (!std::getenv("ORQA_KEEP_TEST_FILES")) RunCommand("rm -rf '" + *dir_ + "'", nullptr);
    delete dir_;
    delete meta_;
    delete weights_;
  }

  static Service& Add(const std::string& name, const std::string& bin, const std::vector<std::string>& args) {
    auto s = std::make_unique<Service>();
    s->name = name;
    s->grpc_port = PickFreePort();
    s->metrics_port = PickFreePort();
    s->log = *dir_ + "/" + name + ".log";
    s->argv = {Bin(bin), "--grpc-port=" + std::to_string(s->grpc_port),
               "--metrics-port=" + std::to_string(s->metrics_port)};
    s->argv.insert(s->argv.end(), args.begin(), args.end());
    services_->push_back(std::move(s));
    return *services_->back();
  }

  static Service& Get(const std::string& name) {
    for (auto& s : *services_) {
      if (s->name == name) return *s;
    }
    throw std::runtime_error(name);
  }

  // A job on the fixture model writing to `out` under the test directory.
  static JobSpec Spec(orqa::v1::JobKind kind, const std::string& out, int steps, int batch, float lr, int seed) {
    JobSpec spec;
    spec.set_kind(kind);
    spec.set_model_dir(FixtureDir());
    spec.set_weights_path(*weights_);
    spec.set_output_dir(*dir_ + "/" + out);
    spec.set_num_steps(steps);
    spec.set_batch_size(batch);
    spec.set_learning_rate(lr);
    spec.set_seed(seed);
    return spec;
  }

  static JobSpec Finetune(const std::string& out, int steps, int batch, float lr) {
    JobSpec spec = Spec(orqa::v1::JOB_KIND_FINETUNE, out, steps, batch, lr, 7);
    spec.set_train_path(*dir_ + "/train.jsonl");
    return spec;
  }

  // A pre-training job over the fixture's blocks, dropout off.
  static JobSpec Pretrain(orqa::v1::JobKind kind, const std::string& out, int steps, int batch, float lr, int seed) {
    JobSpec spec = Spec(kind, out, steps, batch, lr, seed);
    spec.set_blocks_path(*dir_ + "/fx.blocks");
    spec.set_disable_dropout(true);
    return spec;
  }

  static grpc::Status Start(const JobSpec& spec, Job* job, const std::string& token = "s3cret") {
    grpc::ClientContext ctx;
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
    orqa::v1::StartJobRequest req;
    *req.mutable_spec() = spec;
    return admin_->StartJob(&ctx, req, job);
  }

  static grpc::Status GetJob(const std::string& id, Job* job) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer s3cret");
    orqa::v1::GetJobRequest req;
    req.set_job_id(id);
    return admin_->GetJob(&ctx, req, job);
  }

  static grpc::Status Cancel(const std::string& id, Job* job) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer s3cret");
    orqa::v1::CancelJobRequest req;
    req.set_job_id(id);
    return admin_->CancelJob(&ctx, req, job);
  }

  // Polls until the job satisfies `done` (or `limit` passes); returns the last view.
  static Job WaitFor(const std::string& id, const std::function<bool(const Job&)>& done, seconds limit = seconds(120)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    Job job;
    while (std::chrono::steady_clock::now() < deadline) {
      if (GetJob(id, &job).ok() && done(job)) return job;
      std::this_thread::sleep_for(milliseconds(20));
    }
    ADD_FAILURE() << "job " << id << " never reached the expected state; last: " << job.ShortDebugString();
    return job;
  }

  // Polls a trainer directly (not through the gateway) until the job satisfies `done`.
  static Job WaitOnTrainer(orqa::v1::Trainer::Stub& stub, const std::string& id,
                           const std::function<bool(const Job&)>& done, seconds limit = seconds(60)) {
    Job j;
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      grpc::ClientContext ctx;
      orqa::v1::JobId req;
      req.set_job_id(id);
      if (stub.GetJob(&ctx, req, &j).ok() && done(j)) break;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return j;
  }

  static bool Ended(const Job& j) {
    return j.state() == orqa::v1::JOB_STATE_SUCCEEDED || j.state() == orqa::v1::JOB_STATE_FAILED ||
           j.state() == orqa::v1::JOB_STATE_CANCELLED;
  }

  static std::vector<double> GoldenTrainLosses() {
    std::vector<double> out;
    for (const auto& o : (*meta_)["openqa"]) {
      if (o["mode"] == "train_nodropout") out.push_back(o["loss"].get<double>());
    }
    return out;
  }

  static std::string* dir_;
  static std::string* weights_;
  static json* meta_;
  static std::vector<std::unique_ptr<Service>>* services_;
  static orqa::v1::Admin::Stub* admin_;
};

std::string* TrainerTest::dir_ = nullptr;
std::string* TrainerTest::weights_ = nullptr;
json* TrainerTest::meta_ = nullptr;
std::vector<std::unique_ptr<Service>>* TrainerTest::services_ = nullptr;
orqa::v1::Admin::Stub* TrainerTest::admin_ = nullptr;

// Every tensor of two safetensors files, byte for byte (metadata aside).
void ExpectSameTensors(const std::string& a, const std::string& b) {
  auto x = ReadSafetensors(a);
  auto y = ReadSafetensors(b);
  ASSERT_TRUE(x.ok() && y.ok()) << x.status() << " " << y.status();
  ASSERT_EQ(x->tensors.size(), y->tensors.size());
  for (const auto& [name, v] : x->tensors) {
    auto it = y->tensors.find(name);
    ASSERT_NE(it, y->tensors.end()) << name;
    ASSERT_EQ(v.nbytes, it->second.nbytes) << name;
    EXPECT_EQ(std::memcmp(v.data, it->second.data, v.nbytes), 0) << name << " differs";
  }
}

TEST_F(TrainerTest, FirstStepLossEqualsTheReferenceTrainingLossAndTrainingLowersIt) {
  const std::vector<double> golden = GoldenTrainLosses();
  ASSERT_FALSE(golden.empty());
  double mean = 0;
  for (double l : golden) mean += l / static_cast<double>(golden.size());

  // One batch of every question, dropout off: the first step's loss is the
  // mean of the reference's train-mode losses.
  JobSpec spec = Finetune("lowers", 30, static_cast<int>(golden.size()), 3e-3f);
  spec.set_disable_dropout(true);
  spec.set_eval_path(*dir_ + "/train.jsonl");
  Job job;
  ASSERT_TRUE(Start(spec, &job).ok());
  job = WaitFor(job.job_id(), Ended);
  ASSERT_EQ(job.state(), orqa::v1::JOB_STATE_SUCCEEDED) << job.error();
  ASSERT_EQ(job.history_size(), 30);
  EXPECT_NEAR(job.history(0).loss(), mean, 1e-4);
  EXPECT_EQ(job.history(0).step(), 1);
  EXPECT_LT(job.history(29).loss(), 0.5 * job.history(0).loss());
  EXPECT_FALSE(job.checkpoint_dir().empty());
  EXPECT_EQ(job.best_checkpoint_dir(), *dir_ + "/lowers/step-00000030");
  for (const char* m : {"exact_match", "official_exact_match", "reader_oracle", "top_1_match", "top_5_match",
                        "top_20_match", "top_100_match"}) {
    EXPECT_EQ(job.metrics().count(m), 1u) << m;
  }
  EXPECT_EQ(job.metrics().at("questions"), static_cast<double>(golden.size()));
  EXPECT_EQ(job.history(29).metrics().at("exact_match"), job.metrics().at("exact_match"));

  // One question per step with a negligible learning rate: each step's loss is
  // one question's reference loss.
  JobSpec each = Finetune("each", static_cast<int>(golden.size()), 1, 1e-9f);
  each.set_disable_dropout(true);
  ASSERT_TRUE(Start(each, &job).ok());
  job = WaitFor(job.job_id(), Ended);
  ASSERT_EQ(job.state(), orqa::v1::JOB_STATE_SUCCEEDED) << job.error();
  std::vector<double> seen;
  for (const auto& h : job.history()) seen.push_back(h.loss());
  std::vector<double> want = golden;
  std::sort(seen.begin(), seen.end());
  std::sort(want.begin(), want.end());
  ASSERT_EQ(seen.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(seen[i], want[i], 1e-4) << i;
}

TEST_F(TrainerTest, TwoRetrieverShardsGiveTheReferenceLossToo) {
  // Training searches every shard and merges exactly, as the gateway does.
  const std::string fx = FixtureDir();
  std::vector<Service*> shards;
  for (int i = 0; i < 2; ++i) {
    shards.push_back(&Add("retriever-shard-" + std::to_string(i), "orqa-retriever",
                          {"--model-dir=" + fx, "--weights=" + *weights_, "--blocks=" + *dir_ + "/fx.blocks",
                           "--embeddings=" + *weights_, "--shard-index=" + std::to_string(i), "--num-shards=2"}));
  }
  Service& t = Add("trainer-sharded", "orqa-trainer",
                   {"--state-dir=" + *dir_ + "/state-sharded",
                    "--retriever=" + shards[0]->address() + "," + shards[1]->address()});
  for (Service* s : {shards[0], shards[1], &t}) {
    s->Start();
    ASSERT_TRUE(WaitServing(*s, seconds(60))) << s->name << ":\n" << ReadFile(s->log);
  }
  const std::vector<double> golden = GoldenTrainLosses();
  double mean = 0;
  for (double l : golden) mean += l / static_cast<double>(golden.size());
  JobSpec spec = Finetune("sharded", 1, static_cast<int>(golden.size()), 1e-9f);
  spec.set_disable_dropout(true);
  auto stub = orqa::v1::Trainer::NewStub(grpc::CreateChannel(t.address(), grpc::InsecureChannelCredentials()));
  Job job;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->StartJob(&ctx, spec, &job).ok());
  }
  for (int i = 0; i < 600 && !Ended(job); ++i) {
    grpc::ClientContext ctx;
    orqa::v1::JobId id;
    id.set_job_id(job.job_id());
    ASSERT_TRUE(stub->GetJob(&ctx, id, &job).ok());
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_EQ(job.state(), orqa::v1::JOB_STATE_SUCCEEDED) << job.error();
  EXPECT_NEAR(job.history(0).loss(), mean, 1e-4);
  for (Service* s : {&t, shards[1], shards[0]}) EXPECT_EQ(s->p->StopAndWait(SIGTERM, milliseconds(20000)), 0);
}

TEST_F(TrainerTest, DeployByJobIdSwapsTheServedModels) {
  JobSpec spec = Finetune("deploy", 20, 8, 3e-3f);
  spec.set_eval_path(*dir_ + "/train.jsonl");
  Job job;
  ASSERT_TRUE(Start(spec, &job).ok());
  job = WaitFor(job.job_id(), Ended);
  ASSERT_EQ(job.state(), orqa::v1::JOB_STATE_SUCCEEDED) << job.error();
  auto status = [&] {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer s3cret");
    orqa::v1::GetStatusResponse st;
    EXPECT_TRUE(admin_->GetStatus(&ctx, {}, &st).ok());
    return st;
  };
  auto ask = [&](const std::string& q) {
    auto stub = orqa::v1::OpenQA::NewStub(grpc::CreateChannel(Get("gateway").address(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    orqa::v1::AnswerRequest req;
    req.set_question(q);
    orqa::v1::AnswerResponse resp;
    EXPECT_TRUE(stub->Answer(&ctx, req, &resp).ok());
    return resp;
  };
  const std::string question = (*meta_)["questions"][0]["question"];
  orqa::v1::AnswerResponse before = ask(question);
  orqa::v1::GetStatusResponse st0 = status();

  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer s3cret");
  orqa::v1::DeployRequest req;
  req.set_job_id(job.job_id());
  orqa::v1::DeployResponse resp;
  ASSERT_TRUE(admin_->Deploy(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.checkpoint_dir(), job.best_checkpoint_dir());
  const std::string version = WeightsVersion(job.best_checkpoint_dir() + "/model.safetensors");
  EXPECT_EQ(resp.embedder().version(), version);
  EXPECT_EQ(resp.reader().version(), version);
  orqa::v1::GetStatusResponse st1 = status();
  for (int i = 0; i < 2; ++i) {  // retriever shard, reader
    EXPECT_NE(st1.backends(i).model().version(), st0.backends(i).model().version());
    EXPECT_EQ(st1.backends(i).model().version(), version);
  }
  orqa::v1::AnswerResponse after = ask(question);
  ASSERT_GT(after.answers_size(), 0);
  EXPECT_NE(after.answers(0).score(), before.answers(0).score()) << "answers still come from the old weights";

  // Deploying the fixture again restores the original answers.
  grpc::ClientContext ctx2;
  ctx2.AddMetadata("authorization", "Bearer s3cret");
  orqa::v1::DeployRequest back;
  back.set_checkpoint_dir(FixtureDir());
  ASSERT_TRUE(admin_->Deploy(&ctx2, back, &resp).ok());
  EXPECT_FLOAT_EQ(ask(question).answers(0).score(), before.answers(0).score());
}

TEST_F(TrainerTest, LifecycleWatchListCancelQueueLimitAndErrors) {
  // A long job runs; one more may wait (--queue-limit=1); a third is refused.
  Job running, queued, refused;
  ASSERT_TRUE(Start(Finetune("long", 100000, 1, 1e-4f), &running).ok());
  EXPECT_EQ(running.state(), orqa::v1::JOB_STATE_QUEUED);
  WaitFor(running.job_id(), [](const Job& j) { return j.state() == orqa::v1::JOB_STATE_RUNNING && j.step() >= 2; });
  ASSERT_TRUE(Start(Finetune("queued", 5, 1, 1e-4f), &queued).ok());
  grpc::Status full = Start(Finetune("refused", 5, 1, 1e-4f), &refused);
  EXPECT_EQ(full.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(full.error_message().find("queue is full"), std::string::npos) << full.error_message();

  // Watch the running job: events in step order until the cancel ends it.
  std::vector<Job> events;
  std::thread watcher([&] {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer s3cret");
    orqa::v1::WatchJobRequest req;
    req.set_job_id(running.job_id());
    auto reader = admin_->WatchJob(&ctx, req);
    orqa::v1::JobEvent e;
    while (reader->Read(&e)) events.push_back(e.job());
    EXPECT_TRUE(reader->Finish().ok());
  });
  std::this_thread::sleep_for(milliseconds(500));

  // List: newest first.
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer s3cret");
    orqa::v1::ListJobsRequest req;
    req.set_limit(2);
    orqa::v1::ListJobsResponse list;
    ASSERT_TRUE(admin_->ListJobs(&ctx, req, &list).ok());
    ASSERT_EQ(list.jobs_size(), 2);
    EXPECT_EQ(list.jobs(0).job_id(), queued.job_id());
    EXPECT_EQ(list.jobs(1).job_id(), running.job_id());
  }
  Job j;
  ASSERT_TRUE(Cancel(queued.job_id(), &j).ok());
  EXPECT_EQ(j.state(), orqa::v1::JOB_STATE_CANCELLED);
  ASSERT_TRUE(Cancel(running.job_id(), &j).ok());
  EXPECT_EQ(j.state(), orqa::v1::JOB_STATE_CANCELLED);
  watcher.join();
  ASSERT_GE(events.size(), 3u);
  for (size_t i = 1; i < events.size(); ++i) EXPECT_LE(events[i - 1].step(), events[i].step());
  EXPECT_EQ(events.back().state(), orqa::v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(events.back().step(), j.step());

  EXPECT_EQ(Cancel(running.job_id(), &j).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Cancel("job-none", &j).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(GetJob("job-none", &j).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Start(Finetune("x", 1, 1, 1e-4f), &j, "").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Start(Finetune("x", 1, 1, 1e-4f), &j, "wrong").error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // Metrics of the trainer.
  std::string text;
  ASSERT_EQ(HttpGet(Get("trainer").metrics_port, "/metrics", &text), 200);
  EXPECT_GE(SampleValue(text, {"orqa_trainer_steps_total"}), 2.0);
  EXPECT_GE(SampleValue(text, {"orqa_trainer_jobs", "state=\"JOB_STATE_CANCELLED\""}), 2.0);
  EXPECT_TRUE(IsServing(Get("trainer").address()));
}

TEST_F(TrainerTest, BadSpecsAreInvalidArgumentNamingTheField) {
  struct Case {
    std::function<void(JobSpec*)> change;
    std::string message;
  };
  const std::string missing = *dir_ + "/no-such-file.jsonl";
  std::filesystem::create_directories(*dir_ + "/bad-model");
  {
    std::ifstream in(FixtureDir() + "/config.json");
    json c = json::parse(in);
    c["retriever_proj_size"] = 8;  // the fixture's weights project to 16
    std::ofstream(*dir_ + "/bad-model/config.json") << c.dump();
    std::filesystem::copy_file(FixtureDir() + "/vocab.txt", *dir_ + "/bad-model/vocab.txt",
                               std::filesystem::copy_options::overwrite_existing);
  }
  std::ofstream(*dir_ + "/a-file") << "x";
  std::vector<Case> cases = {
      {[&](JobSpec* s) { s->set_train_path(missing); }, "train_path: cannot read '" + missing + "'"},
      {[&](JobSpec* s) { s->set_eval_path(missing); }, "eval_path: cannot read '" + missing + "'"},
      {[&](JobSpec* s) { s->set_model_dir(missing); }, "model_dir: cannot read '" + missing + "'"},
      {[](JobSpec* s) { s->set_num_steps(0); }, "num_steps: expected > 0, got 0"},
      {[](JobSpec* s) { s->set_batch_size(-1); }, "batch_size: expected > 0, got -1"},
      {[](JobSpec* s) { s->set_learning_rate(0); }, "learning_rate: expected in (0, 1], got 0"},
      {[](JobSpec* s) { s->set_warmup_steps(-2); }, "warmup_steps: expected in [0, num_steps], got -2"},
      {[](JobSpec* s) { s->set_eval_every_steps(-1); }, "eval_every_steps: expected >= 0, got -1"},
      {[](JobSpec* s) {
         s->set_kind(orqa::v1::JOB_KIND_TRAIN_READER);
         s->set_reader_passages(65);
       },
       "reader_passages: expected 0 (= 2) to 64, got 65"},
      {[](JobSpec* s) {
         s->set_kind(orqa::v1::JOB_KIND_TRAIN_READER);
         s->set_train_path("");
       },
       "train_path: a reader job needs train_path (questions) or blocks_path (cloze questions)"},
      {[](JobSpec* s) {
         s->set_kind(orqa::v1::JOB_KIND_TRAIN_READER);
         s->set_cloze_share(1.5f);
       },
       "cloze_share: expected in [0, 1], got 1.5"},
      {[](JobSpec* s) {
         s->set_kind(orqa::v1::JOB_KIND_BUILD_INDEX);
         s->set_blocks_path("blocks.store");
         s->set_embeddings_path("blocks.npy");
         s->set_precision("fp16");
       },
       "precision: precision 'fp16' is not one of fp32, bf16, int8"},
      {[](JobSpec* s) { s->set_kind(orqa::v1::JOB_KIND_UNSPECIFIED); }, "kind: must be JOB_KIND_FINETUNE, JOB_KIND_BUILD_INDEX, JOB_KIND_PRETRAIN_MLM, JOB_KIND_PRETRAIN_ICT, JOB_KIND_PRETRAIN_REALM or JOB_KIND_TRAIN_READER"},
      {[&](JobSpec* s) { s->set_output_dir(*dir_ + "/a-file/sub"); },
       "output_dir: cannot write to directory '" + *dir_ + "/a-file/sub'"},
      {[&](JobSpec* s) { s->set_model_dir(*dir_ + "/bad-model"); }, "model_dir: " + *weights_ + ": mis-shaped keys"},
  };
  for (const auto& c : cases) {
    JobSpec spec = Finetune("bad", 1, 1, 1e-4f);
    c.change(&spec);
    Job j;
    grpc::Status st = Start(spec, &j);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.message;
    EXPECT_EQ(st.error_message().rfind(c.message, 0), 0u) << st.error_message();
  }

  // A malformed line fails the job, named by file and line; the trainer keeps serving.
  const std::string bad = *dir_ + "/bad.jsonl";
  std::ofstream(bad) << "{\"question\": \"ok?\", \"answers\": [\"yes\"]}\n\n{\"question\": \"no answers\"}\n";
  JobSpec spec = Finetune("badline", 2, 1, 1e-4f);
  spec.set_train_path(bad);
  Job j;
  ASSERT_TRUE(Start(spec, &j).ok());
  j = WaitFor(j.job_id(), Ended);
  EXPECT_EQ(j.state(), orqa::v1::JOB_STATE_FAILED);
  EXPECT_EQ(j.error(), bad + ":3: no \"answers\" or \"answer\" field");
  EXPECT_TRUE(IsServing(Get("trainer").address()));
}

TEST_F(TrainerTest, KilledAndStoppedTrainerResumesToTheParametersOfAnUninterruptedRun) {
  // Dropout on: the resumed run must also replay the dropout noise.
  JobSpec spec = Finetune("whole", 240, 4, 1e-3f);
  spec.set_checkpoint_every_steps(10);
  spec.set_keep_checkpoints(1);
  Job whole;
  ASSERT_TRUE(Start(spec, &whole).ok());
  whole = WaitFor(whole.job_id(), Ended);
  ASSERT_EQ(whole.state(), orqa::v1::JOB_STATE_SUCCEEDED) << whole.error();

  spec.set_output_dir(*dir_ + "/interrupted");
  Job job, queued;
  ASSERT_TRUE(Start(spec, &job).ok());
  ASSERT_TRUE(Start(Finetune("after-restart", 3, 1, 1e-4f), &queued).ok());
  Service& trainer = Get("trainer");
  // SIGKILL past a checkpoint: the work since it is lost and redone.
  WaitFor(job.job_id(), [](const Job& j) { return j.step() >= 75; });
  ASSERT_EQ(trainer.p->StopAndWait(SIGKILL, milliseconds(5000)), 128 + SIGKILL);
  trainer.Start();
  ASSERT_TRUE(WaitServing(trainer, seconds(60))) << ReadFile(trainer.log);
  // SIGTERM: it checkpoints where it is and exits 0 within the grace period.
  Job mid = WaitFor(job.job_id(), [](const Job& j) { return j.step() >= 150; });
  EXPECT_GE(mid.resumed(), 1);
  ASSERT_EQ(trainer.p->StopAndWait(SIGTERM, milliseconds(20000)), 0) << ReadFile(trainer.log);
  trainer.Start();
  ASSERT_TRUE(WaitServing(trainer, seconds(60))) << ReadFile(trainer.log);
  Job done = WaitFor(job.job_id(), Ended, seconds(180));
  ASSERT_EQ(done.state(), orqa::v1::JOB_STATE_SUCCEEDED) << done.error();
  EXPECT_EQ(done.resumed(), 2);
  EXPECT_EQ(done.step(), 240);
  ASSERT_EQ(done.history_size(), 240);
  for (int i = 0; i < 240; ++i) {
    EXPECT_EQ(done.history(i).step(), i + 1);
    EXPECT_EQ(done.history(i).loss(), whole.history(i).loss()) << "step " << i + 1;
  }
  ExpectSameTensors(whole.checkpoint_dir() + "/model.safetensors", done.checkpoint_dir() + "/model.safetensors");
  // The job queued behind it survived both restarts.
  Job after = WaitFor(queued.job_id(), Ended);
  EXPECT_EQ(after.state(), orqa::v1::JOB_STATE_SUCCEEDED) << after.error();
}

TEST_F(TrainerTest, RetrieverDownAtStartOrDyingMidJobFailsTheJobNamingIt) {
  // A trainer of its own, in front of a retriever of its own.
  const std::string fx = FixtureDir();
  Service& r = Add("retriever-doomed", "orqa-retriever",
                   {"--model-dir=" + fx, "--weights=" + *weights_, "--blocks=" + *dir_ + "/fx.blocks",
                    "--embeddings=" + *weights_});
  const int dead_port = PickFreePort();
  Service& t = Add("trainer-doomed", "orqa-trainer",
                   {"--state-dir=" + *dir_ + "/state-doomed", "--retriever=" + r.address(), "--retriever-attempts=2"});
  Service& t2 = Add("trainer-nothing", "orqa-trainer",
                    {"--state-dir=" + *dir_ + "/state-nothing", "--retriever=127.0.0.1:" + std::to_string(dead_port),
                     "--retriever-attempts=2"});
  for (Service* s : {&r, &t, &t2}) {
    s->Start();
    ASSERT_TRUE(WaitServing(*s, seconds(60))) << s->name << ":\n" << ReadFile(s->log);
  }
  auto start = [&](Service& trainer, const JobSpec& spec) {
    auto stub = orqa::v1::Trainer::NewStub(grpc::CreateChannel(trainer.address(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    Job j;
    EXPECT_TRUE(stub->StartJob(&ctx, spec, &j).ok());
    return std::make_pair(std::move(stub), j.job_id());
  };
  auto wait = [&](orqa::v1::Trainer::Stub& stub, const std::string& id, const std::function<bool(const Job&)>& done) {
    return WaitOnTrainer(stub, id, done);
  };
  // Down when the job starts.
  auto [stub2, id2] = start(t2, Finetune("nothing", 5, 1, 1e-4f));
  Job j2 = wait(*stub2, id2, Ended);
  EXPECT_EQ(j2.state(), orqa::v1::JOB_STATE_FAILED);
  EXPECT_EQ(j2.error().rfind("GetInfo on retriever shard 0 at 127.0.0.1:" + std::to_string(dead_port) +
                                 " failed after 2 tries (unavailable)", 0),
            0u)
      << j2.error();
  EXPECT_TRUE(IsServing(t2.address()));

  // Dies mid-job.
  auto [stub, id] = start(t, Finetune("doomed", 100000, 1, 1e-4f));
  wait(*stub, id, [](const Job& j) { return j.step() >= 3; });
  ASSERT_EQ(r.p->StopAndWait(SIGKILL, milliseconds(5000)), 128 + SIGKILL);
  Job j = wait(*stub, id, Ended);
  EXPECT_EQ(j.state(), orqa::v1::JOB_STATE_FAILED);
  EXPECT_EQ(j.error().rfind("Search on retriever shard 0 at " + r.address() + " failed after 2 tries (unavailable)", 0),
            0u)
      << j.error();
  EXPECT_TRUE(IsServing(t.address()));
  for (Service* s : {&t, &t2}) EXPECT_EQ(s->p->StopAndWait(SIGTERM, milliseconds(20000)), 0);
}

TEST_F(TrainerTest, BuildIndexEqualsEmbedBlocksAndReloadsTheRetrieverUnderLoad) {
  const std::string fx = FixtureDir(), squad = SharedDir() + "/data/squad-v1.1-dev-open/blocks.jsonl";
  std::string out;
  ASSERT_EQ(RunCommand(Bin("orqa") + " build-blocks --from " + squad + " --out " + *dir_ + "/squad.blocks", &out), 0) << out;
  ASSERT_EQ(RunCommand(Bin("orqa") + " embed-blocks --model " + fx + " --weights " + *weights_ + " --blocks " + *dir_ +
                           "/squad.blocks --out " + *dir_ + "/cli.npy --batch-size 32",
                       &out),
            0)
      << out;
  Service& r = Add("retriever-squad", "orqa-retriever",
                   {"--model-dir=" + fx, "--weights=" + *weights_, "--blocks=" + *dir_ + "/squad.blocks",
                    "--embeddings=" + *dir_ + "/cli.npy"});
  Service& t = Add("trainer-squad", "orqa-trainer", {"--state-dir=" + *dir_ + "/state-squad", "--retriever=" + r.address()});
  for (Service* s : {&r, &t}) {
    s->Start();
    ASSERT_TRUE(WaitServing(*s, seconds(60))) << s->name << ":\n" << ReadFile(s->log);
  }
  auto trainer = orqa::v1::Trainer::NewStub(grpc::CreateChannel(t.address(), grpc::InsecureChannelCredentials()));
  auto get = [&](const std::string& id) {
    grpc::ClientContext ctx;
    orqa::v1::JobId req;
    req.set_job_id(id);
    Job j;
    EXPECT_TRUE(trainer->GetJob(&ctx, req, &j).ok());
    return j;
  };
  JobSpec spec;
  spec.set_kind(orqa::v1::JOB_KIND_BUILD_INDEX);
  spec.set_model_dir(fx);
  spec.set_weights_path(*weights_);
  spec.set_blocks_path(*dir_ + "/squad.blocks");
  spec.set_embeddings_path(*dir_ + "/built.npy");
  spec.set_batch_size(32);
  spec.set_reload_retriever(true);

  // Clients keep asking while the job embeds and the retriever reloads.
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 2; ++c) {
    clients.emplace_back([&] {
      auto stub = orqa::v1::Retriever::NewStub(grpc::CreateChannel(r.address(), grpc::InsecureChannelCredentials()));
      for (int i = 0; !stop && i < 100000; ++i) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + seconds(30));
        orqa::v1::RetrieveRequest req;
        req.set_question("What is the name of the stadium?");
        req.set_k(5);
        orqa::v1::RetrieveResponse resp;
        (stub->Retrieve(&ctx, req, &resp).ok() && resp.blocks_size() == 5 ? ok : failed)++;
      }
    });
  }
  Job job;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(trainer->StartJob(&ctx, spec, &job).ok());
  }
  auto deadline = std::chrono::steady_clock::now() + seconds(300);
  while (!Ended(job = get(job.job_id())) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  std::this_thread::sleep_for(milliseconds(300));
  stop = true;
  for (auto& c : clients) c.join();
  ASSERT_EQ(job.state(), orqa::v1::JOB_STATE_SUCCEEDED) << job.error();
  EXPECT_EQ(job.done(), 2067);
  EXPECT_EQ(job.total(), 2067);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(ok.load(), 0);

  auto a = ReadNpyArray(*dir_ + "/cli.npy");
  auto b = ReadNpyArray(*dir_ + "/built.npy");
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->shape, b->shape);
  float worst = 0;
  for (int64_t i = 0; i < a->numel(); ++i) {
    worst = std::max(worst, std::abs(ElementAt<float>(*a, i) - ElementAt<float>(*b, i)));
  }
  EXPECT_LE(worst, 1e-5f);
  {
    auto stub = orqa::v1::Retriever::NewStub(grpc::CreateChannel(r.address(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    orqa::v1::RetrieverInfo info;
    ASSERT_TRUE(stub->GetInfo(&ctx, {}, &info).ok());
    EXPECT_EQ(info.embeddings_version().rfind("built.npy", 0), 0u) << info.embeddings_version();
  }

  // A build is cancelled within 2 s; its partial file goes with it.
  spec.set_embeddings_path(*dir_ + "/cancelled.npy");
  spec.set_batch_size(1);
  spec.set_reload_retriever(false);
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(trainer->StartJob(&ctx, spec, &job).ok());
  }
  while ((job = get(job.job_id())).done() < 10 && !Ended(job)) std::this_thread::sleep_for(milliseconds(10));
  auto t0 = std::chrono::steady_clock::now();
  {
    grpc::ClientContext ctx;
    orqa::v1::JobId req;
    req.set_job_id(job.job_id());
    ASSERT_TRUE(trainer->CancelJob(&ctx, req, &job).ok());
  }
  EXPECT_EQ(job.state(), orqa::v1::JOB_STATE_CANCELLED);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, seconds(2));
  EXPECT_FALSE(std::filesystem::exists(*dir_ + "/cancelled.npy.partial"));
  EXPECT_FALSE(std::filesystem::exists(*dir_ + "/cancelled.npy"));
  for (Service* s : {&t, &r}) EXPECT_EQ(s->p->StopAndWait(SIGTERM, milliseconds(20000)), 0);
}

TEST_F(TrainerTest, PretrainingJobsLowerTheirLossAndWriteServableModels) {
  const int blocks = static_cast<int>((*meta_)["blocks"].size());
  auto run = [&](orqa::v1::JobKind kind, const std::string& out, float lr) {
    JobSpec spec = Pretrain(kind, out, 30, blocks, lr, 3);
    Job job;
    grpc::Status st = Start(spec, &job);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return WaitFor(job.job_id(), Ended);
  };
  auto mean = [](const Job& j, int from, int to) {
    double s = 0;
    for (int i = from; i < to; ++i) s += j.history(i).loss();
    return s / (to - from);
  };
  Job mlm = run(orqa::v1::JOB_KIND_PRETRAIN_MLM, "mlm", 2e-3f);
  ASSERT_EQ(mlm.state(), orqa::v1::JOB_STATE_SUCCEEDED) << mlm.error();
  ASSERT_EQ(mlm.history_size(), 30);
  EXPECT_LT(mean(mlm, 25, 30), mean(mlm, 0, 5) - 0.5) << "MLM loss did not fall";
  EXPECT_EQ(mlm.history(0).metrics().count("mlm_accuracy"), 1u);
  // Both encoders of the checkpoint start from the trained BERT; the MLM head is kept.
  auto weights = ReadSafetensors(mlm.checkpoint_dir() + "/model.safetensors");
  ASSERT_TRUE(weights.ok()) << weights.status();
  const auto& t = weights->tensors;
  ASSERT_TRUE(t.count("embedder.cls.predictions.transform.dense.weight"));
  const auto& a = t.at("embedder.realm.encoder.layer.0.attention.self.query.weight");
  const auto& b = t.at("reader.realm.encoder.layer.0.attention.self.query.weight");
  ASSERT_EQ(a.nbytes, b.nbytes);
  EXPECT_EQ(std::memcmp(a.data, b.data, a.nbytes), 0);

  Job ict = run(orqa::v1::JOB_KIND_PRETRAIN_ICT, "ict", 1e-3f);
  ASSERT_EQ(ict.state(), orqa::v1::JOB_STATE_SUCCEEDED) << ict.error();
  EXPECT_LT(mean(ict, 25, 30), 0.5 * mean(ict, 0, 5)) << "ICT loss did not fall";
  EXPECT_EQ(ict.history(0).metrics().count("ict_accuracy"), 1u);
  // The ICT checkpoint serves: the retriever reloads its embedder.
  auto stub = orqa::v1::Retriever::NewStub(grpc::CreateChannel(Get("retriever").address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  orqa::v1::ReloadRequest req;
  req.set_embedder_dir(ict.checkpoint_dir());
  orqa::v1::ReloadResponse resp;
  grpc::Status st = stub->Reload(&ctx, req, &resp);
  EXPECT_TRUE(st.ok()) << st.error_message();
  grpc::ClientContext ctx2;
  orqa::v1::ReloadRequest back;
  back.set_embedder_dir(FixtureDir());
  back.set_weights_path(*weights_);
  EXPECT_TRUE(stub->Reload(&ctx2, back, &resp).ok());
}

// Data parallelism on LibTorch's c10d (Gloo over loopback): two trainer ranks
// with global batch B end with the parameters of one trainer with batch B
// (MLM, ICT with its in-batch negatives over the whole batch, FINETUNE,
// TRAIN_READER, REALM without index refresh; dropout off); a rank killed mid-job fails the job naming
// it and leaves rank 0 serving with a loadable last checkpoint.
TEST_F(TrainerTest, TwoDataParallelRanksEqualOneTrainerAndALostRankIsNamed) {
  const int master_port = PickFreePort();
  auto rank_args = [&](int rank) {
    return std::vector<std::string>{"--state-dir=" + *dir_ + "/dp-state-" + std::to_string(rank),
                                    "--retriever=" + Get("retriever").address(), "--rank=" + std::to_string(rank),
                                    "--world-size=2", "--master-addr=127.0.0.1",
                                    "--master-port=" + std::to_string(master_port), "--grace-period-s=20"};
  };
  Service& rank0 = Add("dp-rank0", "orqa-trainer", rank_args(0));
  Service& rank1 = Add("dp-rank1", "orqa-trainer", rank_args(1));
  rank0.Start();
  rank1.Start();
  ASSERT_TRUE(WaitServing(rank0, seconds(60))) << ReadFile(rank0.log);
  ASSERT_TRUE(WaitServing(rank1, seconds(60))) << ReadFile(rank1.log);
  auto trainer0 = orqa::v1::Trainer::NewStub(grpc::CreateChannel(rank0.address(), grpc::InsecureChannelCredentials()));
  auto start0 = [&](const JobSpec& spec) {
    grpc::ClientContext ctx;
    Job job;
    grpc::Status st = trainer0->StartJob(&ctx, spec, &job);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return job.job_id();
  };
  auto get0 = [&](const std::string& id) { return WaitOnTrainer(*trainer0, id, Ended, seconds(180)); };
  // Largest |difference| of the float tensors, and the share of elements off by more than 1e-5.
  auto max_difference = [](const std::string& a, const std::string& b, double* share_off) {
    auto x = ReadSafetensors(a), y = ReadSafetensors(b);
    EXPECT_TRUE(x.ok() && y.ok());
    double worst = 0;
    size_t compared = 0, elements = 0, off = 0;
    for (const auto& [name, v] : x->tensors) {
      if (v.dtype != DType::kF32) continue;
      const auto& w = y->tensors.at(name);
      for (size_t i = 0; i < v.nbytes / 4; ++i) {
        const double d = std::fabs(ElementAt<float>(v, i) - ElementAt<float>(w, i));
        worst = std::max(worst, d);
        off += d > 1e-5;
      }
      elements += v.nbytes / 4;
      ++compared;
    }
    EXPECT_GT(compared, 10u);
    *share_off = static_cast<double>(off) / static_cast<double>(std::max<size_t>(elements, 1));
    return worst;
  };
  JobSpec mlm = Pretrain(orqa::v1::JOB_KIND_PRETRAIN_MLM, "", 8, 6, 2e-3f, 5);
  JobSpec ict = mlm;
  ict.set_kind(orqa::v1::JOB_KIND_PRETRAIN_ICT);
  ict.set_learning_rate(1e-3f);
  JobSpec finetune = Finetune("", 6, 4, 1e-3f);
  finetune.set_disable_dropout(true);
  JobSpec reader = finetune;
  reader.set_kind(orqa::v1::JOB_KIND_TRAIN_READER);
  reader.set_reader_passages(2);
  JobSpec realm = mlm;  // with the index fixed (no refresh): every rank searches the same index
  realm.set_kind(orqa::v1::JOB_KIND_PRETRAIN_REALM);
  realm.set_num_steps(6);
  realm.set_batch_size(4);
  realm.set_searcher_beam_size(3);
  for (JobSpec spec : {mlm, ict, finetune, reader, realm}) {
    SCOPED_TRACE(orqa::v1::JobKind_Name(spec.kind()));
    const std::map<orqa::v1::JobKind, std::string> names = {{orqa::v1::JOB_KIND_PRETRAIN_MLM, "mlm"},
                                                            {orqa::v1::JOB_KIND_PRETRAIN_ICT, "ict"},
                                                            {orqa::v1::JOB_KIND_FINETUNE, "ft"},
                                                            {orqa::v1::JOB_KIND_TRAIN_READER, "reader"},
                                                            {orqa::v1::JOB_KIND_PRETRAIN_REALM, "realm"}};
    const std::string name = names.at(spec.kind());
    spec.set_output_dir(*dir_ + "/dp-" + name + "-2");
    Job two = get0(start0(spec));
    ASSERT_EQ(two.state(), orqa::v1::JOB_STATE_SUCCEEDED) << two.error() << ReadFile(rank1.log);
    ASSERT_EQ(two.history_size(), spec.num_steps());
    EXPECT_EQ(two.history(0).metrics().count("allreduce_ms"), 1u);
    spec.set_output_dir(*dir_ + "/dp-" + name + "-1");
    Job one_start;
    ASSERT_TRUE(Start(spec, &one_start).ok());
    Job one = WaitFor(one_start.job_id(), Ended);
    ASSERT_EQ(one.state(), orqa::v1::JOB_STATE_SUCCEEDED) << one.error();
    // The same losses up to float rounding: the two halves' sums are added in
    // another order, a difference of a few float epsilons (2⁻²³) in the first
    // step's loss and gradient; every Adam update carries the parameters'
    // differences into the next step and amplifies them (an update's size does
    // not shrink with its gradient), which we bound by a doubling per update.
    // Not a constant tuned on one CPU or one model: it follows the step count.
    const double eps = std::ldexp(1.0, -23);
    for (int i = 0; i < spec.num_steps(); ++i) {
      const double bound = 32 * eps * std::ldexp(1.0, i) * std::max(1.0, std::fabs(static_cast<double>(one.history(i).loss())));
      EXPECT_NEAR(two.history(i).loss(), one.history(i).loss(), bound) << "step " << i + 1;
    }
    // ... and the same parameters: Adam moves each by about the learning rate
    // a step whatever the gradient's size, so rounding in a gradient component
    // near zero shows as up to a few % of one update; nearly all agree to 1e-5.
    double share_off = 1;
    const double worst = max_difference(two.checkpoint_dir() + "/model.safetensors",
                                        one.checkpoint_dir() + "/model.safetensors", &share_off);
    std::printf("%s: 2 ranks vs 1 trainer after %d steps: largest parameter difference %.3g (%.3g x lr), "
                "%.4f %% of elements off by > 1e-5\n",
                name.c_str(), spec.num_steps(), worst, worst / spec.learning_rate(), 100 * share_off);
    EXPECT_LT(worst, spec.learning_rate());  // less than one Adam update
    EXPECT_LT(share_off, 1e-3);
  }

  // Rank 1 killed mid-job: the job fails naming it; rank 0 keeps serving.
  mlm.set_output_dir(*dir_ + "/dp-killed");
  mlm.set_num_steps(100000);
  mlm.set_checkpoint_every_steps(2);
  const std::string id = start0(mlm);
  Job job = WaitOnTrainer(*trainer0, id, [](const Job& j) { return j.step() >= 5; });
  ASSERT_GE(job.step(), 5) << job.ShortDebugString();
  ASSERT_EQ(kill(rank1.p->pid(), SIGKILL), 0);
  job = get0(id);
  EXPECT_EQ(job.state(), orqa::v1::JOB_STATE_FAILED);
  std::printf("rank 1 killed at step %d: %s\n", job.step(), job.error().c_str());
  EXPECT_NE(job.error().find("rank 1 stopped answering"), std::string::npos) << job.error();
  EXPECT_TRUE(IsServing(rank0.address()));
  auto last = ReadSafetensors(job.checkpoint_dir() + "/model.safetensors");
  EXPECT_TRUE(last.ok()) << job.checkpoint_dir() << ": " << last.status();
  // A job announced while a rank is missing fails naming it.
  mlm.set_output_dir(*dir_ + "/dp-missing");
  mlm.set_num_steps(2);
  job = get0(start0(mlm));
  EXPECT_EQ(job.state(), orqa::v1::JOB_STATE_FAILED);
  EXPECT_NE(job.error().find("data-parallel group of 2: rank 1 not connected"), std::string::npos) << job.error();
  EXPECT_EQ(rank0.p->StopAndWait(SIGTERM, milliseconds(30000)), 0) << ReadFile(rank0.log);
}

// TRAIN_READER's loss from the reference's own reader logits: with the
// searcher beam set to the golden reader beam R, a question's rows are the
// first of its top R blocks holding an answer and then the ones without, up
// to reader_passages; its loss is the marginal log-likelihood of the
// reference's correct spans over those rows (pre-retriever logits).
TEST_F(TrainerTest, TrainReaderLossIsTheReferenceReaderLossOverTheAnswerPassageAndLowers) {
  auto goldens = ReadSafetensors(FixtureDir() + "/goldens.safetensors");
  ASSERT_TRUE(goldens.ok()) << goldens.status();
  const auto& t = goldens->tensors;
  auto expected = [&](int passages, int* learned, int* rows_r) {
    double sum = 0;
    int n = 0, total = 0;
    for (const auto& o : (*meta_)["openqa"]) {
      if (o["mode"] != "train_nodropout") continue;
      ++total;
      const std::string pre = "openqa.train_nodropout.q" + std::to_string(o["q"].get<int>()) + ".";
      const TensorView& logits = t.at(pre + "reader_logits_pre_retriever");
      const TensorView& correct = t.at(pre + "reader_correct");
      const int64_t r = logits.shape[0], c = logits.shape[1];
      *rows_r = static_cast<int>(r);
      std::vector<int64_t> rows;
      for (int64_t i = 0; i < r; ++i) {
        if (o["has_answers"][i].get<bool>()) {
          rows.push_back(i);
          break;
        }
      }
      if (rows.empty()) continue;
      for (int64_t i = 0; i < r && static_cast<int>(rows.size()) < passages; ++i) {
        if (!o["has_answers"][i].get<bool>()) rows.push_back(i);
      }
      auto l = [&](int64_t k) { return ElementAt<float>(logits, k); };
      const uint8_t* m = correct.data;
      double mx = -1e300;
      for (int64_t i : rows) for (int64_t j = 0; j < c; ++j) mx = std::max(mx, static_cast<double>(l(i * c + j)));
      double all = 0, good = 0;
      for (int64_t i : rows) {
        for (int64_t j = 0; j < c; ++j) {
          const double e = std::exp(l(i * c + j) - mx);
          all += e;
          if (m[i * c + j]) good += e;
        }
      }
      if (good == 0) continue;  // no correct candidate: no signal
      sum += std::log(all) - std::log(good);
      ++n;
    }
    *learned = n;
    return std::make_pair(n ? sum / n : 0.0, total);
  };
  auto run = [&](const std::string& out, int passages, int steps, float lr) {
    int learned = 0, r = 0;
    auto [loss, total] = expected(passages, &learned, &r);
    JobSpec spec = Finetune(out, steps, total, lr);
    spec.set_kind(orqa::v1::JOB_KIND_TRAIN_READER);
    spec.set_disable_dropout(true);
    spec.set_searcher_beam_size(r);
    spec.set_reader_passages(passages);
    Job job;
    grpc::Status st = Start(spec, &job);
    EXPECT_TRUE(st.ok()) << st.error_message();
    job = WaitFor(job.job_id(), Ended);
    EXPECT_EQ(job.state(), orqa::v1::JOB_STATE_SUCCEEDED) << job.error();
    EXPECT_EQ(job.history_size(), steps);
    if (job.history_size() > 0) {
      EXPECT_NEAR(job.history(0).loss(), loss, 1e-4) << passages << " passages";
      EXPECT_DOUBLE_EQ(job.history(0).metrics().at("answer_passage_share"), static_cast<double>(learned) / total);
    }
    return std::make_pair(job, learned);
  };
  // One row per question, one step.
  auto [one, learned] = run("reader1", 1, 1, 1e-9f);
  ASSERT_GT(learned, 0) << "the fixture has no question with an answer passage in its reader beam";
  // The answer passage and the others, trained: the loss falls, only the reader changes.
  auto [job, unused] = run("reader3", 3, 30, 3e-3f);
  ASSERT_EQ(job.history_size(), 30);
  EXPECT_LT(job.history(29).loss(), 0.5 * job.history(0).loss());
  auto before = ReadSafetensors(*weights_);
  auto after = ReadSafetensors(job.checkpoint_dir() + "/model.safetensors");
  ASSERT_TRUE(before.ok() && after.ok());
  int reader_changed = 0;
  for (const auto& [name, v] : after->tensors) {
    if (!before->tensors.count(name)) continue;
    const TensorView& b = before->tensors.at(name);
    const bool same = b.nbytes == v.nbytes && std::memcmp(b.data, v.data, v.nbytes) == 0;
    if (name.rfind("embedder.", 0) == 0) {
      EXPECT_TRUE(same) << name << " changed";
    }
    if (name.rfind("reader.", 0) == 0 && !same) ++reader_changed;
  }
  EXPECT_GT(reader_changed, 10);

  // Cloze questions alone, made from the block store: every question is one, and the loss falls.
  JobSpec cloze = Finetune("cloze", 30, 4, 3e-3f);
  cloze.set_kind(orqa::v1::JOB_KIND_TRAIN_READER);
  cloze.set_train_path("");
  cloze.set_blocks_path(*dir_ + "/fx.blocks");
  cloze.set_disable_dropout(true);
  ASSERT_TRUE(Start(cloze, &job).ok());
  job = WaitFor(job.job_id(), Ended);
  ASSERT_EQ(job.state(), orqa::v1::JOB_STATE_SUCCEEDED) << job.error();
  ASSERT_EQ(job.history_size(), 30);
  double first = 0, last = 0;
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(job.history(i).metrics().at("cloze_share"), 1.0);
    first += job.history(i).loss() / 5;
    last += job.history(25 + i).loss() / 5;
  }
  EXPECT_LT(last, first - 1.0) << "cloze loss did not fall";
}

TEST_F(TrainerTest, RealmPretrainingLowersItsLossAndRefreshesTheIndexBesideTraining) {
  auto stub = orqa::v1::Retriever::NewStub(grpc::CreateChannel(Get("retriever").address(), grpc::InsecureChannelCredentials()));
  auto version = [&] {
    grpc::ClientContext ctx;
    orqa::v1::RetrieverInfo info;
    EXPECT_TRUE(stub->GetInfo(&ctx, {}, &info).ok());
    return info.embeddings_version();
  };
  const std::string initial = version();
  JobSpec spec = Pretrain(orqa::v1::JOB_KIND_PRETRAIN_REALM, "realm", 30, 4, 2e-3f, 5);
  spec.set_searcher_beam_size(3);
  spec.set_index_refresh_steps(4);
  Job job;
  grpc::Status st = Start(spec, &job);
  ASSERT_TRUE(st.ok()) << st.error_message();
  // The versions the retriever serves while the job runs (the test sees them
  // as any client would).
  std::set<std::string> seen = {initial};
  const auto deadline = std::chrono::steady_clock::now() + seconds(180);
  while (GetJob(job.job_id(), &job).ok() && !Ended(job) && std::chrono::steady_clock::now() < deadline) {
    seen.insert(version());
    std::this_thread::sleep_for(milliseconds(20));
  }
  seen.insert(version());
  ASSERT_EQ(job.state(), orqa::v1::JOB_STATE_SUCCEEDED) << job.error();
  ASSERT_EQ(job.history_size(), 30);
  double first = 0, last = 0;
  for (int i = 0; i < 5; ++i) first += job.history(i).loss() / 5;
  for (int i = 25; i < 30; ++i) last += job.history(i).loss() / 5;
  EXPECT_LT(last, first - 0.5) << "REALM loss did not fall";
  EXPECT_GE(seen.size(), 3u) << "the retriever's embeddings did not change during the job";
  // The history: which embedder's index was used at each step, and how stale it was.
  std::set<double> index_steps;
  for (const auto& h : job.history()) {
    ASSERT_EQ(h.metrics().count("index_step"), 1u);
    const double at = h.metrics().at("index_step"), stale = h.metrics().at("index_staleness_steps");
    index_steps.insert(at);
    EXPECT_EQ(std::fmod(at, 4.0), 0.0) << "refreshes start every 4 steps";
    EXPECT_EQ(stale, h.step() - 1 - at);  // the step's own 0-based index minus the index's
    EXPECT_GE(stale, 0);
    EXPECT_EQ(h.metrics().count("retrieval_utility"), 1u);
  }
  EXPECT_GE(index_steps.size(), 3u);
  EXPECT_GE(job.history(29).metrics().at("index_refreshes"), 3);
  EXPECT_GT(job.history(29).metrics().at("index_refresh_seconds"), 0);
  std::string text;
  ASSERT_EQ(HttpGet(Get("trainer").metrics_port, "/metrics", &text), 200);
  EXPECT_NE(text.find("orqa_trainer_index_refreshes_total"), std::string::npos);
  EXPECT_NE(text.find("orqa_trainer_step_metric{metric=\"index_staleness_steps\"}"), std::string::npos);
  // The checkpoint: the trained encoder is the reader's BERT, its MLM head kept; it loads as a model.
  auto weights = ReadSafetensors(job.checkpoint_dir() + "/model.safetensors");
  ASSERT_TRUE(weights.ok()) << weights.status();
  EXPECT_EQ(weights->tensors.count("reader.cls.predictions.transform.dense.weight"), 1u);
  EXPECT_EQ(weights->tensors.count("reader.cls.predictions.bias"), 1u);
  grpc::ClientContext ctx;
  orqa::v1::ReloadRequest req;
  req.set_embedder_dir(job.checkpoint_dir());
  orqa::v1::ReloadResponse resp;
  st = stub->Reload(&ctx, req, &resp);
  EXPECT_TRUE(st.ok()) << st.error_message();
  // Back to the fixture's embedder and embeddings for the other tests.
  grpc::ClientContext ctx2;
  orqa::v1::ReloadRequest back;
  back.set_embedder_dir(FixtureDir());
  back.set_weights_path(*weights_);
  back.set_embeddings_path(*weights_);
  ASSERT_TRUE(stub->Reload(&ctx2, back, &resp).ok());
  EXPECT_EQ(resp.info().embeddings_version(), initial);
}

TEST_F(TrainerTest, RestRoutesListGetAndStreamAJob) {
  JobSpec spec = Finetune("rest", 5, 2, 1e-4f);
  Job job;
  ASSERT_TRUE(Start(spec, &job).ok());
  WaitFor(job.job_id(), Ended);
  const int port = PickFreePort();
  Process rest;
  ASSERT_TRUE(rest.Start({Bin("orqa-rest"), "--listen=127.0.0.1:" + std::to_string(port), "--gateway=" + Get("gateway").address()},
                         *dir_ + "/rest.log"));
  auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (HttpGet(port, "/healthz", nullptr) != 200 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  const std::string base = "curl -sS -m 30 -H 'Authorization: Bearer s3cret' http://127.0.0.1:" + std::to_string(port);
  std::string out;
  ASSERT_EQ(RunCommand(base + "/v1/admin/jobs?limit=1", &out), 0) << out;
  json list = json::parse(out);
  EXPECT_EQ(list["jobs"][0]["job_id"], job.job_id());
  out.clear();
  ASSERT_EQ(RunCommand(base + "/v1/admin/jobs/" + job.job_id(), &out), 0) << out;
  EXPECT_EQ(json::parse(out)["history"].size(), 5u);
  // The watch stream: newline-delimited JSON, the last object the final state.
  out.clear();
  ASSERT_EQ(RunCommand(base + "/v1/admin/jobs/" + job.job_id() + ":watch", &out), 0) << out;
  std::vector<std::string> lines;
  std::stringstream ss(out);
  for (std::string line; std::getline(ss, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  ASSERT_GE(lines.size(), 1u) << out;
  EXPECT_EQ(json::parse(lines.back())["result"]["job"]["state"], "JOB_STATE_SUCCEEDED") << out;
  // Without the token: 401.
  out.clear();
  ASSERT_EQ(RunCommand("curl -sS -m 30 -o /dev/null -w '%{http_code}' http://127.0.0.1:" + std::to_string(port) +
                           "/v1/admin/jobs",
                       &out),
            0);
  EXPECT_EQ(out, "401");
  EXPECT_EQ(rest.StopAndWait(SIGTERM, milliseconds(10000)), 0);
}

}  // namespace
}  // namespace orqa::testing
