#pragma once

#include "absl/status/status.h"

namespace orqa {

class JobContext;
class RetrieverClient;
class TrainerMetrics;

/// TRAIN_READER: the reader alone, on the passages that hold the answers.
/// Per question, the retriever's top searcher_beam_size blocks (BM25 with
/// finetune_retrieval SPARSE, else the dense index) are scanned best first:
/// the first that contains an answer (as FINETUNE's gold spans: the answer's
/// word pieces inside the block, within reader_seq_len) is the answer
/// passage, the next reader_passages - 1 blocks without an answer are read
/// beside it; a question with no answer passage is skipped (the step metric
/// answer_passage_share is the share of a step's questions learnt from). The
/// rows of a step's questions go through the reader in one pass, padded only
/// to the longest row, and the loss is each question's marginal
/// log-likelihood of its answer spans over its own rows, averaged.
///
/// This is the cheap way to a reader that picks spans: a row per question
/// instead of the reader beam, no question embedding, no 288-token padding;
/// FINETUNE afterwards calibrates reader and retriever together. The
/// embedder's weights are written unchanged into every checkpoint.
/// Resumable as FINETUNE is.
absl::Status RunTrainReader(JobContext& ctx, RetrieverClient& retriever, TrainerMetrics* metrics);

}  // namespace orqa
