// libFuzzer target: WordPiece tokenization, decoding and answer normalisation
// on arbitrary bytes must not crash and must keep offsets inside the input.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/text/answer_metrics.h"
#include "common/text/wordpiece_tokenizer.h"

namespace {

const orqa::WordPieceTokenizer& Tokenizer() {
  static const orqa::WordPieceTokenizer* t = [] {
    std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "##s",
                                      "un",    "##aff", "##able", "é", "e", "##e", ",", ".", "?", "北",
                                      "σ",     "ς",     "i",      "##i", "turing", "##ing"};
    return new orqa::WordPieceTokenizer(*orqa::WordPieceTokenizer::FromVocab(vocab));
  }();
  return *t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  const auto& tok = Tokenizer();
  std::vector<int32_t> ids;
  for (const auto& p : tok.Tokenize(text)) {
    if (p.byte_begin > p.byte_end || p.byte_end > size) std::abort();
    ids.push_back(p.id);
  }
  tok.Decode(ids, true, true);
  tok.RoundTripQuestion(text);
  auto pair = orqa::EncodePair(ids, ids, 16, tok.cls_id(), tok.sep_id());
  if (pair.input_ids.size() > 16 && ids.size() * 2 + 3 > 16) std::abort();
  orqa::NormalizeAnswer(text);
  return 0;
}
