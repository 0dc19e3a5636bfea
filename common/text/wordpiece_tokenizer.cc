#include "common/text/wordpiece_tokenizer.h"

#include <algorithm>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/text/unicode_classes.h"
#include "common/text/utf8.h"

namespace orqa {
namespace {

const char* const kSpecialTokens[] = {"[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"};

void ReplaceAll(std::string* s, const std::string& from, const std::string& to) {
  size_t pos = 0;
  while ((pos = s->find(from, pos)) != std::string::npos) {
    s->replace(pos, from.size(), to);
    pos += to.size();
  }
}

}  // namespace

absl::StatusOr<WordPieceTokenizer> WordPieceTokenizer::FromVocabFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open vocabulary file"));
  std::vector<std::string> tokens;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    tokens.push_back(line);
  }
  auto tok = FromVocab(std::move(tokens));
  if (!tok.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", tok.status().message()));
  return tok;
}

absl::StatusOr<WordPieceTokenizer> WordPieceTokenizer::FromVocab(std::vector<std::string> tokens) {
  WordPieceTokenizer t;
  if (tokens.empty()) return absl::InvalidArgumentError("empty vocabulary");
  t.id_to_token_ = std::move(tokens);
  for (size_t i = 0; i < t.id_to_token_.size(); ++i) {
    // Like Hugging Face's load_vocab, a repeated token keeps its last id.
    t.token_to_id_[t.id_to_token_[i]] = static_cast<int32_t>(i);
  }
  for (const char* s : kSpecialTokens) {
    if (!t.token_to_id_.count(s)) {
      return absl::InvalidArgumentError(absl::StrCat("vocabulary lacks the special token ", s));
    }
    t.special_tokens_.push_back(s);
  }
  std::sort(t.special_tokens_.begin(), t.special_tokens_.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  t.pad_id_ = t.token_to_id_["[PAD]"];
  t.unk_id_ = t.token_to_id_["[UNK]"];
  t.cls_id_ = t.token_to_id_["[CLS]"];
  t.sep_id_ = t.token_to_id_["[SEP]"];
  t.mask_id_ = t.token_to_id_["[MASK]"];
  return t;
}

const std::string& WordPieceTokenizer::IdToToken(int32_t id) const {
  static const std::string kUnknown = "[UNK]";
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size()) return kUnknown;
  return id_to_token_[id];
}

bool WordPieceTokenizer::IsSpecialId(int32_t id) const {
  return id == pad_id_ || id == unk_id_ || id == cls_id_ || id == sep_id_ || id == mask_id_;
}

std::vector<WordPieceTokenizer::Word> WordPieceTokenizer::BasicTokenizeChars(
    const std::vector<Char>& input) const {
  // 1. _clean_text and spaces around CJK characters; whitespace becomes ' '.
  //    What survives cleaning is then split by Python's str.split(), which
  //    also splits at U+2028 and U+2029 (the other str.isspace() code points
  //    are controls, removed above): those become ' ' too.
  std::vector<Char> chars;
  chars.reserve(input.size());
  for (const Char& c : input) {
    if (c.cp == 0 || c.cp == 0xFFFD || unicode::IsControl(c.cp)) continue;
    if (unicode::IsWhitespace(c.cp) || unicode::IsPythonSpace(c.cp)) {
      chars.push_back({U' ', c.byte_begin, c.byte_end});
    } else if (unicode::IsChineseChar(c.cp)) {
      chars.push_back({U' ', c.byte_begin, c.byte_begin});
      chars.push_back(c);
      chars.push_back({U' ', c.byte_end, c.byte_end});
    } else {
      chars.push_back(c);
    }
  }
  // 2. Per whitespace token: special tokens stay whole (never_split); others
  //    are lower-cased (Python str.lower, final sigma), accent-stripped (NFD,
  //    drop Mn) and split at punctuation.
  std::vector<Word> words;
  size_t i = 0;
  while (i < chars.size()) {
    if (chars[i].cp == U' ') {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < chars.size() && chars[j].cp != U' ') ++j;
    std::u32string raw;
    for (size_t k = i; k < j; ++k) raw.push_back(chars[k].cp);
    bool special = false;
    for (const std::string& s : special_tokens_) {
      if (raw.size() == s.size() && std::equal(s.begin(), s.end(), raw.begin())) special = true;
    }
    if (special) {
      words.emplace_back(chars.begin() + i, chars.begin() + j);
      i = j;
      continue;
    }
    Word current;
    for (size_t k = i; k < j; ++k) {
      const Char& c = chars[k];
      std::u32string lowered;
      if (c.cp == 0x03A3) {  // Σ → ς at the end of a word
        bool prev_cased = k > i && unicode::IsCased(chars[k - 1].cp);
        bool next_cased = k + 1 < j && unicode::IsCased(chars[k + 1].cp);
        lowered = prev_cased && !next_cased ? U"\u03C2" : U"\u03C3";
      } else {
        lowered = unicode::Lower(c.cp);
      }
      for (char32_t l : lowered) {
        for (char32_t d : unicode::Decompose(l)) {
          if (unicode::IsNonspacingMark(d)) continue;
          if (unicode::IsPunctuation(d)) {
            if (!current.empty()) words.push_back(std::move(current));
            current.clear();
            words.push_back({{d, c.byte_begin, c.byte_end}});
            continue;
          }
          current.push_back({d, c.byte_begin, c.byte_end});
        }
      }
    }
    if (!current.empty()) words.push_back(std::move(current));
    i = j;
  }
  return words;
}

void WordPieceTokenizer::WordPieceSplit(const Word& word, std::vector<WordPiece>* out) const {
  const uint32_t begin = word.front().byte_begin, end = word.back().byte_end;
  if (word.size() > kMaxCharsPerWord) {
    out->push_back({unk_id_, "[UNK]", begin, end});
    return;
  }
  std::string all;
  std::vector<size_t> byte_at(word.size() + 1, 0);
  for (size_t i = 0; i < word.size(); ++i) {
    byte_at[i] = all.size();
    AppendUtf8(word[i].cp, &all);
  }
  byte_at[word.size()] = all.size();
  std::vector<WordPiece> pieces;
  size_t start = 0;
  while (start < word.size()) {
    size_t stop = word.size();
    int32_t found = -1;
    std::string piece;
    while (start < stop) {
      piece = all.substr(byte_at[start], byte_at[stop] - byte_at[start]);
      if (start > 0) piece = "##" + piece;
      auto it = token_to_id_.find(piece);
      if (it != token_to_id_.end()) {
        found = it->second;
        break;
      }
      --stop;
    }
    if (found < 0) {
      out->push_back({unk_id_, "[UNK]", begin, end});
      return;
    }
    pieces.push_back({found, piece, word[start].byte_begin, word[stop - 1].byte_end});
    start = stop;
  }
  out->insert(out->end(), pieces.begin(), pieces.end());
}

std::vector<WordPiece> WordPieceTokenizer::Tokenize(std::string_view text) const {
  std::vector<Char> chars;
  for (const CodePoint& c : DecodeUtf8(text)) chars.push_back({c.cp, c.byte_begin, c.byte_end});
  std::vector<WordPiece> out;
  std::vector<Char> segment;
  auto flush_segment = [&]() {
    for (const Word& w : BasicTokenizeChars(segment)) WordPieceSplit(w, &out);
    segment.clear();
  };
  for (size_t i = 0; i < chars.size();) {
    // Special tokens are matched on the original text, before lower-casing.
    const std::string* match = nullptr;
    for (const std::string& s : special_tokens_) {
      if (chars[i].byte_begin + s.size() <= text.size() &&
          text.compare(chars[i].byte_begin, s.size(), s) == 0) {
        match = &s;
        break;
      }
    }
    if (match != nullptr) {
      flush_segment();
      uint32_t b = chars[i].byte_begin;
      out.push_back({token_to_id_.at(*match), *match, b, b + static_cast<uint32_t>(match->size())});
      i += match->size();  // special tokens are ASCII: one char per byte
      continue;
    }
    segment.push_back(chars[i]);
    ++i;
  }
  flush_segment();
  return out;
}

std::vector<int32_t> WordPieceTokenizer::Encode(std::string_view text) const {
  std::vector<int32_t> ids;
  for (const WordPiece& p : Tokenize(text)) ids.push_back(p.id);
  return ids;
}

std::vector<std::string> WordPieceTokenizer::BasicTokenize(std::string_view text) const {
  std::vector<Char> chars;
  for (const CodePoint& c : DecodeUtf8(text)) chars.push_back({c.cp, c.byte_begin, c.byte_end});
  std::vector<std::string> out;
  for (const Word& w : BasicTokenizeChars(chars)) {
    std::string s;
    for (const Char& c : w) AppendUtf8(c.cp, &s);
    out.push_back(std::move(s));
  }
  return out;
}

std::string WordPieceTokenizer::Decode(const std::vector<int32_t>& ids, bool skip_special,
                                       bool cleanup) const {
  std::string text;
  bool first = true;
  for (int32_t id : ids) {
    if (skip_special && IsSpecialId(id)) continue;
    const std::string& tok = IdToToken(id);
    if (!first) text += ' ';
    text += tok;
    first = false;
  }
  ReplaceAll(&text, " ##", "");
  // Python str.strip() of the joined text: only ASCII spaces can appear at the ends here.
  size_t b = text.find_first_not_of(' '), e = text.find_last_not_of(' ');
  text = b == std::string::npos ? "" : text.substr(b, e - b + 1);
  if (cleanup) {
    for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
             {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
             {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}}) {
      ReplaceAll(&text, from, to);
    }
  }
  return text;
}

std::vector<int32_t> WordPieceTokenizer::RoundTripQuestion(std::string_view question) const {
  return Encode(Decode(Encode(question), /*skip_special=*/true, /*cleanup=*/true));
}

PairEncoding EncodePair(const std::vector<int32_t>& a_in, const std::vector<int32_t>& b_in,
                        int32_t max_length, int32_t cls_id, int32_t sep_id) {
  size_t na = a_in.size(), nb = b_in.size();
  if (max_length > 0) {
    int64_t excess = static_cast<int64_t>(na + nb + 3) - max_length;
    for (; excess > 0; --excess) {
      if (na > nb) {
        --na;
      } else if (nb > 0) {
        --nb;
      } else {
        break;
      }
    }
  }
  PairEncoding e;
  e.num_a = static_cast<int32_t>(na);
  e.num_b = static_cast<int32_t>(nb);
  auto push = [&](int32_t id, int32_t type, int32_t special) {
    e.input_ids.push_back(id);
    e.token_type_ids.push_back(type);
    e.attention_mask.push_back(1);
    e.special_tokens_mask.push_back(special);
  };
  push(cls_id, 0, 1);
  for (size_t i = 0; i < na; ++i) push(a_in[i], 0, 0);
  push(sep_id, 0, 1);
  for (size_t i = 0; i < nb; ++i) push(b_in[i], 1, 0);
  push(sep_id, 1, 1);
  return e;
}

void PadToLongest(std::vector<PairEncoding>* batch, int32_t pad_id) {
  size_t longest = 0;
  for (const auto& e : *batch) longest = std::max(longest, e.input_ids.size());
  for (auto& e : *batch) {
    e.input_ids.resize(longest, pad_id);
    e.token_type_ids.resize(longest, 0);
    e.attention_mask.resize(longest, 0);
    e.special_tokens_mask.resize(longest, 1);
  }
}

}  // namespace orqa
