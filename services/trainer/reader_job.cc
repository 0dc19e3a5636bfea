#include "services/trainer/reader_job.h"

#include <torch/torch.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/eval/answer_scoring.h"
#include "common/model/model_dir.h"
#include "common/text/answer_metrics.h"
#include "services/trainer/data_order.h"
#include "services/trainer/data_parallel.h"
#include "services/trainer/job_manager.h"
#include "services/trainer/openqa_trainee.h"
#include "services/trainer/pretrain_common.h"
#include "services/trainer/pretrain_examples.h"
#include "services/trainer/retriever_client.h"
#include "services/trainer/training_loop.h"

namespace orqa {
namespace {

constexpr int kDefaultPassages = 2;
constexpr double kDefaultClozeShare = 0.5;
constexpr size_t kMaxClozeQuestionBytes = 300;

// The rows one question contributes to a step: block texts, answer passage first.
struct QuestionRows {
  std::vector<int32_t> question_ids;
  std::vector<std::string> texts;
  std::vector<std::string> answers;
};

class TrainReaderTask final : public TrainingTask {
 public:
  TrainReaderTask(const orqa::v1::JobSpec& spec, OpenQATrainee trainee, std::vector<QaExample> train,
                  std::vector<QaExample> eval, std::shared_ptr<PretrainCorpus> blocks, RetrieverClient* retriever)
      : spec_(spec),
        t_(std::move(trainee)),
        train_(std::move(train)),
        eval_(std::move(eval)),
        blocks_(std::move(blocks)),
        retriever_(retriever),
        order_(std::max<size_t>(1, train_.size()), spec.seed()),
        block_order_(blocks_ ? static_cast<size_t>(blocks_->size()) : 1, spec.seed() + 1),
        cloze_share_(!blocks_ ? 0.0 : train_.empty() ? 1.0 : spec.cloze_share() > 0 ? spec.cloze_share() : kDefaultClozeShare),
        mode_(spec.finetune_retrieval() == orqa::v1::RETRIEVAL_MODE_SPARSE ? orqa::v1::RETRIEVAL_MODE_SPARSE
                                                                           : orqa::v1::RETRIEVAL_MODE_DENSE),
        passages_(spec.reader_passages() > 0 ? spec.reader_passages() : kDefaultPassages) {}

  std::vector<std::pair<std::string, torch::Tensor>> Parameters() override {
    std::vector<std::pair<std::string, torch::Tensor>> named;
    for (const auto& item : t_.model->reader()->named_parameters()) named.push_back({"reader." + item.key(), item.value()});
    return named;
  }

  void SetTraining(bool on) override {
    t_.model->embedder()->eval();
    t_.model->reader()->train(on);
  }

  absl::StatusOr<double> Step(int64_t step) override {
    const WordPieceTokenizer& tok = *t_.tokenizer;
    const int64_t batch = spec_.batch_size();
    const int beam = static_cast<int>(std::min<int64_t>(t_.config.searcher_beam_size, retriever_->total_blocks()));
    std::vector<QuestionRows> questions;
    int64_t cloze = 0;
    // Data parallelism: this rank's share of the batch (each question's draw
    // depends on its position only).
    const int64_t lo = group_ ? batch * group_->rank() / group_->world_size() : 0;
    const int64_t hi = group_ ? batch * (group_->rank() + 1) / group_->world_size() : batch;
    for (int64_t b = lo; b < hi; ++b) {
      const int64_t position = step * batch + b;
      std::mt19937_64 rng(static_cast<uint64_t>(spec_.seed()) * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(position));
      absl::StatusOr<QuestionRows> rows;
      if (std::uniform_real_distribution<double>(0, 1)(rng) < cloze_share_) {
        ++cloze;
        rows = ClozeRowsFor(block_order_.At(position), beam, rng);
      } else {
        rows = RowsFor(train_[order_.At(position)], beam);
      }
      if (!rows.ok()) return rows.status();
      if (!rows->texts.empty()) questions.push_back(std::move(*rows));
    }
    cloze_questions_ = static_cast<double>(cloze) / static_cast<double>(hi - lo);
    answer_share_ = 0;
    if (questions.empty()) {  // no answer passage in this share: nothing to learn from (but count with the others)
      if (group_) return ShareOfMean(torch::zeros({}, torch::kFloat32), 0);
      return 0.0;
    }

    // One reader pass over every row of the step.
    std::vector<std::pair<const std::vector<int32_t>*, const std::string*>> pairs;
    std::vector<int64_t> first_row;
    for (const auto& q : questions) {
      first_row.push_back(static_cast<int64_t>(pairs.size()));
      for (const auto& text : q.texts) pairs.push_back({&q.question_ids, &text});
    }
    first_row.push_back(static_cast<int64_t>(pairs.size()));
    ReaderInputs in = EncodeReaderInputs(tok, pairs, t_.config);
    auto out = t_.model->reader()->forward(in.input_ids, in.attention_mask, in.token_type_ids, in.block_mask);
    torch::Tensor correct = CorrectCandidates(in, questions, first_row, out.candidate_starts, out.candidate_ends);

    // An answer longer than the widest span candidate has no correct candidate: no signal.
    torch::Tensor loss = torch::zeros({}, torch::kFloat32);
    int64_t learned = 0;
    for (size_t i = 0; i < questions.size(); ++i) {
      auto rows = torch::indexing::Slice(first_row[i], first_row[i + 1]);
      torch::Tensor c = correct.index({rows}).reshape({-1});
      if (!c.any().item<bool>()) continue;
      loss = loss + MarginalLogLoss(out.logits_pre_retriever.index({rows}).reshape({-1}), c);
      ++learned;
    }
    answer_share_ = static_cast<double>(learned) / static_cast<double>(hi - lo);
    if (group_) return ShareOfMean(loss, learned);
    if (learned == 0) return 0.0;
    loss = loss / static_cast<double>(learned);
    loss.backward();
    return loss.item<double>();
  }

  bool SetDataShard(DataParallel* group) override {
    group_ = group;
    return true;
  }

  int64_t examples_per_step() const override { return spec_.batch_size(); }

  std::map<std::string, double> StepMetrics() override {
    std::map<std::string, double> m = {{"answer_passage_share", answer_share_}};
    if (blocks_) m["cloze_share"] = cloze_questions_;
    return m;
  }

  StateDict Weights() override { return TraineeWeights(t_); }

  const ModelDirFiles& Files() const override { return t_.files; }

  absl::StatusOr<std::map<std::string, double>> Evaluate(const std::function<bool()>& stop) override {
    if (eval_.empty()) return std::map<std::string, double>();
    return EvaluateOpenQA(t_, eval_, spec_.eval_limit(), spec_.regex_answers(), *retriever_,
                          mode_ == orqa::v1::RETRIEVAL_MODE_SPARSE, stop);
  }

  std::string best_metric() const override { return eval_.empty() ? "" : "exact_match"; }

 private:
  // The answer passage (the best-ranked block with an answer span) and the
  // best-ranked blocks without one; no texts when no block has an answer.
  absl::StatusOr<QuestionRows> RowsFor(const QaExample& ex, int beam) {
    auto hits = retriever_->Retrieve(ex.question, beam, mode_, /*with_vectors=*/false);
    if (!hits.ok()) return hits.status();
    auto answers = AnswersIn(ex, spec_.regex_answers(), hits->texts);
    if (!answers.ok()) return absl::InvalidArgumentError(absl::StrCat(spec_.train_path(), ":", answers.status().message()));
    QuestionRows rows;
    rows.question_ids = t_.tokenizer->RoundTripQuestion(ex.question);
    rows.answers = std::move(*answers);
    const std::vector<bool> has =
        BlocksHaveAnswer(*t_.tokenizer, ex.question, hits->texts, rows.answers, t_.config.reader_seq_len);
    const size_t positive = std::find(has.begin(), has.end(), true) - has.begin();
    if (positive == has.size()) return rows;
    rows.texts.push_back(hits->texts[positive]);
    AddPassagesWithoutAnswer(hits->texts, has, &rows);
    return rows;
  }

  // A cloze question made from block `index`: the block is the answer
  // passage; the best-ranked retrieved blocks without the answer come next.
  absl::StatusOr<QuestionRows> ClozeRowsFor(int64_t index, int beam, std::mt19937_64& rng) {
    QuestionRows rows;
    const std::string text = blocks_->Get(index).second;
    ClozeQuestion cloze = MakeClozeQuestion(text, rng);
    // A "sentence" the rule did not split (a list, a table) is no question to learn from.
    if (cloze.question.empty() || cloze.question.size() > kMaxClozeQuestionBytes) return rows;
    rows.answers = {cloze.answer};
    if (!BlocksHaveAnswer(*t_.tokenizer, cloze.question, {text}, rows.answers, t_.config.reader_seq_len)[0]) {
      return rows;  // the span lies beyond the reader's window
    }
    rows.question_ids = t_.tokenizer->RoundTripQuestion(cloze.question);
    rows.texts.push_back(text);
    if (passages_ == 1) return rows;
    auto hits = retriever_->Retrieve(cloze.question, beam, mode_, /*with_vectors=*/false);
    if (!hits.ok()) return hits.status();
    AddPassagesWithoutAnswer(
        hits->texts, BlocksHaveAnswer(*t_.tokenizer, cloze.question, hits->texts, rows.answers, t_.config.reader_seq_len),
        &rows);
    return rows;
  }

  // The best-ranked `texts` without an answer (has[j] false; the answer
  // passage has one, so it is never repeated), up to reader_passages rows.
  void AddPassagesWithoutAnswer(const std::vector<std::string>& texts, const std::vector<bool>& has,
                                QuestionRows* rows) const {
    for (size_t j = 0; j < has.size() && static_cast<int>(rows->texts.size()) < passages_; ++j) {
      if (!has[j]) rows->texts.push_back(texts[j]);
    }
  }

  // [rows, C] bool: candidate c of row r is one of its question's answer spans.
  // Data parallelism: the loss is the mean over the questions of the whole
  // batch that have a correct span; the ranks sum their counts first, then
  // each backpropagates its questions' sum divided by the total.
  absl::StatusOr<double> ShareOfMean(const torch::Tensor& loss_sum, int64_t learned) {
    torch::Tensor count = torch::full({1}, static_cast<float>(learned), torch::kFloat32);
    if (absl::Status st = group_->AllReduceSum(count); !st.ok()) return st;
    const double total = count.item<float>();
    if (total == 0 || learned == 0) return 0.0;
    torch::Tensor share = loss_sum / total;
    share.backward();
    return share.item<double>();
  }

  torch::Tensor CorrectCandidates(const ReaderInputs& in, const std::vector<QuestionRows>& questions,
                                  const std::vector<int64_t>& first_row, const torch::Tensor& starts,
                                  const torch::Tensor& ends) {
    const WordPieceTokenizer& tok = *t_.tokenizer;
    const int64_t n = static_cast<int64_t>(in.encodings.size());
    torch::Tensor correct = torch::zeros({n, starts.size(0)}, torch::kBool);
    for (size_t i = 0; i < questions.size(); ++i) {
      std::vector<std::vector<int32_t>> answer_ids;
      for (const auto& a : questions[i].answers) answer_ids.push_back(tok.Encode(a));
      std::vector<std::vector<int32_t>> id_rows;
      for (int64_t r = first_row[i]; r < first_row[i + 1]; ++r) id_rows.push_back(in.encodings[r].input_ids);
      GoldSpans gold = FindGoldSpans(id_rows, answer_ids, tok.sep_id());
      for (size_t r = 0; r < id_rows.size(); ++r) {
        for (size_t a = 0; a < gold.start_pos[r].size(); ++a) {
          if (gold.start_pos[r][a] < 0) continue;
          correct[first_row[i] + static_cast<int64_t>(r)].logical_or_(starts.eq(gold.start_pos[r][a]).logical_and(
              ends.eq(gold.end_pos[r][a])));
        }
      }
    }
    return correct;
  }

  orqa::v1::JobSpec spec_;
  OpenQATrainee t_;
  std::vector<QaExample> train_, eval_;
  std::shared_ptr<PretrainCorpus> blocks_;  // cloze questions come from these (null: none)
  RetrieverClient* retriever_;
  DataOrder order_, block_order_;
  double cloze_share_;
  orqa::v1::RetrievalMode mode_;
  int passages_;
  double cloze_questions_ = 0;
  double answer_share_ = 0;  // of the last step's questions, those with an answer span to learn
  DataParallel* group_ = nullptr;  // data parallelism: this rank's share of every batch
};

}  // namespace

absl::Status RunTrainReader(JobContext& ctx, RetrieverClient& retriever, TrainerMetrics* metrics) {
  const orqa::v1::JobSpec spec = ctx.Snapshot().spec();
  auto train = ReadQuestionsIfAny(spec.train_path());
  if (!train.ok()) return train.status();
  std::shared_ptr<PretrainCorpus> blocks;
  if (!spec.blocks_path().empty()) {
    orqa::v1::JobSpec only_blocks;
    only_blocks.set_blocks_path(spec.blocks_path());
    auto corpus = PretrainCorpus::Open(only_blocks);
    if (!corpus.ok()) return corpus.status();
    blocks = std::make_shared<PretrainCorpus>(std::move(*corpus));
  }
  auto start = StartOpenQAJob(spec, ResumeDir(ctx), retriever);
  if (!start.ok()) return start.status();
  TrainReaderTask task(spec, std::move(start->trainee), std::move(*train), std::move(start->eval), std::move(blocks),
                       &retriever);
  return RunTrainingLoop(ctx, task, start->resume_dir, metrics);
}

}  // namespace orqa
