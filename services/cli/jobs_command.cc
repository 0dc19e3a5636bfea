// `orqa jobs start|list|get|watch|cancel|deploy`: the trainer's jobs through
// the gateway's Admin API.
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <cstdio>
#include <map>

#include "common/infra/tls.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/fetch/model_source.h"
#include "common/infra/flags.h"
#include "common/infra/main_util.h"
#include "orqa/v1/admin.grpc.pb.h"
#include "services/cli/commands.h"

namespace orqa::cli {
namespace {

constexpr char kUsage[] =
    "Usage: orqa jobs <start|list|get|watch|cancel|deploy> [flags]\n"
    "\n"
    "  start --kind finetune|build-index ...   Queue a job (see 'orqa jobs start --help').\n"
    "  list                                    Jobs, newest first.\n"
    "  get JOB_ID                              One job with its history.\n"
    "  watch JOB_ID                            Live progress until the job ends (exit 0 if it succeeded).\n"
    "  cancel JOB_ID                           Cancel a queued or running job.\n"
    "  deploy JOB_ID | --checkpoint DIR        Hot-swap a job's best checkpoint (or a directory) into serving.\n"
    "\n"
    "Every subcommand takes --gateway, --admin-token (ORQA_ADMIN_TOKEN) and --json.\n";

struct Common {
  std::string gateway = "127.0.0.1:50051";
  std::string token;
  bool json = false;
  TlsCalling tls;
};

void AddCommon(FlagSet& flags, Common* c) {
  flags.String("gateway", &c->gateway, "orqa-gateway address host:port.");
  flags.String("admin-token", &c->token, "The gateway's admin token.");
  flags.Bool("json", &c->json, "Print JSON (proto field names) instead of text.");
  AddClientTlsFlags(flags, &c->tls);
}

std::unique_ptr<orqa::v1::Admin::Stub> Stub(const Common& c) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  return orqa::v1::Admin::NewStub(grpc::CreateCustomChannel(c.gateway, MakeChannelCredentials(c.tls), args));
}

void Authorize(grpc::ClientContext* ctx, const Common& c) {
  ctx->AddMetadata("authorization", "Bearer " + c.token);
}

int Failed(const std::string& cmd, const Common& c, const grpc::Status& st) {
  return ReportFatal(cmd, absl::Status(static_cast<absl::StatusCode>(st.error_code()),
                                       absl::StrCat(c.gateway, ": ", st.error_message())));
}

std::string Json(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, opts);
  return out;
}

std::string StateName(orqa::v1::JobState s) {
  std::string n = orqa::v1::JobState_Name(s);
  return n.rfind("JOB_STATE_", 0) == 0 ? n.substr(10) : n;
}

std::string KindName(orqa::v1::JobKind k) {
  std::string n = orqa::v1::JobKind_Name(k);
  return n.rfind("JOB_KIND_", 0) == 0 ? n.substr(9) : n;
}

// One line: what a person watching a job wants to see.
std::string ProgressLine(const orqa::v1::Job& j) {
  std::string s = absl::StrFormat("%s %-9s", j.job_id(), StateName(j.state()));
  if (j.spec().kind() == orqa::v1::JOB_KIND_BUILD_INDEX) {
    absl::StrAppendFormat(&s, " blocks %d/%d", j.done(), j.total());
  } else {
    absl::StrAppendFormat(&s, " step %d/%d loss %.4f", j.step(), j.total() > 0 ? j.total() : j.spec().num_steps(), j.loss());
    auto em = j.metrics().find("exact_match");
    if (em != j.metrics().end()) absl::StrAppendFormat(&s, " EM %.3f", em->second);
  }
  if (j.state() == orqa::v1::JOB_STATE_RUNNING) {
    absl::StrAppendFormat(&s, " %.1f/s ETA %.0f s", j.examples_per_second(), j.eta_s());
  }
  if (!j.error().empty()) absl::StrAppend(&s, " error: ", j.error());
  return s;
}

// `path` against this process's working directory ("" stays "").
// A relative path made absolute for the services (their working directory is
// not ours); a Hugging Face model id that is not a local path stays an id.
std::string Absolute(const std::string& path) {
  if (path.empty() || path[0] == '/' || NamesHubModel(path)) return path;
  char buf[4096];
  if (getcwd(buf, sizeof(buf)) == nullptr) return path;
  return std::string(buf) + "/" + path;
}

int RunStart(int argc, char** argv) {
  const std::string cmd = "orqa jobs start";
  Common c;
  orqa::v1::JobSpec spec;
  std::string kind = "finetune", model_dir, weights, train, eval, output, blocks, embeddings;
  int num_steps = 0, batch_size = 0, warmup = 0, eval_every = 0, ckpt_every = 0, searcher_beam = 0,
      reader_beam = 0, seed = 0, keep = 0, eval_limit = 0, shard_index = 0, num_shards = 0, max_block_length = 0;
  double lr = 1e-5, cloze_share = 0, weight_decay = 0, max_grad_norm = 0, mask_prob = 0, ict_keep_prob = 0, random_span_prob = 0;
  int index_refresh = 0, reader_passages = 0;
  std::string text, finetune_retrieval = "dense";
  int max_seq_length = 0;
  bool regex = false, no_dropout = false, reload = false, watch = false;
  FlagSet flags(cmd, "Queues a trainer job through the gateway. Relative paths are made absolute here.");
  AddCommon(flags, &c);
  flags.String("kind", &kind,
               "finetune, build-index, mlm (PRETRAIN_MLM), ict (PRETRAIN_ICT), realm (PRETRAIN_REALM) or reader "
               "(TRAIN_READER: the reader alone on the passages holding the answers; FINETUNE's flags apply).");
  flags.String("text", &text, "MLM/ICT/REALM: extra plain text, one passage per line.");
  flags.Int("max-seq-length", &max_seq_length,
            "MLM/ICT/REALM: tokens per sequence (0 = 128 for MLM, 288 for ICT contexts and REALM's joined inputs).");
  flags.Int("index-refresh", &index_refresh,
            "REALM: re-embed the blocks and reload the retriever every N steps, beside training (0 = never).");
  flags.Double("random-span-prob", &random_span_prob, "REALM: share of random spans instead of salient ones (0 = 0.1).");
  flags.Double("mask-prob", &mask_prob, "MLM: share of words masked (0 = 0.15).");
  flags.Double("ict-keep-prob", &ict_keep_prob, "ICT: share of contexts that keep the query sentence (0 = 0.1).");
  flags.String("model-dir", &model_dir, "Starting model directory (config.json, vocab.txt, weights).");
  flags.String("weights", &weights, "Weights file, if not the one in --model-dir.");
  flags.String("train", &train, "FINETUNE: training questions (JSON lines: question, answers).");
  flags.String("eval", &eval, "FINETUNE: evaluation questions, same format (optional).");
  flags.String("output-dir", &output, "FINETUNE: checkpoint directory.");
  flags.Int("num-steps", &num_steps, "FINETUNE: optimiser steps.");
  flags.Int("batch-size", &batch_size, "Questions per step (FINETUNE) or blocks per pass (BUILD_INDEX).");
  flags.Double("learning-rate", &lr, "FINETUNE: peak AdamW learning rate.");
  flags.Int("warmup-steps", &warmup, "FINETUNE: linear warm-up steps.");
  flags.Double("weight-decay", &weight_decay, "FINETUNE: decoupled weight decay.");
  flags.Double("max-grad-norm", &max_grad_norm, "FINETUNE: gradient clipping (0 = none).");
  flags.Int("eval-every", &eval_every, "FINETUNE: evaluate and checkpoint every N steps (0 = at the end).");
  flags.Int("checkpoint-every", &ckpt_every, "FINETUNE: resumable checkpoint every N steps.");
  flags.Int("searcher-beam", &searcher_beam,
            "FINETUNE: blocks retrieved per question (0 = config); REALM: candidate blocks per example (0 = 8).");
  flags.Int("reader-beam", &reader_beam, "FINETUNE: blocks read per question (0 = config).");
  flags.Int("seed", &seed, "Random seed (data order, dropout).");
  flags.Int("keep-checkpoints", &keep, "FINETUNE: latest checkpoints kept (0 = 2).");
  flags.Int("eval-limit", &eval_limit, "FINETUNE: evaluate on at most N questions (0 = all).");
  flags.Bool("regex-answers", &regex, "FINETUNE: answers are regexes (CuratedTrec).");
  flags.String("finetune-retrieval", &finetune_retrieval,
               "FINETUNE: dense (the reference) or sparse (BM25 candidates; needs the retriever's --bm25-index).");
  flags.Bool("no-dropout", &no_dropout, "FINETUNE: turn dropout off.");
  flags.Double("cloze-share", &cloze_share,
               "TRAIN_READER with --blocks: share of cloze questions made from the blocks (0 = 0.5; all without --train).");
  flags.Int("reader-passages", &reader_passages,
            "TRAIN_READER: rows read per question, the answer passage and the best-ranked blocks without an "
            "answer (0 = 2).");
  flags.String("blocks", &blocks, "BUILD_INDEX, MLM, ICT, REALM, reader (cloze questions): block store.");
  flags.String("embeddings", &embeddings, "BUILD_INDEX: output .npy.");
  flags.Int("shard-index", &shard_index, "BUILD_INDEX: shard to embed.");
  flags.Int("num-shards", &num_shards, "BUILD_INDEX: shard count (0 = the whole store).");
  flags.Int("max-block-length", &max_block_length, "BUILD_INDEX, REALM: tokens per block (0 = 288).");
  flags.Bool("reload", &reload, "BUILD_INDEX: Reload the retriever(s) with the new embeddings.");
  std::string precision;
  flags.String("precision", &precision, "BUILD_INDEX: block embedder arithmetic, fp32 (default), bf16 or int8.");
  flags.Bool("watch", &watch, "Watch the job after starting it.");
  if (auto code = ParseFlagsOrExit(flags, argc, argv, cmd)) return *code;
  if (absl::Status st = ValidateTlsCalling(c.tls, "--tls-"); !st.ok()) return ReportFatal(cmd, st, 2);
  if (kind == "finetune") {
    spec.set_kind(orqa::v1::JOB_KIND_FINETUNE);
  } else if (kind == "build-index") {
    spec.set_kind(orqa::v1::JOB_KIND_BUILD_INDEX);
  } else if (kind == "mlm") {
    spec.set_kind(orqa::v1::JOB_KIND_PRETRAIN_MLM);
  } else if (kind == "ict") {
    spec.set_kind(orqa::v1::JOB_KIND_PRETRAIN_ICT);
  } else if (kind == "realm") {
    spec.set_kind(orqa::v1::JOB_KIND_PRETRAIN_REALM);
  } else if (kind == "reader") {
    spec.set_kind(orqa::v1::JOB_KIND_TRAIN_READER);
  } else {
    return ReportFatal(
        cmd, absl::InvalidArgumentError("--kind: expected finetune, build-index, mlm, ict, realm or reader, got '" + kind + "'"), 2);
  }
  if (finetune_retrieval == "sparse") {
    spec.set_finetune_retrieval(orqa::v1::RETRIEVAL_MODE_SPARSE);
  } else if (finetune_retrieval != "dense") {
    return ReportFatal(cmd, absl::InvalidArgumentError("--finetune-retrieval: expected dense or sparse"), 2);
  }
  spec.set_text_path(Absolute(text));
  spec.set_max_seq_length(max_seq_length);
  spec.set_mask_prob(static_cast<float>(mask_prob));
  spec.set_ict_keep_prob(static_cast<float>(ict_keep_prob));
  spec.set_index_refresh_steps(index_refresh);
  spec.set_random_span_prob(static_cast<float>(random_span_prob));
  spec.set_reader_passages(reader_passages);
  spec.set_precision(precision);
  spec.set_cloze_share(static_cast<float>(cloze_share));
  // The trainer resolves paths in its own working directory: send absolute ones.
  for (std::string* p : {&model_dir, &weights, &train, &eval, &output, &blocks, &embeddings}) *p = Absolute(*p);
  spec.set_model_dir(model_dir);
  spec.set_weights_path(weights);
  spec.set_train_path(train);
  spec.set_eval_path(eval);
  spec.set_output_dir(output);
  spec.set_num_steps(num_steps);
  spec.set_batch_size(batch_size);
  spec.set_learning_rate(static_cast<float>(lr));
  spec.set_warmup_steps(warmup);
  spec.set_weight_decay(static_cast<float>(weight_decay));
  spec.set_max_grad_norm(static_cast<float>(max_grad_norm));
  spec.set_eval_every_steps(eval_every);
  spec.set_checkpoint_every_steps(ckpt_every);
  spec.set_searcher_beam_size(searcher_beam);
  spec.set_reader_beam_size(reader_beam);
  spec.set_seed(seed);
  spec.set_keep_checkpoints(keep);
  spec.set_eval_limit(eval_limit);
  spec.set_regex_answers(regex);
  spec.set_disable_dropout(no_dropout);
  spec.set_blocks_path(blocks);
  spec.set_embeddings_path(embeddings);
  spec.set_shard_index(shard_index);
  spec.set_num_shards(num_shards);
  spec.set_max_block_length(max_block_length);
  spec.set_reload_retriever(reload);
  auto stub = Stub(c);
  grpc::ClientContext ctx;
  Authorize(&ctx, c);
  orqa::v1::StartJobRequest req;
  *req.mutable_spec() = spec;
  orqa::v1::Job job;
  grpc::Status st = stub->StartJob(&ctx, req, &job);
  if (!st.ok()) return Failed(cmd, c, st);
  std::printf("%s\n", c.json ? Json(job).c_str() : absl::StrCat("started ", job.job_id()).c_str());
  if (!watch) return 0;
  std::fflush(stdout);
  return RunJobsWatch(c.gateway, c.token, c.json, job.job_id(), c.tls, "");
}

int RunList(int argc, char** argv) {
  const std::string cmd = "orqa jobs list";
  Common c;
  int limit = 0;
  FlagSet flags(cmd, "Lists the trainer's jobs, newest first.");
  AddCommon(flags, &c);
  flags.Int("limit", &limit, "At most this many (0 = 100).");
  if (auto code = ParseFlagsOrExit(flags, argc, argv, cmd)) return *code;
  if (absl::Status st = ValidateTlsCalling(c.tls, "--tls-"); !st.ok()) return ReportFatal(cmd, st, 2);
  auto stub = Stub(c);
  grpc::ClientContext ctx;
  Authorize(&ctx, c);
  orqa::v1::ListJobsRequest req;
  req.set_limit(limit);
  orqa::v1::ListJobsResponse resp;
  grpc::Status st = stub->ListJobs(&ctx, req, &resp);
  if (!st.ok()) return Failed(cmd, c, st);
  if (c.json) {
    std::printf("%s\n", Json(resp).c_str());
    return 0;
  }
  if (resp.jobs_size() == 0) std::printf("no jobs\n");
  for (const auto& j : resp.jobs()) std::printf("%-12s %s\n", KindName(j.spec().kind()).c_str(), ProgressLine(j).c_str());
  return 0;
}

// get, cancel: one JOB_ID argument, one Job printed.
int RunOne(const std::string& sub, int argc, char** argv) {
  const std::string cmd = "orqa jobs " + sub;
  Common c;
  FlagSet flags(cmd + " JOB_ID", sub == "get" ? "Prints one job with its history." : "Cancels a job.");
  AddCommon(flags, &c);
  if (auto code = ParseFlagsOrExit(flags, argc, argv, cmd)) return *code;
  if (absl::Status st = ValidateTlsCalling(c.tls, "--tls-"); !st.ok()) return ReportFatal(cmd, st, 2);
  if (flags.positional().size() != 1) return ReportFatal(cmd, absl::InvalidArgumentError("expected one JOB_ID"), 2);
  auto stub = Stub(c);
  grpc::ClientContext ctx;
  Authorize(&ctx, c);
  orqa::v1::Job job;
  grpc::Status st;
  if (sub == "get") {
    orqa::v1::GetJobRequest req;
    req.set_job_id(flags.positional()[0]);
    st = stub->GetJob(&ctx, req, &job);
  } else {
    orqa::v1::CancelJobRequest req;
    req.set_job_id(flags.positional()[0]);
    st = stub->CancelJob(&ctx, req, &job);
  }
  if (!st.ok()) return Failed(cmd, c, st);
  if (c.json) {
    std::printf("%s\n", Json(job).c_str());
    return 0;
  }
  std::printf("%s\n", ProgressLine(job).c_str());
  if (!job.checkpoint_dir().empty()) std::printf("  latest checkpoint: %s\n", job.checkpoint_dir().c_str());
  if (!job.best_checkpoint_dir().empty()) {
    std::printf("  best checkpoint:   %s (exact match %.3f)\n", job.best_checkpoint_dir().c_str(), job.best_exact_match());
  }
  for (const auto& [k, v] : std::map<std::string, double>(job.metrics().begin(), job.metrics().end())) {
    std::printf("  %s %.4f\n", k.c_str(), v);
  }
  return 0;
}

int RunWatch(int argc, char** argv) {
  const std::string cmd = "orqa jobs watch";
  Common c;
  std::string log_path;
  FlagSet flags(cmd + " JOB_ID", "Streams a job's progress until it ends; exit 0 only if it succeeded.");
  AddCommon(flags, &c);
  flags.String("log", &log_path,
               "Append every event's line to this file; the console then shows one live line (a terminal) or "
               "only the final line (not a terminal).");
  if (auto code = ParseFlagsOrExit(flags, argc, argv, cmd)) return *code;
  if (absl::Status st = ValidateTlsCalling(c.tls, "--tls-"); !st.ok()) return ReportFatal(cmd, st, 2);
  if (flags.positional().size() != 1) return ReportFatal(cmd, absl::InvalidArgumentError("expected one JOB_ID"), 2);
  return RunJobsWatch(c.gateway, c.token, c.json, flags.positional()[0], c.tls, log_path);
}

int RunDeploy(int argc, char** argv) {
  const std::string cmd = "orqa jobs deploy";
  Common c;
  std::string checkpoint, weights;
  bool embedder = false, reader = false;
  FlagSet flags(cmd + " [JOB_ID]", "Hot-swaps a job's best checkpoint, or --checkpoint DIR, into serving.");
  AddCommon(flags, &c);
  flags.String("checkpoint", &checkpoint,
               "A model directory, or a Hugging Face model id the services have in their cache, instead of a "
               "job's checkpoint.");
  flags.String("weights", &weights,
               "With --checkpoint: the weights file or TF checkpoint prefix (default: the directory's).");
  flags.Bool("embedder", &embedder, "Only the question embedder (retriever shards).");
  flags.Bool("reader", &reader, "Only the reader.");
  if (auto code = ParseFlagsOrExit(flags, argc, argv, cmd)) return *code;
  if (absl::Status st = ValidateTlsCalling(c.tls, "--tls-"); !st.ok()) return ReportFatal(cmd, st, 2);
  if (flags.positional().size() > 1 || (flags.positional().empty() == checkpoint.empty())) {
    return ReportFatal(cmd, absl::InvalidArgumentError("expected a JOB_ID or --checkpoint DIR (one of them)"), 2);
  }
  auto stub = Stub(c);
  grpc::ClientContext ctx;
  Authorize(&ctx, c);
  orqa::v1::DeployRequest req;
  req.set_checkpoint_dir(Absolute(checkpoint));
  if (!weights.empty()) req.set_weights_path(Absolute(weights));
  if (!flags.positional().empty()) req.set_job_id(flags.positional()[0]);
  req.set_embedder(embedder);
  req.set_reader(reader);
  orqa::v1::DeployResponse resp;
  grpc::Status st = stub->Deploy(&ctx, req, &resp);
  if (!st.ok()) return Failed(cmd, c, st);
  if (c.json) {
    std::printf("%s\n", Json(resp).c_str());
    return 0;
  }
  std::printf("deployed %s\n", resp.checkpoint_dir().c_str());
  if (!resp.embedder().version().empty()) std::printf("  embedder %s\n", resp.embedder().version().c_str());
  if (!resp.reader().version().empty()) std::printf("  reader   %s\n", resp.reader().version().c_str());
  return 0;
}

}  // namespace

int RunJobsWatch(const std::string& gateway, const std::string& token, bool json, const std::string& job_id,
                 const TlsCalling& tls, const std::string& log_path) {
  const std::string cmd = "orqa jobs watch";
  Common c{gateway, token, json, tls};
  auto stub = Stub(c);
  grpc::ClientContext ctx;
  Authorize(&ctx, c);
  orqa::v1::WatchJobRequest req;
  req.set_job_id(job_id);
  auto reader = stub->WatchJob(&ctx, req);
  const bool tty = !json && isatty(fileno(stdout));
  std::FILE* log = nullptr;
  if (!log_path.empty() && !(log = std::fopen(log_path.c_str(), "a"))) {
    return ReportFatal(cmd, absl::PermissionDeniedError(absl::StrCat("--log: cannot open '", log_path, "'")), 2);
  }
  orqa::v1::JobEvent event;
  orqa::v1::JobState last = orqa::v1::JOB_STATE_UNSPECIFIED;
  while (reader->Read(&event)) {
    last = event.job().state();
    if (json) {
      std::printf("%s\n", Json(event).c_str());
    } else if (tty) {
      std::printf("\r\033[K%s", ProgressLine(event.job()).c_str());
    } else if (!log) {
      std::printf("%s\n", event.message().c_str());
    }
    if (log) {
      std::fprintf(log, "%s\n", event.message().c_str());
      std::fflush(log);
    }
    std::fflush(stdout);
  }
  if (log) std::fclose(log);
  if (tty) std::printf("\n");
  grpc::Status st = reader->Finish();
  if (!st.ok()) return Failed(cmd, c, st);
  if (!json && !tty) std::printf("%s\n", ProgressLine(event.job()).c_str());
  return last == orqa::v1::JOB_STATE_SUCCEEDED ? 0 : 1;
}

int RunJobs(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "help") {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string sub = argv[1];
  if (sub == "start") return RunStart(argc - 1, argv + 1);
  if (sub == "list") return RunList(argc - 1, argv + 1);
  if (sub == "get" || sub == "cancel") return RunOne(sub, argc - 1, argv + 1);
  if (sub == "watch") return RunWatch(argc - 1, argv + 1);
  if (sub == "deploy") return RunDeploy(argc - 1, argv + 1);
  std::fprintf(stderr, "orqa jobs: error: unknown subcommand '%s' (start, list, get, watch, cancel, deploy)\n",
               sub.c_str());
  return 2;
}

}  // namespace orqa::cli
