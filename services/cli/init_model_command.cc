// `orqa init-model`: a RealmForOpenQA model directory with fresh weights,
// initialised as BERT is (the starting point of pre-training from nothing).
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/infra/flags.h"
#include "common/infra/main_util.h"
#include "common/model/realm_config.h"
#include "common/model/realm_models.h"
#include "common/text/wordpiece_tokenizer.h"
#include "common/train/checkpoint.h"
#include "common/train/word_vectors.h"
#include "services/cli/commands.h"

namespace orqa::cli {
namespace {

// BERT's initialisation: weights ~ N(0, std), biases 0, LayerNorm 1 and 0.
void InitLikeBert(torch::nn::Module& module, double std) {
  torch::NoGradGuard g;
  for (auto& item : module.named_parameters()) {
    torch::Tensor p = item.value();
    switch (BertInitOf(item.key())) {
      case BertInit::kZero: p.zero_(); break;
      case BertInit::kOne: p.fill_(1.0); break;
      case BertInit::kNormal: p.normal_(0, std); break;
    }
  }
}

// Counts word-piece co-occurrences over `paths` (comma-separated): a .jsonl
// file contributes each line's "text" (else "question") field, any other
// file each non-empty line.
absl::Status CountText(const WordPieceTokenizer& tok, const std::string& paths, int window, CooccurrenceCounts* counts) {
  for (const std::string& path : std::vector<std::string>(absl::StrSplit(paths, ',', absl::SkipEmpty()))) {
    std::ifstream in(path);
    if (!in) return absl::NotFoundError(absl::StrCat("--word-vectors: cannot open ", path));
    const bool jsonl = path.size() > 6 && path.compare(path.size() - 6, 6, ".jsonl") == 0;
    std::string line;
    for (int64_t n = 1; std::getline(in, line); ++n) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      std::string text = line;
      if (jsonl) {
        auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (!j.is_object()) return absl::InvalidArgumentError(absl::StrCat(path, ":", n, ": not a JSON object"));
        const char* field = j.contains("text") ? "text" : "question";
        if (!j.contains(field) || !j[field].is_string()) {
          return absl::InvalidArgumentError(absl::StrCat(path, ":", n, ": no string field \"text\" or \"question\""));
        }
        text = j[field].get<std::string>();
      }
      counts->Add(tok.Encode(text), window);
    }
  }
  return absl::OkStatus();
}

// Sets the rows of the pieces with a word vector in every word embedding
// matrix of `weights` (the vectors scaled to the norm of a fresh row).
void StartFromWordVectors(const WordVectors& wv, double init_std, StateDict* weights) {
  torch::NoGradGuard g;
  const double norm = init_std * std::sqrt(static_cast<double>(wv.vectors.size(1)));
  for (auto& [name, w] : *weights) {
    if (name.find("embeddings.word_embeddings.weight") == std::string::npos) continue;
    w.index_put_({wv.known}, wv.vectors.index({wv.known}) * norm);
  }
}

}  // namespace

int RunInitModel(int argc, char** argv) {
  constexpr char kCmd[] = "orqa init-model";
  std::string out, vocab;
  int hidden = 256, layers = 4, heads = 4, intermediate = 1024, proj = 128, span_hidden = 256, seq_len = 288,
      reader_beam = 5, searcher_beam = 100, max_span = 10, max_position = 512, seed = 0;
  double init_std = 0.02;
  bool question_match = false, word_shape = false;
  std::string word_vector_text;
  WordVectorOptions wv_options;
  std::string act = "gelu_new";
  FlagSet flags(kCmd, "Writes a RealmForOpenQA model directory with fresh BERT-initialised weights.");
  flags.String("out", &out, "Model directory to create.");
  flags.String("vocab", &vocab, "vocab.txt (the REALM/BERT uncased vocabulary).");
  flags.Int("hidden-size", &hidden, "BERT hidden size.");
  flags.Int("layers", &layers, "BERT layers.");
  flags.Int("heads", &heads, "Attention heads.");
  flags.Int("intermediate-size", &intermediate, "Feed-forward size.");
  flags.Int("proj-size", &proj, "Retrieval embedding size (retriever_proj_size).");
  flags.Int("span-hidden-size", &span_hidden, "Reader span scorer size.");
  flags.Int("reader-seq-len", &seq_len, "Reader tokens per question-block pair.");
  flags.Int("reader-beam", &reader_beam, "Blocks the reader reads (reader_beam_size).");
  flags.Int("searcher-beam", &searcher_beam, "Blocks retrieved while finetuning (searcher_beam_size).");
  flags.Int("max-span-width", &max_span, "Longest answer span, in word pieces.");
  flags.Int("max-position", &max_position, "Position embeddings.");
  flags.String("hidden-act", &act, "gelu or gelu_new.");
  flags.Double("init-std", &init_std, "Standard deviation of the initial weights.");
  flags.Int("seed", &seed, "Random seed.");
  flags.Bool("question-match", &question_match,
             "Reader input feature: block words found in the question get token type 2 "
             "(reader_question_match; type_vocab_size 3). Helps a reader trained from nothing.");
  flags.Bool("word-shape", &word_shape,
             "Reader input feature: other block words get token type 3 (holds a digit) or 4 (capitalised) "
             "(reader_word_shape; type_vocab_size 5).");
  flags.String("word-vectors", &word_vector_text,
               "Text to start the word embeddings from (comma-separated .jsonl with \"text\" or \"question\" "
               "fields, or plain text): PPMI + SVD word-piece vectors for pieces seen --word-vector-min-count times.");
  flags.Int("word-vector-window", &wv_options.window, "Co-occurrence window of --word-vectors, pieces either side.");
  int min_count = static_cast<int>(wv_options.min_count);
  flags.Int("word-vector-min-count", &min_count, "Pieces rarer than this keep a random embedding.");
  if (auto code = ParseFlagsOrExit(flags, argc, argv, kCmd)) return *code;
  wv_options.min_count = min_count;
  wv_options.seed = static_cast<uint64_t>(seed);
  if (wv_options.window < 1 || wv_options.min_count < 1) {
    return ReportFatal(kCmd, absl::InvalidArgumentError("--word-vector-window and --word-vector-min-count must be >= 1"), 2);
  }
  if (out.empty() || vocab.empty()) return ReportFatal(kCmd, absl::InvalidArgumentError("--out and --vocab are required"), 2);
  auto tok = WordPieceTokenizer::FromVocabFile(vocab);
  if (!tok.ok()) return ReportFatal(kCmd, tok.status());
  nlohmann::json j = {{"architectures", {"RealmForOpenQA"}},
                      {"model_type", "realm"},
                      {"vocab_size", static_cast<int>(tok->vocab_size())},
                      {"hidden_size", hidden},
                      {"num_hidden_layers", layers},
                      {"num_attention_heads", heads},
                      {"intermediate_size", intermediate},
                      {"hidden_act", act},
                      {"retriever_proj_size", proj},
                      {"span_hidden_size", span_hidden},
                      {"max_span_width", max_span},
                      {"reader_seq_len", seq_len},
                      {"reader_beam_size", reader_beam},
                      {"searcher_beam_size", searcher_beam},
                      {"max_position_embeddings", max_position},
                      {"type_vocab_size", word_shape ? 5 : question_match ? 3 : 2},
                      {"reader_question_match", question_match},
                      {"reader_word_shape", word_shape},
                      {"layer_norm_eps", 1e-12},
                      {"reader_layer_norm_eps", 1e-3},
                      {"hidden_dropout_prob", 0.1},
                      {"attention_probs_dropout_prob", 0.1},
                      {"initializer_range", init_std}};
  auto config = ParseRealmConfig(j.dump(), "config");
  if (!config.ok()) return ReportFatal(kCmd, config.status(), 2);
  torch::manual_seed(static_cast<uint64_t>(seed));
  RealmEmbedder embedder(*config);
  RealmReader reader(*config);
  InitLikeBert(*embedder, init_std);
  InitLikeBert(*reader, init_std);
  StateDict weights = NamedParameters(*embedder, "embedder.");
  for (auto& [k, v] : NamedParameters(*reader, "reader.")) weights[k] = v;
  if (!word_vector_text.empty()) {
    CooccurrenceCounts counts(static_cast<int>(tok->vocab_size()));
    if (absl::Status st = CountText(*tok, word_vector_text, wv_options.window, &counts); !st.ok()) {
      return ReportFatal(kCmd, st, 2);
    }
    auto wv = TrainWordVectors(counts, hidden, wv_options);
    if (!wv.ok()) return ReportFatal(kCmd, wv.status(), 2);
    StartFromWordVectors(*wv, init_std, &weights);
    std::printf("word vectors: %lld pieces of %lld tokens, top singular value %.1f\n",
                static_cast<long long>(wv->words), static_cast<long long>(counts.tokens()), wv->singular_values[0]);
  }
  ModelDirFiles files;
  files.files["config.json"] = j.dump(2) + "\n";
  std::ifstream in(vocab, std::ios::binary);
  files.files["vocab.txt"] = std::string(std::istreambuf_iterator<char>(in), {});
  if (absl::Status st = WriteModelDir(out, files, weights, {{"architecture", "RealmForOpenQA"}}); !st.ok()) {
    return ReportFatal(kCmd, st);
  }
  int64_t n = 0;
  for (const auto& [k, v] : weights) n += v.numel();
  std::printf("wrote %s: %d layers x %d hidden, %lld parameters\n", out.c_str(), layers, hidden, static_cast<long long>(n));
  return 0;
}

}  // namespace orqa::cli
