#include "common/io/npy.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace orqa {
namespace {

absl::Status Bad(const std::string& name, const std::string& what) {
  return absl::DataLossError(absl::StrCat(name, ": invalid .npy: ", what));
}

// Finds `'key':` in the header dict and returns the text after it.
bool FindValue(const std::string& header, const std::string& key, size_t* pos) {
  for (const char* q : {"'", "\""}) {
    std::string k = std::string(q) + key + q;
    size_t p = header.find(k);
    if (p == std::string::npos) continue;
    p = header.find(':', p + k.size());
    if (p == std::string::npos) return false;
    ++p;
    while (p < header.size() && header[p] == ' ') ++p;
    *pos = p;
    return true;
  }
  return false;
}

bool ParseDescr(const std::string& d, DType* t) {
  static const std::pair<const char*, DType> kTypes[] = {
      {"<f4", DType::kF32}, {"<f2", DType::kF16}, {"<f8", DType::kF64}, {"<i8", DType::kI64},
      {"<i4", DType::kI32}, {"<i2", DType::kI16}, {"|i1", DType::kI8},  {"|u1", DType::kU8},
      {"|b1", DType::kBool}};
  for (const auto& [n, x] : kTypes) {
    if (d == n) {
      *t = x;
      return true;
    }
  }
  return false;
}

// The width of the length field of a pickle string opcode.
int StringLengthWidth(uint8_t op) {
  return op == 'C' || op == 0x8c ? 1 : op == 'B' || op == 'X' ? 4 : 8;
}

}  // namespace

std::string NpyFloat32Header(int64_t rows, int64_t cols) {
  std::string dict = absl::StrCat("{'descr': '<f4', 'fortran_order': False, 'shape': (", rows, ", ", cols, "), }");
  dict.append((64 - (10 + dict.size() + 1) % 64) % 64, ' ');  // data starts 64-byte aligned
  dict += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(dict.size() & 0xFF);
  out += static_cast<char>(dict.size() >> 8);
  return out + dict;
}

absl::StatusOr<NpyHeader> ParseNpyHeader(const uint8_t* data, size_t size, const std::string& name) {
  if (size < 10 || std::memcmp(data, "\x93NUMPY", 6) != 0) return Bad(name, "missing \\x93NUMPY magic");
  uint8_t major = data[6];
  size_t header_len, start;
  if (major == 1) {
    header_len = data[8] | (data[9] << 8);
    start = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) return Bad(name, "truncated header length");
    header_len = data[8] | (data[9] << 8) | (data[10] << 16) | (static_cast<size_t>(data[11]) << 24);
    start = 12;
  } else {
    return Bad(name, absl::StrCat("unsupported format version ", int(major), ".", int(data[7])));
  }
  if (header_len > size - start) return Bad(name, "header runs past the end of the file");
  std::string h(reinterpret_cast<const char*>(data + start), header_len);
  NpyHeader out;
  out.data_offset = start + header_len;
  size_t p;
  if (!FindValue(h, "descr", &p) || p >= h.size() || (h[p] != '\'' && h[p] != '"')) {
    return Bad(name, "header lacks a string 'descr'");
  }
  size_t q = h.find(h[p], p + 1);
  if (q == std::string::npos) return Bad(name, "unterminated 'descr'");
  out.descr = h.substr(p + 1, q - p - 1);
  if (!FindValue(h, "fortran_order", &p)) return Bad(name, "header lacks 'fortran_order'");
  if (h.compare(p, 4, "True") == 0) {
    out.fortran_order = true;
  } else if (h.compare(p, 5, "False") != 0) {
    return Bad(name, "'fortran_order' is neither True nor False");
  }
  if (!FindValue(h, "shape", &p) || p >= h.size() || h[p] != '(') return Bad(name, "header lacks a tuple 'shape'");
  size_t close = h.find(')', p);
  if (close == std::string::npos) return Bad(name, "unterminated 'shape'");
  std::string dims = h.substr(p + 1, close - p - 1);
  size_t i = 0;
  while (i < dims.size()) {
    while (i < dims.size() && (dims[i] == ' ' || dims[i] == ',')) ++i;
    if (i >= dims.size()) break;
    size_t j = i;
    while (j < dims.size() && dims[j] >= '0' && dims[j] <= '9') ++j;
    if (j == i || j - i > 15) return Bad(name, absl::StrCat("bad dimension in shape (", dims, ")"));
    out.shape.push_back(std::stoll(dims.substr(i, j - i)));
    i = j;
  }
  return out;
}

absl::StatusOr<TensorView> ParseNpyArray(std::shared_ptr<const void> owner, const uint8_t* data,
                                         size_t size, const std::string& name) {
  auto h = ParseNpyHeader(data, size, name);
  if (!h.ok()) return h.status();
  TensorView v;
  if (!ParseDescr(h->descr, &v.dtype)) {
    return absl::UnimplementedError(absl::StrCat(name, ": unsupported .npy dtype '", h->descr,
                                                 "' (expected <f4, <f2, <f8, <i8, <i4, <i2, |i1, |u1, |b1)"));
  }
  v.shape = h->shape;
  uint64_t numel = 1;
  for (int64_t d : v.shape) {
    if (d != 0 && numel > (1ull << 50) / static_cast<uint64_t>(d)) return Bad(name, "shape too large");
    numel *= d;
  }
  const size_t elem = DTypeSize(v.dtype);
  if (numel * elem > size - h->data_offset) {
    return Bad(name, absl::StrCat("body holds ", size - h->data_offset, " bytes, shape needs ", numel * elem,
                                  " (truncated?)"));
  }
  v.nbytes = numel * elem;
  const uint8_t* body = data + h->data_offset;
  if (!h->fortran_order || v.shape.size() < 2) {
    v.data = body;
    v.owner = std::move(owner);
    return v;
  }
  // Fortran order: element (i0, i1, ..., ik) is at i0 + d0·(i1 + d1·(...)).
  auto buf = std::make_shared<std::vector<uint8_t>>(v.nbytes);
  const size_t nd = v.shape.size();
  std::vector<int64_t> idx(nd, 0);
  for (uint64_t c = 0; c < numel; ++c) {
    uint64_t f = 0;
    for (int k = static_cast<int>(nd) - 1; k >= 0; --k) f = f * v.shape[k] + idx[k];
    std::memcpy(buf->data() + c * elem, body + f * elem, elem);
    for (int k = static_cast<int>(nd) - 1; k >= 0; --k) {  // advance the C-order index
      if (++idx[k] < v.shape[k]) break;
      idx[k] = 0;
    }
  }
  v.data = buf->data();
  v.owner = buf;
  return v;
}

absl::StatusOr<TensorView> ReadNpyArray(const std::string& path) {
  std::string error;
  auto f = MappedFile::Open(path, &error);
  if (!f) return absl::NotFoundError(error);
  return ParseNpyArray(f, f->data(), f->size(), path);
}

absl::Status ParseNpyBytes(const uint8_t* data, size_t size, const std::string& name,
                           const std::function<void(int64_t, std::string_view)>& fn) {
  auto h = ParseNpyHeader(data, size, name);
  if (!h.ok()) return h.status();
  if (h->descr != "|O") return Bad(name, absl::StrCat("expected an object array ('|O'), got '", h->descr, "'"));
  if (h->shape.size() != 1) return Bad(name, "expected a 1-D object array");
  const int64_t expected = h->shape[0];
  const uint8_t* p = data + h->data_offset;
  const uint8_t* end = data + size;
  auto need = [&](size_t k) { return static_cast<size_t>(end - p) >= k; };
  auto le = [&](int k) {
    uint64_t v = 0;
    for (int i = k - 1; i >= 0; --i) v = (v << 8) | p[i];
    p += k;
    return v;
  };
  // The opcodes numpy's pickle of an object ndarray of bytes uses. The
  // elements are the byte strings inside the one list; globals are limited to
  // numpy's array reconstruction. An element that repeats an earlier object is
  // a memo reference (BINGET / LONG_BINGET of the index a BINPUT, LONG_BINPUT
  // or MEMOIZE stored), so the memo remembers where each stored string starts:
  // 8 bytes per memo entry, no copy of the strings.
  int64_t count = 0;
  bool in_list = false, stopped = false;
  constexpr uint64_t kNotBytes = ~uint64_t{0};
  constexpr uint64_t kMaxMemoGap = 1 << 20;  // ids numpy assigns are dense
  std::vector<uint64_t> memo;                // memo id -> offset of a string opcode, or kNotBytes
  uint64_t top = kNotBytes;                  // the stack top, when it is a string
  auto bytes_at = [&](uint64_t offset) {     // a string opcode already checked once
    const int w = StringLengthWidth(data[offset]);
    uint64_t len = 0;
    for (int i = w - 1; i >= 0; --i) len = (len << 8) | data[offset + 1 + i];
    return std::string_view(reinterpret_cast<const char*>(data + offset + 1 + w), len);
  };
  auto put = [&](uint64_t id, size_t at) -> absl::Status {
    if (id >= memo.size()) {
      if (id - memo.size() > kMaxMemoGap) {
        return Bad(name, absl::StrCat("memo id ", id, " at byte ", at, " is far past the ", memo.size(),
                                      " stored so far"));
      }
      memo.resize(id + 1, kNotBytes);
    }
    memo[id] = top;
    return absl::OkStatus();
  };
  auto get = [&](uint64_t id, size_t at) -> absl::Status {
    if (id >= memo.size()) {
      return Bad(name, absl::StrCat("memo reference ", id, " at byte ", at, " to nothing stored"));
    }
    top = memo[id];
    if (!in_list) return absl::OkStatus();
    if (top == kNotBytes) {
      return Bad(name, absl::StrCat("element ", count, " (memo reference ", id, " at byte ", at,
                                    ") is not a string"));
    }
    if (count >= expected) return Bad(name, absl::StrCat("more than the ", expected, " elements the header declares"));
    fn(count++, bytes_at(top));
    return absl::OkStatus();
  };
  while (!stopped) {
    if (p >= end) return Bad(name, "pickle ends before STOP (truncated?)");
    const size_t at = p - data;
    const uint8_t op = *p++;
    const uint64_t pushed = top;
    top = kNotBytes;  // every opcode but the memo ones leaves something else on top
    switch (op) {
      case 0x80: if (!need(1)) return Bad(name, "truncated PROTO"); p += 1; break;
      case 0x95: if (!need(8)) return Bad(name, "truncated FRAME"); p += 8; break;
      case 'c': {
        const uint8_t* nl1 = static_cast<const uint8_t*>(std::memchr(p, '\n', end - p));
        const uint8_t* nl2 = nl1 ? static_cast<const uint8_t*>(std::memchr(nl1 + 1, '\n', end - nl1 - 1)) : nullptr;
        if (!nl2) return Bad(name, absl::StrCat("truncated GLOBAL at byte ", at));
        std::string g(reinterpret_cast<const char*>(p), nl2 - p);
        g[nl1 - p] = ' ';
        if (g != "numpy.core.multiarray _reconstruct" && g != "numpy ndarray" && g != "numpy dtype") {
          return Bad(name, absl::StrCat("disallowed global '", g, "' at byte ", at));
        }
        p = nl2 + 1;
        break;
      }
      case 'q': case 'r': case 0x94: {                        // BINPUT, LONG_BINPUT, MEMOIZE
        top = pushed;
        const int w = op == 'q' ? 1 : op == 'r' ? 4 : 0;
        if (!need(w)) return Bad(name, absl::StrCat("truncated ", op == 'q' ? "BINPUT" : "LONG_BINPUT"));
        if (absl::Status st = put(w ? le(w) : memo.size(), at); !st.ok()) return st;
        break;
      }
      case 'h': case 'j': {                                   // BINGET, LONG_BINGET
        const int w = op == 'h' ? 1 : 4;
        if (!need(w)) return Bad(name, absl::StrCat("truncated ", op == 'h' ? "BINGET" : "LONG_BINGET"));
        if (absl::Status st = get(le(w), at); !st.ok()) return st;
        break;
      }
      case 'K': if (!need(1)) return Bad(name, "truncated BININT1"); p += 1; break;
      case 'M': if (!need(2)) return Bad(name, "truncated BININT2"); p += 2; break;
      case 'J': if (!need(4)) return Bad(name, "truncated BININT"); p += 4; break;
      case '(': case ')': case 't': case 0x85: case 0x86: case 0x87:
      case 'N': case 0x88: case 0x89: case 'R': case 'b': case 'e': case 'a':
        break;
      case ']': in_list = true; break;                        // EMPTY_LIST: the elements follow
      // Strings: BINUNICODE, SHORT_BINUNICODE (the dtype's arguments; a str
      // element is taken as its UTF-8 bytes), SHORT_BINBYTES, BINBYTES, BINBYTES8.
      case 'X': case 0x8c: case 'C': case 'B': case 0x8e: {
        const int w = StringLengthWidth(op);
        if (!need(w)) return Bad(name, absl::StrCat("truncated string length at byte ", at));
        uint64_t len = le(w);
        if (!need(len)) return Bad(name, absl::StrCat("string at byte ", at, " runs past the end (truncated?)"));
        if (in_list) {
          if (count >= expected) return Bad(name, absl::StrCat("more than the ", expected, " elements the header declares"));
          fn(count++, std::string_view(reinterpret_cast<const char*>(p), len));
        }
        top = at;
        p += len;
        break;
      }
      case '.': stopped = true; break;
      default: {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "0x%02x", op);
        return Bad(name, absl::StrCat("disallowed pickle opcode ", buf, " at byte ", at));
      }
    }
  }
  if (count != expected) {
    return Bad(name, absl::StrCat("pickle holds ", count, " elements, the header declares ", expected));
  }
  return absl::OkStatus();
}

absl::Status ForEachNpyBytes(const std::string& path,
                             const std::function<void(int64_t, std::string_view)>& fn) {
  std::string error;
  auto f = MappedFile::Open(path, &error);
  if (!f) return absl::NotFoundError(error);
  return ParseNpyBytes(f->data(), f->size(), path, fn);
}

}  // namespace orqa
