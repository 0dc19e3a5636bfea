#include "common/io/proto_wire.h"

namespace orqa {

bool WireReader::ReadVarint(uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos_ >= data_.size()) return false;
    uint8_t b = static_cast<uint8_t>(data_[pos_++]);
    result |= static_cast<uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) {
      *v = result;
      return true;
    }
  }
  return false;
}

bool WireReader::NextTag(uint32_t* field, uint32_t* wire_type) {
  uint64_t tag;
  if (!ReadVarint(&tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1FFFFFFF) return false;
  *field = static_cast<uint32_t>(tag >> 3);
  *wire_type = static_cast<uint32_t>(tag & 7);
  return true;
}

bool WireReader::ReadFixed32(uint32_t* v) {
  if (data_.size() - pos_ < 4 || pos_ > data_.size()) return false;
  uint32_t r = 0;
  for (int i = 3; i >= 0; --i) r = (r << 8) | static_cast<uint8_t>(data_[pos_ + i]);
  pos_ += 4;
  *v = r;
  return true;
}

bool WireReader::ReadFixed64(uint64_t* v) {
  uint32_t lo, hi;
  if (!ReadFixed32(&lo) || !ReadFixed32(&hi)) return false;
  *v = (static_cast<uint64_t>(hi) << 32) | lo;
  return true;
}

bool WireReader::ReadLengthDelimited(std::string_view* v) {
  uint64_t len;
  if (!ReadVarint(&len) || len > data_.size() - pos_) return false;
  *v = data_.substr(pos_, len);
  pos_ += len;
  return true;
}

bool WireReader::Skip(uint32_t wire_type) {
  uint64_t u64;
  uint32_t u32;
  std::string_view sv;
  switch (wire_type) {
    case 0: return ReadVarint(&u64);
    case 1: return ReadFixed64(&u64);
    case 2: return ReadLengthDelimited(&sv);
    case 5: return ReadFixed32(&u32);
    default: return false;
  }
}

void WireWriter::Raw(uint64_t v) {
  while (v >= 0x80) {
    out_.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out_.push_back(static_cast<char>(v));
}

void WireWriter::Varint(uint32_t field, uint64_t v) {
  Raw(static_cast<uint64_t>(field) << 3);
  Raw(v);
}

void WireWriter::Fixed32(uint32_t field, uint32_t v) {
  Raw((static_cast<uint64_t>(field) << 3) | 5);
  for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>(v >> (8 * i)));
}

void WireWriter::Bytes(uint32_t field, std::string_view v) {
  Raw((static_cast<uint64_t>(field) << 3) | 2);
  Raw(v.size());
  out_.append(v);
}

}  // namespace orqa
