#pragma once

#include "absl/status/status.h"

namespace orqa {

class JobContext;
class RetrieverClient;
class TrainerMetrics;

/// FINETUNE, as the reference finetunes ORQA/REALM: per question, embed with
/// gradients, fetch the top searcher_beam_size blocks with their vectors from
/// the retriever service, recompute the retrieval logits locally, read the
/// top reader_beam_size, and minimise the marginal log-likelihood of the gold
/// blocks and spans; AdamW with warm-up and linear decay. The question
/// embedder and the reader train; block embeddings stay fixed.
///
/// Resumable: every checkpoint holds the weights and the optimiser moments;
/// data order and dropout are functions of (seed, step), so a job resumed
/// from step s continues exactly as an uninterrupted one.
absl::Status RunFinetune(JobContext& ctx, RetrieverClient& retriever, TrainerMetrics* metrics);

}  // namespace orqa
