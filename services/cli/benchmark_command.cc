// `orqa benchmark`: the original project's Benchmark section as one command —
// NQ-open test (3,610 questions) or WebQuestions test (2,032), embedded in the
// binary, scored as ORQA scores them through a stack this command starts
// (retriever with the chosen searcher, reader, gateway on free loopback
// ports) or through a running gateway; each metric printed in the original
// project's `name = value` form beside its published number.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "common/infra/tls.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/fetch/model_source.h"
#include "common/infra/flags.h"
#include "common/infra/main_util.h"
#include "common/model/realm_config.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "services/cli/commands.h"
#include "services/cli/embedded_datasets.h"
#include "services/cli/eval_core.h"

namespace orqa::cli {
namespace {

constexpr char kCmd[] = "orqa benchmark";

// What the original project (qqaatw/pytorch-realm-orqa, README "Benchmark")
// and the REALM paper (Guu et al. 2020, Table 1, CC-News pre-training) report
// for the released models with the exact (flat) searcher. The original
// project's top-k match is computed on its 5-block reader beam, so its one
// value compares with top_5_match.
struct Published {
  std::map<std::string, double> original;
  double paper_official_em;
};
const std::map<std::string, Published>& PublishedNumbers() {
  static const std::map<std::string, Published> kNumbers = {
      {"nq", {{{"exact_match", 0.4105}, {"official_exact_match", 0.4042}, {"reader_oracle", 0.7194},
               {"top_5_match", 0.7219}},
              0.404}},
      {"wq", {{{"exact_match", 0.4345}, {"official_exact_match", 0.4168}, {"reader_oracle", 0.6929},
               {"top_5_match", 0.6934}},
              0.407}},
  };
  return kNumbers;
}

absl::StatusOr<std::string> Gunzip(const std::string& gz, const std::string& name) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return absl::InternalError("zlib: inflateInit2 failed");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  std::string out;
  char buf[1 << 16];
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof(buf);
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof(buf) - z.avail_out);
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END) return absl::DataLossError(absl::StrCat(name, ": corrupt embedded data"));
  return out;
}

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

bool Serving(const std::string& address) {
  auto stub = grpc::health::v1::Health::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  return stub->Check(&ctx, req, &resp).ok() && resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
}

// The services this command runs, each logging to a file; stopped (SIGTERM,
// then waited for) when it goes out of scope.
class Stack {
 public:
  ~Stack() {
    for (const auto& p : procs_) kill(p.pid, SIGTERM);
    for (const auto& p : procs_) waitpid(p.pid, nullptr, 0);
  }
  absl::Status Start(const std::string& name, const std::vector<std::string>& argv, const std::string& log) {
    const pid_t pid = fork();
    if (pid < 0) return absl::ResourceExhaustedError(absl::StrCat(name, ": fork failed"));
    if (pid == 0) {
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    procs_.push_back({name, pid, log});
    return absl::OkStatus();
  }
  // Waits until `address` is SERVING; a service that exits is an error with its log's tail.
  absl::Status WaitServing(const std::string& address, int timeout_s) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    while (std::chrono::steady_clock::now() < until) {
      if (Serving(address)) return absl::OkStatus();
      for (const auto& p : procs_) {
        int status = 0;
        if (waitpid(p.pid, &status, WNOHANG) == p.pid) {
          return absl::FailedPreconditionError(absl::StrCat(p.name, " exited (log ", p.log, "): ", Tail(p.log)));
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    return absl::DeadlineExceededError(absl::StrCat("the stack was not SERVING after ", timeout_s,
                                                    " s (--startup-timeout-s); logs beside ", procs_[0].log));
  }

 private:
  static std::string Tail(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return "";
    std::string text;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) text.append(buf, n);
    std::fclose(f);
    return text.substr(text.size() > 600 ? text.size() - 600 : 0);
  }
  struct Proc {
    std::string name;
    pid_t pid;
    std::string log;
  };
  std::vector<Proc> procs_;
};

std::string BinDir() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : self.parent_path().string();
}

}  // namespace

int RunBenchmark(int argc, char** argv) {
  std::string dataset, model, searcher = "flat", gateway, precision = "fp32", blocks, embeddings;
  int limit = 0, k = 5000, read_k = 0, concurrency = 1, threads = 0, startup_timeout_s = 3600;
  bool json_out = false;
  FlagSet flags(kCmd,
                "The original project's Benchmark: NQ-open test (3,610 questions) or WebQuestions test (2,032), both "
                "embedded, through a stack this command starts (or --gateway), printed as the original project "
                "printed it beside its published numbers, with questions/s and latency.");
  flags.String("dataset", &dataset, "nq, wq, or a JSON-lines file of {question, answers}.");
  flags.String("model", &model, "Model directory or Hugging Face model id (pulled when missing).");
  flags.String("searcher", &searcher, "Retriever index type: flat (exact), bf16, int8, fp16, sq8, hnsw or ivf.");
  flags.String("gateway", &gateway, "Score through this running gateway instead of starting a stack.");
  flags.String("precision", &precision, "Reader and question-embedder arithmetic of the started stack: fp32, bf16, int8.");
  flags.Int("threads", &threads, "Compute threads of each started service (0 = their default).");
  flags.String("blocks", &blocks, "Block store for the started retriever (default: the model's own, prepared once).");
  flags.String("embeddings", &embeddings, "Block embeddings for the started retriever (default: the model's block_emb).");
  flags.Int("limit", &limit, "Only the first N questions (0 = all).");
  flags.Int("k", &k, "Blocks retrieved per question (top_k_match needs k >= 5000 for top_5000).");
  flags.Int("read-k", &read_k, "Blocks the reader reads (0 = the model's reader_beam_size).");
  flags.Int("concurrency", &concurrency, "Questions in flight at once (1: latency without queueing).");
  flags.Int("startup-timeout-s", &startup_timeout_s, "How long the started stack may take to serve (preparing a "
            "13.35M-block store the first time takes minutes).");
  flags.Bool("json", &json_out, "Print the summary as JSON.");
  TlsCalling tls;
  AddClientTlsFlags(flags, &tls);  // to --gateway
  if (auto code = ParseFlagsOrExit(flags, argc, argv, kCmd)) return *code;
  if (dataset.empty() || model.empty()) {
    return ReportFatal(kCmd, absl::InvalidArgumentError("--dataset and --model are required"), 2);
  }
  if (k < 1 || k > 5000 || read_k < 0 || read_k > k || concurrency < 1 || concurrency > 256 || limit < 0 ||
      threads < 0 || startup_timeout_s < 1) {
    return ReportFatal(kCmd, absl::InvalidArgumentError("--k in [1, 5000], --read-k in [0, k], --concurrency in "
                                                        "[1, 256], --limit, --threads >= 0, --startup-timeout-s >= 1"), 2);
  }
  static const std::set<std::string> kSearchers = {"flat", "bf16", "int8", "fp16", "sq8", "hnsw", "ivf", "torch"};
  if (!kSearchers.count(searcher)) {
    return ReportFatal(kCmd, absl::InvalidArgumentError(absl::StrCat(
        "--searcher: expected flat, bf16, int8, fp16, sq8, hnsw, ivf or torch, got '", searcher, "'")), 2);
  }
  if (absl::Status st = ValidateTlsCalling(tls, "--tls-"); !st.ok()) return ReportFatal(kCmd, st, 2);
  EvalRun run;
  run.tls = tls;
  const EmbeddedDataset* embedded = FindEmbeddedDataset(dataset);
  absl::StatusOr<std::vector<QaExample>> examples;
  if (embedded) {
    auto text = Gunzip(std::string(reinterpret_cast<const char*>(embedded->gz), embedded->size), dataset);
    if (!text.ok()) return ReportFatal(kCmd, text.status());
    run.data_name = embedded->name;
    examples = ParseQaJsonl(*text, embedded->name);
  } else if (std::filesystem::exists(dataset)) {
    run.data_name = dataset;
    examples = ReadQaJsonl(dataset);
  } else {
    return ReportFatal(kCmd, absl::InvalidArgumentError(absl::StrCat(
        "--dataset '", dataset, "': expected nq, wq or an existing JSON-lines file")), 2);
  }
  if (!examples.ok()) return ReportFatal(kCmd, examples.status());
  if (limit > 0 && static_cast<size_t>(limit) < examples->size()) examples->resize(limit);
  run.examples = std::move(*examples);
  auto model_dir = ResolveModelPath(model, "--model");
  if (!model_dir.ok()) {
    return ReportFatal(kCmd, model_dir.status(), model_dir.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1);
  }
  run.model_dir = *model_dir;
  auto config = ReadRealmConfig(run.model_dir + "/config.json");
  if (!config.ok()) return ReportFatal(kCmd, config.status());
  // The corpus may hold fewer blocks than k (the config's num_block_records); top_k_match
  // for larger k then covers every block, as a retrieval of them all would.
  run.k = std::min(k, std::max(1, config->num_block_records));
  run.read_k = std::min(read_k > 0 ? read_k : config->reader_beam_size, run.k);
  run.concurrency = concurrency;
  run.ks = {5, 10, 50, 100, 500, 1000, 5000};
  if (run.k < k) run.ks.push_back(run.k);  // scored on all k retrieved, reported under each larger name
  run.retrieval = "dense";
  run.regex = run.data_name.find("CuratedTrec") != std::string::npos;

  std::unique_ptr<Stack> stack;
  std::string logs;  // the started stack's logs: kept when something fails
  if (gateway.empty()) {
    stack = std::make_unique<Stack>();
    const std::string bin = BinDir();
    char tmpl[] = "/tmp/orqa-benchmark-XXXXXX";
    if (!mkdtemp(tmpl)) return ReportFatal(kCmd, absl::PermissionDeniedError("/tmp: cannot create a log folder"));
    logs = tmpl;
    const int r = FreePort(), d = FreePort(), g = FreePort();
    std::vector<std::string> retriever = {bin + "/orqa-retriever", absl::StrCat("--grpc-port=", r), "--metrics-port=0",
                                          "--model-dir=" + model, "--index-type=" + searcher,
                                          "--precision=" + precision};
    if (!blocks.empty()) retriever.push_back("--blocks=" + blocks);
    if (!embeddings.empty()) retriever.push_back("--embeddings=" + embeddings);
    std::vector<std::string> reader = {bin + "/orqa-reader", absl::StrCat("--grpc-port=", d), "--metrics-port=0",
                                       "--model-dir=" + model, "--precision=" + precision};
    if (threads > 0) {
      retriever.push_back(absl::StrCat("--threads=", threads));
      reader.push_back(absl::StrCat("--threads=", threads));
    }
    gateway = absl::StrCat("127.0.0.1:", g);
    std::fprintf(stderr, "%s: starting retriever (%s), reader and gateway; logs in %s\n", kCmd, searcher.c_str(),
                 logs.c_str());
    absl::Status st = stack->Start("orqa-retriever", retriever, logs + "/retriever.log");
    if (st.ok()) st = stack->Start("orqa-reader", reader, logs + "/reader.log");
    if (st.ok()) {
      st = stack->Start("orqa-gateway",
                        {bin + "/orqa-gateway", absl::StrCat("--grpc-port=", g), "--metrics-port=0",
                         absl::StrCat("--retrievers=127.0.0.1:", r), absl::StrCat("--reader=127.0.0.1:", d),
                         absl::StrCat("--default-k=", run.read_k)},
                        logs + "/gateway.log");
    }
    if (st.ok()) st = stack->WaitServing(gateway, startup_timeout_s);
    if (!st.ok()) return ReportFatal(kCmd, st);
  }
  run.gateway = gateway;
  auto result = RunEvaluation(run);
  if (!result.ok()) return ReportFatal(kCmd, result.status());
  if (stack) {
    stack.reset();  // stopped; the logs are not needed
    std::error_code ec;
    std::filesystem::remove_all(logs, ec);
  }
  nlohmann::json& s = result->summary;
  // top_N_match for N past the blocks there are: every block was retrieved.
  const std::string all = absl::StrCat("top_", run.k, "_match");
  for (int n : {5, 10, 50, 100, 500, 1000, 5000}) {
    const std::string m = absl::StrCat("top_", n, "_match");
    if (!s["metrics"].contains(m) && n > run.k && s["metrics"].contains(all)) s["metrics"][m] = s["metrics"][all];
  }
  if (run.k < k && run.k != 5 && run.k != 10 && run.k != 50 && run.k != 100 && run.k != 500 && run.k != 1000) {
    s["metrics"].erase(all);
  }
  s["model"] = model;
  s["searcher"] = searcher;
  if (json_out) {
    std::printf("%s\n", s.dump(2).c_str());
    return 0;
  }
  const std::string key = dataset == "nq" || dataset == "wq" ? dataset : "";
  const auto published = PublishedNumbers().find(key);
  const bool compare = published != PublishedNumbers().end() && searcher == "flat";
  std::printf("%s: %zu questions, model %s, searcher %s, k %d%s, reader beam %d\n", run.data_name.c_str(),
              run.examples.size(), model.c_str(), searcher.c_str(), run.k,
              run.k < k ? " (every block of the corpus)" : "", run.read_k);
  const char* names[] = {"exact_match",    "official_exact_match", "reader_oracle",  "top_5_match",
                         "top_10_match",   "top_50_match",         "top_100_match",  "top_500_match",
                         "top_1000_match", "top_5000_match"};
  for (const char* m : names) {
    const double v = s["metrics"].value(m, 0.0);
    std::string line = absl::StrFormat("%s = %.4f", m, v);
    if (compare) {
      const auto& orig = published->second.original;
      std::string note;
      if (auto it = orig.find(m); it != orig.end()) {
        note = absl::StrFormat("original project %.4f", it->second);
        if (std::string(m) == "top_5_match") note += " (its top_k_match, on the 5-block reader beam)";
      }
      if (std::string(m) == "official_exact_match") {
        note += absl::StrFormat("; paper %.3f", published->second.paper_official_em);
      }
      if (!note.empty()) line = absl::StrFormat("%-30s # %s", line, note);
    }
    std::printf("%s\n", line.c_str());
  }
  std::printf("questions_per_second = %.2f\n", s["questions_per_second"].get<double>());
  std::printf("latency_p50_ms = %.1f\n", s["latency_ms"]["p50"].get<double>());
  std::printf("latency_p99_ms = %.1f\n", s["latency_ms"]["p99"].get<double>());
  if (!compare && published != PublishedNumbers().end()) {
    std::printf("# the original project published %s numbers for the flat searcher only\n", key.c_str());
  }
  return 0;
}

}  // namespace orqa::cli
