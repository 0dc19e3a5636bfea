#pragma once

#include <string>

namespace orqa::unicode {

/// BERT's character classes (transformers tokenization_utils), over utf8proc's
/// Unicode tables.
bool IsWhitespace(char32_t c);  // space, \t, \n, \r, or category Zs
/// Python's str.isspace() (what str.split() splits on): category Zs, or
/// bidirectional class WS, B or S (\t-\r, \x1c-\x1f, \x85, U+2028, U+2029).
bool IsPythonSpace(char32_t c);
bool IsControl(char32_t c);     // category C*, except \t \n \r
bool IsPunctuation(char32_t c); // ASCII non-alphanumeric printables, or category P*
bool IsChineseChar(char32_t c); // the CJK Unified Ideograph blocks BERT splits
bool IsNonspacingMark(char32_t c);  // category Mn (dropped when stripping accents)
bool IsCased(char32_t c);

/// Python str.lower() of one code point (full mapping: U+0130 → "i\u0307").
/// Final sigma is handled by the caller, which sees the context.
std::u32string Lower(char32_t c);

/// Canonical decomposition (NFD) of one code point.
std::u32string Decompose(char32_t c);

}  // namespace orqa::unicode
