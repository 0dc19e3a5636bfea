#include "common/index/block_store.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/io/crc32c.h"

namespace orqa {
namespace {

constexpr char kMagic[8] = {'O', 'R', 'Q', 'A', 'B', 'L', 'K', '1'};
constexpr size_t kHeaderBytes = 64;

uint64_t U64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);  // little-endian hosts only (x86-64, aarch64)
  return v;
}
uint32_t U32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

absl::Status Bad(const std::string& path, const std::string& what) {
  return absl::DataLossError(absl::StrCat(path, ": invalid block store: ", what));
}

}  // namespace

absl::StatusOr<std::shared_ptr<BlockStore>> BlockStore::Open(const std::string& path) {
  std::string error;
  auto file = MappedFile::Open(path, &error);
  if (!file) return absl::NotFoundError(error);
  const uint8_t* d = file->data();
  if (file->size() < kHeaderBytes || std::memcmp(d, kMagic, 8) != 0) {
    return Bad(path, "missing ORQABLK1 header (not built by orqa build-blocks?)");
  }
  if (Crc32c(d, 44) != U32(d + 44)) return Bad(path, "header checksum mismatch");
  auto store = std::shared_ptr<BlockStore>(new BlockStore());
  store->file_ = file;
  store->num_blocks_ = static_cast<int64_t>(U64(d + 8));
  uint64_t offsets_offset = U64(d + 16), data_offset = U64(d + 24);
  store->data_bytes_ = U64(d + 32);
  store->offsets_crc_ = U32(d + 40);
  // The block count comes from the file: bounded (each block needs 16 bytes of
  // offsets) before (2n + 1) · 8 is computed, so that product cannot wrap.
  const bool count_fits = store->num_blocks_ >= 0 && static_cast<uint64_t>(store->num_blocks_) <= file->size() / 16;
  const uint64_t table = count_fits ? (2 * static_cast<uint64_t>(store->num_blocks_) + 1) * 8 : 0;
  if (!count_fits || data_offset != kHeaderBytes || store->data_bytes_ > file->size() ||
      offsets_offset != data_offset + store->data_bytes_ || table > file->size() ||
      offsets_offset + table != file->size()) {
    return Bad(path, absl::StrCat("sizes do not add up: ", file->size(), "-byte file, ", store->num_blocks_,
                                  " blocks, ", store->data_bytes_, " data bytes (truncated?)"));
  }
  store->data_ = d + data_offset;
  store->offsets_ = d + offsets_offset;
  if (U64(store->offsets_) != 0 || U64(store->offsets_ + table - 8) != store->data_bytes_) {
    return Bad(path, "offsets table does not span the data section");
  }
  return store;
}

absl::StatusOr<std::pair<uint64_t, uint64_t>> BlockStore::Range(int64_t id, int part) const {
  if (id < 0 || id >= num_blocks_) {
    return absl::OutOfRangeError(absl::StrCat("block id ", id, " outside [0, ", num_blocks_, ")"));
  }
  uint64_t b = U64(offsets_ + (2 * id + part) * 8), e = U64(offsets_ + (2 * id + part + 1) * 8);
  if (b > e || e > data_bytes_) return Bad(file_->path(), absl::StrCat("offsets of block ", id, " are corrupt"));
  return std::make_pair(b, e);
}

absl::StatusOr<std::string_view> BlockStore::Title(int64_t id) const {
  auto r = Range(id, 0);
  if (!r.ok()) return r.status();
  return std::string_view(reinterpret_cast<const char*>(data_ + r->first), r->second - r->first);
}

absl::StatusOr<std::string_view> BlockStore::Text(int64_t id) const {
  auto r = Range(id, 1);
  if (!r.ok()) return r.status();
  return std::string_view(reinterpret_cast<const char*>(data_ + r->first), r->second - r->first);
}

absl::Status BlockStore::VerifyAll() const {
  const uint64_t table = (2 * static_cast<uint64_t>(num_blocks_) + 1) * 8;
  if (Crc32c(offsets_, table) != offsets_crc_) return Bad(file_->path(), "offsets table checksum mismatch");
  uint64_t prev = 0;
  for (uint64_t i = 0; i < 2 * static_cast<uint64_t>(num_blocks_) + 1; ++i) {
    uint64_t v = U64(offsets_ + i * 8);
    if (v < prev) return Bad(file_->path(), absl::StrCat("offsets decrease at entry ", i));
    prev = v;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<BlockStoreWriter>> BlockStoreWriter::Create(const std::string& path) {
  auto w = std::unique_ptr<BlockStoreWriter>(new BlockStoreWriter());
  w->path_ = path;
  w->tmp_ = path + ".tmp";
  w->file_ = std::fopen(w->tmp_.c_str(), "wb");
  if (!w->file_) return absl::PermissionDeniedError(absl::StrCat(w->tmp_, ": ", std::strerror(errno)));
  std::vector<uint8_t> header(kHeaderBytes, 0);  // rewritten by Finish()
  if (std::fwrite(header.data(), 1, header.size(), w->file_) != header.size()) {
    return absl::DataLossError(absl::StrCat(w->tmp_, ": write failed"));
  }
  return w;
}

BlockStoreWriter::~BlockStoreWriter() {
  if (file_) {
    std::fclose(file_);
    std::remove(tmp_.c_str());
  }
}

absl::Status BlockStoreWriter::Add(std::string_view title, std::string_view text) {
  offsets_.push_back(written_);
  offsets_.push_back(written_ + title.size());
  if (std::fwrite(title.data(), 1, title.size(), file_) != title.size() ||
      std::fwrite(text.data(), 1, text.size(), file_) != text.size()) {
    return absl::DataLossError(absl::StrCat(tmp_, ": write failed: ", std::strerror(errno)));
  }
  written_ += title.size() + text.size();
  return absl::OkStatus();
}

absl::Status BlockStoreWriter::Finish() {
  offsets_.push_back(written_);
  const size_t table = offsets_.size() * 8;
  bool ok = std::fwrite(offsets_.data(), 1, table, file_) == table;
  uint8_t header[kHeaderBytes] = {0};
  std::memcpy(header, kMagic, 8);
  uint64_t fields[4] = {static_cast<uint64_t>(count()), kHeaderBytes + written_, kHeaderBytes, written_};
  std::memcpy(header + 8, fields, 32);
  uint32_t table_crc = Crc32c(offsets_.data(), table);
  std::memcpy(header + 40, &table_crc, 4);
  uint32_t header_crc = Crc32c(header, 44);
  std::memcpy(header + 44, &header_crc, 4);
  ok = ok && std::fseek(file_, 0, SEEK_SET) == 0 && std::fwrite(header, 1, kHeaderBytes, file_) == kHeaderBytes;
  std::FILE* f = file_;
  file_ = nullptr;  // CommitFile closes it
  return CommitFile(f, tmp_, path_, ok);
}

}  // namespace orqa
