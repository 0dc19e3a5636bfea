#include "common/io/zip_reader.h"

#include <zlib.h>

#include <cstring>
#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"

namespace orqa {
namespace {

uint16_t U16(const uint8_t* p) { return p[0] | (p[1] << 8); }
uint32_t U32(const uint8_t* p) { return U16(p) | (static_cast<uint32_t>(U16(p + 2)) << 16); }
uint64_t U64(const uint8_t* p) { return U32(p) | (static_cast<uint64_t>(U32(p + 4)) << 32); }

absl::Status Bad(const std::string& name, const std::string& what) {
  return absl::DataLossError(absl::StrCat(name, ": invalid zip archive: ", what));
}

}  // namespace

bool IsZipFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char sig[4] = {0, 0, 0, 0};
  in.read(sig, 4);
  return in.gcount() == 4 && std::memcmp(sig, "PK\x03\x04", 4) == 0;
}

absl::StatusOr<ZipReader> ZipReader::Open(const std::string& path) {
  std::string error;
  auto file = MappedFile::Open(path, &error);
  if (!file) return absl::NotFoundError(error);
  return FromMemory(file, file->data(), file->size(), path);
}

absl::StatusOr<ZipReader> ZipReader::FromMemory(std::shared_ptr<const void> owner, const uint8_t* data,
                                                size_t size, const std::string& name) {
  ZipReader z;
  z.owner_ = std::move(owner);
  z.data_ = data;
  z.size_ = size;
  z.name_ = name;
  if (size < 22) return Bad(name, "shorter than an end-of-central-directory record");
  // The EOCD record is in the last 22 + 65535 bytes.
  int64_t eocd = -1;
  for (int64_t i = static_cast<int64_t>(size) - 22; i >= 0 && i >= static_cast<int64_t>(size) - 22 - 65535; --i) {
    if (U32(data + i) == 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) return Bad(name, "no end-of-central-directory record (truncated?)");
  uint64_t count = U16(data + eocd + 10);
  uint64_t cd_size = U32(data + eocd + 12);
  uint64_t cd_offset = U32(data + eocd + 16);
  if (cd_offset == 0xFFFFFFFF || count == 0xFFFF) {  // zip64
    if (eocd < 20 || U32(data + eocd - 20) != 0x07064b50) return Bad(name, "zip64 locator missing");
    uint64_t z64 = U64(data + eocd - 20 + 8);
    // Checked as `56 > size - z64`: z64 comes from the file, and z64 + 56 may wrap around.
    if (z64 > size || 56 > size - z64 || U32(data + z64) != 0x06064b50) {
      return Bad(name, absl::StrCat("zip64 end-of-central-directory record at offset ", z64, " is out of bounds"));
    }
    count = U64(data + z64 + 32);
    cd_size = U64(data + z64 + 40);
    cd_offset = U64(data + z64 + 48);
  }
  if (cd_offset > size || cd_size > size - cd_offset) return Bad(name, "central directory out of bounds");
  // cd_offset <= size and cd_size <= size - cd_offset, so cd_end cannot wrap; p stays <= cd_end.
  const uint64_t cd_end = cd_offset + cd_size;
  uint64_t p = cd_offset;
  for (uint64_t i = 0; i < count; ++i) {
    if (cd_end - p < 46 || U32(data + p) != 0x02014b50) {
      return Bad(name, absl::StrCat("central directory entry ", i, " is corrupt"));
    }
    Entry e;
    e.method = U16(data + p + 10);
    e.compressed_size = U32(data + p + 20);
    e.size = U32(data + p + 24);
    uint16_t name_len = U16(data + p + 28), extra_len = U16(data + p + 30), comment_len = U16(data + p + 32);
    e.local_header_offset = U32(data + p + 42);
    if (cd_end - p - 46 < static_cast<uint64_t>(name_len) + extra_len + comment_len) {
      return Bad(name, absl::StrCat("central directory entry ", i, " runs past the directory"));
    }
    std::string entry_name(reinterpret_cast<const char*>(data + p + 46), name_len);
    // zip64 extra field: sizes and offset that did not fit in 32 bits.
    const uint8_t* x = data + p + 46 + name_len;
    for (uint16_t k = 0; k + 4 <= extra_len;) {
      uint16_t id = U16(x + k), len = U16(x + k + 2);
      if (k + 4 + len > extra_len) break;
      if (id == 0x0001) {
        const uint8_t* f = x + k + 4;
        int used = 0;
        if (e.size == 0xFFFFFFFF && used + 8 <= len) { e.size = U64(f + used); used += 8; }
        if (e.compressed_size == 0xFFFFFFFF && used + 8 <= len) { e.compressed_size = U64(f + used); used += 8; }
        if (e.local_header_offset == 0xFFFFFFFF && used + 8 <= len) { e.local_header_offset = U64(f + used); }
      }
      k += 4 + len;
    }
    z.entries_[entry_name] = e;
    p += 46 + name_len + extra_len + comment_len;
  }
  return z;
}

std::vector<std::string> ZipReader::EntryNames() const {
  std::vector<std::string> names;
  for (const auto& [n, e] : entries_) names.push_back(n);
  return names;
}

absl::StatusOr<TensorView> ZipReader::Read(const std::string& entry) const {
  auto it = entries_.find(entry);
  if (it == entries_.end()) return absl::NotFoundError(absl::StrCat(name_, ": no entry '", entry, "'"));
  const Entry& e = it->second;
  uint64_t h = e.local_header_offset;  // from the file (zip64: 64 bits): h + 30 may wrap
  if (h > size_ || 30 > size_ - h || U32(data_ + h) != 0x04034b50) {
    return Bad(name_, absl::StrCat("local header of '", entry, "' at offset ", h, " is out of bounds or corrupt"));
  }
  uint64_t start = h + 30 + U16(data_ + h + 26) + U16(data_ + h + 28);
  if (start > size_ || e.compressed_size > size_ - start) {
    return Bad(name_, absl::StrCat("entry '", entry, "' runs past the end of the file (truncated?)"));
  }
  TensorView v;
  v.dtype = DType::kU8;
  if (e.method == 0) {
    if (e.size != e.compressed_size) return Bad(name_, absl::StrCat("stored entry '", entry, "' has two sizes"));
    v.data = data_ + start;
    v.nbytes = e.size;
    v.owner = owner_;
  } else if (e.method == 8) {
    // zlib counts in 32 bits, and deflate expands at most ~1032:1.
    if (e.size > 0xFFFFFFFFull || e.compressed_size > 0xFFFFFFFFull || e.size / 1032 > e.compressed_size + 1) {
      return Bad(name_, absl::StrCat("entry '", entry, "' claims an implausible size (", e.size, " bytes from ",
                                     e.compressed_size, " compressed)"));
    }
    auto buf = std::make_shared<std::vector<uint8_t>>(e.size);
    z_stream zs{};
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) return absl::InternalError("zlib init failed");
    zs.next_in = const_cast<uint8_t*>(data_ + start);
    zs.avail_in = static_cast<uInt>(e.compressed_size);
    zs.next_out = buf->data();
    zs.avail_out = static_cast<uInt>(e.size);
    int rc = inflate(&zs, Z_FINISH);
    inflateEnd(&zs);
    if (rc != Z_STREAM_END || zs.total_out != e.size) {
      return Bad(name_, absl::StrCat("entry '", entry, "' does not inflate to its recorded size"));
    }
    v.data = buf->data();
    v.nbytes = buf->size();
    v.owner = buf;
  } else {
    return Bad(name_, absl::StrCat("entry '", entry, "' uses unsupported compression method ", e.method));
  }
  v.shape = {static_cast<int64_t>(v.nbytes)};
  return v;
}

}  // namespace orqa
