#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace orqa {

/// One question with its reference answers, as read from a JSON-lines file.
struct QaExample {
  std::string question;
  std::vector<std::string> answers;  // strings, or regexes for CuratedTrec
  int line = 0;                      // 1-based line in the file
  int64_t block_id = -1;             // the gold block, where the dataset names one (SQuAD-open)
};

/// Reads JSON lines `{"question": str, "answers"|"answer": str or [str]}`
/// (NQ-open, WebQuestions, CuratedTrec, SQuAD-open; other fields ignored).
/// Blank lines are skipped. A malformed line is an error `path:line: what`;
/// a file with no example is an error too.
absl::StatusOr<std::vector<QaExample>> ReadQaJsonl(const std::string& path);

/// The same from text in memory; errors name `name` and the line.
absl::StatusOr<std::vector<QaExample>> ParseQaJsonl(const std::string& text, const std::string& name);

}  // namespace orqa
