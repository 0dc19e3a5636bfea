#include "common/text/utf8.h"

namespace orqa {

namespace {

// The length of the well-formed sequence at s[i] and its code point, or 0
// when the byte there starts none (overlong forms, surrogates and values past
// U+10FFFF are not well-formed).
int SequenceAt(std::string_view s, size_t i, char32_t* out) {
  const unsigned char c = s[i];
  if (c < 0x80) {
    *out = c;
    return 1;
  }
  int len = 0;
  char32_t cp = 0;
  if ((c >> 5) == 6) {
    len = 2;
    cp = c & 0x1F;
  } else if ((c >> 4) == 14) {
    len = 3;
    cp = c & 0x0F;
  } else if ((c >> 3) == 30) {
    len = 4;
    cp = c & 0x07;
  }
  if (len == 0 || i + len > s.size()) return 0;
  for (int j = 1; j < len; ++j) {
    const unsigned char cc = s[i + j];
    if ((cc >> 6) != 2) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
      (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
    return 0;
  }
  *out = cp;
  return len;
}

}  // namespace

std::vector<CodePoint> DecodeUtf8(std::string_view s) {
  std::vector<CodePoint> out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    char32_t cp = 0;
    const int len = SequenceAt(s, i, &cp);
    if (len == 0) {  // each invalid byte becomes one U+FFFD
      out.push_back({0xFFFD, static_cast<uint32_t>(i), static_cast<uint32_t>(i + 1)});
      ++i;
      continue;
    }
    out.push_back({cp, static_cast<uint32_t>(i), static_cast<uint32_t>(i + len)});
    i += len;
  }
  return out;
}

bool IsValidUtf8(std::string_view s) {
  char32_t cp;
  for (size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const int len = SequenceAt(s, i, &cp);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string RepairUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 16);
  char32_t cp;
  for (size_t i = 0; i < s.size();) {
    const int len = SequenceAt(s, i, &cp);
    if (len == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    } else {
      out.append(s.data() + i, len);
      i += len;
    }
  }
  return out;
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string EncodeUtf8(const std::u32string& cps) {
  std::string out;
  out.reserve(cps.size());
  for (char32_t c : cps) AppendUtf8(c, &out);
  return out;
}

int32_t ByteToCodePointOffset(std::string_view text, size_t byte) {
  int32_t n = 0;
  for (const CodePoint& c : DecodeUtf8(text.substr(0, byte))) {
    (void)c;
    ++n;
  }
  return n;
}

}  // namespace orqa
