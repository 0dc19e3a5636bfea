#pragma once

// Writes a realm-tiny-format fixture's weights as the TensorFlow checkpoints
// Google released, with the reference's variable names and layouts (the
// inverse of tf_checkpoint.h's mapping), one checkpoint per component:
//   bert/variables/variables      cc_news_pretrained/bert (the knowledge-augmented encoder)
//   embedder/variables/variables  cc_news_pretrained/embedder
//   finetuned/model.ckpt-300      orqa_nq_model_from_realm: embedder + reader, with
//                                 adam_m / adam_v slots and global_step
//   encoded/encoded.ckpt          block_emb
//   slots/model.ckpt              optimizer slots and global_step only
// The finetuned and encoded directories hold a `checkpoint` file as the
// released ones do: the finetuned one names its prefix relative to the
// directory, encoded/checkpoint the absolute path of the machine that wrote it.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <vector>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/io/safetensors.h"
#include "common/io/tf_bundle.h"
#include "common/model/tf_checkpoint.h"

namespace orqa::testing {

struct ReferenceCheckpoints {
  std::string bert, embedder, finetuned, encoded, slots;
};

/// Faults to plant in the finetuned checkpoint.
struct CheckpointFaults {
  std::string rename_from, rename_to;  // a variable written under another name
  std::string narrow_kernel;           // a kernel written one output column short
  int64_t block_rows = 0;              // block_emb grown to this many rows (the fixture's repeated)
};

// The int64 scalar every TF training checkpoint carries.
inline absl::Status AddGlobalStep(TFBundleWriter* writer) {
  static const int64_t step = 300;
  TensorView g;
  g.dtype = DType::kI64;
  g.data = reinterpret_cast<const uint8_t*>(&step);
  g.nbytes = sizeof(step);
  return writer->Add("global_step", g);
}

inline absl::Status WriteComponent(const SafetensorsContents& source, TFComponent component, RealmKind kind,
                                   const std::string& prefix, bool with_slots, const CheckpointFaults& faults) {
  std::filesystem::create_directories(std::filesystem::path(prefix).parent_path());
  auto writer = TFBundleWriter::Create(prefix);
  if (!writer.ok()) return writer.status();
  int written = 0;
  for (const auto& [key, view] : source.tensors) {
    std::string name = ReferenceTFName(key, component);
    if (name.empty()) continue;
    TensorView t = PlanTFVariable(name, kind).transpose ? Transpose2D(view) : view;
    if (name == faults.narrow_kernel && t.shape.size() == 2) {
      t.shape[1] -= 1;  // row-major [in, out]: keep the bytes of the first in·(out-1) values
      t.nbytes = static_cast<size_t>(t.numel()) * DTypeSize(t.dtype);
    }
    if (name == faults.rename_from) name = faults.rename_to;
    if (absl::Status st = (*writer)->Add(name, t); !st.ok()) return st;
    if (with_slots) {
      for (const char* slot : {"/adam_m", "/adam_v"}) {
        if (absl::Status st = (*writer)->Add(name + slot, t); !st.ok()) return st;
      }
    }
    ++written;
  }
  if (written == 0) return absl::NotFoundError(absl::StrCat(prefix, ": no key of the fixture maps to this component"));
  if (with_slots) {
    if (absl::Status st = AddGlobalStep(writer->get()); !st.ok()) return st;
  }
  return (*writer)->Finish();
}

inline absl::StatusOr<ReferenceCheckpoints> WriteReferenceTFCheckpoints(const std::string& fixture_dir,
                                                                        const std::string& out_dir,
                                                                        const CheckpointFaults& faults = {}) {
  auto openqa = ReadSafetensors(fixture_dir + "/realm_for_open_qa.safetensors");
  if (!openqa.ok()) return openqa.status();
  auto kae = ReadSafetensors(fixture_dir + "/realm_knowledge_aug_encoder.safetensors");
  if (!kae.ok()) return kae.status();
  ReferenceCheckpoints c{out_dir + "/bert/variables/variables", out_dir + "/embedder/variables/variables",
                         out_dir + "/finetuned/model.ckpt-300", out_dir + "/encoded/encoded.ckpt",
                         out_dir + "/slots/model.ckpt"};
  const CheckpointFaults none;
  absl::Status st = WriteComponent(*kae, TFComponent::kPretrainedBert, RealmKind::kEncoder, c.bert, false, none);
  if (st.ok()) st = WriteComponent(*openqa, TFComponent::kPretrainedEmbedder, RealmKind::kOpenQA, c.embedder, false, none);
  if (st.ok()) st = WriteComponent(*openqa, TFComponent::kFinetunedOpenQA, RealmKind::kOpenQA, c.finetuned, true, faults);
  if (st.ok() && faults.block_rows > 0) {
    // A large encoded.ckpt (for measuring the converter's memory): the
    // fixture's rows repeated.
    const TensorView& rows = openqa->tensors.at("block_emb");
    auto big = std::make_shared<std::vector<uint8_t>>();
    big->reserve(static_cast<size_t>(faults.block_rows) * (rows.nbytes / rows.shape[0]));
    const size_t row_bytes = rows.nbytes / rows.shape[0];
    for (int64_t r = 0; r < faults.block_rows; ++r) {
      const uint8_t* src = rows.data + (r % rows.shape[0]) * row_bytes;
      big->insert(big->end(), src, src + row_bytes);
    }
    SafetensorsContents grown;
    TensorView& v = grown.tensors["block_emb"];
    v = rows;
    v.shape[0] = faults.block_rows;
    v.data = big->data();
    v.nbytes = big->size();
    v.owner = big;
    st = WriteComponent(grown, TFComponent::kEncodedBlocks, RealmKind::kOpenQA, c.encoded, false, none);
  } else if (st.ok()) {
    st = WriteComponent(*openqa, TFComponent::kEncodedBlocks, RealmKind::kOpenQA, c.encoded, false, none);
  }
  if (!st.ok()) return st;
  std::ofstream(out_dir + "/finetuned/checkpoint") << "model_checkpoint_path: \"model.ckpt-300\"\n"
                                                   << "all_model_checkpoint_paths: \"model.ckpt-300\"\n";
  std::ofstream(out_dir + "/encoded/checkpoint")
      << "model_checkpoint_path: \"/cns/tf-orqa/home/orqa/encoded/encoded.ckpt\"\n"
      << "all_model_checkpoint_paths: \"/cns/tf-orqa/home/orqa/encoded/encoded.ckpt\"\n";
  // Only optimizer state: what a checkpoint saved without its variables looks like.
  std::filesystem::create_directories(out_dir + "/slots");
  auto slots = TFBundleWriter::Create(c.slots);
  if (!slots.ok()) return slots.status();
  const std::string name = ReferenceTFName("reader.qa_outputs.dense_output.bias", TFComponent::kFinetunedOpenQA);
  const auto& bias = openqa->tensors.at("reader.qa_outputs.dense_output.bias");
  for (const char* slot : {"/adam_m", "/adam_v"}) {
    if (absl::Status s = (*slots)->Add(name + slot, bias); !s.ok()) return s;
  }
  if (absl::Status s = AddGlobalStep(slots->get()); !s.ok()) return s;
  if (absl::Status s = (*slots)->Finish(); !s.ok()) return s;
  return c;
}

}  // namespace orqa::testing
