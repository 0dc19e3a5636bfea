#include "common/model/open_qa.h"

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <tuple>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "common/text/answer_metrics.h"
#include "common/text/stop_words.h"

namespace orqa {
namespace {

torch::Tensor ToLongMatrix(const std::vector<std::vector<int32_t>>& rows) {
  const int64_t s = rows.size(), a = s ? rows[0].size() : 0;
  auto t = torch::empty({s, a}, torch::kLong);
  for (int64_t i = 0; i < s; ++i) {
    for (int64_t j = 0; j < a; ++j) t[i][j] = rows[i][j];
  }
  return t;
}

// Calls fn(first, end, word) for each word of `pieces` (a piece not starting
// with "##" and its "##" continuations), skipping special tokens.
template <typename PieceText, typename Fn>
void ForEachWord(const WordPieceTokenizer& tok, size_t n, const std::vector<int32_t>& ids, PieceText piece, Fn fn) {
  size_t i = 0;
  while (i < n) {
    if (tok.IsSpecialId(ids[i])) {
      ++i;
      continue;
    }
    std::string word = piece(i);
    size_t j = i + 1;
    for (; j < n && !tok.IsSpecialId(ids[j]); ++j) {
      const std::string& p = piece(j);
      if (p.size() < 2 || p[0] != '#' || p[1] != '#') break;
      word.append(p, 2, std::string::npos);
    }
    fn(i, j, word);
    i = j;
  }
}

bool IsContentWord(const std::string& w) {
  bool alnum = false;
  for (unsigned char ch : w) alnum = alnum || std::isalnum(ch) || ch >= 0x80;
  return alnum && !IsStopWord(w);
}

}  // namespace

void MarkBlockWords(const WordPieceTokenizer& tok, const std::vector<int32_t>& question_ids,
                    const std::vector<WordPiece>& block_pieces, const std::string& text, const RealmConfig& config,
                    PairEncoding* e) {
  if (!config.reader_question_match && !config.reader_word_shape) return;
  std::unordered_set<std::string> question_words;
  if (config.reader_question_match) {
    ForEachWord(tok, question_ids.size(), question_ids, [&](size_t i) { return tok.IdToToken(question_ids[i]); },
                [&](size_t, size_t, const std::string& w) {
                  if (IsContentWord(w)) question_words.insert(w);
                });
  }
  const size_t kept = static_cast<size_t>(e->num_b);
  std::vector<int32_t> block_ids(kept);
  for (size_t i = 0; i < kept; ++i) block_ids[i] = block_pieces[i].id;
  int32_t* types = &e->token_type_ids[e->b_offset()];
  ForEachWord(tok, kept, block_ids, [&](size_t i) -> const std::string& { return block_pieces[i].piece; },
              [&](size_t first, size_t end, const std::string& w) {
                int32_t type = 1;
                if (question_words.count(w)) {
                  type = 2;
                } else if (config.reader_word_shape) {
                  const uint32_t at = block_pieces[first].byte_begin;
                  if (std::any_of(w.begin(), w.end(), [](unsigned char ch) { return std::isdigit(ch); })) {
                    type = 3;
                  } else if (at < text.size() && std::isupper(static_cast<unsigned char>(text[at]))) {
                    type = 4;
                  }
                }
                for (size_t k = first; k < end; ++k) types[k] = type;
              });
}

ReaderInputs EncodeReaderInputs(const WordPieceTokenizer& tok,
                                const std::vector<std::pair<const std::vector<int32_t>*, const std::string*>>& pairs,
                                const RealmConfig& config) {
  ReaderInputs in;
  for (const auto& [q_ids, text] : pairs) {
    in.block_pieces.push_back(tok.Tokenize(*text));
    std::vector<int32_t> b_ids;
    for (const auto& p : in.block_pieces.back()) b_ids.push_back(p.id);
    in.encodings.push_back(EncodePair(*q_ids, b_ids, config.reader_seq_len, tok.cls_id(), tok.sep_id()));
    MarkBlockWords(tok, *q_ids, in.block_pieces.back(), *text, config, &in.encodings.back());
    in.tokens += in.encodings.back().input_ids.size();
  }
  PadToLongest(&in.encodings, tok.pad_id());
  const int64_t n = in.encodings.size(), l = n ? in.encodings[0].input_ids.size() : 0;
  in.input_ids = torch::empty({n, l}, torch::kLong);
  in.token_type_ids = torch::empty({n, l}, torch::kLong);
  in.attention_mask = torch::empty({n, l}, torch::kLong);
  in.special_tokens_mask = torch::empty({n, l}, torch::kLong);
  auto ia = in.input_ids.accessor<int64_t, 2>(), ta = in.token_type_ids.accessor<int64_t, 2>();
  auto ma = in.attention_mask.accessor<int64_t, 2>(), sa = in.special_tokens_mask.accessor<int64_t, 2>();
  for (int64_t i = 0; i < n; ++i) {
    const PairEncoding& e = in.encodings[i];
    for (int64_t j = 0; j < l; ++j) {
      ia[i][j] = e.input_ids[j];
      ta[i][j] = e.token_type_ids[j];
      ma[i][j] = e.attention_mask[j];
      sa[i][j] = e.special_tokens_mask[j];
    }
  }
  in.block_mask = in.special_tokens_mask.to(torch::kBool).logical_not().logical_and(in.token_type_ids.to(torch::kBool));
  return in;
}

void EncodeSingles(const WordPieceTokenizer& tok, const std::vector<std::string>& texts, int max_length,
                   torch::Tensor* ids, torch::Tensor* mask, torch::Tensor* types) {
  std::vector<std::vector<int32_t>> rows;
  size_t longest = 0;
  for (const auto& t : texts) {
    std::vector<int32_t> r = tok.Encode(t);
    if (max_length > 2 && r.size() > static_cast<size_t>(max_length - 2)) r.resize(max_length - 2);
    r.insert(r.begin(), tok.cls_id());
    r.push_back(tok.sep_id());
    longest = std::max(longest, r.size());
    rows.push_back(std::move(r));
  }
  *ids = torch::full({static_cast<int64_t>(rows.size()), static_cast<int64_t>(longest)}, tok.pad_id(),
                     torch::kLong);
  *mask = torch::zeros_like(*ids);
  *types = torch::zeros_like(*ids);
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t j = 0; j < rows[i].size(); ++j) {
      (*ids)[i][j] = rows[i][j];
      (*mask)[i][j] = 1;
    }
  }
}

RealmOpenQA::RealmOpenQA(const RealmConfig& config, const WordPieceTokenizer* tokenizer)
    : config_(config), tokenizer_(tokenizer) {
  embedder_ = RealmEmbedder(config);
  reader_ = RealmReader(config);
}

absl::Status RealmOpenQA::Load(const StateDict& state, const std::string& source) {
  if (absl::Status st = embedder_->Load(state, "embedder.", source); !st.ok()) return st;
  if (absl::Status st = reader_->Load(state, "reader.", source); !st.ok()) return st;
  auto it = state.find("block_emb");
  if (it == state.end()) return absl::InvalidArgumentError(absl::StrCat(source, ": missing keys: block_emb"));
  if (it->second.dim() != 2 || it->second.size(1) != config_.retriever_proj_size) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": mis-shaped keys: block_emb (checkpoint ",
                                                   c10::str(it->second.sizes()), ", expected [N, ",
                                                   config_.retriever_proj_size, "])"));
  }
  block_emb_ = it->second.to(torch::kFloat32);
  return absl::OkStatus();
}

torch::Tensor RealmOpenQA::EmbedQuestion(const std::string& question, torch::Tensor* input_ids) {
  torch::Tensor q_mask, q_types;
  EncodeSingles(*tokenizer_, {question}, 0, input_ids, &q_mask, &q_types);
  return embedder_(*input_ids, q_mask, q_types).projected_score;
}

OpenQAOutput RealmOpenQA::Forward(const std::string& question, const std::vector<std::string>& blocks,
                                  const std::vector<std::string>* answers, bool training) {
  OpenQAOutput out;
  torch::Tensor q = EmbedQuestion(question, &out.question_input_ids);

  // Retrieval: scores = block_emb · q, top-k; the logits are recomputed on the gathered rows.
  auto scores = torch::einsum("BD,QD->QB", {block_emb_, q});
  int64_t beam = training ? config_.searcher_beam_size : config_.reader_beam_size;
  beam = std::min<int64_t>(beam, block_emb_.size(0));
  auto ids = std::get<1>(torch::topk(scores, beam, -1)).squeeze(0);
  std::vector<const std::string*> texts;
  for (int64_t i = 0; i < beam; ++i) texts.push_back(&blocks.at(ids[i].item<int64_t>()));
  ForwardRetrieved(question, q, ids, block_emb_.index_select(0, ids), texts, answers, &out);
  return out;
}

void RealmOpenQA::ForwardRetrieved(const std::string& question, const torch::Tensor& question_projection,
                                   const torch::Tensor& retrieved_block_ids, const torch::Tensor& retrieved_emb,
                                   const std::vector<const std::string*>& texts,
                                   const std::vector<std::string>* answers, OpenQAOutput* result) {
  const WordPieceTokenizer& tok = *tokenizer_;
  OpenQAOutput& out = *result;
  const int64_t beam = retrieved_emb.size(0);
  out.question_projection = question_projection;
  out.retrieved_block_ids = retrieved_block_ids;
  out.retrieved_logits = torch::einsum("D,BD->B", {question_projection.squeeze(0), retrieved_emb});

  // Reader inputs: the question round trip, then [CLS] q [SEP] block [SEP].
  std::vector<int32_t> q_ids = tok.RoundTripQuestion(question);
  std::vector<std::pair<const std::vector<int32_t>*, const std::string*>> pairs;
  for (int64_t i = 0; i < beam; ++i) pairs.push_back({&q_ids, texts.at(i)});
  out.reader_inputs = EncodeReaderInputs(tok, pairs, config_);
  const ReaderInputs& in = out.reader_inputs;

  const int64_t r = std::min<int64_t>(config_.reader_beam_size, beam);
  auto rows = torch::indexing::Slice(0, r);
  auto reader_out = reader_(in.input_ids.index({rows}), in.attention_mask.index({rows}),
                            in.token_type_ids.index({rows}), in.block_mask.index({rows}));
  out.reader_sequence_output = reader_out.sequence_output;
  out.reader_logits_pre_retriever = reader_out.logits_pre_retriever;
  out.candidate_starts = reader_out.candidate_starts;
  out.candidate_ends = reader_out.candidate_ends;
  out.reader_logits = out.reader_logits_pre_retriever + out.retrieved_logits.index({rows}).unsqueeze(-1);

  // Block and candidate chosen independently, as the reference does.
  {
    const torch::Tensor logits = out.reader_logits.detach().to(torch::kFloat32).contiguous();
    const auto a = logits.accessor<float, 2>();
    std::tie(out.block_idx, out.candidate) =
        ReferenceBestSpan(logits.size(0), logits.size(1), [&](int64_t b, int64_t c) { return a[b][c]; });
  }
  out.start_pos = out.candidate_starts[out.candidate].item<int64_t>();
  out.end_pos = out.candidate_ends[out.candidate].item<int64_t>();
  out.predicted_answer_ids =
      in.input_ids[out.block_idx].index({torch::indexing::Slice(out.start_pos, out.end_pos + 1)});

  if (answers == nullptr) return;
  std::vector<std::vector<int32_t>> answer_ids;
  for (const auto& a : *answers) answer_ids.push_back(tok.Encode(a));
  std::vector<std::vector<int32_t>> id_rows;
  for (const auto& e : in.encodings) id_rows.push_back(e.input_ids);
  GoldSpans gold = FindGoldSpans(id_rows, answer_ids, tok.sep_id());
  out.has_answers = torch::zeros({beam}, torch::kBool);
  for (int64_t i = 0; i < beam; ++i) out.has_answers[i] = static_cast<bool>(gold.has_answers[i]);
  out.start_positions = ToLongMatrix(gold.start_pos);
  out.end_positions = ToLongMatrix(gold.end_pos);

  const int64_t seq_len = in.input_ids.size(1);
  auto starts = out.start_positions.clamp(-1, seq_len).index({rows});
  auto ends = out.end_positions.clamp(-1, seq_len).index({rows});
  // [1,1,C] == [R,A,1] → any over answers → [R, C]
  auto is_start = out.candidate_starts.view({1, 1, -1}).eq(starts.unsqueeze(-1));
  auto is_end = out.candidate_ends.view({1, 1, -1}).eq(ends.unsqueeze(-1));
  out.reader_correct = is_start.logical_and(is_end).any(1);
  out.retriever_correct = out.has_answers;
  out.retriever_loss = MarginalLogLoss(out.retrieved_logits, out.retriever_correct) *
                       out.retriever_correct.any().to(torch::kFloat32);
  out.reader_loss = MarginalLogLoss(out.reader_logits.view({-1}), out.reader_correct.view({-1})) *
                    out.reader_correct.any().to(torch::kFloat32);
  out.loss = out.retriever_loss + out.reader_loss;
}

EvalMetrics ComputeEvalMetrics(const OpenQAOutput& out, const std::string& predicted_answer,
                               const std::vector<std::string>& answers) {
  EvalMetrics m;
  if (out.reader_correct.defined()) {
    m.exact_match = out.reader_correct[out.block_idx][out.candidate].item<bool>();
    m.reader_oracle = out.reader_correct.any().item<bool>();
  }
  m.official_exact_match = OfficialExactMatch(predicted_answer, answers);
  for (int k : TopKMetricKs()) {
    bool any = false;
    if (out.has_answers.defined()) {
      int64_t n = std::min<int64_t>(k, out.has_answers.size(0));
      any = n > 0 && out.has_answers.narrow(0, 0, n).any().item<bool>();
    }
    m.top_k_match[k] = any;
  }
  return m;
}

}  // namespace orqa
