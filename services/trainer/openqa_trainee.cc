#include "services/trainer/openqa_trainee.h"

#include <torch/torch.h>

#include <set>

#include "absl/strings/str_cat.h"
#include "common/eval/answer_scoring.h"
#include "common/model/model_dir.h"
#include "common/text/answer_metrics.h"
#include "common/text/python_regex.h"
#include "services/trainer/retriever_client.h"

namespace orqa {

absl::StatusOr<OpenQATrainee> LoadTrainee(const std::string& model_dir, const std::string& weights_path,
                                          const orqa::v1::JobSpec& spec) {
  auto files = LoadModelFiles(model_dir, weights_path);
  if (!files.ok()) return files.status();
  OpenQATrainee t;
  t.config = files->config;
  if (spec.searcher_beam_size() > 0) t.config.searcher_beam_size = spec.searcher_beam_size();
  if (spec.reader_beam_size() > 0) t.config.reader_beam_size = spec.reader_beam_size();
  if (files->tokenizer->vocab_size() != static_cast<size_t>(t.config.vocab_size)) {
    return absl::InvalidArgumentError(absl::StrCat(model_dir, ": vocab.txt has ", files->tokenizer->vocab_size(),
                                                   " tokens but config.json says vocab_size ", t.config.vocab_size));
  }
  if (!files->state.count("embedder.realm.embeddings.word_embeddings.weight") ||
      !files->state.count("reader.realm.embeddings.word_embeddings.weight")) {
    return absl::InvalidArgumentError(absl::StrCat(files->weights_path,
                                                   ": not a RealmForOpenQA checkpoint (needs embedder.* and reader.* keys)"));
  }
  t.tokenizer = std::move(files->tokenizer);
  t.model = std::make_unique<RealmOpenQA>(t.config, t.tokenizer.get());
  absl::Status st = t.model->embedder()->Load(SelectSubmodule(files->state, "embedder.", {"realm.", "cls."}),
                                              "embedder.", files->weights_path);
  if (!st.ok()) return st;
  st = t.model->reader()->Load(SelectSubmodule(files->state, "reader.", {"realm.", "cls.", "qa_outputs."}), "reader.",
                               files->weights_path);
  if (!st.ok()) return st;
  auto text_files = ReadModelDirFiles(model_dir);
  if (!text_files.ok()) return text_files.status();
  t.files = std::move(*text_files);
  t.weights_path = files->weights_path;
  return t;
}

StateDict TraineeWeights(const OpenQATrainee& t) {
  StateDict weights = NamedParameters(*t.model->embedder(), "embedder.");
  for (auto& [k, v] : NamedParameters(*t.model->reader(), "reader.")) weights[k] = v;
  return weights;
}

absl::StatusOr<std::vector<QaExample>> ReadQuestionsIfAny(const std::string& path) {
  if (path.empty()) return std::vector<QaExample>();
  return ReadQaJsonl(path);
}

absl::StatusOr<OpenQAJobStart> StartOpenQAJob(const orqa::v1::JobSpec& spec, const std::string& resume_dir,
                                              RetrieverClient& retriever) {
  auto eval = ReadQuestionsIfAny(spec.eval_path());
  if (!eval.ok()) return eval.status();
  auto trainee = resume_dir.empty() ? LoadTrainee(spec.model_dir(), spec.weights_path(), spec)
                                    : LoadTrainee(resume_dir, "", spec);
  if (!trainee.ok()) return trainee.status();
  if (absl::Status st = retriever.RefreshForModel(trainee->config.retriever_proj_size); !st.ok()) return st;
  return OpenQAJobStart{std::move(*eval), std::move(*trainee), resume_dir};
}

absl::StatusOr<std::vector<std::string>> AnswersIn(const QaExample& example, bool regex,
                                                   const std::vector<std::string>& texts) {
  if (!regex) return example.answers;
  std::set<std::string> seen;
  std::vector<std::string> out;
  for (const auto& pattern : example.answers) {
    auto re = PythonRegex::Compile(pattern);
    if (!re.ok()) return absl::InvalidArgumentError(absl::StrCat(example.line, ": ", re.status().message()));
    for (const auto& text : texts) {
      for (std::string& m : re->FindAll(text)) {
        if (!m.empty() && seen.insert(m).second) out.push_back(std::move(m));
      }
    }
  }
  return out;
}

absl::StatusOr<std::map<std::string, double>> EvaluateOpenQA(OpenQATrainee& t, const std::vector<QaExample>& data,
                                                             int limit, bool regex, RetrieverClient& retriever,
                                                             bool sparse, const std::function<bool()>& stop) {
  static const std::vector<int> kKs = {1, 5, 20, 100};
  torch::NoGradGuard no_grad;
  t.model->embedder()->eval();
  t.model->reader()->eval();
  const WordPieceTokenizer& tok = *t.tokenizer;
  const int64_t n = limit > 0 ? std::min<int64_t>(limit, data.size()) : data.size();
  const int k = static_cast<int>(std::min<int64_t>(100, retriever.total_blocks()));
  std::map<std::string, double> sums;
  for (int64_t i = 0; i < n; ++i) {
    if (stop && stop()) return absl::AbortedError("evaluation stopped");
    const QaExample& ex = data[i];
    // As the gateway serves: the reader adds the dense retrieval logit only to
    // dense hits; BM25 hits score by the reader alone (no question embedding needed).
    torch::Tensor ids;
    torch::Tensor q = sparse ? torch::zeros({1, retriever.dim()}, torch::kFloat32)
                             : t.model->EmbedQuestion(ex.question, &ids);
    auto hits = sparse ? retriever.Retrieve(ex.question, k, orqa::v1::RETRIEVAL_MODE_SPARSE, /*with_vectors=*/false)
                       : retriever.Search(std::vector<float>(q.data_ptr<float>(), q.data_ptr<float>() + q.numel()), k, true);
    if (!hits.ok()) return hits.status();
    auto answers = AnswersIn(ex, regex, hits->texts);
    if (!answers.ok()) return answers.status();

    // The reader beam, exactly as the reference's eval forward.
    const int64_t r = std::min<int64_t>(t.config.reader_beam_size, hits->ids.size());
    if (r == 0) continue;  // nothing retrieved: every metric is a miss (n still counts it)
    std::vector<const std::string*> texts;
    for (int64_t j = 0; j < r; ++j) texts.push_back(&hits->texts[j]);
    auto emb = sparse ? torch::zeros({r, retriever.dim()}, torch::kFloat32)
                      : torch::from_blob(hits->vectors.data(), {r, retriever.dim()}, torch::kFloat32);
    auto block_ids = torch::tensor(std::vector<int64_t>(hits->ids.begin(), hits->ids.begin() + r), torch::kLong);
    OpenQAOutput out;
    t.model->ForwardRetrieved(ex.question, q, block_ids, emb, texts, &*answers, &out);
    const std::string predicted = tok.Decode(
        std::vector<int32_t>(out.predicted_answer_ids.data_ptr<int64_t>(),
                             out.predicted_answer_ids.data_ptr<int64_t>() + out.predicted_answer_ids.numel()),
        false, true);
    EvalMetrics m = ComputeEvalMetrics(out, predicted, *answers);
    bool official = m.official_exact_match;
    if (regex) {
      official = false;
      for (const auto& p : ex.answers) official = official || RegexMatch(predicted, p).value_or(false);
    }
    sums["exact_match"] += m.exact_match;
    sums["official_exact_match"] += official;
    sums["reader_oracle"] += m.reader_oracle;

    // top-k match over the whole top-k retrieval (block_has_answer per block).
    const std::vector<bool> has = BlocksHaveAnswer(tok, ex.question, hits->texts, *answers, t.config.reader_seq_len);
    for (int kk : kKs) {
      bool any = false;
      for (size_t j = 0; j < has.size() && j < static_cast<size_t>(kk); ++j) any = any || has[j];
      sums[absl::StrCat("top_", kk, "_match")] += any;
    }
  }
  std::map<std::string, double> metrics;
  for (const auto& [name, s] : sums) metrics[name] = n > 0 ? s / static_cast<double>(n) : 0.0;
  metrics["questions"] = static_cast<double>(n);
  return metrics;
}

}  // namespace orqa
