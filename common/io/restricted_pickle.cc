#include "common/io/restricted_pickle.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace orqa {
namespace {

PyPtr Make(PyValue::Kind k) {
  auto v = std::make_shared<PyValue>();
  v->kind = k;
  return v;
}

class Machine {
 public:
  Machine(const uint8_t* d, size_t n, const PickleHooks& h, const std::string& name)
      : d_(d), n_(n), hooks_(h), name_(name) {}

  absl::StatusOr<PyPtr> Run() {
    while (true) {
      if (p_ >= n_) return Err("ran out of data before STOP (truncated?)");
      size_t at = p_;
      uint8_t op = d_[p_++];
      absl::Status st = Step(op, at);
      if (!st.ok()) return st;
      if (done_) {
        if (stack_.empty()) return Err("STOP with an empty stack");
        return stack_.back();
      }
    }
  }

 private:
  absl::Status Err(const std::string& what) const {
    return absl::DataLossError(absl::StrCat(name_, ": pickle: ", what));
  }
  absl::Status Need(size_t k) const {
    // p_ <= n_ always; k comes from the file and p_ + k may wrap.
    if (k > n_ - p_) return Err(absl::StrCat("opcode argument of ", k, " bytes runs past the end at byte ", p_));
    return absl::OkStatus();
  }
  uint64_t ReadLE(int k) {
    uint64_t v = 0;
    for (int i = k - 1; i >= 0; --i) v = (v << 8) | d_[p_ + i];
    p_ += k;
    return v;
  }
  absl::StatusOr<std::string> ReadLine() {
    const uint8_t* nl = static_cast<const uint8_t*>(std::memchr(d_ + p_, '\n', n_ - p_));
    if (!nl) return Err("unterminated text argument");
    std::string s(reinterpret_cast<const char*>(d_ + p_), nl - (d_ + p_));
    p_ = nl - d_ + 1;
    return s;
  }
  absl::StatusOr<PyPtr> Pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) return Err("stack underflow");
    PyPtr v = stack_.back();
    stack_.pop_back();
    return v;
  }
  absl::StatusOr<std::vector<PyPtr>> PopMark() {
    if (marks_.empty()) return Err("no MARK on the stack");
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PyPtr> items(stack_.begin() + m, stack_.end());
    stack_.resize(m);
    return items;
  }
  absl::Status Push(PyPtr v) {
    if (stack_.size() > (1u << 24)) return Err("stack too deep");
    stack_.push_back(std::move(v));
    return absl::OkStatus();
  }
  PyPtr Str(std::string s, PyValue::Kind k = PyValue::Kind::kStr) {
    auto v = Make(k);
    v->s = std::move(s);
    return v;
  }
  PyPtr Int(int64_t i) {
    auto v = Make(PyValue::Kind::kInt);
    v->i = i;
    return v;
  }
  absl::Status PushGlobal(const std::string& module, const std::string& qualname, size_t at) {
    std::string full = module + "." + qualname;
    if (std::find(hooks_.allowed_globals.begin(), hooks_.allowed_globals.end(), full) ==
        hooks_.allowed_globals.end()) {
      return Err(absl::StrCat("disallowed global '", full, "' at byte ", at));
    }
    return Push(Str(full, PyValue::Kind::kGlobal));
  }
  absl::Status SetItems(const std::vector<PyPtr>& kv) {
    if (kv.size() % 2) return Err("SETITEMS with an odd number of items");
    auto target = Pop();
    if (!target.ok()) return target.status();
    if ((*target)->kind != PyValue::Kind::kDict) return Err("SETITEM(S) on a non-dict");
    for (size_t i = 0; i < kv.size(); i += 2) (*target)->dict.push_back({kv[i], kv[i + 1]});
    return Push(*target);
  }

  absl::Status Step(uint8_t op, size_t at) {
    using K = PyValue::Kind;
#define ORQA_NEED(k)                                   \
  do {                                                 \
    if (absl::Status s__ = Need(k); !s__.ok()) return s__; \
  } while (false)
    switch (op) {
      case 0x80: ORQA_NEED(1); p_ += 1; return absl::OkStatus();           // PROTO
      case 0x95: ORQA_NEED(8); p_ += 8; return absl::OkStatus();           // FRAME
      case '.': done_ = true; return absl::OkStatus();                     // STOP
      case '(': marks_.push_back(stack_.size()); return absl::OkStatus();  // MARK
      case 'N': return Push(Make(K::kNone));
      case 0x88: case 0x89: { auto v = Make(K::kBool); v->b = op == 0x88; return Push(v); }
      case 'K': ORQA_NEED(1); return Push(Int(ReadLE(1)));                 // BININT1
      case 'M': ORQA_NEED(2); return Push(Int(ReadLE(2)));                 // BININT2
      case 'J': ORQA_NEED(4); return Push(Int(static_cast<int32_t>(ReadLE(4))));  // BININT
      case 0x8a: {                                                         // LONG1
        ORQA_NEED(1);
        int k = d_[p_++];
        if (k > 8) return Err(absl::StrCat("LONG1 of ", k, " bytes at byte ", at, " is too large"));
        ORQA_NEED(k);
        int64_t v = 0;
        if (k > 0) {
          uint64_t u = ReadLE(k);
          if (k < 8 && (u >> (8 * k - 1)) & 1) u |= ~0ull << (8 * k);  // sign-extend
          v = static_cast<int64_t>(u);
        }
        return Push(Int(v));
      }
      case 'G': {                                                          // BINFLOAT (big-endian)
        ORQA_NEED(8);
        uint64_t u = 0;
        for (int i = 0; i < 8; ++i) u = (u << 8) | d_[p_ + i];
        p_ += 8;
        auto v = Make(K::kFloat);
        std::memcpy(&v->f, &u, 8);
        return Push(v);
      }
      case 'X': case 0x8c: case 0x8d: case 'B': case 'C': case 0x8e: {     // strings, bytes
        int width = (op == 'X' || op == 'B') ? 4 : (op == 0x8d || op == 0x8e) ? 8 : 1;
        ORQA_NEED(width);
        uint64_t len = ReadLE(width);
        if (len > n_ - p_) return Err(absl::StrCat("string of ", len, " bytes at byte ", at, " runs past the end"));
        std::string s(reinterpret_cast<const char*>(d_ + p_), len);
        p_ += len;
        bool bytes = op == 'B' || op == 'C' || op == 0x8e;
        return Push(Str(std::move(s), bytes ? K::kBytes : K::kStr));
      }
      case ')': return Push(Make(K::kTuple));                              // EMPTY_TUPLE
      case ']': return Push(Make(K::kList));                               // EMPTY_LIST
      case '}': return Push(Make(K::kDict));                               // EMPTY_DICT
      case 't': {                                                          // TUPLE
        auto items = PopMark();
        if (!items.ok()) return items.status();
        auto v = Make(K::kTuple);
        v->items = std::move(*items);
        return Push(v);
      }
      case 0x85: case 0x86: case 0x87: {                                   // TUPLE1..3
        size_t k = op - 0x84;
        auto v = Make(K::kTuple);
        for (size_t i = 0; i < k; ++i) {
          auto x = Pop();
          if (!x.ok()) return x.status();
          v->items.insert(v->items.begin(), *x);
        }
        return Push(v);
      }
      case 'a': {                                                          // APPEND
        auto x = Pop();
        if (!x.ok()) return x.status();
        if (stack_.empty() || stack_.back()->kind != K::kList) return Err("APPEND to a non-list");
        stack_.back()->items.push_back(*x);
        return absl::OkStatus();
      }
      case 'e': {                                                          // APPENDS
        auto items = PopMark();
        if (!items.ok()) return items.status();
        if (stack_.empty() || stack_.back()->kind != K::kList) return Err("APPENDS to a non-list");
        for (auto& x : *items) stack_.back()->items.push_back(x);
        return absl::OkStatus();
      }
      case 's': {                                                          // SETITEM
        auto v = Pop();
        if (!v.ok()) return v.status();
        auto k = Pop();
        if (!k.ok()) return k.status();
        return SetItems({*k, *v});
      }
      case 'u': {                                                          // SETITEMS
        auto items = PopMark();
        if (!items.ok()) return items.status();
        return SetItems(*items);
      }
      case 'q': ORQA_NEED(1); return Memo(ReadLE(1));                      // BINPUT
      case 'r': ORQA_NEED(4); return Memo(ReadLE(4));                      // LONG_BINPUT
      case 0x94: return Memo(memo_.size());                                // MEMOIZE
      case 'h': ORQA_NEED(1); return Get(ReadLE(1), at);                   // BINGET
      case 'j': ORQA_NEED(4); return Get(ReadLE(4), at);                   // LONG_BINGET
      case 'c': {                                                          // GLOBAL
        auto module = ReadLine();
        if (!module.ok()) return module.status();
        auto qual = ReadLine();
        if (!qual.ok()) return qual.status();
        return PushGlobal(*module, *qual, at);
      }
      case 0x93: {                                                         // STACK_GLOBAL
        auto qual = Pop();
        if (!qual.ok()) return qual.status();
        auto module = Pop();
        if (!module.ok()) return module.status();
        if ((*qual)->kind != K::kStr || (*module)->kind != K::kStr) return Err("STACK_GLOBAL needs two strings");
        return PushGlobal((*module)->s, (*qual)->s, at);
      }
      case 'R': {                                                          // REDUCE
        auto args = Pop();
        if (!args.ok()) return args.status();
        auto fn = Pop();
        if (!fn.ok()) return fn.status();
        if ((*fn)->kind != K::kGlobal) return Err(absl::StrCat("REDUCE of a non-global at byte ", at));
        if ((*fn)->s == "collections.OrderedDict") return Push(Make(K::kDict));
        if (!hooks_.reduce) return Err(absl::StrCat("REDUCE of '", (*fn)->s, "' is not allowed"));
        auto r = hooks_.reduce((*fn)->s, *args);
        if (!r.ok()) return r.status();
        return Push(*r);
      }
      case 'b': {                                                          // BUILD
        auto state = Pop();
        if (!state.ok()) return state.status();
        // Only plain containers get here (an OrderedDict's __dict__ such as
        // state_dict()._metadata); the state is dropped.
        if (stack_.empty() || stack_.back()->kind != K::kDict) return Err(absl::StrCat("BUILD on a non-dict at byte ", at));
        return absl::OkStatus();
      }
      case 'Q': {                                                          // BINPERSID
        auto pid = Pop();
        if (!pid.ok()) return pid.status();
        if (!hooks_.persistent_load) return Err("persistent ids are not allowed here");
        auto r = hooks_.persistent_load(*pid);
        if (!r.ok()) return r.status();
        return Push(*r);
      }
      case '0': { auto x = Pop(); return x.ok() ? absl::OkStatus() : x.status(); }  // POP
      case '2': {                                                                   // DUP
        if (stack_.empty()) return Err("DUP on an empty stack");
        return Push(stack_.back());
      }
      default: {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "0x%02x", op);
        return Err(absl::StrCat("disallowed opcode ", buf, " at byte ", at));
      }
    }
  }
#undef ORQA_NEED

  absl::Status Memo(uint64_t idx) {
    if (stack_.empty()) return Err("memo store with an empty stack");
    if (idx > (1u << 24)) return Err("memo index too large");
    if (memo_.size() <= idx) memo_.resize(idx + 1);
    memo_[idx] = stack_.back();
    return absl::OkStatus();
  }
  absl::Status Get(uint64_t idx, size_t at) {
    if (idx >= memo_.size() || !memo_[idx]) return Err(absl::StrCat("memo ", idx, " unset at byte ", at));
    return Push(memo_[idx]);
  }

  const uint8_t* d_;
  size_t n_;
  size_t p_ = 0;
  const PickleHooks& hooks_;
  std::string name_;
  std::vector<PyPtr> stack_;
  std::vector<size_t> marks_;
  std::vector<PyPtr> memo_;
  bool done_ = false;
};

}  // namespace

absl::StatusOr<PyPtr> Unpickle(const uint8_t* data, size_t size, const PickleHooks& hooks,
                               const std::string& name) {
  return Machine(data, size, hooks, name).Run();
}

}  // namespace orqa
