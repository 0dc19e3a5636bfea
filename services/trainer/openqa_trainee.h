#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/eval/qa_dataset.h"
#include "common/model/open_qa.h"
#include "common/train/checkpoint.h"
#include "orqa/v1/trainer.pb.h"

namespace orqa {

class RetrieverClient;

/// A RealmForOpenQA being finetuned: its question embedder and reader
/// (block embeddings stay in the retriever), the tokenizer, and where its
/// config.json / vocab.txt come from.
struct OpenQATrainee {
  RealmConfig config;  // with the job's beam sizes
  std::unique_ptr<WordPieceTokenizer> tokenizer;
  std::unique_ptr<RealmOpenQA> model;
  ModelDirFiles files;  // config.json and vocab.txt, written into every checkpoint
  std::string weights_path;
};

/// Loads `embedder.*` and `reader.*` of a RealmForOpenQA checkpoint in
/// `model_dir` strictly; beam sizes from `spec` where set. Errors name the
/// directory and what does not fit (vocab size, missing keys, shapes).
absl::StatusOr<OpenQATrainee> LoadTrainee(const std::string& model_dir, const std::string& weights_path,
                                          const orqa::v1::JobSpec& spec);

/// The checkpoint of a trainee: `embedder.*` and `reader.*`.
StateDict TraineeWeights(const OpenQATrainee& trainee);

/// What a job training a RealmForOpenQA against the retriever starts from:
/// its questions (`path`, "" = none), the trainee (from the job's last
/// checkpoint when it has one: `resume_dir`), and a retriever whose layout
/// is known and whose embeddings fit the model.
struct OpenQAJobStart {
  std::vector<QaExample> eval;
  OpenQATrainee trainee;
  std::string resume_dir;
};
absl::StatusOr<OpenQAJobStart> StartOpenQAJob(const orqa::v1::JobSpec& spec, const std::string& resume_dir,
                                              RetrieverClient& retriever);

/// The questions of `path`; none for "".
absl::StatusOr<std::vector<QaExample>> ReadQuestionsIfAny(const std::string& path);

/// The answers a question is trained and scored against in these blocks: the
/// answers themselves, or for regex answers every distinct case-insensitive
/// match of each pattern in the texts (CuratedTrec).
absl::StatusOr<std::vector<std::string>> AnswersIn(const QaExample& example, bool regex,
                                                   const std::vector<std::string>& texts);

/// ORQA's evaluation through the retriever service: exact_match,
/// official_exact_match, reader_oracle over the reader beam, and
/// top_{1,5,20,100}_match over a real top-100 retrieval (k capped by the
/// blocks served), dense or (`sparse`) BM25; as the gateway serves, the
/// reader adds the dense retrieval logit to dense hits only. Values are fractions of the
/// questions; "questions" is the count.
absl::StatusOr<std::map<std::string, double>> EvaluateOpenQA(OpenQATrainee& trainee,
                                                             const std::vector<QaExample>& data, int limit,
                                                             bool regex, RetrieverClient& retriever, bool sparse,
                                                             const std::function<bool()>& stop);

}  // namespace orqa
