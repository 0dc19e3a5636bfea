#include "common/model/text_embedder.h"

#include <torch/torch.h>

#include <mutex>

#include "absl/strings/str_cat.h"
#include "common/model/realm_models.h"
#include "common/model/model_dir.h"
#include "common/model/state_dict.h"

namespace orqa {

struct TextEmbedder::Impl {
  RealmConfig config;
  std::unique_ptr<WordPieceTokenizer> tokenizer;
  // Inference only: forward mutates nothing, so concurrent const use is safe.
  mutable RealmEmbedder embedder{nullptr};

  // Each row: ids and the number of leading type-0 tokens (the rest are type 1).
  std::vector<float> Run(const std::vector<std::pair<std::vector<int32_t>, size_t>>& rows) const {
    size_t longest = 0;
    for (const auto& r : rows) longest = std::max(longest, r.first.size());
    const int64_t n = rows.size(), l = longest;
    auto ids = torch::full({n, l}, tokenizer->pad_id(), torch::kLong);
    auto mask = torch::zeros({n, l}, torch::kLong);
    auto types = torch::zeros({n, l}, torch::kLong);
    auto ia = ids.accessor<int64_t, 2>(), ma = mask.accessor<int64_t, 2>(), ta = types.accessor<int64_t, 2>();
    for (int64_t i = 0; i < n; ++i) {
      for (size_t j = 0; j < rows[i].first.size(); ++j) {
        ia[i][j] = rows[i].first[j];
        ma[i][j] = 1;
        ta[i][j] = j < rows[i].second ? 0 : 1;
      }
    }
    torch::InferenceMode guard;
    auto out = embedder->forward(ids, mask, types).projected_score.contiguous();
    return std::vector<float>(out.data_ptr<float>(), out.data_ptr<float>() + out.numel());
  }
};

TextEmbedder::~TextEmbedder() = default;

absl::StatusOr<std::shared_ptr<TextEmbedder>> TextEmbedder::Load(const std::string& model_dir,
                                                                 const std::string& weights_path,
                                                                 Precision precision) {
  auto files = LoadModelFiles(model_dir, weights_path);
  if (!files.ok()) return files.status();
  auto e = std::shared_ptr<TextEmbedder>(new TextEmbedder());
  e->impl_ = std::make_unique<Impl>();
  e->impl_->config = files->config;
  e->impl_->tokenizer = std::move(files->tokenizer);
  e->impl_->embedder = RealmEmbedder(files->config);
  auto first_embedder = files->state.lower_bound("embedder.");
  const bool nested = first_embedder != files->state.end() && first_embedder->first.compare(0, 9, "embedder.") == 0;
  const std::string prefix = nested ? "embedder." : "";
  // Only the embedder's keys are checked: a RealmForOpenQA file also holds the reader.
  absl::Status st = e->impl_->embedder->Load(SelectSubmodule(files->state, prefix, {"realm.", "cls."}), prefix,
                                             files->weights_path);
  if (!st.ok()) return st;
  e->impl_->embedder->eval();
  try {
    e->impl_->embedder->realm->SetPrecision(precision);
  } catch (const std::exception& ex) {  // oneDNN failing to prepare a product: a clear error, not a crash
    return absl::InternalError(absl::StrCat("preparing the embedder at precision ", PrecisionName(precision), ": ", ex.what()));
  }
  e->arithmetic_ = e->impl_->embedder->realm->precision_plan().summary;
  e->weights_path_ = files->weights_path;
  e->version_ = files->version;
  return e;
}

std::vector<float> TextEmbedder::EmbedQuestions(const std::vector<std::string>& questions) const {
  std::vector<std::pair<std::vector<int32_t>, size_t>> rows;
  const size_t max_tokens = impl_->config.max_position_embeddings - 2;
  for (const auto& q : questions) {
    std::vector<int32_t> ids = impl_->tokenizer->Encode(q);
    if (ids.size() > max_tokens) ids.resize(max_tokens);
    ids.insert(ids.begin(), impl_->tokenizer->cls_id());
    ids.push_back(impl_->tokenizer->sep_id());
    size_t n = ids.size();
    rows.emplace_back(std::move(ids), n);
  }
  return impl_->Run(rows);
}

std::vector<float> TextEmbedder::EmbedBlocks(const std::vector<std::string>& titles,
                                             const std::vector<std::string>& texts, int max_length) const {
  const auto& tok = *impl_->tokenizer;
  max_length = std::min(max_length, impl_->config.max_position_embeddings);
  std::vector<std::pair<std::vector<int32_t>, size_t>> rows;
  for (size_t i = 0; i < texts.size(); ++i) {
    std::vector<int32_t> text = tok.Encode(texts[i]);
    if (i < titles.size() && !titles[i].empty()) {
      PairEncoding e = EncodePair(tok.Encode(titles[i]), text, max_length, tok.cls_id(), tok.sep_id());
      rows.emplace_back(e.input_ids, static_cast<size_t>(e.b_offset()));
    } else {
      if (text.size() > static_cast<size_t>(max_length - 2)) text.resize(max_length - 2);
      text.insert(text.begin(), tok.cls_id());
      text.push_back(tok.sep_id());
      size_t n = text.size();
      rows.emplace_back(std::move(text), n);
    }
  }
  return impl_->Run(rows);
}

int TextEmbedder::dim() const { return impl_->config.retriever_proj_size; }
const RealmConfig& TextEmbedder::config() const { return impl_->config; }
const WordPieceTokenizer& TextEmbedder::tokenizer() const { return *impl_->tokenizer; }

}  // namespace orqa
