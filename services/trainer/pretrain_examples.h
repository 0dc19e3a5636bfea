#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "common/text/wordpiece_tokenizer.h"

namespace orqa {

/// A masked-LM example: `[CLS] pieces [SEP]` with whole words masked (BERT's
/// 80 % [MASK] / 10 % random / 10 % kept), labels = original id at masked
/// positions and -100 elsewhere.
struct MlmExample {
  std::vector<int32_t> input_ids;
  std::vector<int64_t> labels;
  int masked_words = 0;
};

/// Whole-word masking of `mask_prob` of the words of `text` (at least one);
/// texts longer than `max_length` - 2 pieces are cut to a window starting at
/// a random word. Everything random comes from `rng`.
MlmExample MakeMlmExample(const WordPieceTokenizer& tok, const std::string& text, int max_length, double mask_prob,
                          std::mt19937_64& rng);

/// Sentences of a passage: split after '.', '!' or '?' followed by
/// whitespace (a rule, as no sentence model is available offline).
std::vector<std::string> SplitSentences(const std::string& text);

/// An inverse-cloze example (ORQA): one sentence of a block as the
/// pseudo-question, the block without it as the context, except in
/// `keep_prob` of the draws, where the sentence stays in the context.
struct IctExample {
  std::string question;
  std::string context;
  bool sentence_removed = false;
};
IctExample MakeIctExample(const std::string& text, double keep_prob, std::mt19937_64& rng);

/// A salient span of a sentence, found by rules (no NER model offline):
/// dates ([day] Month [day][,] [year]), numbers (digits with , . and %), and
/// entities (runs of capitalised words, joined by of/the/de/von/van…, a
/// sentence-initial function word like "The" or "In" left out). Byte offsets
/// into the sentence; spans do not overlap, dates before numbers before entities.
struct SalientSpan {
  enum Kind { kEntity, kDate, kNumber, kRandom };
  size_t begin = 0, end = 0;
  Kind kind = kEntity;
};
std::vector<SalientSpan> FindSalientSpans(const std::string& sentence);
const char* SpanKindName(SalientSpan::Kind kind);

/// A REALM pre-training example: `[CLS] sentence [SEP]` (a window of at most
/// `max_length` pieces around the span) with every piece of one span
/// replaced by [MASK]; labels = original ids there, -100 elsewhere. The
/// sentence is drawn among those of `text` holding a salient span; with
/// probability `random_span_prob` (or when no sentence has one) the span is
/// 1–3 random whole words instead.
struct RealmExample {
  std::vector<int32_t> input_ids;
  std::vector<int64_t> labels;
  std::string sentence;
  SalientSpan span;  // in `sentence`
};
RealmExample MakeRealmExample(const WordPieceTokenizer& tok, const std::string& text, int max_length,
                              double random_span_prob, std::mt19937_64& rng);

/// A cloze question for reader pre-training (the "identity" cloze of
/// unsupervised QA, Lewis et al. 2019): a sentence of `text` holding a
/// salient span, with that span replaced by a question word for its kind
/// ("when" for dates, "how many" for numbers, "what" for entities) and the
/// sentence's final punctuation by "?"; the answer is the span's text. Empty
/// (no question) when no sentence of `text` has a salient span.
struct ClozeQuestion {
  std::string question;
  std::string answer;
};
ClozeQuestion MakeClozeQuestion(const std::string& text, std::mt19937_64& rng);

}  // namespace orqa
