#pragma once

#include <string>

#include "absl/status/status.h"

namespace orqa {

/// Longest accepted question, in Unicode code points.
inline constexpr int kMaxQuestionChars = 1000;
/// Largest k (blocks retrieved per question); the top_k_match metrics stop at 5000.
inline constexpr int kMaxK = 5000;
/// Largest number of answers per question.
inline constexpr int kMaxNumAnswers = 100;
/// Most questions in one BatchAnswer call.
inline constexpr int kMaxBatchQuestions = 256;

/// Checks a question: valid UTF-8, not empty or whitespace-only, at most
/// kMaxQuestionChars code points. `field` names it in the error ("question",
/// "questions[3]").
absl::Status ValidateQuestion(const std::string& field, const std::string& question);

/// Checks k (0 = default) and num_answers (0 = 1) ranges.
absl::Status ValidateAnswerLimits(int k, int num_answers);

}  // namespace orqa
