#include "common/text/stop_words.h"

#include <algorithm>
#include <string>
#include <unordered_set>

namespace orqa {
namespace {

const char* const kStopWords[] = {
    "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at", "be",
    "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do", "does",
    "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has", "have", "having", "he", "her",
    "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself",
    "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or",
    "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she", "should", "so", "some", "such", "than",
    "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this", "those",
    "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which",
    "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself", "yourselves"};

}  // namespace

const char* const* StopWords(int* count) {
  *count = static_cast<int>(std::size(kStopWords));
  return kStopWords;
}

bool IsStopWord(std::string_view word) {
  static const auto* set = new std::unordered_set<std::string_view>(std::begin(kStopWords), std::end(kStopWords));
  return set->count(word) > 0;
}

}  // namespace orqa
