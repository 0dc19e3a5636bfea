#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace orqa {

/// ORQA's normalize_answer: NFD, lower-case, drop ASCII punctuation, replace
/// the words a/an/the by a space (Python-Unicode word boundaries: combining
/// marks are not word characters), collapse Unicode whitespace.
std::string NormalizeAnswer(const std::string& text);

/// normalize(prediction) == normalize(reference) for any reference.
bool OfficialExactMatch(const std::string& prediction, const std::vector<std::string>& references);

/// CuratedTrec convention: re.search(pattern, prediction) with ORQA's flags
/// (IGNORECASE, UNICODE, MULTILINE), on PCRE2 (python_regex.h). An invalid
/// pattern is an error naming it.
absl::StatusOr<bool> RegexMatch(const std::string& prediction, const std::string& pattern);

/// RealmRetriever.block_has_answer over padded reader inputs: every occurrence
/// of each answer's ids starting strictly between the first and second [SEP].
struct GoldSpans {
  std::vector<bool> has_answers;                 // [rows]
  std::vector<std::vector<int32_t>> start_pos;   // [rows][max occurrences], -1 padded
  std::vector<std::vector<int32_t>> end_pos;     // inclusive ends, same shape
};
GoldSpans FindGoldSpans(const std::vector<std::vector<int32_t>>& input_ids,
                        const std::vector<std::vector<int32_t>>& answer_ids, int32_t sep_id);

}  // namespace orqa
