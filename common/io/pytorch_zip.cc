#include "common/io/pytorch_zip.h"

#include "absl/strings/str_cat.h"
#include "common/io/restricted_pickle.h"
#include "common/io/zip_reader.h"

namespace orqa {
namespace {

const std::pair<const char*, DType> kStorageTypes[] = {
    {"torch.FloatStorage", DType::kF32},  {"torch.DoubleStorage", DType::kF64},
    {"torch.HalfStorage", DType::kF16},   {"torch.BFloat16Storage", DType::kBF16},
    {"torch.LongStorage", DType::kI64},   {"torch.IntStorage", DType::kI32},
    {"torch.ShortStorage", DType::kI16},  {"torch.CharStorage", DType::kI8},
    {"torch.ByteStorage", DType::kU8},    {"torch.BoolStorage", DType::kBool}};

bool AsInts(const PyPtr& v, std::vector<int64_t>* out) {
  if (!v || v->kind != PyValue::Kind::kTuple) return false;
  for (const auto& x : v->items) {
    if (x->kind != PyValue::Kind::kInt) return false;
    out->push_back(x->i);
  }
  return true;
}

}  // namespace

absl::StatusOr<std::map<std::string, TensorView>> ParsePyTorchZip(std::shared_ptr<const void> owner,
                                                                  const uint8_t* data, size_t size,
                                                                  const std::string& name) {
  auto zip = ZipReader::FromMemory(owner, data, size, name);
  if (!zip.ok()) return zip.status();
  std::string root;
  for (const auto& e : zip->EntryNames()) {
    if (e.size() >= 8 && e.compare(e.size() - 8, 8, "data.pkl") == 0 &&
        (e.size() == 8 || e[e.size() - 9] == '/')) {
      root = e.substr(0, e.size() - 8);
      break;
    }
  }
  auto pkl = zip->Read(root + "data.pkl");
  if (!pkl.ok()) {
    return absl::DataLossError(absl::StrCat(name, ": not a PyTorch checkpoint: no data.pkl in the archive"));
  }

  struct Storage {
    DType dtype;
    TensorView bytes;
  };
  std::vector<Storage> storages;
  std::vector<TensorView> tensors;

  PickleHooks hooks;
  hooks.allowed_globals = {"collections.OrderedDict", "torch._utils._rebuild_tensor_v2",
                           "torch._utils._rebuild_parameter"};
  for (const auto& [g, d] : kStorageTypes) hooks.allowed_globals.push_back(g);

  hooks.persistent_load = [&](const PyPtr& pid) -> absl::StatusOr<PyPtr> {
    if (pid->kind != PyValue::Kind::kTuple || pid->items.size() < 5 ||
        pid->items[0]->s != "storage" || pid->items[1]->kind != PyValue::Kind::kGlobal ||
        pid->items[2]->kind != PyValue::Kind::kStr || pid->items[4]->kind != PyValue::Kind::kInt) {
      return absl::DataLossError(absl::StrCat(name, ": malformed storage reference in data.pkl"));
    }
    Storage s;
    bool known = false;
    for (const auto& [g, d] : kStorageTypes) {
      if (pid->items[1]->s == g) {
        s.dtype = d;
        known = true;
      }
    }
    if (!known) return absl::DataLossError(absl::StrCat(name, ": unknown storage type ", pid->items[1]->s));
    const std::string entry = root + "data/" + pid->items[2]->s;
    auto bytes = zip->Read(entry);
    if (!bytes.ok()) return absl::DataLossError(absl::StrCat(name, ": storage '", entry, "' is missing"));
    int64_t numel = pid->items[4]->i;
    if (numel < 0 || static_cast<uint64_t>(numel) * DTypeSize(s.dtype) > bytes->nbytes) {
      return absl::DataLossError(absl::StrCat(name, ": storage '", entry, "' holds ", bytes->nbytes,
                                              " bytes, fewer than its ", numel, " elements need"));
    }
    s.bytes = *bytes;
    storages.push_back(s);
    auto v = std::make_shared<PyValue>();
    v->kind = PyValue::Kind::kObject;
    v->s = "storage";
    v->handle = static_cast<int64_t>(storages.size()) - 1;
    return v;
  };

  hooks.reduce = [&](const std::string& fn, const PyPtr& args) -> absl::StatusOr<PyPtr> {
    if (args->kind != PyValue::Kind::kTuple) return absl::DataLossError(absl::StrCat(name, ": ", fn, " without a tuple"));
    if (fn == "torch._utils._rebuild_parameter") {
      if (args->items.empty() || args->items[0]->s != "tensor") {
        return absl::DataLossError(absl::StrCat(name, ": _rebuild_parameter of a non-tensor"));
      }
      return args->items[0];
    }
    if (fn != "torch._utils._rebuild_tensor_v2") {
      return absl::DataLossError(absl::StrCat(name, ": REDUCE of '", fn, "' is not allowed"));
    }
    const auto& a = args->items;
    std::vector<int64_t> shape, stride;
    if (a.size() < 4 || a[0]->s != "storage" || a[0]->handle < 0 || a[1]->kind != PyValue::Kind::kInt ||
        !AsInts(a[2], &shape) || !AsInts(a[3], &stride) || shape.size() != stride.size()) {
      return absl::DataLossError(absl::StrCat(name, ": malformed _rebuild_tensor_v2 arguments"));
    }
    const Storage& s = storages[a[0]->handle];
    // Row-major contiguity (dimensions of size 1 may have any stride).
    int64_t expect = 1, numel = 1;
    for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
      if (shape[i] < 0) return absl::DataLossError(absl::StrCat(name, ": negative tensor dimension"));
      if (shape[i] != 1 && stride[i] != expect) {
        return absl::UnimplementedError(absl::StrCat(name, ": non-contiguous tensor (stride ", stride[i],
                                                     " in dimension ", i, ") is not supported"));
      }
      // Shapes come from the file: every product is checked for overflow.
      if (__builtin_mul_overflow(expect, shape[i], &expect) || __builtin_mul_overflow(numel, shape[i], &numel)) {
        return absl::DataLossError(absl::StrCat(name, ": tensor shape overflows 64 bits"));
      }
    }
    const size_t elem = DTypeSize(s.dtype);
    const int64_t offset = a[1]->i;
    uint64_t end_elems = 0, end_bytes = 0;
    if (offset < 0 ||
        __builtin_add_overflow(static_cast<uint64_t>(offset), static_cast<uint64_t>(numel), &end_elems) ||
        __builtin_mul_overflow(end_elems, static_cast<uint64_t>(elem), &end_bytes) || end_bytes > s.bytes.nbytes) {
      return absl::DataLossError(absl::StrCat(name, ": tensor (storage offset ", offset, ", ", numel,
                                              " elements) runs past the end of its storage"));
    }
    TensorView t;
    t.dtype = s.dtype;
    t.shape = shape;
    t.data = s.bytes.data + offset * elem;
    t.nbytes = numel * elem;
    t.owner = s.bytes.owner;
    tensors.push_back(t);
    auto v = std::make_shared<PyValue>();
    v->kind = PyValue::Kind::kObject;
    v->s = "tensor";
    v->handle = static_cast<int64_t>(tensors.size()) - 1;
    return v;
  };

  auto top = Unpickle(pkl->data, pkl->nbytes, hooks, name + ":data.pkl");
  if (!top.ok()) return top.status();
  if ((*top)->kind != PyValue::Kind::kDict) {
    return absl::DataLossError(absl::StrCat(name, ": data.pkl does not hold a dict of tensors"));
  }
  std::map<std::string, TensorView> out;
  for (const auto& [k, v] : (*top)->dict) {
    if (k->kind != PyValue::Kind::kStr) return absl::DataLossError(absl::StrCat(name, ": a state-dict key is not a string"));
    if (v->kind != PyValue::Kind::kObject || v->s != "tensor") {
      return absl::DataLossError(absl::StrCat(name, ": value of '", k->s, "' is not a tensor"));
    }
    out[k->s] = tensors[v->handle];
  }
  return out;
}

absl::StatusOr<std::map<std::string, TensorView>> ReadPyTorchZip(const std::string& path) {
  std::string error;
  auto file = MappedFile::Open(path, &error);
  if (!file) return absl::NotFoundError(error);
  return ParsePyTorchZip(file, file->data(), file->size(), path);
}

}  // namespace orqa
