#include <cstdio>

#include "absl/strings/str_cat.h"
#include "common/index/embeddings.h"
#include "common/infra/flags.h"
#include "common/infra/main_util.h"
#include "services/cli/commands.h"
#include "services/cli/progress.h"

namespace orqa::cli {

int RunImportEmbeddings(int argc, char** argv) {
  constexpr char kCmd[] = "orqa import-embeddings";
  std::string from, out;
  FlagSet flags(kCmd,
                "Copies block embeddings from a Hugging Face checkpoint (block_emb), a TF checkpoint such as "
                "ORQA's encoded.ckpt (block_emb) or a .npy into a float32 .npy, streaming.");
  flags.String("from", &from,
               "model.safetensors, pytorch_model.bin, a TF checkpoint (prefix, .index or its directory), or .npy.");
  flags.String("out", &out, "Output .npy.");
  if (auto code = ParseFlagsOrExit(flags, argc, argv, kCmd)) return *code;
  if (from.empty() || out.empty()) return ReportFatal(kCmd, absl::InvalidArgumentError("--from and --out are required"), 2);
  auto m = OpenEmbeddings(from);
  if (!m.ok()) return ReportFatal(kCmd, m.status());
  Progress progress("rows", m->rows());
  absl::Status st = WriteEmbeddingsNpy(*m, out, [&](int64_t rows) { progress.Update(rows); });
  if (!st.ok()) return ReportFatal(kCmd, st);
  progress.Done(m->rows());
  std::printf("wrote %lld x %lld embeddings to %s\n", static_cast<long long>(m->rows()),
              static_cast<long long>(m->dim()), out.c_str());
  return 0;
}

}  // namespace orqa::cli
