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
