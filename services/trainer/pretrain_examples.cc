#include "services/trainer/pretrain_examples.h"

#include <algorithm>
#include <cctype>

namespace orqa {

MlmExample MakeMlmExample(const WordPieceTokenizer& tok, const std::string& text, int max_length, double mask_prob,
                          std::mt19937_64& rng) {
  std::vector<WordPiece> pieces = tok.Tokenize(text);
  // Word starts: pieces that do not continue a word ("##...").
  std::vector<size_t> starts;
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (pieces[i].piece.rfind("##", 0) != 0) starts.push_back(i);
  }
  const size_t room = static_cast<size_t>(std::max(1, max_length - 2));
  size_t begin = 0, end = pieces.size();
  if (pieces.size() > room) {
    // A window starting at a random word, as long as fits.
    std::vector<size_t> fits;
    for (size_t s : starts) {
      if (s + room <= pieces.size() || fits.empty()) fits.push_back(s);
    }
    begin = fits[std::uniform_int_distribution<size_t>(0, fits.size() - 1)(rng)];
    end = std::min(pieces.size(), begin + room);
  }
  // Words inside the window: [first piece, one past last piece).
  std::vector<std::pair<size_t, size_t>> words;
  for (size_t i = begin; i < end; ++i) {
    if (i == begin || pieces[i].piece.rfind("##", 0) != 0) words.push_back({i, i + 1});
    else words.back().second = i + 1;
  }
  MlmExample ex;
  ex.input_ids.push_back(tok.cls_id());
  for (size_t i = begin; i < end; ++i) ex.input_ids.push_back(pieces[i].id);
  ex.input_ids.push_back(tok.sep_id());
  ex.labels.assign(ex.input_ids.size(), -100);
  if (words.empty()) return ex;
  size_t n = static_cast<size_t>(mask_prob * static_cast<double>(words.size()) + 0.5);
  n = std::clamp<size_t>(n, 1, words.size());
  std::vector<size_t> order(words.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  std::uniform_real_distribution<double> u(0, 1);
  // Random replacements come from the ordinary vocabulary (BERT's first 999 ids are special or unused).
  const int32_t lo = std::min<int32_t>(999, static_cast<int32_t>(tok.vocab_size()) - 1);
  std::uniform_int_distribution<int32_t> random_id(lo, static_cast<int32_t>(tok.vocab_size()) - 1);
  for (size_t k = 0; k < n; ++k) {
    const auto [a, b] = words[order[k]];
    for (size_t i = a; i < b; ++i) {
      const size_t pos = i - begin + 1;
      ex.labels[pos] = ex.input_ids[pos];
      const double r = u(rng);
      if (r < 0.8) ex.input_ids[pos] = tok.mask_id();
      else if (r < 0.9) ex.input_ids[pos] = random_id(rng);
    }
  }
  ex.masked_words = static_cast<int>(n);
  return ex;
}

std::vector<std::string> SplitSentences(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  auto push = [&](size_t end) {
    size_t a = start, b = end;
    while (a < b && std::isspace(static_cast<unsigned char>(text[a]))) ++a;
    while (b > a && std::isspace(static_cast<unsigned char>(text[b - 1]))) --b;
    if (b > a) out.push_back(text.substr(a, b - a));
  };
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    const char c = text[i];
    if ((c == '.' || c == '!' || c == '?') && std::isspace(static_cast<unsigned char>(text[i + 1]))) {
      push(i + 1);
      start = i + 1;
    }
  }
  push(text.size());
  return out;
}

IctExample MakeIctExample(const std::string& text, double keep_prob, std::mt19937_64& rng) {
  IctExample ex;
  std::vector<std::string> sentences = SplitSentences(text);
  if (sentences.empty()) {
    ex.question = ex.context = text;
    return ex;
  }
  const size_t pick = std::uniform_int_distribution<size_t>(0, sentences.size() - 1)(rng);
  ex.question = sentences[pick];
  const bool keep = std::uniform_real_distribution<double>(0, 1)(rng) < keep_prob || sentences.size() == 1;
  for (size_t i = 0; i < sentences.size(); ++i) {
    if (i == pick && !keep) continue;
    if (!ex.context.empty()) ex.context += ' ';
    ex.context += sentences[i];
  }
  ex.sentence_removed = !keep;
  return ex;
}

}  // namespace orqa

namespace orqa {
namespace {

bool IsAsciiPunct(unsigned char c) { return std::ispunct(c) != 0; }

// A whitespace-separated token and its core (punctuation stripped at both ends).
struct Token {
  size_t begin, end;            // the token
  size_t core_begin, core_end;  // without leading/trailing punctuation
  std::string core;
};

std::vector<Token> WhitespaceTokens(const std::string& s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (i >= s.size()) break;
    Token t;
    t.begin = i;
    while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    t.end = i;
    t.core_begin = t.begin;
    t.core_end = t.end;
    while (t.core_begin < t.core_end && IsAsciiPunct(static_cast<unsigned char>(s[t.core_begin]))) ++t.core_begin;
    // A trailing '%' belongs to a number.
    while (t.core_end > t.core_begin && IsAsciiPunct(static_cast<unsigned char>(s[t.core_end - 1])) &&
           s[t.core_end - 1] != '%') {
      --t.core_end;
    }
    t.core = s.substr(t.core_begin, t.core_end - t.core_begin);
    out.push_back(std::move(t));
  }
  return out;
}

bool IsNumber(const std::string& w) {
  if (w.empty() || !std::isdigit(static_cast<unsigned char>(w[0]))) return false;
  for (size_t i = 0; i < w.size(); ++i) {
    const char c = w[i];
    if (std::isdigit(static_cast<unsigned char>(c))) continue;
    if ((c == ',' || c == '.') && i + 1 < w.size() && std::isdigit(static_cast<unsigned char>(w[i + 1]))) continue;
    if (c == '%' && i + 1 == w.size()) continue;
    return false;
  }
  return true;
}

bool IsDay(const std::string& w) {
  if (w.empty() || w.size() > 2) return false;
  for (char c : w) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  const int d = std::stoi(w);
  return d >= 1 && d <= 31;
}

bool IsYear(const std::string& w) {
  if (w.size() != 4) return false;
  for (char c : w) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool IsMonth(const std::string& w) {
  static const char* kMonths[] = {"January", "February", "March",     "April",   "May",      "June",
                                  "July",    "August",   "September", "October", "November", "December"};
  for (const char* m : kMonths) {
    if (w == m) return true;
  }
  return false;
}

bool IsCapitalised(const std::string& w) { return !w.empty() && std::isupper(static_cast<unsigned char>(w[0])); }

// Lower-case words that may join two capitalised ones ("University of Chicago").
bool IsConnector(const std::string& w) {
  static const char* kWords[] = {"of", "the", "de", "del", "della", "di", "da", "von", "van", "der", "den",
                                 "la", "le", "du", "des", "al", "bin", "ibn"};
  for (const char* c : kWords) {
    if (w == c) return true;
  }
  return false;
}

// Capitalised only because they start a sentence: not part of an entity there.
bool IsSentenceInitialFunctionWord(const std::string& w) {
  static const char* kWords[] = {"The", "A", "An", "In", "On", "At", "It", "He", "She", "They", "We", "I",
                                 "This", "That", "These", "Those", "His", "Her", "Its", "Their", "Our",
                                 "During", "After", "Before", "When", "While", "As", "By", "For", "From",
                                 "Of", "To", "With", "There", "Since", "Although", "However", "If", "Some",
                                 "Many", "Most", "One", "Each", "Both", "Other", "Such", "Under", "Over",
                                 "About", "Around", "Among", "Between", "Through", "Throughout", "Within",
                                 "Without", "Despite", "Because", "Unlike", "Like", "Following", "Upon",
                                 "Until", "Also", "Then", "Later", "Today", "Now", "Only", "All", "Several",
                                 "Few", "Any", "No", "Not", "What", "Which", "Who", "Where", "Why", "How",
                                 "Once", "Thus", "Therefore", "Though", "Whereas", "Instead"};
  for (const char* c : kWords) {
    if (w == c) return true;
  }
  return false;
}

// Punctuation right after a token's core that ends an entity run ("Paris, France").
bool BreaksRun(const std::string& s, const Token& t) {
  for (size_t i = t.core_end; i < t.end; ++i) {
    if (s[i] == ',' || s[i] == '.' || s[i] == ';' || s[i] == ':' || s[i] == ')' || s[i] == '"' || s[i] == '!' ||
        s[i] == '?') {
      return true;
    }
  }
  for (size_t i = t.begin; i < t.core_begin; ++i) {
    if (s[i] == '(' || s[i] == '"') return true;
  }
  return false;
}

}  // namespace

std::vector<SalientSpan> FindSalientSpans(const std::string& sentence) {
  const std::vector<Token> toks = WhitespaceTokens(sentence);
  std::vector<char> used(toks.size(), 0);
  std::vector<SalientSpan> spans;
  auto add = [&](size_t first, size_t last, SalientSpan::Kind kind) {
    for (size_t i = first; i <= last; ++i) used[i] = 1;
    spans.push_back({toks[first].core_begin, toks[last].core_end, kind});
  };
  // Dates: [day] Month [day][,] [year].
  for (size_t i = 0; i < toks.size(); ++i) {
    if (!IsMonth(toks[i].core)) continue;
    size_t first = i, last = i;
    if (i > 0 && !used[i - 1] && IsDay(toks[i - 1].core) && toks[i - 1].core_end == toks[i - 1].end) first = i - 1;
    bool has_day = first < i;
    if (!has_day && last + 1 < toks.size() && IsDay(toks[last + 1].core)) {
      ++last;
      has_day = true;
    }
    if (last + 1 < toks.size() && IsYear(toks[last + 1].core)) ++last;
    if (first == last && i > 0 && toks[i].core == "May") continue;  // "may" capitalised is rarely a date alone
    add(first, last, SalientSpan::kDate);
    i = last;
  }
  // Numbers.
  for (size_t i = 0; i < toks.size(); ++i) {
    if (!used[i] && IsNumber(toks[i].core)) add(i, i, SalientSpan::kNumber);
  }
  // Entities: runs of capitalised words, connectors only between two of them.
  for (size_t i = 0; i < toks.size();) {
    if (used[i] || !IsCapitalised(toks[i].core)) {
      ++i;
      continue;
    }
    size_t first = i, last = i;
    size_t j = i;
    while (!BreaksRun(sentence, toks[j])) {
      size_t k = j + 1;
      while (k < toks.size() && !used[k] && IsConnector(toks[k].core) && !BreaksRun(sentence, toks[k])) ++k;
      if (k >= toks.size() || used[k] || !IsCapitalised(toks[k].core) || toks[k].core_begin != toks[k].begin) break;
      j = last = k;
    }
    if (first == 0 && IsSentenceInitialFunctionWord(toks[0].core)) {
      // "The Eiffel Tower" → "Eiffel Tower"; a lone "The" is no entity. A
      // connector left at the front ("The of") is dropped too.
      ++first;
      while (first <= last && !IsCapitalised(toks[first].core)) ++first;
    }
    if (first <= last) add(first, last, SalientSpan::kEntity);
    i = last + 1;
  }
  std::sort(spans.begin(), spans.end(), [](const SalientSpan& a, const SalientSpan& b) { return a.begin < b.begin; });
  return spans;
}

const char* SpanKindName(SalientSpan::Kind kind) {
  switch (kind) {
    case SalientSpan::kEntity: return "entity";
    case SalientSpan::kDate: return "date";
    case SalientSpan::kNumber: return "number";
    case SalientSpan::kRandom: return "random";
  }
  return "?";
}

RealmExample MakeRealmExample(const WordPieceTokenizer& tok, const std::string& text, int max_length,
                              double random_span_prob, std::mt19937_64& rng) {
  RealmExample ex;
  std::vector<std::string> sentences = SplitSentences(text);
  if (sentences.empty()) sentences.push_back(text);
  std::vector<size_t> salient;
  std::vector<std::vector<SalientSpan>> spans(sentences.size());
  for (size_t i = 0; i < sentences.size(); ++i) {
    spans[i] = FindSalientSpans(sentences[i]);
    if (!spans[i].empty()) salient.push_back(i);
  }
  const bool random = salient.empty() || std::uniform_real_distribution<double>(0, 1)(rng) < random_span_prob;
  size_t pick;
  if (random) {
    pick = std::uniform_int_distribution<size_t>(0, sentences.size() - 1)(rng);
    ex.sentence = sentences[pick];
    const std::vector<Token> toks = WhitespaceTokens(ex.sentence);
    if (!toks.empty()) {
      const size_t first = std::uniform_int_distribution<size_t>(0, toks.size() - 1)(rng);
      const size_t len = std::uniform_int_distribution<size_t>(1, 3)(rng);
      const size_t last = std::min(toks.size() - 1, first + len - 1);
      const Token &a = toks[first], &b = toks[last];
      // Whole words: the cores, or the tokens where a core is all punctuation.
      ex.span.begin = a.core_begin < a.core_end ? a.core_begin : a.begin;
      ex.span.end = b.core_begin < b.core_end ? b.core_end : b.end;
    }
    ex.span.kind = SalientSpan::kRandom;
  } else {
    pick = salient[std::uniform_int_distribution<size_t>(0, salient.size() - 1)(rng)];
    ex.sentence = sentences[pick];
    ex.span = spans[pick][std::uniform_int_distribution<size_t>(0, spans[pick].size() - 1)(rng)];
  }
  std::vector<WordPiece> pieces = tok.Tokenize(ex.sentence);
  // Pieces of the span: those lying inside its bytes.
  size_t s_first = pieces.size(), s_end = 0;
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (pieces[i].byte_begin >= ex.span.begin && pieces[i].byte_end <= ex.span.end) {
      s_first = std::min(s_first, i);
      s_end = i + 1;
    }
  }
  const size_t room = static_cast<size_t>(std::max(1, max_length - 2));
  size_t begin = 0, end = pieces.size();
  if (pieces.size() > room) {
    // A window around the span (its head when the span itself is longer).
    const size_t span_len = s_end > s_first ? s_end - s_first : 0;
    const size_t before = span_len < room ? (room - span_len) / 2 : 0;
    begin = s_first < pieces.size() ? (s_first > before ? s_first - before : 0) : 0;
    begin = std::min(begin, pieces.size() - room);
    end = begin + room;
  }
  ex.input_ids.push_back(tok.cls_id());
  for (size_t i = begin; i < end; ++i) ex.input_ids.push_back(pieces[i].id);
  ex.input_ids.push_back(tok.sep_id());
  ex.labels.assign(ex.input_ids.size(), -100);
  for (size_t i = std::max(begin, s_first); i < std::min(end, s_end); ++i) {
    const size_t pos = i - begin + 1;
    ex.labels[pos] = ex.input_ids[pos];
    ex.input_ids[pos] = tok.mask_id();
  }
  return ex;
}

ClozeQuestion MakeClozeQuestion(const std::string& text, std::mt19937_64& rng) {
  std::vector<std::string> sentences = SplitSentences(text);
  std::vector<std::pair<size_t, SalientSpan>> candidates;
  for (size_t i = 0; i < sentences.size(); ++i) {
    for (const SalientSpan& span : FindSalientSpans(sentences[i])) candidates.push_back({i, span});
  }
  ClozeQuestion q;
  if (candidates.empty()) return q;
  const auto& [i, span] = candidates[std::uniform_int_distribution<size_t>(0, candidates.size() - 1)(rng)];
  const std::string& s = sentences[i];
  const char* word = span.kind == SalientSpan::kDate ? "when" : span.kind == SalientSpan::kNumber ? "how many" : "what";
  std::string tail = s.substr(span.end);
  while (!tail.empty() && (tail.back() == '.' || tail.back() == '!' || tail.back() == '?' || tail.back() == ' ')) {
    tail.pop_back();
  }
  q.question = s.substr(0, span.begin) + word + tail + "?";
  q.answer = s.substr(span.begin, span.end - span.begin);
  return q;
}

}  // namespace orqa
