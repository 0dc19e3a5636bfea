#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"

namespace orqa {

/// One word piece and where it came from in the ORIGINAL text, as a half-open
/// byte range (an accent-stripped "e" maps back to the bytes of "é").
struct WordPiece {
  int32_t id;
  std::string piece;
  uint32_t byte_begin;
  uint32_t byte_end;
};

/// BERT-uncased tokenization exactly as REALM's Hugging Face tokenizer does it:
/// special tokens kept whole, Python-style lower-casing, text cleaning, CJK
/// characters split, accents stripped via NFD, punctuation split, then greedy
/// longest-match-first WordPiece with "##" continuations; words over 100 code
/// points become [UNK].
class WordPieceTokenizer {
 public:
  /// Reads a vocab.txt (one token per line, id = line number). Errors name
  /// the file and line.
  static absl::StatusOr<WordPieceTokenizer> FromVocabFile(const std::string& path);
  static absl::StatusOr<WordPieceTokenizer> FromVocab(std::vector<std::string> tokens);

  /// Full tokenization with offsets into `text`.
  std::vector<WordPiece> Tokenize(std::string_view text) const;
  /// Ids only.
  std::vector<int32_t> Encode(std::string_view text) const;
  /// BasicTokenizer output (words before WordPiece), for tests.
  std::vector<std::string> BasicTokenize(std::string_view text) const;

  /// tokenizer.decode: pieces joined, "##" merged, special ids dropped when
  /// `skip_special`, and Hugging Face's clean_up_tokenization_spaces when `cleanup`.
  std::string Decode(const std::vector<int32_t>& ids, bool skip_special, bool cleanup) const;

  /// The retriever's question round trip: decode(skip_special_tokens=True),
  /// then re-tokenize. Drops [UNK] and [MASK].
  std::vector<int32_t> RoundTripQuestion(std::string_view question) const;

  const std::string& IdToToken(int32_t id) const;
  bool IsSpecialId(int32_t id) const;
  size_t vocab_size() const { return id_to_token_.size(); }

  int32_t pad_id() const { return pad_id_; }
  int32_t unk_id() const { return unk_id_; }
  int32_t cls_id() const { return cls_id_; }
  int32_t sep_id() const { return sep_id_; }
  int32_t mask_id() const { return mask_id_; }

  /// Longest word, in code points, that WordPiece splits; longer is [UNK].
  static constexpr size_t kMaxCharsPerWord = 100;

 private:
  struct Char {
    char32_t cp;
    uint32_t byte_begin;
    uint32_t byte_end;
  };
  using Word = std::vector<Char>;

  std::vector<Word> BasicTokenizeChars(const std::vector<Char>& chars) const;
  void WordPieceSplit(const Word& word, std::vector<WordPiece>* out) const;

  std::unordered_map<std::string, int32_t> token_to_id_;
  std::vector<std::string> id_to_token_;
  std::vector<std::string> special_tokens_;  // longest first
  int32_t pad_id_ = -1, unk_id_ = -1, cls_id_ = -1, sep_id_ = -1, mask_id_ = -1;
};

/// `[CLS] a [SEP] b [SEP]` as the reader and Hugging Face build it.
struct PairEncoding {
  std::vector<int32_t> input_ids;
  std::vector<int32_t> token_type_ids;
  std::vector<int32_t> attention_mask;
  std::vector<int32_t> special_tokens_mask;
  /// Number of tokens of `a` and `b` kept after truncation.
  int32_t num_a = 0;
  int32_t num_b = 0;
  /// Position of the first token of `b` (= num_a + 2).
  int32_t b_offset() const { return num_a + 2; }
};

/// Encodes a pair with `longest_first` truncation to `max_length` (0 = none):
/// one token at a time is cut from the end of the longer sequence, from `b`
/// on ties.
PairEncoding EncodePair(const std::vector<int32_t>& a, const std::vector<int32_t>& b,
                        int32_t max_length, int32_t cls_id, int32_t sep_id);

/// Pads every encoding to the longest (id 0, type 0, attention 0, special 1).
void PadToLongest(std::vector<PairEncoding>* batch, int32_t pad_id);

}  // namespace orqa
