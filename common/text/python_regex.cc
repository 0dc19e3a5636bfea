#include "common/text/python_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "absl/strings/str_cat.h"

namespace orqa {

struct PythonRegex::Code {
  pcre2_code* re = nullptr;
  ~Code() { pcre2_code_free(re); }
};

absl::StatusOr<PythonRegex> PythonRegex::Compile(const std::string& pattern) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                 PCRE2_CASELESS | PCRE2_MULTILINE | PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
  if (re == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    return absl::InvalidArgumentError(absl::StrCat("invalid answer pattern '", pattern, "' at offset ", offset, ": ",
                                                   reinterpret_cast<const char*>(message)));
  }
  PythonRegex r;
  r.code_ = std::make_shared<Code>();
  r.code_->re = re;
  return r;
}

std::vector<std::string> PythonRegex::FindAll(const std::string& text) const {
  std::vector<std::string> out;
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(code_->re, nullptr);
  PCRE2_SIZE start = 0;
  while (start <= text.size()) {
    int rc = pcre2_match(code_->re, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), start, 0, md, nullptr);
    if (rc < 0) break;  // no match, or a text that is not UTF-8
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    out.emplace_back(text.substr(ov[0], ov[1] - ov[0]));
    if (ov[1] > ov[0]) {
      start = ov[1];
    } else {  // an empty match: step one character on, as finditer does
      start = ov[1] + 1;
      while (start < text.size() && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) ++start;
    }
  }
  pcre2_match_data_free(md);
  return out;
}

bool PythonRegex::Search(const std::string& text) const {
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(code_->re, nullptr);
  int rc = pcre2_match(code_->re, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0, 0, md, nullptr);
  pcre2_match_data_free(md);
  return rc >= 0;
}

}  // namespace orqa
