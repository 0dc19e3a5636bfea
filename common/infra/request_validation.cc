#include "common/infra/request_validation.h"

#include "absl/strings/str_cat.h"
#include "common/text/unicode_classes.h"
#include "common/text/utf8.h"

namespace orqa {

absl::Status ValidateQuestion(const std::string& field, const std::string& question) {
  const std::vector<CodePoint> cps = DecodeUtf8(question);
  bool blank = true;
  for (const CodePoint& c : cps) {
    // DecodeUtf8 turns each invalid byte into a one-byte U+FFFD.
    if (c.cp == 0xFFFD && c.byte_end - c.byte_begin == 1) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": is not valid UTF-8"));
    }
    // Whitespace and control characters are what the tokenizer drops.
    blank = blank && (unicode::IsWhitespace(c.cp) || unicode::IsControl(c.cp));
  }
  if (blank) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": must not be empty or whitespace-only"));
  }
  const int chars = static_cast<int>(cps.size());
  if (chars > kMaxQuestionChars) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", chars,
                                                   " characters, the limit is ", kMaxQuestionChars));
  }
  return absl::OkStatus();
}

absl::Status ValidateAnswerLimits(int k, int num_answers) {
  if (k < 0 || k > kMaxK) {
    return absl::InvalidArgumentError(
        absl::StrCat("k: expected 1..", kMaxK, " (or 0 for the default), got ", k));
  }
  if (num_answers < 0 || num_answers > kMaxNumAnswers) {
    return absl::InvalidArgumentError(absl::StrCat(
        "num_answers: expected 1..", kMaxNumAnswers, " (or 0 for 1), got ", num_answers));
  }
  return absl::OkStatus();
}

}  // namespace orqa
