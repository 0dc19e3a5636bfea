#include "common/model/span_reader.h"

#include <torch/torch.h>

#include <algorithm>
#include <numeric>

#include "common/model/realm_models.h"
#include "common/model/state_dict.h"
#include "common/model/model_dir.h"
#include "common/text/utf8.h"

namespace orqa {

namespace {
// Most reader rows (question-block pairs) run in one forward pass.
constexpr int64_t kMaxRowsPerForward = 32;
}  // namespace

struct SpanReader::Impl {
  RealmConfig config;
  std::unique_ptr<WordPieceTokenizer> tokenizer;
  mutable RealmReader reader{nullptr};  // inference only: safe for concurrent const use
};

SpanReader::~SpanReader() = default;
const RealmConfig& SpanReader::config() const { return impl_->config; }

absl::StatusOr<std::shared_ptr<SpanReader>> SpanReader::Load(const std::string& model_dir,
                                                             const std::string& weights_path) {
  auto files = LoadModelFiles(model_dir, weights_path);
  if (!files.ok()) return files.status();
  auto r = std::shared_ptr<SpanReader>(new SpanReader());
  r->impl_ = std::make_unique<Impl>();
  r->impl_->config = files->config;
  r->impl_->tokenizer = std::move(files->tokenizer);
  r->impl_->reader = RealmReader(files->config);
  const std::string prefix = files->state.count("reader.qa_outputs.dense_output.weight") ? "reader." : "";
  absl::Status st = r->impl_->reader->Load(
      SelectSubmodule(files->state, prefix, {"realm.", "cls.", "qa_outputs."}), prefix, files->weights_path);
  if (!st.ok()) return st;
  r->impl_->reader->eval();
  r->weights_path_ = files->weights_path;
  r->version_ = files->version;
  return r;
}

std::vector<std::vector<ReaderSpan>> SpanReader::Read(const std::vector<const ReaderQuery*>& queries,
                                                      int64_t* tokens) const {
  const WordPieceTokenizer& tok = *impl_->tokenizer;
  const RealmConfig& c = impl_->config;
  struct Row {
    size_t query;
    int block;
    PairEncoding enc;
    std::vector<WordPiece> pieces;
  };
  std::vector<Row> rows;
  for (size_t q = 0; q < queries.size(); ++q) {
    std::vector<int32_t> q_ids = tok.RoundTripQuestion(queries[q]->question);
    for (size_t b = 0; b < queries[q]->blocks.size(); ++b) {
      Row row{q, static_cast<int>(b), {}, tok.Tokenize(queries[q]->blocks[b].text)};
      std::vector<int32_t> b_ids;
      for (const auto& p : row.pieces) b_ids.push_back(p.id);
      row.enc = EncodePair(q_ids, b_ids, c.reader_seq_len, tok.cls_id(), tok.sep_id());
      rows.push_back(std::move(row));
    }
  }
  std::vector<std::vector<ReaderSpan>> out(queries.size());
  if (rows.empty()) return out;
  size_t longest = 0;
  for (const auto& r : rows) longest = std::max(longest, r.enc.input_ids.size());
  const int64_t n = rows.size(), l = longest;
  auto ids = torch::full({n, l}, tok.pad_id(), torch::kLong);
  auto mask = torch::zeros({n, l}, torch::kLong);
  auto types = torch::zeros({n, l}, torch::kLong);
  auto block_mask = torch::zeros({n, l}, torch::kBool);
  auto ia = ids.accessor<int64_t, 2>(), ma = mask.accessor<int64_t, 2>(), ta = types.accessor<int64_t, 2>();
  auto ba = block_mask.accessor<bool, 2>();
  int64_t token_count = 0;
  for (int64_t i = 0; i < n; ++i) {
    const PairEncoding& e = rows[i].enc;
    for (size_t j = 0; j < e.input_ids.size(); ++j) {
      ia[i][j] = e.input_ids[j];
      ma[i][j] = 1;
      ta[i][j] = e.token_type_ids[j];
      ba[i][j] = !e.special_tokens_mask[j] && e.token_type_ids[j];
    }
    token_count += e.input_ids.size();
  }
  if (tokens) *tokens = token_count;
  torch::InferenceMode guard;
  // Bounded forward passes: a request may carry thousands of blocks, and one
  // pass over all of them would need gigabytes of activations. Every chunk is
  // padded to the same length, so candidates line up across chunks.
  std::vector<torch::Tensor> chunk_logits;
  torch::Tensor starts, ends;
  for (int64_t r = 0; r < n; r += kMaxRowsPerForward) {
    const int64_t m = std::min(kMaxRowsPerForward, n - r);
    auto result = impl_->reader->forward(ids.narrow(0, r, m), mask.narrow(0, r, m), types.narrow(0, r, m),
                                         block_mask.narrow(0, r, m));
    chunk_logits.push_back(result.logits_pre_retriever);
    starts = result.candidate_starts;
    ends = result.candidate_ends;
  }
  auto logits = torch::cat(chunk_logits, 0).contiguous();
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
    // The best span as the reference picks it: block = argmax of per-block
    // maxima, candidate = argmax of per-candidate maxima (first index on ties).
    int64_t best_block = 0, best_cand = 0;
    float best_block_v = -INFINITY, best_cand_v = -INFINITY;
    for (int64_t b = 0; b < r; ++b) {
      float m = -INFINITY;
      for (int64_t cand = 0; cand < num_c; ++cand) m = std::max(m, total(b, cand));
      if (m > best_block_v) { best_block_v = m; best_block = b; }
    }
    for (int64_t cand = 0; cand < num_c; ++cand) {
      float m = -INFINITY;
      for (int64_t b = 0; b < r; ++b) m = std::max(m, total(b, cand));
      if (m > best_cand_v) { best_cand_v = m; best_cand = cand; }
    }
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
      const Row& row = rows[row0 + b];
      ReaderSpan s;
      s.block_index = static_cast<int>(b);
      s.block_id = query.blocks[b].id;
      s.start_token = static_cast<int>(st[cand]);
      s.end_token = static_cast<int>(en[cand]);
      s.reader_score = lg[(row0 + b) * num_c + cand];
      s.retrieval_score = query.blocks[b].retrieval_score;
      s.score = s.reader_score + s.retrieval_score;
      // Valid spans lie inside the block's tokens: map them to its original bytes.
      const WordPiece& first = row.pieces[s.start_token - row.enc.b_offset()];
      const WordPiece& last = row.pieces[s.end_token - row.enc.b_offset()];
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
