#include "common/infra/flags.h"

#include <cerrno>
#include <cstdlib>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace orqa {
namespace {

bool ParseIntStrict(const std::string& text, int* out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long v = std::strtol(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || v < INT32_MIN || v > INT32_MAX) return false;
  *out = static_cast<int>(v);
  return true;
}

bool ParseDoubleStrict(const std::string& text, double* out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (errno != 0 || *end != '\0') return false;
  *out = v;
  return true;
}

bool ParseBool(const std::string& text, bool* out) {
  static const std::set<std::string> kTrue = {"1", "true", "yes", "on"};
  static const std::set<std::string> kFalse = {"0", "false", "no", "off"};
  if (kTrue.count(text)) { *out = true; return true; }
  if (kFalse.count(text)) { *out = false; return true; }
  return false;
}

}  // namespace

FlagSet::FlagSet(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {}

void FlagSet::String(const std::string& name, std::string* target, const std::string& help) {
  flags_.push_back({name, Kind::kString, target, help, *target});
}
void FlagSet::Int(const std::string& name, int* target, const std::string& help) {
  flags_.push_back({name, Kind::kInt, target, help, std::to_string(*target)});
}
void FlagSet::Double(const std::string& name, double* target, const std::string& help) {
  std::ostringstream os;
  os << *target;
  flags_.push_back({name, Kind::kDouble, target, help, os.str()});
}
void FlagSet::Bool(const std::string& name, bool* target, const std::string& help) {
  flags_.push_back({name, Kind::kBool, target, help, *target ? "true" : "false"});
}

void FlagSet::StringList(const std::string& name, std::vector<std::string>* target, const std::string& help) {
  std::string text;
  for (const auto& v : *target) text += (text.empty() ? "" : ",") + v;
  flags_.push_back({name, Kind::kStringList, target, help, text});
}

std::string FlagSet::EnvName(const std::string& flag) {
  std::string env = "ORQA_";
  for (char c : flag) env += (c == '-') ? '_' : static_cast<char>(std::toupper(c));
  return env;
}

const FlagSet::Flag* FlagSet::Find(const std::string& name) const {
  for (const Flag& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

absl::Status FlagSet::Assign(const Flag& flag, const std::string& value,
                             const std::string& source) {
  switch (flag.kind) {
    case Kind::kString:
      *static_cast<std::string*>(flag.target) = value;
      return absl::OkStatus();
    case Kind::kInt:
      if (!ParseIntStrict(value, static_cast<int*>(flag.target))) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": expected an integer, got '", value, "'"));
      }
      return absl::OkStatus();
    case Kind::kDouble:
      if (!ParseDoubleStrict(value, static_cast<double*>(flag.target))) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": expected a number, got '", value, "'"));
      }
      return absl::OkStatus();
    case Kind::kBool:
      if (!ParseBool(value, static_cast<bool*>(flag.target))) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": expected true or false, got '", value, "'"));
      }
      return absl::OkStatus();
    case Kind::kStringList: {
      auto* list = static_cast<std::vector<std::string>*>(flag.target);
      for (size_t start = 0; start <= value.size();) {
        size_t comma = value.find(',', start);
        if (comma == std::string::npos) comma = value.size();
        if (comma > start) list->push_back(value.substr(start, comma - start));
        start = comma + 1;
      }
      return absl::OkStatus();
    }
  }
  return absl::InternalError("unknown flag kind");
}

absl::Status FlagSet::Parse(int argc, char** argv) {
  std::set<std::string> given;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {
      for (++i; i < argc; ++i) positional_.push_back(argv[i]);
      break;
    }
    if (arg.rfind("--", 0) != 0 || arg.size() == 2) {
      if (!arg.empty() && arg[0] == '-' && arg.size() > 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown flag '", arg, "' (flags are --name=value; see --help)"));
      }
      positional_.push_back(arg);
      continue;
    }
    std::string body = arg.substr(2);
    std::string name = body, value;
    bool has_value = false;
    if (size_t eq = body.find('='); eq != std::string::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
      has_value = true;
    }
    if (name == "help") { help_requested_ = true; continue; }
    if (name == "version") { version_requested_ = true; continue; }
    const Flag* flag = Find(name);
    if (flag == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name, " (see --help)"));
    }
    if (!has_value) {
      if (flag->kind == Kind::kBool &&
          (i + 1 >= argc || std::string(argv[i + 1]).rfind("--", 0) == 0 ||
           !ParseBool(argv[i + 1], static_cast<bool*>(flag->target)))) {
        *static_cast<bool*>(flag->target) = true;
        given.insert(name);
        continue;
      }
      if (flag->kind == Kind::kBool) {  // consumed "--flag false"
        ++i;
        given.insert(name);
        continue;
      }
      if (i + 1 >= argc || std::string(argv[i + 1]).rfind("--", 0) == 0) {
        return absl::InvalidArgumentError(absl::StrCat("flag --", name, " needs a value"));
      }
      value = argv[++i];
    }
    absl::Status st = Assign(*flag, value, "--" + name);
    if (!st.ok()) return st;
    given.insert(name);
  }
  if (help_requested_ || version_requested_) return absl::OkStatus();
  for (const Flag& f : flags_) {
    if (given.count(f.name)) continue;
    std::string env = EnvName(f.name);
    if (const char* v = std::getenv(env.c_str()); v != nullptr) {
      absl::Status st = Assign(f, v, "environment variable " + env);
      if (!st.ok()) return st;
    }
  }
  return absl::OkStatus();
}

std::string FlagSet::Usage() const {
  std::ostringstream os;
  os << "Usage: " << program_ << " [flags]\n" << summary_ << "\n\nFlags (environment fallback in brackets):\n";
  for (const Flag& f : flags_) {
    os << "  --" << f.name << " [" << EnvName(f.name) << "]";
    if (!f.default_text.empty()) os << " (default: " << f.default_text << ")";
    os << "\n      " << f.help << "\n";
  }
  os << "  --help\n      Print this text and exit.\n  --version\n      Print the version and exit.\n";
  return os.str();
}

}  // namespace orqa
