#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace orqa {

/// A value built by the restricted unpickler. No Python object is ever
/// constructed: globals are names, and only allow-listed callables reduce.
struct PyValue {
  enum class Kind { kNone, kBool, kInt, kFloat, kStr, kBytes, kTuple, kList, kDict, kGlobal, kObject };
  Kind kind = Kind::kNone;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;  // str, bytes, or "module.name" for globals / object type
  std::vector<std::shared_ptr<PyValue>> items;  // tuple, list, or object args
  std::vector<std::pair<std::shared_ptr<PyValue>, std::shared_ptr<PyValue>>> dict;  // insertion order
  int64_t handle = -1;  // objects made by the hooks (storages, tensors)
};
using PyPtr = std::shared_ptr<PyValue>;

/// What a caller allows the pickle to do.
struct PickleHooks {
  /// Globals ("module.name") that may appear; anything else is an error.
  std::vector<std::string> allowed_globals;
  /// Called for REDUCE of an allowed global (other than collections.OrderedDict,
  /// which builds an empty dict); returns the resulting value or an error.
  std::function<absl::StatusOr<PyPtr>(const std::string& global, const PyPtr& args)> reduce;
  /// Called for BINPERSID with the persistent id.
  std::function<absl::StatusOr<PyPtr>(const PyPtr& pid)> persistent_load;
};

/// Runs the pickle opcodes of protocols 0–5 that plain data needs (no INST,
/// OBJ, NEWOBJ, EXT or arbitrary globals). A disallowed opcode or global is an
/// error naming it and its byte offset.
absl::StatusOr<PyPtr> Unpickle(const uint8_t* data, size_t size, const PickleHooks& hooks,
                               const std::string& name);

}  // namespace orqa
