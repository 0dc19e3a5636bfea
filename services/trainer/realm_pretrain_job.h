#pragma once

#include "absl/status/status.h"

namespace orqa {

class JobContext;
class RetrieverClient;
class TrainerMetrics;

/// PRETRAIN_REALM: REALM's masked-LM pre-training through retrieval. Each
/// example is a sentence of the corpus with one salient span (or, in
/// random_span_prob of the cases, random words) masked. The embedder embeds
/// it, the retriever's (possibly stale) index returns the top
/// searcher_beam_size blocks (the block the sentence came from left out, the
/// trivial candidate), the current embedder re-embeds them so the retriever
/// learns, and the knowledge-augmented encoder predicts the span from
/// `[CLS] sentence [SEP] title [SEP] text [SEP]` for each block and a null
/// block; the loss is the negative log marginal likelihood over the blocks.
///
/// Every index_refresh_steps steps a snapshot of the embedder re-embeds
/// blocks_path on a thread beside training and every retriever shard reloads
/// it (embedder and embeddings) when done; until then training goes on with
/// the stale index. The history reports index_step (the step of the
/// embedder behind the served index), index_staleness_steps, index_refreshes
/// and index_refresh_seconds.
///
/// Checkpoints: the embedder, and the encoder's BERT as the reader's
/// (reader.realm.*) with its MLM head as reader.cls.predictions.*; the
/// encoder starts from those, or from the embedder's MLM head when the start
/// has none for the reader (a PRETRAIN_MLM checkpoint).
absl::Status RunPretrainRealm(JobContext& ctx, RetrieverClient& retriever, TrainerMetrics* metrics);

}  // namespace orqa
