#pragma once

#include <string>

#include "common/infra/tls.h"

namespace orqa::cli {

/// `orqa health ADDRESS [--service NAME] [--timeout-ms N]`: prints the
/// grpc.health.v1 status; exit 0 only when SERVING.
int RunHealth(int argc, char** argv);

/// `orqa rpc ADDRESS SERVICE/METHOD [JSON]`: one unary call of any orqa RPC,
/// JSON in and out, with the client TLS flags.
int RunRpc(int argc, char** argv);

/// `orqa pull SOURCE [--revision R] [--include GLOB]... [--dest DIR]`: a Hub
/// model into the Hugging Face cache, or gs://BUCKET/PREFIX into a folder;
/// prints where it is.
int RunPull(int argc, char** argv);

/// `orqa build-blocks --from FILE --out STORE`: builds a block store from
/// blocks.jsonl ({"id","title","text"}), a TFRecord of raw block strings
/// (ORQA's blocks.tfr) or Hugging Face's block_records.npy.
int RunBuildBlocks(int argc, char** argv);

/// `orqa embed-blocks --model DIR --blocks STORE --out FILE.npy`: embeds every
/// block with the REALM embedder in batches; resumes an interrupted run.
int RunEmbedBlocks(int argc, char** argv);

/// `orqa import-embeddings --from SRC --out FILE.npy`: block embeddings from a
/// Hugging Face checkpoint, a TF checkpoint or .npy, streamed to .npy.
int RunImportEmbeddings(int argc, char** argv);

/// `orqa ask "QUESTION" [--gateway ADDR] [--json]`: asks a running gateway and
/// prints the answer, its passage with the answer marked, and the scores.
int RunAsk(int argc, char** argv);

/// `orqa build-bm25 --blocks STORE --out DIR`: a Xapian BM25 index of the blocks.
int RunBuildBm25(int argc, char** argv);

/// `orqa eval --data FILE --model-dir DIR [--gateway ADDR]`: scores a QA
/// dataset through a running gateway (ORQA's metrics, latency, throughput).
int RunEval(int argc, char** argv);

/// `orqa benchmark --dataset nq|wq|FILE --model NAME|DIR [--searcher S]`: the
/// original project's Benchmark section (its metrics and published numbers),
/// through a stack it starts or a running --gateway.
int RunBenchmark(int argc, char** argv);

/// `orqa init-model --out DIR --vocab vocab.txt [sizes]`: a RealmForOpenQA
/// model directory with fresh BERT-initialised weights.
int RunInitModel(int argc, char** argv);

/// `orqa convert --from PREFIX [--from …] --kind K --config C --vocab V --out DIR`:
/// TensorFlow REALM/ORQA checkpoints into a model directory (tf_checkpoint.h).
int RunConvert(int argc, char** argv);

/// `orqa jobs start|list|get|watch|cancel|deploy`: trainer jobs through the
/// gateway's Admin API (token from --admin-token / ORQA_ADMIN_TOKEN).
int RunJobs(int argc, char** argv);

/// Streams a job's events until it ends; 0 when it SUCCEEDED.
int RunJobsWatch(const std::string& gateway, const std::string& token, bool json, const std::string& job_id,
                 const TlsCalling& tls, const std::string& log_path);

}  // namespace orqa::cli
