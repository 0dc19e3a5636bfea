#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/eval/qa_dataset.h"
#include "common/text/wordpiece_tokenizer.h"

namespace orqa {

/// What a served system answered for one question: its best answer and the
/// blocks it retrieved, best first (the first `read` of them were read).
struct QaPrediction {
  std::string answer;
  std::vector<int64_t> retrieved_ids;
  std::vector<std::string> retrieved_texts;
  int read = 0;
};

/// How a prediction is scored.
struct ScoringOptions {
  /// top_k_match and recall@k for these k (capped by what was retrieved).
  std::vector<int> ks = {1, 5, 20, 100};
  /// Answers are regexes (CuratedTrec): matched case-insensitively in the
  /// prediction and the block texts.
  bool regex = false;
  /// Reader window in word pieces (`[CLS] q [SEP] block [SEP]`); an answer
  /// cut off by it does not count, as in the reference. 0 = the whole block.
  int reader_seq_len = 0;
};

/// ORQA's metrics for one question, as a served system can be scored:
///   exact_match          the answer's word pieces equal an answer's (a gold span)
///   official_exact_match normalize_answer(prediction) equals a normalised answer
///   reader_oracle        some block the reader read holds an answer
///   top_k_match          some block of the top k holds an answer (block_has_answer)
///   recall_at_k          the gold block (block_id) is in the top k, when known
struct QuestionScores {
  std::map<std::string, bool> metrics;
};
QuestionScores ScorePrediction(const WordPieceTokenizer& tok, const QaExample& example, const QaPrediction& prediction,
                               const ScoringOptions& options);

/// Whether each text holds an answer: every answer's word pieces occur in the
/// text's part of `[CLS] question [SEP] text [SEP]` (truncated to
/// `seq_len`, 0 = no limit), RealmRetriever.block_has_answer's rule.
std::vector<bool> BlocksHaveAnswer(const WordPieceTokenizer& tok, const std::string& question,
                                   const std::vector<std::string>& texts, const std::vector<std::string>& answers,
                                   int seq_len);

}  // namespace orqa
