// `orqa convert`: TensorFlow REALM / ORQA checkpoints → an orqa model
// directory (config.json, vocab.txt, model.safetensors), without TensorFlow.
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <tuple>
#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/fetch/model_source.h"
#include "common/infra/flags.h"
#include "common/infra/main_util.h"
#include "common/io/safetensors.h"
#include "common/model/realm_config.h"
#include "common/model/tf_checkpoint.h"
#include "common/text/wordpiece_tokenizer.h"
#include "services/cli/commands.h"

namespace orqa::cli {
namespace {

std::string Shape(const std::vector<int64_t>& s) { return absl::StrCat("[", absl::StrJoin(s, ", "), "]"); }

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot read: ", std::strerror(errno)));
  return std::string(std::istreambuf_iterator<char>(in), {});
}

absl::Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) return absl::DataLossError(absl::StrCat(path, ": write failed"));
  return absl::OkStatus();
}

}  // namespace

int RunConvert(int argc, char** argv) {
  constexpr char kCmd[] = "orqa convert";
  std::vector<std::string> from;
  std::string kind_name = "openqa", config_path, vocab_path, out;
  bool init_missing = false, quiet = false;
  int seed = 0;
  FlagSet flags(kCmd,
                "Converts TensorFlow REALM/ORQA checkpoints (the released cc_news_pretrained/{bert,embedder}, "
                "orqa_*_model checkpoints, encoded.ckpt) into a model directory orqa serves, using the "
                "reference converter's variable mapping.");
  flags.StringList("from", &from,
                   "TF checkpoint prefix (PREFIX.index beside it) or its directory (its `checkpoint` file names the "
                   "prefix); repeat or comma-separate.");
  flags.String("kind", &kind_name, "Model to write: embedder, reader, encoder, scorer or openqa.");
  flags.String("config", &config_path,
               "The model's config.json (Hugging Face RealmConfig), or a model directory / Hub model id holding it.");
  flags.String("vocab", &vocab_path, "vocab.txt of the model, or a model directory / Hub model id holding it.");
  flags.String("out", &out, "Model directory to create (must not exist).");
  flags.Bool("init-missing", &init_missing,
             "Initialise weights no checkpoint holds as BERT does (e.g. the span scorer when starting "
             "from pre-trained REALM) instead of failing.");
  flags.Int("seed", &seed, "Random seed for --init-missing.");
  flags.Bool("quiet", &quiet, "Print only the summary, not every variable.");
  if (auto code = ParseFlagsOrExit(flags, argc, argv, kCmd)) return *code;
  if (from.empty() || config_path.empty() || vocab_path.empty() || out.empty()) {
    return ReportFatal(kCmd, absl::InvalidArgumentError("--from, --config, --vocab and --out are required"), 2);
  }
  auto kind = ParseRealmKind(kind_name);
  if (!kind.ok()) return ReportFatal(kCmd, kind.status(), 2);
  // --config / --vocab: the file, or a model directory / Hub model id holding it.
  for (auto [flag, path, file] : {std::tuple{"--config", &config_path, "config.json"},
                                  std::tuple{"--vocab", &vocab_path, "vocab.txt"}}) {
    auto resolved = ResolveModelPath(*path, flag);
    if (!resolved.ok()) return ReportFatal(kCmd, resolved.status(), 2);
    *path = std::filesystem::is_directory(*resolved) ? *resolved + "/" + file : *resolved;
  }
  auto config_text = ReadFile(config_path);
  if (!config_text.ok()) return ReportFatal(kCmd, config_text.status(), 2);
  auto config = ParseRealmConfig(*config_text, config_path);
  if (!config.ok()) return ReportFatal(kCmd, config.status(), 2);
  auto vocab = WordPieceTokenizer::FromVocabFile(vocab_path);
  if (!vocab.ok()) return ReportFatal(kCmd, vocab.status(), 2);
  if (static_cast<int>(vocab->vocab_size()) != config->vocab_size) {
    return ReportFatal(kCmd, absl::InvalidArgumentError(absl::StrCat(
        vocab_path, " has ", vocab->vocab_size(), " tokens but ", config_path, " says vocab_size ",
        config->vocab_size)), 2);
  }
  std::error_code ec;
  if (std::filesystem::exists(out, ec)) {
    return ReportFatal(kCmd, absl::AlreadyExistsError(absl::StrCat(out, ": already exists; remove it or pick another --out")), 2);
  }

  TFConversionOptions options;
  options.init_missing = init_missing;
  options.seed = static_cast<uint64_t>(seed);
  auto conv = ConvertTFCheckpoints(from, *kind, *config, options);
  if (!conv.ok()) return ReportFatal(kCmd, conv.status());

  int skipped = 0, transposed = 0;
  for (const auto& p : conv->plan) {
    if (p.key.empty()) {
      ++skipped;
      if (!quiet) std::printf("  skipped     %s %s (%s)\n", p.tf_name.c_str(), Shape(p.tf_shape).c_str(), p.skip_reason.c_str());
      continue;
    }
    transposed += p.transpose;
    if (!quiet) {
      std::printf("  %s %s %s -> %s%s\n", p.transpose ? "transposed " : "mapped     ", p.tf_name.c_str(),
                  Shape(p.tf_shape).c_str(), p.key.c_str(), p.transpose ? " ([in, out] -> [out, in])" : "");
    }
  }
  for (const auto& k : conv->initialized) {
    std::printf("  initialised %s (in no checkpoint; --init-missing)\n", k.c_str());
  }
  if (!conv->absent_optional.empty()) {
    std::printf("  not written: %zu optional keys no checkpoint holds and orqa never runs: %s\n",
                conv->absent_optional.size(), absl::StrJoin(conv->absent_optional, ", ").c_str());
  }
  for (const auto& [alias, key] : conv->aliases) {
    if (!quiet) std::printf("  alias       %s = %s\n", alias.c_str(), key.c_str());
  }

  // Written beside the target and renamed, so `out` is complete or absent.
  const std::string tmp = out + ".tmp";
  std::filesystem::remove_all(tmp, ec);
  if (!std::filesystem::create_directories(tmp, ec)) {
    return ReportFatal(kCmd, absl::PermissionDeniedError(absl::StrCat(tmp, ": ", ec.message())));
  }
  nlohmann::json aliases(conv->aliases);
  std::map<std::string, std::string> metadata = {{"format", "pt"},
                                                 {"architecture", RealmKindClass(*kind)},
                                                 {"aliases", aliases.dump()},
                                                 {"converted_from", absl::StrJoin(from, ",")}};
  absl::Status st = WriteText(tmp + "/config.json", *config_text);
  if (st.ok() && !std::filesystem::copy_file(vocab_path, tmp + "/vocab.txt", ec)) {
    st = absl::DataLossError(absl::StrCat(tmp, "/vocab.txt: ", ec.message()));
  }
  if (st.ok()) st = WriteSafetensors(tmp + "/model.safetensors", conv->tensors, metadata);
  if (st.ok() && std::rename(tmp.c_str(), out.c_str()) != 0) {
    st = absl::DataLossError(absl::StrCat(out, ": rename failed: ", std::strerror(errno)));
  }
  if (!st.ok()) {
    std::filesystem::remove_all(tmp, ec);
    return ReportFatal(kCmd, st);
  }
  int64_t params = 0;
  for (const auto& [k, v] : conv->tensors) params += v.numel();
  std::printf("wrote %s: %s, %zu tensors (%lld parameters) from %zu TF variables: %zu mapped (%d transposed), "
              "%d skipped, %zu initialised\n",
              out.c_str(), RealmKindClass(*kind), conv->tensors.size(), static_cast<long long>(params),
              conv->plan.size(), conv->plan.size() - skipped, transposed, skipped, conv->initialized.size());
  return 0;
}

}  // namespace orqa::cli
