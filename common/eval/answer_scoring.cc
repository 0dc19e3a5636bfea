#include "common/eval/answer_scoring.h"

#include "absl/strings/str_cat.h"
#include "common/text/answer_metrics.h"

namespace orqa {

std::vector<bool> BlocksHaveAnswer(const WordPieceTokenizer& tok, const std::string& question,
                                   const std::vector<std::string>& texts, const std::vector<std::string>& answers,
                                   int seq_len) {
  std::vector<int32_t> q = tok.RoundTripQuestion(question);
  std::vector<std::vector<int32_t>> rows, answer_ids;
  for (const auto& text : texts) rows.push_back(EncodePair(q, tok.Encode(text), seq_len, tok.cls_id(), tok.sep_id()).input_ids);
  for (const auto& a : answers) answer_ids.push_back(tok.Encode(a));
  std::vector<bool> out = FindGoldSpans(rows, answer_ids, tok.sep_id()).has_answers;
  out.resize(texts.size(), false);
  return out;
}

QuestionScores ScorePrediction(const WordPieceTokenizer& tok, const QaExample& ex, const QaPrediction& p,
                               const ScoringOptions& o) {
  QuestionScores s;
  std::vector<bool> has(p.retrieved_texts.size(), false);
  if (o.regex) {
    for (size_t i = 0; i < p.retrieved_texts.size(); ++i) {
      for (const auto& pattern : ex.answers) has[i] = has[i] || RegexMatch(p.retrieved_texts[i], pattern).value_or(false);
    }
    bool official = false;
    for (const auto& pattern : ex.answers) official = official || RegexMatch(p.answer, pattern).value_or(false);
    s.metrics["official_exact_match"] = official;
    s.metrics["exact_match"] = official;
  } else {
    has = BlocksHaveAnswer(tok, ex.question, p.retrieved_texts, ex.answers, o.reader_seq_len);
    s.metrics["official_exact_match"] = OfficialExactMatch(p.answer, ex.answers);
    const std::vector<int32_t> predicted = tok.Encode(p.answer);
    bool em = false;
    for (const auto& a : ex.answers) em = em || (!predicted.empty() && tok.Encode(a) == predicted);
    s.metrics["exact_match"] = em;
  }
  bool oracle = false;
  for (int i = 0; i < p.read && i < static_cast<int>(has.size()); ++i) oracle = oracle || has[i];
  s.metrics["reader_oracle"] = oracle;
  for (int k : o.ks) {
    bool any = false, gold = false;
    for (int i = 0; i < k && i < static_cast<int>(has.size()); ++i) {
      any = any || has[i];
      gold = gold || (ex.block_id >= 0 && p.retrieved_ids[i] == ex.block_id);
    }
    s.metrics[absl::StrCat("top_", k, "_match")] = any;
    if (ex.block_id >= 0) s.metrics[absl::StrCat("recall_at_", k)] = gold;
  }
  return s;
}

}  // namespace orqa
