#include "services/trainer/job_validation.h"

#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/index/block_store.h"
#include "common/model/text_embedder.h"
#include "services/trainer/openqa_trainee.h"
#include "services/trainer/retriever_client.h"
#include "services/trainer/training_loop.h"

namespace orqa {
namespace {

namespace fs = std::filesystem;

absl::Status Invalid(const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

absl::Status Readable(const char* field, const std::string& path) {
  if (path.empty()) return Invalid(field, "must not be empty");
  if (access(path.c_str(), R_OK) != 0) return Invalid(field, absl::StrCat("cannot read '", path, "'"));
  return absl::OkStatus();
}

absl::Status WritableDir(const char* field, const std::string& dir) {
  if (dir.empty()) return Invalid(field, "must not be empty");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!fs::is_directory(dir) || access(dir.c_str(), W_OK | X_OK) != 0) {
    return Invalid(field, absl::StrCat("cannot write to directory '", dir, "'"));
  }
  return absl::OkStatus();
}

// Rewrites a loader's error as one about `field`.
absl::Status About(const char* field, const absl::Status& st) {
  if (st.ok()) return st;
  return Invalid(field, std::string(st.message()));
}

}  // namespace

bool IsPretrain(const orqa::v1::JobSpec& spec) {
  return spec.kind() == orqa::v1::JOB_KIND_PRETRAIN_MLM || spec.kind() == orqa::v1::JOB_KIND_PRETRAIN_ICT ||
         spec.kind() == orqa::v1::JOB_KIND_PRETRAIN_REALM;
}

absl::Status ValidateJobSpec(const orqa::v1::JobSpec& spec) {
  const bool pretrain = IsPretrain(spec);
  const bool finetune = spec.kind() == orqa::v1::JOB_KIND_FINETUNE || spec.kind() == orqa::v1::JOB_KIND_TRAIN_READER;
  const bool trains = finetune || pretrain;
  if (!trains && spec.kind() != orqa::v1::JOB_KIND_BUILD_INDEX) {
    return Invalid("kind",
                   "must be JOB_KIND_FINETUNE, JOB_KIND_BUILD_INDEX, JOB_KIND_PRETRAIN_MLM, JOB_KIND_PRETRAIN_ICT, "
                   "JOB_KIND_PRETRAIN_REALM or JOB_KIND_TRAIN_READER");
  }
  if (spec.model_dir().empty()) return Invalid("model_dir", "must not be empty");
  if (spec.batch_size() < 0 || (trains && spec.batch_size() == 0) ||
      (spec.kind() == orqa::v1::JOB_KIND_PRETRAIN_ICT && spec.batch_size() < 2)) {
    if (spec.kind() == orqa::v1::JOB_KIND_PRETRAIN_ICT) {
      return Invalid("batch_size", absl::StrCat("expected >= 2 (in-batch negatives), got ", spec.batch_size()));
    }
    return Invalid("batch_size", absl::StrCat("expected > 0, got ", spec.batch_size()));
  }
  if (pretrain) {
    if (spec.blocks_path().empty() && spec.text_path().empty()) {
      return Invalid("blocks_path", "a pretraining job needs blocks_path or text_path");
    }
    if (spec.max_seq_length() < 0 || (spec.max_seq_length() > 0 && spec.max_seq_length() < 8)) {
      return Invalid("max_seq_length", absl::StrCat("expected 0 or >= 8, got ", spec.max_seq_length()));
    }
    if (!(spec.mask_prob() >= 0 && spec.mask_prob() < 1)) {
      return Invalid("mask_prob", absl::StrCat("expected in [0, 1), got ", spec.mask_prob()));
    }
    if (!(spec.ict_keep_prob() >= 0 && spec.ict_keep_prob() <= 1)) {
      return Invalid("ict_keep_prob", absl::StrCat("expected in [0, 1], got ", spec.ict_keep_prob()));
    }
    if (spec.kind() == orqa::v1::JOB_KIND_PRETRAIN_REALM) {
      if (spec.blocks_path().empty()) {
        return Invalid("blocks_path", "a REALM job needs the block store the retriever serves (and refreshes from)");
      }
      if (spec.index_refresh_steps() < 0) {
        return Invalid("index_refresh_steps", absl::StrCat("expected >= 0, got ", spec.index_refresh_steps()));
      }
      if (!(spec.random_span_prob() >= 0 && spec.random_span_prob() <= 1)) {
        return Invalid("random_span_prob", absl::StrCat("expected in [0, 1], got ", spec.random_span_prob()));
      }
      if (spec.max_block_length() < 0 || (spec.max_block_length() > 0 && spec.max_block_length() < 8)) {
        return Invalid("max_block_length", absl::StrCat("expected 0 or >= 8, got ", spec.max_block_length()));
      }
    }
  }
  if (trains) {
    const bool reader = spec.kind() == orqa::v1::JOB_KIND_TRAIN_READER;
    if (reader && spec.train_path().empty() && spec.blocks_path().empty()) {
      return Invalid("train_path", "a reader job needs train_path (questions) or blocks_path (cloze questions)");
    }
    if (!reader && finetune && spec.train_path().empty()) {
      return Invalid("train_path", "must not be empty for a finetune job");
    }
    if (!(spec.cloze_share() >= 0 && spec.cloze_share() <= 1)) {
      return Invalid("cloze_share", absl::StrCat("expected in [0, 1], got ", spec.cloze_share()));
    }
    if (spec.reader_passages() < 0 || spec.reader_passages() > 64) {
      return Invalid("reader_passages", absl::StrCat("expected 0 (= 2) to 64, got ", spec.reader_passages()));
    }
    if (spec.output_dir().empty()) return Invalid("output_dir", "must not be empty for a training job");
    if (spec.num_steps() <= 0) return Invalid("num_steps", absl::StrCat("expected > 0, got ", spec.num_steps()));
    if (!(spec.learning_rate() > 0) || spec.learning_rate() > 1) {
      return Invalid("learning_rate", absl::StrCat("expected in (0, 1], got ", spec.learning_rate()));
    }
    if (spec.warmup_steps() < 0 || spec.warmup_steps() > spec.num_steps()) {
      return Invalid("warmup_steps", absl::StrCat("expected in [0, num_steps], got ", spec.warmup_steps()));
    }
    if (!(spec.weight_decay() >= 0 && spec.weight_decay() < 1)) {
      return Invalid("weight_decay", absl::StrCat("expected in [0, 1), got ", spec.weight_decay()));
    }
    if (!(spec.max_grad_norm() >= 0)) return Invalid("max_grad_norm", absl::StrCat("expected >= 0, got ", spec.max_grad_norm()));
    for (auto [field, v] : {std::pair<const char*, int>{"eval_every_steps", spec.eval_every_steps()},
                            {"searcher_beam_size", spec.searcher_beam_size()},
                            {"reader_beam_size", spec.reader_beam_size()},
                            {"keep_checkpoints", spec.keep_checkpoints()},
                            {"checkpoint_every_steps", spec.checkpoint_every_steps()},
                            {"eval_limit", spec.eval_limit()}}) {
      if (v < 0) return Invalid(field, absl::StrCat("expected >= 0, got ", v));
    }
    if (spec.searcher_beam_size() > 5000) return Invalid("searcher_beam_size", "expected <= 5000");
    if (spec.finetune_retrieval() != orqa::v1::RETRIEVAL_MODE_UNSPECIFIED &&
        spec.finetune_retrieval() != orqa::v1::RETRIEVAL_MODE_DENSE &&
        spec.finetune_retrieval() != orqa::v1::RETRIEVAL_MODE_SPARSE) {
      return Invalid("finetune_retrieval", "expected RETRIEVAL_MODE_DENSE or RETRIEVAL_MODE_SPARSE");
    }
  } else {
    if (spec.blocks_path().empty()) return Invalid("blocks_path", "must not be empty for an index build");
    if (spec.embeddings_path().empty()) return Invalid("embeddings_path", "must not be empty for an index build");
    if (spec.num_shards() < 0 || spec.shard_index() < 0 ||
        (spec.num_shards() > 0 && spec.shard_index() >= spec.num_shards()) ||
        (spec.num_shards() == 0 && spec.shard_index() != 0)) {
      return Invalid("shard_index", absl::StrCat("expected 0 <= shard_index < num_shards, got ", spec.shard_index(),
                                                 " of ", spec.num_shards()));
    }
    if (spec.num_shards() > 0 && spec.reload_retriever()) {
      return Invalid("reload_retriever", "needs a whole-store build (num_shards 0): each retriever shard slices the file itself");
    }
    if (spec.max_block_length() < 0 || (spec.max_block_length() > 0 && spec.max_block_length() < 8)) {
      return Invalid("max_block_length", absl::StrCat("expected 0 or >= 8, got ", spec.max_block_length()));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckJobInputs(const orqa::v1::JobSpec& spec, RetrieverClient* retriever) {
  if (absl::Status st = Readable("model_dir", spec.model_dir()); !st.ok()) return st;
  if (!spec.weights_path().empty()) {
    if (absl::Status st = Readable("weights_path", spec.weights_path()); !st.ok()) return st;
  }
  if (IsPretrain(spec)) {
    if (!spec.blocks_path().empty()) {
      if (absl::Status st = Readable("blocks_path", spec.blocks_path()); !st.ok()) return st;
      if (absl::Status st = About("blocks_path", BlockStore::Open(spec.blocks_path()).status()); !st.ok()) return st;
    }
    if (!spec.text_path().empty()) {
      if (absl::Status st = Readable("text_path", spec.text_path()); !st.ok()) return st;
    }
    if (absl::Status st = WritableDir("output_dir", spec.output_dir()); !st.ok()) return st;
    auto embedder = [&] {
      auto generator = LockTorchGenerator();  // building it draws initial weights: not amid a running step
      return TextEmbedder::Load(spec.model_dir(), spec.weights_path());
    }();
    if (!embedder.ok()) return About("model_dir", embedder.status());
    if (spec.kind() == orqa::v1::JOB_KIND_PRETRAIN_REALM && retriever != nullptr && retriever->Refresh().ok() &&
        retriever->dim() != (*embedder)->dim()) {
      return Invalid("model_dir", absl::StrCat("the embedder projects to ", (*embedder)->dim(),
                                               " dimensions but the retriever serves ", retriever->dim()));
    }
    return absl::OkStatus();
  }
  if (spec.kind() == orqa::v1::JOB_KIND_BUILD_INDEX) {
    if (!spec.precision().empty()) {
      if (auto p = ParsePrecision(spec.precision()); !p.ok()) return Invalid("precision", std::string(p.status().message()));
    }
    if (absl::Status st = Readable("blocks_path", spec.blocks_path()); !st.ok()) return st;
    if (absl::Status st = About("blocks_path", BlockStore::Open(spec.blocks_path()).status()); !st.ok()) return st;
    const std::string parent = fs::path(spec.embeddings_path()).parent_path().string();
    if (absl::Status st = WritableDir("embeddings_path", parent.empty() ? "." : parent); !st.ok()) return st;
    auto embedder = [&] {
      auto generator = LockTorchGenerator();  // building it draws initial weights: not amid a running step
      return TextEmbedder::Load(spec.model_dir(), spec.weights_path());
    }();
    if (!embedder.ok()) return About("model_dir", embedder.status());
    if (retriever != nullptr && spec.reload_retriever() && retriever->Refresh().ok() &&
        retriever->dim() != (*embedder)->dim()) {
      return Invalid("model_dir", absl::StrCat("the embedder projects to ", (*embedder)->dim(),
                                               " dimensions but the retriever serves ", retriever->dim()));
    }
    return absl::OkStatus();
  }
  if (spec.kind() != orqa::v1::JOB_KIND_TRAIN_READER || !spec.train_path().empty()) {
    if (absl::Status st = Readable("train_path", spec.train_path()); !st.ok()) return st;
  }
  if (spec.kind() == orqa::v1::JOB_KIND_TRAIN_READER && !spec.blocks_path().empty()) {
    if (absl::Status st = Readable("blocks_path", spec.blocks_path()); !st.ok()) return st;
    if (absl::Status st = About("blocks_path", BlockStore::Open(spec.blocks_path()).status()); !st.ok()) return st;
  }
  if (!spec.eval_path().empty()) {
    if (absl::Status st = Readable("eval_path", spec.eval_path()); !st.ok()) return st;
  }
  if (absl::Status st = WritableDir("output_dir", spec.output_dir()); !st.ok()) return st;
  auto trainee = [&] {
    auto generator = LockTorchGenerator();  // building it draws initial weights: not amid a running step
    return LoadTrainee(spec.model_dir(), spec.weights_path(), spec);
  }();
  if (!trainee.ok()) return About("model_dir", trainee.status());
  // The retriever may be down now and up when the job runs; only a live one is checked.
  if (retriever != nullptr && retriever->Refresh().ok() && retriever->dim() != trainee->config.retriever_proj_size) {
    return Invalid("model_dir", absl::StrCat("retriever_proj_size ", trainee->config.retriever_proj_size,
                                             " does not match the retriever's ", retriever->dim(), "-dimensional embeddings"));
  }
  return absl::OkStatus();
}

}  // namespace orqa
