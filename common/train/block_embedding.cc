#include "common/train/block_embedding.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/index/block_store.h"
#include "common/io/npy.h"
#include "common/io/tensor_view.h"
#include "common/model/text_embedder.h"

namespace orqa {

absl::Status EmbedBlocksToNpy(const TextEmbedder& embedder, const BlockStore& store, const EmbedBlocksOptions& o,
                              const std::string& out, const EmbedProgress& progress, int64_t* resumed_from) {
  const int64_t size = store.size();
  const int64_t begin = o.begin, end = o.end < 0 ? size : o.end;
  if (begin < 0 || begin > end || end > size) {
    return absl::InvalidArgumentError(absl::StrCat("blocks [", begin, ", ", end, ") outside the store's ", size));
  }
  if (o.batch_size < 1 || o.max_length < 8) {
    return absl::InvalidArgumentError("batch size must be >= 1 and max length >= 8");
  }
  const int64_t n = end - begin, dim = embedder.dim();
  const std::string header = NpyFloat32Header(n, dim);
  const std::string partial = out + ".partial";

  // Resume: the partial file is the final .npy minus its missing rows.
  int64_t done = 0;
  struct stat st;
  std::FILE* f = nullptr;
  if (stat(partial.c_str(), &st) == 0 && st.st_size >= static_cast<off_t>(header.size())) {
    f = std::fopen(partial.c_str(), "r+b");
    std::string existing(header.size(), '\0');
    if (!f || std::fread(existing.data(), 1, header.size(), f) != header.size() || existing != header) {
      if (f) std::fclose(f);
      return absl::FailedPreconditionError(
          absl::StrCat(partial, " belongs to another run (different block count or dimension); remove it"));
    }
    done = (st.st_size - static_cast<off_t>(header.size())) / (dim * 4);
    if (truncate(partial.c_str(), header.size() + done * dim * 4) != 0 ||
        std::fseek(f, static_cast<long>(header.size() + done * dim * 4), SEEK_SET) != 0) {
      std::fclose(f);
      return absl::DataLossError(absl::StrCat(partial, ": cannot resume: ", std::strerror(errno)));
    }
  } else {
    f = std::fopen(partial.c_str(), "wb");
    if (!f || std::fwrite(header.data(), 1, header.size(), f) != header.size()) {
      if (f) std::fclose(f);
      return absl::PermissionDeniedError(absl::StrCat(partial, ": cannot write: ", std::strerror(errno)));
    }
  }
  if (resumed_from) *resumed_from = done;
  for (int64_t b = done; b < n; b += o.batch_size) {
    std::vector<std::string> titles, texts;
    for (int64_t i = b; i < std::min(n, b + o.batch_size); ++i) {
      auto title = store.Title(begin + i);
      auto text = store.Text(begin + i);
      if (!title.ok() || !text.ok()) {
        std::fclose(f);
        return title.ok() ? text.status() : title.status();
      }
      titles.emplace_back(*title);
      texts.emplace_back(*text);
    }
    std::vector<float> v = embedder.EmbedBlocks(titles, texts, o.max_length);
    if (std::fwrite(v.data(), sizeof(float), v.size(), f) != v.size() || std::fflush(f) != 0) {
      std::fclose(f);
      return absl::DataLossError(absl::StrCat(partial, ": write failed: ", std::strerror(errno)));
    }
    const int64_t now = b + static_cast<int64_t>(texts.size());
    if (progress && !progress(now, n) && now < n) {
      std::fclose(f);
      return absl::CancelledError(absl::StrCat("stopped after ", now, " of ", n, " blocks; ", partial, " resumes"));
    }
  }
  return CommitFile(f, partial, out);
}

}  // namespace orqa
