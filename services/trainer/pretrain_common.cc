#include "services/trainer/pretrain_common.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/index/block_store.h"
#include "common/model/model_dir.h"

namespace orqa {

absl::StatusOr<PretrainCorpus> PretrainCorpus::Open(const orqa::v1::JobSpec& spec) {
  PretrainCorpus c;
  if (!spec.blocks_path().empty()) {
    auto store = BlockStore::Open(spec.blocks_path());
    if (!store.ok()) return store.status();
    c.store_ = std::move(*store);
  }
  if (!spec.text_path().empty()) {
    std::ifstream in(spec.text_path());
    if (!in) return absl::NotFoundError(absl::StrCat(spec.text_path(), ": cannot open"));
    for (std::string line; std::getline(in, line);) {
      if (line.size() >= 40) c.lines_.push_back(std::move(line));
    }
  }
  if (c.size() == 0) return absl::InvalidArgumentError("blocks_path and text_path hold no text");
  return c;
}

int64_t PretrainCorpus::size() const {
  return (store_ ? store_->size() : 0) + static_cast<int64_t>(lines_.size());
}

std::pair<std::string, std::string> PretrainCorpus::Get(int64_t i) const {
  const int64_t blocks = store_ ? store_->size() : 0;
  if (i < blocks) return {std::string(store_->Title(i).value_or("")), std::string(store_->Text(i).value_or(""))};
  return {"", lines_[i - blocks]};
}

torch::Tensor PadRows(const std::vector<std::vector<int64_t>>& rows, int64_t fill, torch::Tensor* mask) {
  size_t longest = 0;
  for (const auto& r : rows) longest = std::max(longest, r.size());
  auto t = torch::full({static_cast<int64_t>(rows.size()), static_cast<int64_t>(longest)}, fill, torch::kLong);
  if (mask) *mask = torch::zeros_like(t);
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].empty()) continue;
    t[i].narrow(0, 0, rows[i].size()).copy_(torch::tensor(rows[i], torch::kLong));
    if (mask) (*mask)[i].narrow(0, 0, rows[i].size()).fill_(1);
  }
  return t;
}

BlockRow EncodeBlockRow(const WordPieceTokenizer& tok, const std::string& title, const std::string& text,
                        int max_length) {
  std::vector<int32_t> text_ids = tok.Encode(text);
  PairEncoding e = title.empty() ? EncodePair(text_ids, {}, max_length, tok.cls_id(), tok.sep_id())
                                 : EncodePair(tok.Encode(title), text_ids, max_length, tok.cls_id(), tok.sep_id());
  BlockRow row;
  row.ids.assign(e.input_ids.begin(), e.input_ids.end());
  if (title.empty()) row.ids.pop_back();  // a single sequence: [CLS] text [SEP]
  row.types.assign(e.token_type_ids.begin(), e.token_type_ids.begin() + static_cast<int64_t>(row.ids.size()));
  return row;
}

absl::StatusOr<PretrainStart> LoadPretrainStart(const std::string& dir, const std::string& weights) {
  auto m = LoadModelFiles(dir, weights);
  if (!m.ok()) return m.status();
  PretrainStart s;
  s.config = m->config;
  s.tok = std::move(m->tokenizer);
  if (s.tok->vocab_size() != static_cast<size_t>(s.config.vocab_size)) {
    return absl::InvalidArgumentError(absl::StrCat(dir, ": vocab.txt has ", s.tok->vocab_size(),
                                                   " tokens but config.json says vocab_size ", s.config.vocab_size));
  }
  s.state = std::move(m->state);
  auto files = ReadModelDirFiles(dir);
  if (!files.ok()) return files.status();
  s.files = std::move(*files);
  s.embedder = RealmEmbedder(s.config);
  absl::Status st =
      s.embedder->Load(SelectSubmodule(s.state, "embedder.", {"realm.", "cls."}), "embedder.", m->weights_path);
  if (!st.ok()) return st;
  return s;
}

void InitFreshHeadTransform(const torch::Tensor& weight, const torch::Tensor& bias, int64_t seed) {
  torch::NoGradGuard g;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed) * 0x9E3779B97F4A7C15ULL + 1);
  weight.normal_(0, 0.02, gen);
  bias.zero_();
}

}  // namespace orqa
