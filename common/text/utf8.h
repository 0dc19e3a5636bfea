#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace orqa {

/// One decoded code point and the byte range it came from.
struct CodePoint {
  char32_t cp;
  uint32_t byte_begin;
  uint32_t byte_end;
};

/// Decodes UTF-8; each invalid byte becomes U+FFFD covering that byte.
std::vector<CodePoint> DecodeUtf8(std::string_view text);

/// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or
/// code points past U+10FFFF).
bool IsValidUtf8(std::string_view text);

/// `text` with each byte that is not part of well-formed UTF-8 replaced by
/// U+FFFD, as DecodeUtf8 reads it.
std::string RepairUtf8(std::string_view text);

/// Appends the UTF-8 encoding of `cp`.
void AppendUtf8(char32_t cp, std::string* out);

/// Encodes a sequence of code points.
std::string EncodeUtf8(const std::u32string& cps);

/// Number of code points before byte offset `byte` of `text` (for offsets
/// reported in code points, as Python strings count).
int32_t ByteToCodePointOffset(std::string_view text, size_t byte);

}  // namespace orqa
