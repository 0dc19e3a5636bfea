#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace orqa {

/// A minimal protobuf wire-format cursor for the few TensorFlow messages orqa
/// reads (Example, BundleEntryProto, BundleHeaderProto); every read is
/// bounds-checked and returns false on malformed input.
class WireReader {
 public:
  explicit WireReader(std::string_view data) : data_(data) {}
  bool done() const { return pos_ >= data_.size(); }
  /// Next field tag: field number and wire type.
  bool NextTag(uint32_t* field, uint32_t* wire_type);
  bool ReadVarint(uint64_t* v);
  bool ReadFixed32(uint32_t* v);
  bool ReadFixed64(uint64_t* v);
  bool ReadLengthDelimited(std::string_view* v);
  /// Skips a field of `wire_type` (0, 1, 2, 5).
  bool Skip(uint32_t wire_type);

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

/// The writing side: appends fields in protobuf wire format to a string (for
/// the TensorFlow messages orqa writes: BundleEntryProto, BundleHeaderProto).
class WireWriter {
 public:
  void Varint(uint32_t field, uint64_t v);
  void Fixed32(uint32_t field, uint32_t v);
  void Bytes(uint32_t field, std::string_view v);
  const std::string& data() const { return out_; }

 private:
  void Raw(uint64_t v);
  std::string out_;
};

}  // namespace orqa
