#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace orqa {

/// Command-line flags with environment fallbacks. A flag `--grpc-port` falls
/// back to `ORQA_GRPC_PORT` when absent from the command line. Accepts
/// `--name=value` and `--name value`; booleans also as bare `--name`.
class FlagSet {
 public:
  FlagSet(std::string program, std::string summary);

  void String(const std::string& name, std::string* target, const std::string& help);
  void Int(const std::string& name, int* target, const std::string& help);
  void Double(const std::string& name, double* target, const std::string& help);
  void Bool(const std::string& name, bool* target, const std::string& help);
  /// A flag that may be given several times; each value (also split at
  /// commas) is appended.
  void StringList(const std::string& name, std::vector<std::string>* target, const std::string& help);

  /// Parses argv (skipping argv[0]). Arguments that are not flags are kept in
  /// positional(). Errors name the flag or variable and what was expected.
  absl::Status Parse(int argc, char** argv);

  /// True when --help was given; Parse() then returns OK without validating.
  bool help_requested() const { return help_requested_; }
  /// True when --version was given.
  bool version_requested() const { return version_requested_; }
  const std::vector<std::string>& positional() const { return positional_; }

  /// Text for --help: every flag, its env variable, default and help line.
  std::string Usage() const;

  /// Environment variable a flag falls back to: ORQA_ + upper-case, '-' → '_'.
  static std::string EnvName(const std::string& flag);

 private:
  enum class Kind { kString, kInt, kDouble, kBool, kStringList };
  struct Flag {
    std::string name;
    Kind kind;
    void* target;
    std::string help;
    std::string default_text;
  };
  absl::Status Assign(const Flag& flag, const std::string& value, const std::string& source);
  const Flag* Find(const std::string& name) const;

  std::string program_;
  std::string summary_;
  std::vector<Flag> flags_;
  std::vector<std::string> positional_;
  bool help_requested_ = false;
  bool version_requested_ = false;
};

}  // namespace orqa
