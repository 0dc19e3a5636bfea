#include "common/text/answer_metrics.h"

#include <utf8proc.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/text/python_regex.h"
#include "common/text/unicode_classes.h"
#include "common/text/utf8.h"

namespace orqa {
namespace {

// Python re's \w for str patterns: alphanumeric (letters and numbers) or '_'.
bool IsWordChar(char32_t c) {
  if (c == '_') return true;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

bool IsAsciiPunctuation(char32_t c) {
  return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
         (c >= 123 && c <= 126);
}

std::u32string ToU32(const std::string& s) {
  std::u32string out;
  for (const CodePoint& c : DecodeUtf8(s)) out.push_back(c.cp);
  return out;
}

}  // namespace

std::string NormalizeAnswer(const std::string& text) {
  // NFD of the whole string (with canonical reordering).
  std::string nfd = text;
  if (utf8proc_uint8_t* d = utf8proc_NFD(reinterpret_cast<const utf8proc_uint8_t*>(text.c_str()))) {
    nfd = reinterpret_cast<char*>(d);
    std::free(d);
  }
  std::u32string s;
  std::u32string in = ToU32(nfd);
  for (size_t i = 0; i < in.size(); ++i) {
    char32_t c = in[i];
    if (c == 0x03A3) {
      bool prev = i > 0 && unicode::IsCased(in[i - 1]);
      bool next = i + 1 < in.size() && unicode::IsCased(in[i + 1]);
      s.push_back(prev && !next ? 0x03C2 : 0x03C3);
      continue;
    }
    for (char32_t l : unicode::Lower(c)) {
      if (!IsAsciiPunctuation(l)) s.push_back(l);
    }
  }
  // \b(a|an|the)\b → " "
  std::u32string no_articles;
  for (size_t i = 0; i < s.size();) {
    bool boundary_before = i == 0 || !IsWordChar(s[i - 1]);
    size_t len = 0;
    if (boundary_before) {
      for (const std::u32string& w : {std::u32string(U"a"), std::u32string(U"an"), std::u32string(U"the")}) {
        if (s.compare(i, w.size(), w) == 0 && (i + w.size() == s.size() || !IsWordChar(s[i + w.size()]))) {
          len = w.size();  // alternatives are tried in order; "a" fails before "an" when followed by 'n'
          break;
        }
      }
    }
    if (len > 0) {
      no_articles.push_back(U' ');
      i += len;
    } else {
      no_articles.push_back(s[i]);
      ++i;
    }
  }
  // " ".join(s.split())
  std::string out;
  std::u32string word;
  auto flush = [&]() {
    if (word.empty()) return;
    if (!out.empty()) out += ' ';
    out += EncodeUtf8(word);
    word.clear();
  };
  for (char32_t c : no_articles) {
    if (unicode::IsPythonSpace(c)) {
      flush();
    } else {
      word.push_back(c);
    }
  }
  flush();
  return out;
}

bool OfficialExactMatch(const std::string& prediction, const std::vector<std::string>& references) {
  std::string p = NormalizeAnswer(prediction);
  for (const std::string& r : references) {
    if (NormalizeAnswer(r) == p) return true;
  }
  return false;
}

absl::StatusOr<bool> RegexMatch(const std::string& prediction, const std::string& pattern) {
  auto re = PythonRegex::Compile(pattern);
  if (!re.ok()) return re.status();
  return re->Search(prediction);
}

GoldSpans FindGoldSpans(const std::vector<std::vector<int32_t>>& input_ids,
                        const std::vector<std::vector<int32_t>>& answer_ids, int32_t sep_id) {
  GoldSpans g;
  size_t max_occ = 0;
  for (const auto& row : input_ids) {
    std::vector<int32_t> seps;
    for (size_t i = 0; i < row.size() && seps.size() < 2; ++i) {
      if (row[i] == sep_id) seps.push_back(static_cast<int32_t>(i));
    }
    std::vector<int32_t> starts, ends;
    if (seps.size() == 2) {
      for (const auto& answer : answer_ids) {
        if (answer.empty()) continue;
        for (int32_t s = seps[0] + 1; s < seps[1]; ++s) {
          if (s + answer.size() > row.size()) break;
          if (std::equal(answer.begin(), answer.end(), row.begin() + s)) {
            starts.push_back(s);
            ends.push_back(s + static_cast<int32_t>(answer.size()) - 1);
          }
        }
      }
    }
    g.has_answers.push_back(!starts.empty());
    max_occ = std::max(max_occ, starts.size());
    g.start_pos.push_back(std::move(starts));
    g.end_pos.push_back(std::move(ends));
  }
  for (size_t r = 0; r < g.start_pos.size(); ++r) {
    g.start_pos[r].resize(max_occ, -1);
    g.end_pos[r].resize(max_occ, -1);
  }
  return g;
}

}  // namespace orqa
