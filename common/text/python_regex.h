#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace orqa {

/// A regular expression with the semantics of Python's `re` as ORQA uses it
/// for CuratedTrec answers (`re.IGNORECASE | re.UNICODE | re.MULTILINE`,
/// `search`), on Debian's PCRE2: UTF-8, Unicode properties for \w \d \s \b,
/// Python's (?P<name>...) / (?P=name) groups, inline flags, look-behind.
class PythonRegex {
 public:
  /// An invalid pattern is an error naming it and where PCRE2 stopped.
  static absl::StatusOr<PythonRegex> Compile(const std::string& pattern);

  /// re.search(pattern, text) is not None.
  bool Search(const std::string& text) const;
  /// The texts of every non-overlapping match, left to right (re.finditer).
  std::vector<std::string> FindAll(const std::string& text) const;

 private:
  struct Code;
  std::shared_ptr<Code> code_;
};

}  // namespace orqa
