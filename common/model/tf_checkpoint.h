#pragma once

// TensorFlow REALM / ORQA checkpoints → orqa's state-dict layout, without
// TensorFlow. The variable names follow the released checkpoints as the
// reference converter (Hugging Face's load_tf_weights_in_realm) maps them:
//
//   reader/module/bert/…                 → reader.realm.…
//   reader/module/cls/…                  → reader.cls.…
//   reader/dense/…, reader/dense_1/…     → reader.qa_outputs.dense_intermediate / dense_output
//   reader/layer_normalization/…         → reader.qa_outputs.layer_normalization
//   module/module/module/module/bert/…   → embedder.realm.…   (finetuned ORQA question encoder)
//   module/module/module/bert/…          → embedder.realm.…   (pre-trained embedder module)
//   module/module[/module]/dense|LayerNorm/… → embedder.cls.dense / cls.LayerNorm (projection)
//   module/module[/module[/module]]/cls/predictions/… → embedder.cls.predictions.…
//   bert/…, cls/…                        → the pre-trained BERT: the knowledge-augmented
//                                          encoder's realm./cls., or the open-QA reader's
//   block_emb                            → block_emb (RealmForOpenQA only)
//
// then within a path: layer_N → layer.N, kernel → weight (transposed: TF
// kernels are [in, out]), gamma → weight, beta and output_bias → bias,
// *_embeddings → *_embeddings.weight. Optimizer slots (adam_m, adam_v, Adam,
// Adam_1, beta1/2_power, AdamWeightDecayOptimizer*), global_step, the object
// graph and the next-sentence head are skipped; any other name that does not
// land on a key of the target model is an error naming it.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/io/tensor_view.h"
#include "common/model/realm_config.h"

namespace orqa {

/// The model a conversion produces, in the Hugging Face class's key layout.
enum class RealmKind { kEmbedder, kReader, kEncoder, kScorer, kOpenQA };

/// "embedder", "reader", "encoder", "scorer", "openqa".
absl::StatusOr<RealmKind> ParseRealmKind(const std::string& name);
const char* RealmKindName(RealmKind kind);
/// The Hugging Face class: RealmEmbedder, RealmReader, ...
const char* RealmKindClass(RealmKind kind);

/// One key of a model: its shape and whether orqa's forward pass needs it
/// (unused heads — MLM heads of the embedder and reader, poolers of the reader
/// and encoder, block_emb — are optional).
struct ExpectedKey {
  std::vector<int64_t> shape;
  bool required = true;
};
/// Every key of `kind` for `config` except the aliases (decoder weights tied
/// to the word embeddings, decoder biases, the scorer's query_embedder).
/// block_emb's first dimension is -1 (any number of blocks).
std::map<std::string, ExpectedKey> ExpectedRealmKeys(RealmKind kind, const RealmConfig& config);

/// The aliases a complete state dict of `kind` adds over `keys`: key → the key
/// holding the same tensor (as the reference ties them).
std::map<std::string, std::string> RealmAliases(RealmKind kind, const std::map<std::string, TensorView>& keys);

/// What happens to one TF variable.
struct TFVariablePlan {
  std::string source;       // checkpoint prefix
  std::string tf_name;
  std::vector<int64_t> tf_shape;
  std::string key;          // orqa key; empty when skipped
  bool transpose = false;   // a 2-D kernel stored [in, out]
  std::string skip_reason;  // why skipped, when key is empty
};

/// Maps one TF variable name for `kind`: the key and whether transposed, or
/// the reason it is skipped. The key is not yet checked against the model.
TFVariablePlan PlanTFVariable(const std::string& tf_name, RealmKind kind);

/// The reference TF variable name of a key of `kind`'s layout in one released
/// component (the inverse mapping, for writing reference-named checkpoints).
enum class TFComponent {
  kPretrainedBert,      // cc_news_pretrained/bert: the knowledge-augmented encoder (bert/, cls/)
  kPretrainedEmbedder,  // cc_news_pretrained/embedder: module/module/module/bert/, module/module/dense/
  kFinetunedOpenQA,     // orqa_*_model checkpoints: module/module/module/module/bert/, reader/...
  kEncodedBlocks,       // encoded.ckpt: block_emb
};
/// Empty when the component does not hold the key. `key` is in the encoder
/// layout for kPretrainedBert and in the open-QA layout otherwise.
std::string ReferenceTFName(const std::string& key, TFComponent component);

struct TFConversionOptions {
  /// Fail when a required key of the model is in no checkpoint (converting a
  /// model directory). Loading in memory leaves that check to the module loader.
  bool require_complete = true;
  /// Initialise missing required keys as BERT does (N(0, initializer_range),
  /// biases 0, norms 1) instead of failing, e.g. the span scorer of a reader
  /// started from pre-trained REALM weights.
  bool init_missing = false;
  uint64_t seed = 0;
};

struct TFConversion {
  /// Key → tensor: views into the checkpoints' mappings, or owned copies for
  /// transposed kernels and initialised keys.
  std::map<std::string, TensorView> tensors;
  /// Aliases to add (RealmAliases of the result).
  std::map<std::string, std::string> aliases;
  /// Every variable of every checkpoint, in order.
  std::vector<TFVariablePlan> plan;
  /// Required keys no checkpoint held, initialised (init_missing).
  std::vector<std::string> initialized;
  /// Optional keys no checkpoint held (not written; nothing orqa runs uses them).
  std::vector<std::string> absent_optional;
};

/// Reads the TF checkpoints at `prefixes` and places their variables in the
/// layout of `kind`. Errors name the checkpoint and variable: a name that
/// lands on no key, a shape that does not match `config`, a key two variables
/// map to, a checkpoint holding no model weight at all, and (when
/// require_complete) every required key left missing.
absl::StatusOr<TFConversion> ConvertTFCheckpoints(const std::vector<std::string>& prefixes, RealmKind kind,
                                                  const RealmConfig& config, const TFConversionOptions& options);

/// A transposed copy of a 2-D view ([in, out] kernels ↔ [out, in] weights).
TensorView Transpose2D(const TensorView& view);

/// The checkpoint prefix when `path` names a TF checkpoint (`PREFIX` with a
/// `PREFIX.index` beside it, `PREFIX.index` itself, or a checkpoint directory:
/// ResolveTFCheckpoint); empty otherwise.
std::string TFCheckpointPrefix(const std::string& path);

}  // namespace orqa
