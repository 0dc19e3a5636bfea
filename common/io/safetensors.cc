#include "common/io/safetensors.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace orqa {
namespace {

// A header larger than this is refused before it is read (the reference
// implementation uses the same 100 MB bound).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

absl::Status Corrupt(const std::string& name, const std::string& what) {
  return absl::DataLossError(absl::StrCat(name, ": invalid safetensors: ", what));
}

}  // namespace

absl::StatusOr<SafetensorsContents> ParseSafetensors(const uint8_t* data, size_t size,
                                                     const std::string& name,
                                                     std::shared_ptr<const void> owner) {
  if (size < 8) return Corrupt(name, absl::StrCat("file is ", size, " bytes, shorter than the 8-byte header length"));
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | data[i];
  if (header_len > kMaxHeaderBytes) {
    return Corrupt(name, absl::StrCat("header length ", header_len, " exceeds the 100 MB limit"));
  }
  if (header_len > size - 8) {
    return Corrupt(name, absl::StrCat("header length ", header_len, " runs past the end of the ",
                                      size, "-byte file (truncated?)"));
  }
  nlohmann::json header = nlohmann::json::parse(data + 8, data + 8 + header_len, nullptr, false);
  if (header.is_discarded() || !header.is_object()) {
    return Corrupt(name, "header is not a JSON object");
  }
  const uint8_t* base = data + 8 + header_len;
  const size_t data_size = size - 8 - header_len;
  SafetensorsContents out;
  std::vector<std::pair<std::pair<uint64_t, uint64_t>, std::string>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& key = it.key();
    const nlohmann::json& v = it.value();
    if (key == "__metadata__") {
      if (!v.is_object()) return Corrupt(name, "__metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) return Corrupt(name, absl::StrCat("__metadata__.", m.key(), " is not a string"));
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = absl::StrCat("tensor '", key, "'");
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets")) {
      return Corrupt(name, absl::StrCat(where, " lacks dtype, shape or data_offsets"));
    }
    TensorView t;
    if (!v["dtype"].is_string() || !ParseDTypeName(v["dtype"].get<std::string>(), &t.dtype)) {
      return Corrupt(name, absl::StrCat(where, " has unknown dtype ", v["dtype"].dump()));
    }
    if (!v["shape"].is_array()) return Corrupt(name, absl::StrCat(where, " shape is not an array"));
    uint64_t numel = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) return Corrupt(name, absl::StrCat(where, " has a non-integer or negative dimension"));
      uint64_t dim = d.get<uint64_t>();
      if (dim > (1ull << 40) || (dim != 0 && numel > (1ull << 50) / dim)) {
        return Corrupt(name, absl::StrCat(where, " shape is too large"));
      }
      numel *= dim;
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    const auto& offs = v["data_offsets"];
    if (!offs.is_array() || offs.size() != 2 || !offs[0].is_number_unsigned() ||
        !offs[1].is_number_unsigned()) {
      return Corrupt(name, absl::StrCat(where, " data_offsets is not [begin, end]"));
    }
    uint64_t begin = offs[0].get<uint64_t>(), end = offs[1].get<uint64_t>();
    if (begin > end || end > data_size) {
      return Corrupt(name, absl::StrCat(where, " data_offsets [", begin, ", ", end,
                                        ") outside the ", data_size, "-byte data section"));
    }
    uint64_t expected = numel * DTypeSize(t.dtype);
    if (end - begin != expected) {
      return Corrupt(name, absl::StrCat(where, " holds ", end - begin, " bytes but shape × ",
                                        DTypeName(t.dtype), " needs ", expected));
    }
    t.data = base + begin;
    t.nbytes = end - begin;
    t.owner = owner;
    ranges.push_back({{begin, end}, key});
    out.tensors.emplace(key, std::move(t));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].first.first < ranges[i - 1].first.second) {
      return Corrupt(name, absl::StrCat("tensors '", ranges[i - 1].second, "' and '",
                                        ranges[i].second, "' overlap"));
    }
  }
  return out;
}

absl::StatusOr<SafetensorsContents> ReadSafetensors(const std::string& path) {
  std::string error;
  std::shared_ptr<MappedFile> file = MappedFile::Open(path, &error);
  if (!file) return absl::NotFoundError(error);
  return ParseSafetensors(file->data(), file->size(), path, file);
}

absl::Status WriteSafetensors(const std::string& path,
                              const std::map<std::string, TensorView>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (t.nbytes != static_cast<size_t>(t.numel()) * DTypeSize(t.dtype)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": tensor '", name, "' has ", t.nbytes,
                                                     " bytes for its shape"));
    }
    header[name] = {{"dtype", DTypeName(t.dtype)}, {"shape", t.shape},
                    {"data_offsets", {offset, offset + t.nbytes}}};
    offset += t.nbytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return absl::PermissionDeniedError(absl::StrCat(tmp, ": ", std::strerror(errno)));
  uint8_t len[8];
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  bool ok = std::fwrite(len, 1, 8, f) == 8 && std::fwrite(text.data(), 1, text.size(), f) == text.size();
  for (const auto& [name, t] : tensors) {
    if (ok && t.nbytes > 0) ok = std::fwrite(t.data, 1, t.nbytes, f) == t.nbytes;
    ReleasePages(t);  // a mapped source (6.8 GB of block_emb) need not stay resident
  }
  return CommitFile(f, tmp, path, ok);
}

}  // namespace orqa
