#include "common/io/tf_bundle.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>

#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/io/crc32c.h"
#include "common/io/proto_wire.h"

namespace orqa {
namespace {

constexpr uint64_t kTableMagic = 0xdb4775248b80fb57ull;
constexpr size_t kFooterSize = 48;

uint32_t LE32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24); }

absl::Status Bad(const std::string& name, const std::string& what) {
  return absl::DataLossError(absl::StrCat(name, ": invalid checkpoint index: ", what));
}

bool ReadVarint(const uint8_t*& p, const uint8_t* end, uint64_t* v) {
  uint64_t r = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    uint8_t b = *p++;
    r |= static_cast<uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) {
      *v = r;
      return true;
    }
  }
  return false;
}

struct Handle {
  uint64_t offset = 0, size = 0;
};

bool DecodeHandle(const uint8_t*& p, const uint8_t* end, Handle* h) {
  return ReadVarint(p, end, &h->offset) && ReadVarint(p, end, &h->size);
}

// A table block's contents after checking its trailer (type byte + masked crc).
absl::StatusOr<std::string_view> ReadBlock(const uint8_t* data, size_t size, const Handle& h,
                                           const std::string& name) {
  if (h.offset > size || h.size > size - h.offset || size - h.offset - h.size < 5) {
    return Bad(name, absl::StrCat("block at ", h.offset, " (", h.size, " bytes) out of bounds"));
  }
  const uint8_t* b = data + h.offset;
  uint8_t type = b[h.size];
  if (type != 0) return Bad(name, absl::StrCat("block at ", h.offset, " is compressed (type ", int(type), "), unsupported"));
  uint32_t crc = Crc32c(b, h.size + 1);
  if (MaskCrc(crc) != LE32(b + h.size + 1)) return Bad(name, absl::StrCat("block at ", h.offset, " fails its checksum"));
  return std::string_view(reinterpret_cast<const char*>(b), h.size);
}

// Iterates the key/value entries of a block (prefix-compressed keys).
absl::Status ForEachEntry(std::string_view block, const std::string& name,
                          const std::function<absl::Status(const std::string&, std::string_view)>& fn) {
  if (block.size() < 4) return Bad(name, "block shorter than its restart count");
  const auto* base = reinterpret_cast<const uint8_t*>(block.data());
  uint32_t restarts = LE32(base + block.size() - 4);
  if (restarts > (block.size() - 4) / 4) return Bad(name, "restart array larger than its block");
  const uint8_t* p = base;
  const uint8_t* end = base + block.size() - 4 - 4ull * restarts;
  std::string key;
  while (p < end) {
    uint64_t shared, non_shared, value_len;
    if (!ReadVarint(p, end, &shared) || !ReadVarint(p, end, &non_shared) || !ReadVarint(p, end, &value_len)) {
      return Bad(name, "truncated block entry");
    }
    if (shared > key.size() || non_shared > static_cast<uint64_t>(end - p) ||
        value_len > static_cast<uint64_t>(end - p) - non_shared) {
      return Bad(name, "block entry out of bounds");
    }
    key.resize(shared);
    key.append(reinterpret_cast<const char*>(p), non_shared);
    p += non_shared;
    std::string_view value(reinterpret_cast<const char*>(p), value_len);
    p += value_len;
    absl::Status st = fn(key, value);
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

bool ParseShape(std::string_view data, std::vector<int64_t>* shape) {
  WireReader r(data);
  uint32_t f, w;
  while (!r.done()) {
    if (!r.NextTag(&f, &w)) return false;
    if (f == 2 && w == 2) {  // Dim
      std::string_view dim;
      if (!r.ReadLengthDelimited(&dim)) return false;
      WireReader dr(dim);
      int64_t size = 0;
      while (!dr.done()) {
        uint32_t df, dw;
        if (!dr.NextTag(&df, &dw)) return false;
        uint64_t v;
        if (df == 1 && dw == 0) {
          if (!dr.ReadVarint(&v)) return false;
          size = static_cast<int64_t>(v);
        } else if (!dr.Skip(dw)) {
          return false;
        }
      }
      shape->push_back(size);
    } else if (!r.Skip(w)) {
      return false;
    }
  }
  return true;
}

bool ParseEntry(std::string_view data, TFBundleEntry* e) {
  WireReader r(data);
  uint32_t f, w;
  while (!r.done()) {
    if (!r.NextTag(&f, &w)) return false;
    uint64_t v;
    std::string_view sv;
    switch (f) {
      case 1: if (w != 0 || !r.ReadVarint(&v)) return false; e->dtype = static_cast<int>(v); break;
      case 2: if (w != 2 || !r.ReadLengthDelimited(&sv) || !ParseShape(sv, &e->shape)) return false; break;
      case 3: if (w != 0 || !r.ReadVarint(&v)) return false; e->shard_id = static_cast<int32_t>(v); break;
      case 4: if (w != 0 || !r.ReadVarint(&v)) return false; e->offset = v; break;
      case 5: if (w != 0 || !r.ReadVarint(&v)) return false; e->size = v; break;
      case 6: { uint32_t c; if (w != 5 || !r.ReadFixed32(&c)) return false; e->crc32c = c; break; }
      default: if (!r.Skip(w)) return false;
    }
  }
  return true;
}

bool ToDType(int tf, DType* d) {
  switch (tf) {
    case 1: *d = DType::kF32; return true;
    case 2: *d = DType::kF64; return true;
    case 3: *d = DType::kI32; return true;
    case 4: *d = DType::kU8; return true;
    case 5: *d = DType::kI16; return true;
    case 6: *d = DType::kI8; return true;
    case 9: *d = DType::kI64; return true;
    case 10: *d = DType::kBool; return true;
    case 14: *d = DType::kBF16; return true;
    case 19: *d = DType::kF16; return true;
    default: return false;
  }
}

bool HasIndex(const std::string& prefix) { return access((prefix + ".index").c_str(), R_OK) == 0; }

// The quoted value of `model_checkpoint_path` in a `checkpoint` text proto.
std::string LatestCheckpointName(std::istream& in) {
  const std::string field = "model_checkpoint_path:";
  for (std::string line; std::getline(in, line);) {
    size_t f = line.find_first_not_of(" \t");
    if (f == std::string::npos || line.compare(f, field.size(), field) != 0) continue;
    size_t q1 = line.find('"', f), q2 = line.rfind('"');
    if (q1 == std::string::npos || q2 <= q1) return "";
    return line.substr(q1 + 1, q2 - q1 - 1);
  }
  return "";
}

}  // namespace

absl::StatusOr<std::string> ResolveTFCheckpoint(const std::string& path) {
  if (path.empty()) return std::string();
  constexpr char kIndex[] = ".index";
  if (path.size() > 6 && path.compare(path.size() - 6, 6, kIndex) == 0 &&
      access(path.c_str(), R_OK) == 0) {
    return path.substr(0, path.size() - 6);
  }
  if (HasIndex(path)) return path;
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::string();
  std::string dir = path;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  std::ifstream in(dir + "/checkpoint");
  if (!in) {
    return absl::NotFoundError(absl::StrCat(dir, ": a directory without a TF `checkpoint` file (pass the prefix, ",
                                            "e.g. DIR/model.ckpt-N)"));
  }
  const std::string named = LatestCheckpointName(in);
  if (named.empty()) {
    return absl::NotFoundError(absl::StrCat(dir, "/checkpoint: no model_checkpoint_path"));
  }
  const std::string in_dir = named[0] == '/' ? named : dir + "/" + named;
  if (HasIndex(in_dir)) return in_dir;
  const std::string beside = dir + "/" + named.substr(named.find_last_of('/') + 1);
  if (HasIndex(beside)) return beside;
  if (in_dir == beside) return absl::NotFoundError(absl::StrCat(dir, "/checkpoint names ", named, ": no ", beside, ".index"));
  return absl::NotFoundError(absl::StrCat(dir, "/checkpoint names ", named, ", and neither ", in_dir,
                                          ".index nor ", beside, ".index exists"));
}

std::string TFDataTypeName(int dtype) {
  switch (dtype) {
    case 1: return "DT_FLOAT";
    case 2: return "DT_DOUBLE";
    case 3: return "DT_INT32";
    case 4: return "DT_UINT8";
    case 5: return "DT_INT16";
    case 6: return "DT_INT8";
    case 7: return "DT_STRING";
    case 9: return "DT_INT64";
    case 10: return "DT_BOOL";
    case 14: return "DT_BFLOAT16";
    case 19: return "DT_HALF";
    default: return absl::StrCat("DT_", dtype);
  }
}

absl::Status ParseTFBundleIndex(const uint8_t* data, size_t size, const std::string& name,
                                std::vector<TFBundleEntry>* entries, int32_t* num_shards,
                                int32_t* endianness, int32_t* producer) {
  if (size < kFooterSize) return Bad(name, "shorter than the table footer");
  const uint8_t* footer = data + size - kFooterSize;
  uint64_t magic = LE32(footer + 40) | (static_cast<uint64_t>(LE32(footer + 44)) << 32);
  if (magic != kTableMagic) return Bad(name, "bad table magic (not a checkpoint .index?)");
  const uint8_t* p = footer;
  Handle meta, index;
  if (!DecodeHandle(p, footer + 40, &meta) || !DecodeHandle(p, footer + 40, &index)) {
    return Bad(name, "corrupt footer");
  }
  auto index_block = ReadBlock(data, size, index, name);
  if (!index_block.ok()) return index_block.status();
  bool saw_header = false;
  return ForEachEntry(*index_block, name, [&](const std::string&, std::string_view handle_bytes) {
    const uint8_t* hp = reinterpret_cast<const uint8_t*>(handle_bytes.data());
    Handle h;
    if (!DecodeHandle(hp, hp + handle_bytes.size(), &h)) return Bad(name, "corrupt index entry");
    auto block = ReadBlock(data, size, h, name);
    if (!block.ok()) return block.status();
    return ForEachEntry(*block, name, [&](const std::string& key, std::string_view value) {
      if (key.empty()) {  // BundleHeaderProto
        WireReader r(value);
        uint32_t f, w;
        while (!r.done()) {
          if (!r.NextTag(&f, &w)) return Bad(name, "corrupt header");
          uint64_t v;
          std::string_view sv;
          if (f == 1 && w == 0 && r.ReadVarint(&v)) {
            *num_shards = static_cast<int32_t>(v);
          } else if (f == 2 && w == 0 && r.ReadVarint(&v)) {
            *endianness = static_cast<int32_t>(v);
          } else if (f == 3 && w == 2 && r.ReadLengthDelimited(&sv)) {
            WireReader vr(sv);
            uint32_t vf, vw;
            while (!vr.done() && vr.NextTag(&vf, &vw)) {
              if (vf == 1 && vw == 0 && vr.ReadVarint(&v)) {
                *producer = static_cast<int32_t>(v);
              } else if (!vr.Skip(vw)) {
                break;
              }
            }
          } else if (!r.Skip(w)) {
            return Bad(name, "corrupt header field");
          }
        }
        saw_header = true;
        return absl::OkStatus();
      }
      TFBundleEntry e;
      e.name = key;
      if (!ParseEntry(value, &e)) return Bad(name, absl::StrCat("corrupt entry for '", key, "'"));
      entries->push_back(std::move(e));
      return absl::OkStatus();
    });
  });
}

absl::StatusOr<TFBundleReader> TFBundleReader::Open(const std::string& prefix) {
  TFBundleReader r;
  r.prefix_ = prefix;
  std::string error;
  auto index = MappedFile::Open(prefix + ".index", &error);
  if (!index) return absl::NotFoundError(error);
  absl::Status st = ParseTFBundleIndex(index->data(), index->size(), prefix + ".index", &r.entries_,
                                       &r.num_shards_, &r.endianness_, &r.producer_);
  if (!st.ok()) return st;
  if (r.endianness_ != 0) return Bad(prefix + ".index", "big-endian checkpoints are not supported");
  if (r.num_shards_ < 1) return Bad(prefix + ".index", "num_shards < 1");
  for (const auto& e : r.entries_) {
    if (e.shard_id < 0 || e.shard_id >= r.num_shards_) {
      return Bad(prefix + ".index", absl::StrCat("'", e.name, "' names shard ", e.shard_id));
    }
  }
  return r;
}

const TFBundleEntry* TFBundleReader::Find(const std::string& name) const {
  for (const auto& e : entries_) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

absl::StatusOr<std::pair<const uint8_t*, std::shared_ptr<const void>>> TFBundleReader::ShardBytes(
    const TFBundleEntry& e) const {
  auto it = shards_.find(e.shard_id);
  if (it == shards_.end()) {
    char suffix[64];
    std::snprintf(suffix, sizeof(suffix), ".data-%05d-of-%05d", e.shard_id, num_shards_);
    std::string error;
    auto f = MappedFile::Open(prefix_ + suffix, &error);
    if (!f) return absl::NotFoundError(error);
    it = shards_.emplace(e.shard_id, f).first;
  }
  const auto& f = it->second;
  if (e.offset > f->size() || e.size > f->size() - e.offset) {
    return absl::DataLossError(absl::StrCat(f->path(), ": '", e.name, "' at ", e.offset, " (", e.size,
                                            " bytes) runs past the end of the shard (truncated?)"));
  }
  if (MaskCrc(Crc32c(f->data() + e.offset, e.size)) != e.crc32c) {
    return absl::DataLossError(absl::StrCat(f->path(), ": '", e.name, "' fails its checksum"));
  }
  return std::make_pair(f->data() + e.offset, std::static_pointer_cast<const void>(f));
}

absl::StatusOr<TensorView> TFBundleReader::Read(const std::string& name) const {
  const TFBundleEntry* e = Find(name);
  if (!e) return absl::NotFoundError(absl::StrCat(prefix_, ": no tensor '", name, "'"));
  TensorView v;
  if (!ToDType(e->dtype, &v.dtype)) {
    return absl::UnimplementedError(absl::StrCat(prefix_, ": '", name, "' has dtype ",
                                                 TFDataTypeName(e->dtype), ", not a numeric type"));
  }
  v.shape = e->shape;
  if (static_cast<uint64_t>(v.numel()) * DTypeSize(v.dtype) != e->size) {
    return absl::DataLossError(absl::StrCat(prefix_, ": '", name, "' holds ", e->size,
                                            " bytes, its shape needs ", v.numel() * DTypeSize(v.dtype)));
  }
  auto bytes = ShardBytes(*e);
  if (!bytes.ok()) return bytes.status();
  v.data = bytes->first;
  v.nbytes = e->size;
  v.owner = bytes->second;
  return v;
}

absl::StatusOr<std::vector<std::string>> TFBundleReader::ReadStrings(const std::string& name) const {
  const TFBundleEntry* e = Find(name);
  if (!e) return absl::NotFoundError(absl::StrCat(prefix_, ": no tensor '", name, "'"));
  if (e->dtype != 7) return absl::InvalidArgumentError(absl::StrCat(prefix_, ": '", name, "' is not DT_STRING"));
  std::string error;
  // The string layout's checksum differs from numeric tensors', so map without ShardBytes' check.
  char suffix[64];
  std::snprintf(suffix, sizeof(suffix), ".data-%05d-of-%05d", e->shard_id, num_shards_);
  auto f = MappedFile::Open(prefix_ + suffix, &error);
  if (!f) return absl::NotFoundError(error);
  if (e->offset > f->size() || e->size > f->size() - e->offset) {
    return absl::DataLossError(absl::StrCat(f->path(), ": '", name, "' runs past the end of the shard"));
  }
  int64_t n = 1;
  for (int64_t d : e->shape) n *= d;
  const uint8_t* p = f->data() + e->offset;
  const uint8_t* end = p + e->size;
  std::vector<uint64_t> lengths;
  uint32_t crc = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint64_t len;
    if (!ReadVarint(p, end, &len)) return absl::DataLossError(absl::StrCat(prefix_, ": '", name, "' has truncated lengths"));
    lengths.push_back(len);
    uint8_t le[4] = {uint8_t(len), uint8_t(len >> 8), uint8_t(len >> 16), uint8_t(len >> 24)};
    crc = Crc32c(le, 4, crc);
  }
  if (end - p < 4) return absl::DataLossError(absl::StrCat(prefix_, ": '", name, "' lacks its length checksum"));
  if (LE32(p) != MaskCrc(crc)) return absl::DataLossError(absl::StrCat(prefix_, ": '", name, "' length checksum mismatch"));
  crc = Crc32c(p, 4, crc);
  p += 4;
  std::vector<std::string> out;
  for (uint64_t len : lengths) {
    if (len > static_cast<uint64_t>(end - p)) return absl::DataLossError(absl::StrCat(prefix_, ": '", name, "' string runs past its entry"));
    out.emplace_back(reinterpret_cast<const char*>(p), len);
    crc = Crc32c(p, len, crc);
    p += len;
  }
  if (MaskCrc(crc) != e->crc32c) return absl::DataLossError(absl::StrCat(prefix_, ": '", name, "' fails its checksum"));
  return out;
}

}  // namespace orqa

// --- Writing ---------------------------------------------------------------------

namespace orqa {
namespace {

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void PutLE32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

// A LevelDB table block: prefix-compressed keys with a restart point every
// `interval` entries, then the restart offsets and their count.
class BlockBuilder {
 public:
  explicit BlockBuilder(int interval) : interval_(interval) {}
  void Add(const std::string& key, std::string_view value) {
    size_t shared = 0;
    if (count_ % interval_ != 0) {
      while (shared < key.size() && shared < last_.size() && key[shared] == last_[shared]) ++shared;
    } else {
      restarts_.push_back(static_cast<uint32_t>(buf_.size()));
    }
    PutVarint(&buf_, shared);
    PutVarint(&buf_, key.size() - shared);
    PutVarint(&buf_, value.size());
    buf_.append(key, shared, std::string::npos);
    buf_.append(value);
    last_ = key;
    ++count_;
  }
  bool empty() const { return count_ == 0; }
  size_t size() const { return buf_.size() + 4 * (restarts_.size() + 1); }
  const std::string& last_key() const { return last_; }
  std::string Finish() {
    if (restarts_.empty()) restarts_.push_back(0);
    std::string out = std::move(buf_);
    for (uint32_t r : restarts_) PutLE32(&out, r);
    PutLE32(&out, static_cast<uint32_t>(restarts_.size()));
    buf_.clear();
    restarts_.clear();
    count_ = 0;
    return out;
  }

 private:
  int interval_;
  std::string buf_, last_;
  std::vector<uint32_t> restarts_;
  int64_t count_ = 0;
};

// Appends `block` with its trailer (uncompressed type byte, masked crc32c of
// block and type) to `table`; returns the block's handle as varints.
std::string AppendBlock(std::string* table, const std::string& block) {
  std::string handle;
  PutVarint(&handle, table->size());
  PutVarint(&handle, block.size());
  table->append(block);
  table->push_back('\0');
  uint32_t crc = Crc32c(block.data(), block.size());
  const char type = 0;
  crc = Crc32c(&type, 1, crc);
  PutLE32(table, MaskCrc(crc));
  return handle;
}

std::string EncodeEntry(const TFBundleEntry& e) {
  WireWriter w;
  w.Varint(1, e.dtype);
  WireWriter shape;
  for (int64_t d : e.shape) {
    WireWriter dim;
    if (d != 0) dim.Varint(1, static_cast<uint64_t>(d));
    shape.Bytes(2, dim.data());
  }
  w.Bytes(2, shape.data());
  if (e.shard_id != 0) w.Varint(3, e.shard_id);
  if (e.offset != 0) w.Varint(4, e.offset);
  if (e.size != 0) w.Varint(5, e.size);
  w.Fixed32(6, e.crc32c);
  return w.data();
}

}  // namespace

int TFDataTypeOf(DType dtype) {
  switch (dtype) {
    case DType::kF32: return 1;
    case DType::kF64: return 2;
    case DType::kI32: return 3;
    case DType::kU8: return 4;
    case DType::kI16: return 5;
    case DType::kI8: return 6;
    case DType::kI64: return 9;
    case DType::kBool: return 10;
    case DType::kBF16: return 14;
    case DType::kF16: return 19;
  }
  return 0;
}

absl::StatusOr<std::unique_ptr<TFBundleWriter>> TFBundleWriter::Create(const std::string& prefix) {
  std::unique_ptr<TFBundleWriter> w(new TFBundleWriter());
  w->prefix_ = prefix;
  w->data_path_ = prefix + ".data-00000-of-00001";
  w->data_tmp_ = w->data_path_ + ".tmp";
  w->data_ = std::fopen(w->data_tmp_.c_str(), "wb");
  if (!w->data_) return absl::PermissionDeniedError(absl::StrCat(w->data_tmp_, ": ", std::strerror(errno)));
  return w;
}

TFBundleWriter::~TFBundleWriter() {
  if (data_) {
    std::fclose(data_);
    std::remove(data_tmp_.c_str());
  }
}

absl::Status TFBundleWriter::Append(const void* data, size_t size) {
  if (failed_ || !data_) return absl::FailedPreconditionError(absl::StrCat(prefix_, ": writer already failed or finished"));
  if (size > 0 && std::fwrite(data, 1, size, data_) != size) {
    failed_ = true;
    return absl::DataLossError(absl::StrCat(data_tmp_, ": write failed: ", std::strerror(errno)));
  }
  offset_ += size;
  return absl::OkStatus();
}

absl::Status TFBundleWriter::CheckName(const std::string& name) const {
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(prefix_, ": a tensor needs a name"));
  if (entries_.count(name)) return absl::AlreadyExistsError(absl::StrCat(prefix_, ": tensor '", name, "' added twice"));
  return absl::OkStatus();
}

absl::Status TFBundleWriter::Add(const std::string& name, const TensorView& t) {
  if (absl::Status st = CheckName(name); !st.ok()) return st;
  if (t.nbytes != static_cast<size_t>(t.numel()) * DTypeSize(t.dtype)) {
    return absl::InvalidArgumentError(absl::StrCat(prefix_, ": tensor '", name, "' has ", t.nbytes, " bytes for its shape"));
  }
  TFBundleEntry e;
  e.name = name;
  e.dtype = TFDataTypeOf(t.dtype);
  e.shape = t.shape;
  e.offset = offset_;
  e.size = t.nbytes;
  // Streamed in 64 MiB pieces so a mapped 6.8 GB tensor is checksummed and
  // written without touching more than a piece at a time.
  constexpr size_t kPiece = size_t{64} << 20;
  uint32_t crc = 0;
  for (size_t done = 0; done < t.nbytes; done += kPiece) {
    const size_t n = std::min(kPiece, t.nbytes - done);
    crc = Crc32c(t.data + done, n, crc);
    if (absl::Status st = Append(t.data + done, n); !st.ok()) return st;
  }
  e.crc32c = MaskCrc(crc);
  entries_.emplace(name, std::move(e));
  return absl::OkStatus();
}

absl::Status TFBundleWriter::AddStrings(const std::string& name, const std::vector<int64_t>& shape,
                                        const std::vector<std::string>& values) {
  if (absl::Status st = CheckName(name); !st.ok()) return st;
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  if (n != static_cast<int64_t>(values.size())) {
    return absl::InvalidArgumentError(absl::StrCat(prefix_, ": string tensor '", name, "' has ", values.size(),
                                                   " values for ", n, " elements"));
  }
  // TensorFlow's layout: the lengths as varints, the masked crc32c of the
  // lengths (each as 4 little-endian bytes), then the bytes. The entry's
  // checksum covers the length words, the stored length checksum and the bytes.
  std::string head;
  uint32_t crc = 0;
  for (const auto& v : values) {
    PutVarint(&head, v.size());
    const uint64_t len = v.size();
    const uint8_t le[4] = {uint8_t(len), uint8_t(len >> 8), uint8_t(len >> 16), uint8_t(len >> 24)};
    crc = Crc32c(le, 4, crc);
  }
  std::string stored;
  PutLE32(&stored, MaskCrc(crc));
  crc = Crc32c(stored.data(), 4, crc);
  head += stored;
  TFBundleEntry e;
  e.name = name;
  e.dtype = 7;
  e.shape = shape;
  e.offset = offset_;
  if (absl::Status st = Append(head.data(), head.size()); !st.ok()) return st;
  for (const auto& v : values) {
    crc = Crc32c(v.data(), v.size(), crc);
    if (absl::Status st = Append(v.data(), v.size()); !st.ok()) return st;
  }
  e.size = offset_ - e.offset;
  e.crc32c = MaskCrc(crc);
  entries_.emplace(name, std::move(e));
  return absl::OkStatus();
}

absl::Status TFBundleWriter::Finish() {
  if (failed_ || !data_) return absl::FailedPreconditionError(absl::StrCat(prefix_, ": writer already failed or finished"));
  std::FILE* data = data_;
  data_ = nullptr;
  if (absl::Status st = CommitFile(data, data_tmp_, data_path_); !st.ok()) return st;

  // BundleHeaderProto under the empty key (sorts first): one shard,
  // little-endian, VersionDef{producer: 1} as TensorFlow writes.
  WireWriter version;
  version.Varint(1, 1);
  WireWriter header;
  header.Varint(1, 1);
  header.Bytes(3, version.data());

  constexpr size_t kBlockSize = 4096;
  std::string table;
  BlockBuilder block(16), index(1);
  auto flush = [&] {
    const std::string last = block.last_key();
    index.Add(last, AppendBlock(&table, block.Finish()));
  };
  block.Add("", header.data());
  for (const auto& [name, e] : entries_) {  // std::map: bytewise name order
    if (block.size() >= kBlockSize) flush();
    block.Add(name, EncodeEntry(e));
  }
  flush();
  BlockBuilder meta(16);
  std::string meta_handle = AppendBlock(&table, meta.Finish());
  std::string index_handle = AppendBlock(&table, index.Finish());
  std::string footer = meta_handle + index_handle;
  footer.resize(kFooterSize - 8, '\0');
  PutLE32(&footer, static_cast<uint32_t>(kTableMagic));
  PutLE32(&footer, static_cast<uint32_t>(kTableMagic >> 32));
  table += footer;

  const std::string index_path = prefix_ + ".index", index_tmp = index_path + ".tmp";
  std::FILE* f = std::fopen(index_tmp.c_str(), "wb");
  if (!f) return absl::PermissionDeniedError(absl::StrCat(index_tmp, ": ", std::strerror(errno)));
  const bool ok = std::fwrite(table.data(), 1, table.size(), f) == table.size();
  return CommitFile(f, index_tmp, index_path, ok);
}

}  // namespace orqa
