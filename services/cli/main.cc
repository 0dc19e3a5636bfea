// orqa: the command-line tool for offline work and quick checks.
#include <cstdio>
#include <cstring>
#include <string>

#include "common/infra/tensor_allocator.h"
#include "services/cli/commands.h"

namespace {

constexpr char kUsage[] =
    "Usage: orqa <command> [flags]\n"
    "\n"
    "Commands:\n"
    "  ask \"QUESTION\"      Ask a running orqa-gateway; prints the answer and its passage.\n"
    "  health ADDRESS      Check a service's gRPC health (exit 0 when SERVING).\n"
    "  rpc ADDRESS RPC     Call one RPC of any orqa service with a JSON request (TLS flags as every client).\n"
    "  pull SOURCE         Download a model (Hugging Face Hub id) or gs://BUCKET/PREFIX, resumable, verified.\n"
    "  build-blocks        Build a block store from blocks.jsonl, blocks.tfr or block_records.npy.\n"
    "  build-bm25          Build a BM25 index (Xapian) of a block store for sparse retrieval.\n"
    "  embed-blocks        Embed every block with a REALM embedder into a .npy (resumable).\n"
    "  import-embeddings   Copy block embeddings from a HF/TF checkpoint or .npy into a .npy.\n"
    "  eval                Score a QA dataset through a running gateway (EM, top-k match, latency).\n"
    "  benchmark           NQ-open / WebQuestions test as the original project reports them (starts the stack).\n"
    "  init-model          Write a model directory with fresh weights (pre-training from nothing).\n"
    "  convert             Convert TensorFlow REALM/ORQA checkpoints into a model directory.\n"
    "  jobs                Trainer jobs via the gateway: start, list, get, watch, cancel, deploy.\n"
    "\n"
    "Flags:\n"
    "  --help           Print this text.\n"
    "  --version        Print the version.\n"
    "\n"
    "Run 'orqa <command> --help' for a command's flags.\n";

}  // namespace

int main(int argc, char** argv) {
  orqa::KeepTensorAllocationsInHeap();  // embed-blocks, init-model, convert: large tensors
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  std::string command = argv[1];
  if (command == "--version" || command == "version") {
    std::printf("orqa %s\n", ORQA_VERSION);
    return 0;
  }
  if (command == "ask") return orqa::cli::RunAsk(argc - 1, argv + 1);
  if (command == "pull") return orqa::cli::RunPull(argc - 1, argv + 1);
  if (command == "health") return orqa::cli::RunHealth(argc - 1, argv + 1);
  if (command == "rpc") return orqa::cli::RunRpc(argc - 1, argv + 1);
  if (command == "build-blocks") return orqa::cli::RunBuildBlocks(argc - 1, argv + 1);
  if (command == "embed-blocks") return orqa::cli::RunEmbedBlocks(argc - 1, argv + 1);
  if (command == "build-bm25") return orqa::cli::RunBuildBm25(argc - 1, argv + 1);
  if (command == "benchmark") return orqa::cli::RunBenchmark(argc - 1, argv + 1);
  if (command == "eval") return orqa::cli::RunEval(argc - 1, argv + 1);
  if (command == "init-model") return orqa::cli::RunInitModel(argc - 1, argv + 1);
  if (command == "jobs") return orqa::cli::RunJobs(argc - 1, argv + 1);
  if (command == "convert") return orqa::cli::RunConvert(argc - 1, argv + 1);
  if (command == "import-embeddings") return orqa::cli::RunImportEmbeddings(argc - 1, argv + 1);
  std::fprintf(stderr, "orqa: error: unknown command '%s' (see orqa --help)\n", command.c_str());
  return 2;
}
