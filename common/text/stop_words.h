#pragma once

#include <string_view>

namespace orqa {

/// A common English stop-word list (function words only, lower case); BM25
/// drops them from queries and documents, the reader's question-match
/// feature does not mark them.
const char* const* StopWords(int* count);

/// True for a lower-case word of that list.
bool IsStopWord(std::string_view word);

}  // namespace orqa
