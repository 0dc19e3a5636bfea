#include "common/eval/qa_dataset.h"

#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace orqa {

namespace {

absl::StatusOr<std::vector<QaExample>> ParseLines(std::istream& in, const std::string& path) {
  std::vector<QaExample> out;
  std::string text;
  int line = 0;
  while (std::getline(in, text)) {
    ++line;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto where = [&] { return absl::StrCat(path, ":", line, ": "); };
    nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(where(), "not valid JSON"));
    if (!j.is_object()) return absl::InvalidArgumentError(absl::StrCat(where(), "expected a JSON object"));
    QaExample ex;
    ex.line = line;
    auto q = j.find("question");
    if (q == j.end() || !q->is_string() || q->get<std::string>().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where(), "\"question\" must be a non-empty string"));
    }
    ex.question = q->get<std::string>();
    auto a = j.find("answers");
    const char* key = "answers";
    if (a == j.end()) {
      a = j.find("answer");
      key = "answer";
    }
    if (a == j.end()) return absl::InvalidArgumentError(absl::StrCat(where(), "no \"answers\" or \"answer\" field"));
    if (a->is_string()) {
      ex.answers.push_back(a->get<std::string>());
    } else if (a->is_array()) {
      for (const auto& v : *a) {
        if (!v.is_string()) {
          return absl::InvalidArgumentError(absl::StrCat(where(), "\"", key, "\" must hold only strings"));
        }
        ex.answers.push_back(v.get<std::string>());
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat(where(), "\"", key, "\" must be a string or a list of strings"));
    }
    if (auto b = j.find("block_id"); b != j.end() && b->is_number_integer()) ex.block_id = b->get<int64_t>();
    if (ex.answers.empty()) return absl::InvalidArgumentError(absl::StrCat(where(), "\"", key, "\" is empty"));
    out.push_back(std::move(ex));
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error after line ", line));
  if (out.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no examples"));
  return out;
}

}  // namespace

absl::StatusOr<std::vector<QaExample>> ReadQaJsonl(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  return ParseLines(in, path);
}

absl::StatusOr<std::vector<QaExample>> ParseQaJsonl(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  return ParseLines(in, name);
}

}  // namespace orqa
