#include "common/infra/request_validation.h"

#include "absl/strings/str_cat.h"

namespace orqa {
namespace {

// Returns the number of code points, or -1 if `s` is not valid UTF-8.
int CountUtf8CodePoints(const std::string& s) {
  int count = 0;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return -1;
    for (int j = 1; j < len; ++j) {
      if ((static_cast<unsigned char>(s[i + j]) >> 6) != 2) return -1;
    }
    i += len;
    ++count;
  }
  return count;
}

bool IsBlank(const std::string& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = s[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') continue;
    // U+00A0 (C2 A0) and U+3000 (E3 80 80) are common pasted blanks.
    if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0xA0) {
      ++i;
      continue;
    }
    if (c == 0xE3 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
        static_cast<unsigned char>(s[i + 2]) == 0x80) {
      i += 2;
      continue;
    }
    return false;
  }
  return true;
}

}  // namespace

absl::Status ValidateQuestion(const std::string& field, const std::string& question) {
  if (IsBlank(question)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": must not be empty or whitespace-only"));
  }
  int chars = CountUtf8CodePoints(question);
  if (chars < 0) return absl::InvalidArgumentError(absl::StrCat(field, ": is not valid UTF-8"));
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
