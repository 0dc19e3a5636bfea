#pragma once

#include "absl/status/status.h"

namespace orqa {

class JobContext;
class TrainerMetrics;

/// PRETRAIN_MLM: BERT masked-LM with whole-word masking over the blocks of a
/// block store (and the lines of an optional plain-text file), training the
/// embedder's BERT and an MLM head (decoder tied to the word embeddings,
/// saved as embedder.cls.predictions.*). Checkpoints copy the trained BERT
/// into the reader too (reader.realm.*), so both encoders start from it.
absl::Status RunPretrainMlm(JobContext& ctx, TrainerMetrics* metrics);

/// PRETRAIN_ICT: ORQA's inverse cloze task with in-batch negatives: a
/// sentence of a block is the query, the block without it (kept in a share of
/// the cases) the context, both embedded by the REALM embedder; the loss is
/// the softmax cross-entropy of each query over the batch's contexts.
absl::Status RunPretrainIct(JobContext& ctx, TrainerMetrics* metrics);

}  // namespace orqa
