#include "common/index/embeddings.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/io/npy.h"
#include "common/io/pytorch_zip.h"
#include "common/io/safetensors.h"
#include "common/io/tf_bundle.h"
#include "common/io/zip_reader.h"

namespace orqa {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

float HalfToFloat(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while (!(mant & 0x400)) {
        mant <<= 1;
        --exp;
      }
      bits = sign | (exp << 23) | ((mant & 0x3FF) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else {
    bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

absl::StatusOr<EmbeddingMatrix> FromView(TensorView v, const std::string& path) {
  if (v.shape.size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": block embeddings must be 2-D [num_blocks, dim], got ",
                                                   v.shape.size(), "-D"));
  }
  if (v.shape[0] < 1 || v.shape[1] < 1) return absl::InvalidArgumentError(absl::StrCat(path, ": block embeddings are empty"));
  if (v.dtype == DType::kF16) {
    auto buf = std::make_shared<std::vector<float>>(v.numel());
    const auto* h = reinterpret_cast<const uint16_t*>(v.data);
    for (int64_t i = 0; i < v.numel(); ++i) (*buf)[i] = HalfToFloat(h[i]);
    v.dtype = DType::kF32;
    v.data = reinterpret_cast<const uint8_t*>(buf->data());
    v.nbytes = buf->size() * 4;
    v.owner = buf;
  }
  if (v.dtype != DType::kF32) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": block embeddings must be float32 or float16, got ",
                                                   DTypeName(v.dtype)));
  }
  if (reinterpret_cast<uintptr_t>(v.data) % 4 != 0) {  // copy to an aligned buffer
    auto buf = std::make_shared<std::vector<float>>(v.numel());
    std::memcpy(buf->data(), v.data, v.nbytes);
    v.data = reinterpret_cast<const uint8_t*>(buf->data());
    v.owner = buf;
  }
  return EmbeddingMatrix{std::move(v)};
}

}  // namespace

absl::StatusOr<EmbeddingMatrix> OpenEmbeddings(const std::string& path) {
  if (EndsWith(path, ".npy")) {
    auto v = ReadNpyArray(path);
    if (!v.ok()) return v.status();
    return FromView(*v, path);
  }
  auto tf_prefix = ResolveTFCheckpoint(path);  // PREFIX, PREFIX.index or a checkpoint directory
  if (!tf_prefix.ok()) return tf_prefix.status();
  if (!tf_prefix->empty()) {
    auto reader = TFBundleReader::Open(*tf_prefix);
    if (!reader.ok()) return reader.status();
    auto v = reader->Read("block_emb");
    if (!v.ok()) return v.status();
    return FromView(*v, path);
  }
  if (IsZipFile(path)) {
    auto tensors = ReadPyTorchZip(path);
    if (!tensors.ok()) return tensors.status();
    auto it = tensors->find("block_emb");
    if (it == tensors->end()) return absl::NotFoundError(absl::StrCat(path, ": no tensor 'block_emb'"));
    return FromView(it->second, path);
  }
  auto st = ReadSafetensors(path);
  if (!st.ok()) return st.status();
  auto it = st->tensors.find("block_emb");
  if (it == st->tensors.end()) {
    const TensorView* only = nullptr;
    for (const auto& [name, t] : st->tensors) {
      if (t.shape.size() != 2) continue;
      if (only) return absl::NotFoundError(absl::StrCat(path, ": no tensor 'block_emb' and several 2-D tensors"));
      only = &t;
    }
    if (!only) return absl::NotFoundError(absl::StrCat(path, ": no tensor 'block_emb'"));
    return FromView(*only, path);
  }
  return FromView(it->second, path);
}

EmbeddingMatrix SliceRows(const EmbeddingMatrix& m, int64_t begin, int64_t end) {
  EmbeddingMatrix out = m;
  out.view.shape = {end - begin, m.dim()};
  out.view.data = m.view.data + begin * m.dim() * 4;
  out.view.nbytes = (end - begin) * m.dim() * 4;
  return out;
}

std::pair<int64_t, int64_t> ShardRange(int64_t rows, int index, int num_shards) {
  int64_t begin = rows * index / num_shards;
  int64_t end = rows * (index + 1) / num_shards;
  return {begin, end};
}

absl::StatusOr<std::pair<int64_t, int64_t>> CheckedShardRange(int64_t rows, int index, int num_shards) {
  if (num_shards < 1 || index < 0 || index >= num_shards) {
    return absl::InvalidArgumentError(absl::StrCat("shard ", index, " of ", num_shards, ": no such shard"));
  }
  if (rows < num_shards) {
    return absl::InvalidArgumentError(absl::StrCat(rows, " blocks cannot make ", num_shards, " shards"));
  }
  return ShardRange(rows, index, num_shards);
}

absl::Status WriteEmbeddingsNpy(const EmbeddingMatrix& m, const std::string& path,
                                const std::function<void(int64_t)>& progress) {
  const std::string header = NpyFloat32Header(m.rows(), m.dim());
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return absl::PermissionDeniedError(absl::StrCat(tmp, ": ", std::strerror(errno)));
  bool ok = std::fwrite(header.data(), 1, header.size(), f) == header.size();
  const int64_t chunk_rows = std::max<int64_t>(1, (64 << 20) / (m.dim() * 4));
  for (int64_t r = 0; ok && r < m.rows(); r += chunk_rows) {
    int64_t n = std::min(chunk_rows, m.rows() - r);
    size_t bytes = n * m.dim() * 4;
    ok = std::fwrite(m.view.data + r * m.dim() * 4, 1, bytes, f) == bytes;
    if (progress) progress(r + n);
  }
  return CommitFile(f, tmp, path, ok);
}

}  // namespace orqa
