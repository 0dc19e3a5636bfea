#pragma once

namespace orqa::cli {

/// `orqa health ADDRESS [--service NAME] [--timeout-ms N]`: prints the
/// grpc.health.v1 status; exit 0 only when SERVING.
int RunHealth(int argc, char** argv);

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

}  // namespace orqa::cli
