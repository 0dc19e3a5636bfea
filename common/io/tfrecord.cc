#include "common/io/tfrecord.h"

#include <zlib.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/io/crc32c.h"
#include "common/io/proto_wire.h"

namespace orqa {
namespace {

uint64_t LE64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint32_t LE32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24); }

// Records larger than this are treated as corruption rather than allocated.
constexpr uint64_t kMaxRecordBytes = 1ull << 32;

absl::Status Corrupt(const std::string& name, uint64_t index, uint64_t offset, const std::string& what) {
  return absl::DataLossError(absl::StrCat(name, ": record ", index, " at byte ", offset, ": ", what));
}

}  // namespace

absl::StatusOr<TFRecordReader> TFRecordReader::Open(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  gzbuffer(f, 1 << 20);
  TFRecordReader r;
  r.file_ = f;
  r.path_ = path;
  return r;
}

TFRecordReader::TFRecordReader(TFRecordReader&& o) noexcept { *this = std::move(o); }
TFRecordReader& TFRecordReader::operator=(TFRecordReader&& o) noexcept {
  std::swap(file_, o.file_);
  path_ = std::move(o.path_);
  index_ = o.index_;
  offset_ = o.offset_;
  return *this;
}
TFRecordReader::~TFRecordReader() {
  if (file_) gzclose(static_cast<gzFile>(file_));
}

absl::StatusOr<bool> TFRecordReader::Next(std::string* record) {
  gzFile f = static_cast<gzFile>(file_);
  uint8_t header[12];
  int n = gzread(f, header, sizeof(header));
  if (n == 0) return false;
  if (n != static_cast<int>(sizeof(header))) {
    return Corrupt(path_, index_, offset_, "truncated length header");
  }
  uint64_t len = LE64(header);
  if (MaskCrc(Crc32c(header, 8)) != LE32(header + 8)) {
    return Corrupt(path_, index_, offset_, "length checksum mismatch");
  }
  if (len > kMaxRecordBytes) return Corrupt(path_, index_, offset_, absl::StrCat("implausible length ", len));
  record->resize(len);
  if (len > 0 && gzread(f, record->data(), static_cast<unsigned>(len)) != static_cast<int>(len)) {
    return Corrupt(path_, index_, offset_, "truncated data");
  }
  uint8_t footer[4];
  if (gzread(f, footer, 4) != 4) return Corrupt(path_, index_, offset_, "truncated data checksum");
  if (MaskCrc(Crc32c(record->data(), len)) != LE32(footer)) {
    return Corrupt(path_, index_, offset_, "data checksum mismatch");
  }
  offset_ += 16 + len;
  ++index_;
  return true;
}

absl::Status ForEachTFRecord(std::string_view data, const std::string& name,
                             const std::function<void(std::string_view)>& fn) {
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  uint64_t off = 0, index = 0;
  while (off < data.size()) {
    if (data.size() - off < 12) return Corrupt(name, index, off, "truncated length header");
    uint64_t len = LE64(p + off);
    if (MaskCrc(Crc32c(p + off, 8)) != LE32(p + off + 8)) return Corrupt(name, index, off, "length checksum mismatch");
    if (len > data.size() - off - 12 || data.size() - off - 12 - len < 4) {
      return Corrupt(name, index, off, "truncated data");
    }
    if (MaskCrc(Crc32c(p + off + 12, len)) != LE32(p + off + 12 + len)) {
      return Corrupt(name, index, off, "data checksum mismatch");
    }
    fn(data.substr(off + 12, len));
    off += 16 + len;
    ++index;
  }
  return absl::OkStatus();
}

namespace {

absl::Status BadExample(const std::string& what) {
  return absl::DataLossError(absl::StrCat("malformed tf.train.Example: ", what));
}

absl::Status ParseFeature(std::string_view data, TFFeature* out) {
  WireReader r(data);
  uint32_t field, wt;
  while (!r.done()) {
    if (!r.NextTag(&field, &wt)) return BadExample("bad tag in Feature");
    if (wt != 2 || field < 1 || field > 3) {
      if (!r.Skip(wt)) return BadExample("bad field in Feature");
      continue;
    }
    std::string_view list;
    if (!r.ReadLengthDelimited(&list)) return BadExample("truncated list");
    out->kind = field == 1 ? TFFeature::Kind::kBytes : field == 2 ? TFFeature::Kind::kFloat : TFFeature::Kind::kInt64;
    WireReader lr(list);
    while (!lr.done()) {
      uint32_t f, w;
      if (!lr.NextTag(&f, &w)) return BadExample("bad tag in value list");
      if (f != 1) {
        if (!lr.Skip(w)) return BadExample("bad field in value list");
        continue;
      }
      if (field == 1 && w == 2) {
        std::string_view b;
        if (!lr.ReadLengthDelimited(&b)) return BadExample("truncated bytes value");
        out->bytes.emplace_back(b);
      } else if (field == 2 && w == 5) {
        uint32_t u;
        if (!lr.ReadFixed32(&u)) return BadExample("truncated float");
        float v;
        std::memcpy(&v, &u, 4);
        out->floats.push_back(v);
      } else if (field == 2 && w == 2) {  // packed floats
        std::string_view packed;
        if (!lr.ReadLengthDelimited(&packed) || packed.size() % 4) return BadExample("bad packed floats");
        for (size_t i = 0; i < packed.size(); i += 4) {
          float v;
          std::memcpy(&v, packed.data() + i, 4);
          out->floats.push_back(v);
        }
      } else if (field == 3 && w == 0) {
        uint64_t v;
        if (!lr.ReadVarint(&v)) return BadExample("truncated int64");
        out->ints.push_back(static_cast<int64_t>(v));
      } else if (field == 3 && w == 2) {  // packed varints
        std::string_view packed;
        if (!lr.ReadLengthDelimited(&packed)) return BadExample("bad packed int64s");
        WireReader pr(packed);
        while (!pr.done()) {
          uint64_t v;
          if (!pr.ReadVarint(&v)) return BadExample("bad packed int64");
          out->ints.push_back(static_cast<int64_t>(v));
        }
      } else {
        return BadExample("unexpected wire type in value list");
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::map<std::string, TFFeature>> ParseTFExample(std::string_view data) {
  std::map<std::string, TFFeature> out;
  WireReader r(data);
  uint32_t field, wt;
  while (!r.done()) {
    if (!r.NextTag(&field, &wt)) return BadExample("bad tag in Example");
    if (field != 1 || wt != 2) {
      if (!r.Skip(wt)) return BadExample("bad field in Example");
      continue;
    }
    std::string_view features;
    if (!r.ReadLengthDelimited(&features)) return BadExample("truncated Features");
    WireReader fr(features);
    while (!fr.done()) {
      uint32_t f, w;
      if (!fr.NextTag(&f, &w)) return BadExample("bad tag in Features");
      if (f != 1 || w != 2) {
        if (!fr.Skip(w)) return BadExample("bad field in Features");
        continue;
      }
      std::string_view entry;
      if (!fr.ReadLengthDelimited(&entry)) return BadExample("truncated map entry");
      WireReader er(entry);
      std::string key;
      TFFeature feature;
      while (!er.done()) {
        uint32_t ef, ew;
        if (!er.NextTag(&ef, &ew)) return BadExample("bad tag in map entry");
        std::string_view v;
        if (ew == 2 && ef == 1) {
          if (!er.ReadLengthDelimited(&v)) return BadExample("truncated key");
          key = std::string(v);
        } else if (ew == 2 && ef == 2) {
          if (!er.ReadLengthDelimited(&v)) return BadExample("truncated Feature");
          absl::Status st = ParseFeature(v, &feature);
          if (!st.ok()) return st;
        } else if (!er.Skip(ew)) {
          return BadExample("bad field in map entry");
        }
      }
      out[key] = std::move(feature);
    }
  }
  return out;
}

}  // namespace orqa
