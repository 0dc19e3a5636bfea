#include "common/model/span_reader.h"

#include <torch/torch.h>

#include <algorithm>
#include <limits>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "common/model/realm_models.h"
#include "common/model/state_dict.h"
#include "common/model/model_dir.h"
#include "common/model/open_qa.h"
#include "common/text/utf8.h"

namespace orqa {

int DefaultMaxReaderRows(const RealmConfig& config) {
  return std::max(1, 2048 / std::max(1, config.reader_seq_len));
}

namespace {

// Non-padding tokens of each row of a [n, L] 0/1 attention mask.
std::vector<int64_t> RowLengths(const torch::Tensor& attention_mask) {
  auto sums = attention_mask.sum(1).to(torch::kLong).contiguous();
  return std::vector<int64_t>(sums.data_ptr<int64_t>(), sums.data_ptr<int64_t>() + sums.numel());
}

// Where each candidate (start, end) of a shorter sequence stands among the
// candidates of a `len`-token one (SpanCandidates' order: by width, then start).
torch::Tensor CandidateIndexIn(int64_t len, const torch::Tensor& starts, const torch::Tensor& ends) {
  const int64_t k = starts.size(0);
  auto index = torch::empty({k}, torch::kLong);
  const int64_t* s = starts.data_ptr<int64_t>();
  const int64_t* e = ends.data_ptr<int64_t>();
  int64_t* out = index.data_ptr<int64_t>();
  for (int64_t i = 0; i < k; ++i) {
    const int64_t w = e[i] - s[i] + 1;
    // Candidates of widths 1..w-1 come first: (len - w' + 1) of each.
    out[i] = (w - 1) * (len + 1) - (w - 1) * w / 2 + s[i];
  }
  return index;
}

}  // namespace

struct SpanReader::Impl {
  RealmConfig config;
  std::unique_ptr<WordPieceTokenizer> tokenizer;
  mutable RealmReader reader{nullptr};  // inference only: safe for concurrent const use
};

SpanReader::~SpanReader() = default;
const RealmConfig& SpanReader::config() const { return impl_->config; }

absl::StatusOr<std::shared_ptr<SpanReader>> SpanReader::Load(const std::string& model_dir,
                                                             const std::string& weights_path, Precision precision) {
  auto files = LoadModelFiles(model_dir, weights_path);
  if (!files.ok()) return files.status();
  auto r = std::shared_ptr<SpanReader>(new SpanReader());
  r->impl_ = std::make_unique<Impl>();
  r->impl_->config = files->config;
  r->impl_->tokenizer = std::move(files->tokenizer);
  r->impl_->reader = RealmReader(files->config);
  // A RealmForOpenQA file (or converted TF checkpoint) holds the reader under "reader.".
  auto first_reader = files->state.lower_bound("reader.");
  const bool nested = first_reader != files->state.end() && first_reader->first.compare(0, 7, "reader.") == 0;
  const std::string prefix = nested ? "reader." : "";
  absl::Status st = r->impl_->reader->Load(
      SelectSubmodule(files->state, prefix, {"realm.", "cls.", "qa_outputs."}), prefix, files->weights_path);
  if (!st.ok()) return st;
  r->impl_->reader->eval();
  try {
    r->impl_->reader->realm->SetPrecision(precision);
  } catch (const std::exception& ex) {  // oneDNN failing to prepare a product: a clear error, not a crash
    return absl::InternalError(absl::StrCat("preparing the reader at precision ", PrecisionName(precision), ": ", ex.what()));
  }
  r->arithmetic_ = r->impl_->reader->realm->precision_plan().summary;
  r->weights_path_ = files->weights_path;
  r->version_ = files->version;
  r->max_rows_ = DefaultMaxReaderRows(files->config);
  return r;
}

std::vector<std::vector<ReaderSpan>> SpanReader::Read(const std::vector<const ReaderQuery*>& queries,
                                                      int64_t* tokens) const {
  const WordPieceTokenizer& tok = *impl_->tokenizer;
  const RealmConfig& c = impl_->config;
  // One row per (query, block), all padded together.
  std::vector<std::vector<int32_t>> q_ids;
  std::vector<std::pair<const std::vector<int32_t>*, const std::string*>> pairs;
  q_ids.reserve(queries.size());
  for (const ReaderQuery* q : queries) q_ids.push_back(tok.RoundTripQuestion(q->question));
  for (size_t q = 0; q < queries.size(); ++q) {
    for (const ReaderBlock& b : queries[q]->blocks) pairs.push_back({&q_ids[q], &b.text});
  }
  std::vector<std::vector<ReaderSpan>> out(queries.size());
  if (pairs.empty()) return out;
  const ReaderInputs in = EncodeReaderInputs(tok, pairs, c);
  if (tokens) *tokens = in.tokens;
  const int64_t n = in.input_ids.size(0);
  torch::InferenceMode guard;
  // Bounded forward passes: a request may carry thousands of blocks, and one
  // pass over all of them would need gigabytes of activations and run slower
  // per row. The rows go to passes by length (longest first), each pass padded
  // only to its own longest row; the candidates a shorter pass scores are put
  // back at their index among the whole call's (spans the pass cannot hold
  // are masked, as padding would have masked them).
  const int64_t full_len = in.input_ids.size(1);
  const std::vector<int64_t> lengths = RowLengths(in.attention_mask);
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return lengths[a] > lengths[b]; });
  torch::Tensor starts, ends;
  SpanCandidates(full_len, c.max_span_width, &starts, &ends);
  auto logits = torch::full({n, starts.size(0)}, std::numeric_limits<float>::lowest(), torch::kFloat32);
  for (int64_t r = 0; r < n; r += max_rows_) {
    const int64_t m = std::min<int64_t>(max_rows_, n - r);
    const int64_t len = std::max<int64_t>(1, lengths[order[r]]);
    auto rows = torch::tensor(std::vector<int64_t>(order.begin() + r, order.begin() + r + m), torch::kLong);
    auto take = [&](const torch::Tensor& t) { return t.index_select(0, rows).narrow(1, 0, len); };
    auto result = impl_->reader->forward(take(in.input_ids), take(in.attention_mask), take(in.token_type_ids),
                                         take(in.block_mask));
    auto part = result.logits_pre_retriever.to(torch::kFloat32);  // index_copy_ needs the dtype of `logits`
    if (len < full_len) {
      auto placed = torch::full({m, starts.size(0)}, std::numeric_limits<float>::lowest(), torch::kFloat32);
      placed.index_copy_(1, CandidateIndexIn(full_len, result.candidate_starts, result.candidate_ends), part);
      part = placed;
    }
    logits.index_copy_(0, rows, part);
  }
  const int64_t num_c = logits.size(1);
  const float* lg = logits.data_ptr<float>();
  const int64_t* st = starts.data_ptr<int64_t>();
  const int64_t* en = ends.data_ptr<int64_t>();

  int64_t row0 = 0;
  for (size_t q = 0; q < queries.size(); ++q) {
    const ReaderQuery& query = *queries[q];
    const int64_t r = query.blocks.size();
    // total[b][c] = reader logit + block retrieval logit (masked spans stay ≤ float min).
    auto total = [&](int64_t b, int64_t cand) { return lg[(row0 + b) * num_c + cand] + query.blocks[b].retrieval_score; };
    auto valid = [&](int64_t b, int64_t cand) { return lg[(row0 + b) * num_c + cand] > -1e30f; };
    std::vector<std::pair<int64_t, int64_t>> chosen;
    const auto [best_block, best_cand] = ReferenceBestSpan(r, num_c, total);
    if (r > 0 && valid(best_block, best_cand)) chosen.push_back({best_block, best_cand});
    if (query.num_spans > 1) {
      std::vector<std::pair<float, std::pair<int64_t, int64_t>>> all;
      for (int64_t b = 0; b < r; ++b) {
        for (int64_t cand = 0; cand < num_c; ++cand) {
          if (valid(b, cand)) all.push_back({total(b, cand), {b, cand}});
        }
      }
      size_t want = std::min<size_t>(query.num_spans, all.size());
      std::partial_sort(all.begin(), all.begin() + want, all.end(), [](const auto& x, const auto& y) {
        return x.first > y.first || (x.first == y.first && x.second < y.second);
      });
      for (size_t i = 0; i < all.size() && static_cast<int>(chosen.size()) < query.num_spans; ++i) {
        if (!chosen.empty() && all[i].second == chosen[0]) continue;
        chosen.push_back(all[i].second);
      }
    }
    for (const auto& [b, cand] : chosen) {
      const PairEncoding& enc = in.encodings[row0 + b];
      const std::vector<WordPiece>& pieces = in.block_pieces[row0 + b];
      ReaderSpan s;
      s.block_index = static_cast<int>(b);
      s.block_id = query.blocks[b].id;
      s.start_token = static_cast<int>(st[cand]);
      s.end_token = static_cast<int>(en[cand]);
      s.reader_score = lg[(row0 + b) * num_c + cand];
      s.retrieval_score = query.blocks[b].retrieval_score;
      s.score = s.reader_score + s.retrieval_score;
      // Valid spans lie inside the block's tokens: map them to its original bytes.
      const WordPiece& first = pieces[s.start_token - enc.b_offset()];
      const WordPiece& last = pieces[s.end_token - enc.b_offset()];
      const std::string& text = query.blocks[b].text;
      s.text = text.substr(first.byte_begin, last.byte_end - first.byte_begin);
      s.char_begin = ByteToCodePointOffset(text, first.byte_begin);
      s.char_end = ByteToCodePointOffset(text, last.byte_end);
      out[q].push_back(std::move(s));
    }
    row0 += r;
  }
  return out;
}

}  // namespace orqa
