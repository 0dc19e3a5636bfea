// Checkpoint and data readers against real files: the realm-tiny fixture,
// Hugging Face-format .npy files, and TensorFlow-written TFRecord and
// tensor-bundle checkpoints; plus one test per kind of bad file.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/io/crc32c.h"
#include "common/io/npy.h"
#include "common/io/pytorch_zip.h"
#include "common/io/restricted_pickle.h"
#include "common/io/safetensors.h"
#include "common/io/tf_bundle.h"
#include "common/io/tfrecord.h"
#include "tests/unit/fixture_paths.h"
#include "tests/tensor_element.h"

namespace orqa {
namespace {

using nlohmann::json;
using testing::FixtureDir;
using testing::SharedDir;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string WriteTemp(const std::string& name, const std::string& bytes) {
  std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

std::string SafetensorsBytes(const std::string& header, const std::string& body) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(n >> (8 * i));
  return out + header + body;
}

// --- safetensors ---------------------------------------------------------

TEST(Safetensors, ReadsEveryGoldenTensorListedInGoldensJson) {
  auto st = ReadSafetensors(FixtureDir() + "/goldens.safetensors");
  ASSERT_TRUE(st.ok()) << st.status();
  json meta = json::parse(ReadAll(FixtureDir() + "/goldens.json"));
  EXPECT_EQ(st->tensors.size(), meta["tensors"].size());
  for (auto it = meta["tensors"].begin(); it != meta["tensors"].end(); ++it) {
    ASSERT_TRUE(st->tensors.count(it.key())) << it.key();
    EXPECT_EQ(st->tensors.at(it.key()).shape, it.value()["shape"].get<std::vector<int64_t>>()) << it.key();
  }
}

TEST(Safetensors, WriteThenReadRoundTrips) {
  std::vector<float> a = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f};
  std::vector<int64_t> b = {42, -7};
  std::map<std::string, TensorView> t;
  t["b"] = {DType::kI64, {2}, reinterpret_cast<const uint8_t*>(b.data()), 16, nullptr};
  t["a"] = {DType::kF32, {2, 3}, reinterpret_cast<const uint8_t*>(a.data()), 24, nullptr};
  std::string path = ::testing::TempDir() + "/roundtrip.safetensors";
  ASSERT_TRUE(WriteSafetensors(path, t, {{"format", "pt"}}).ok());
  auto r = ReadSafetensors(path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->metadata.at("format"), "pt");
  EXPECT_EQ(r->tensors.at("a").shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(std::memcmp(r->tensors.at("a").data, a.data(), 24), 0);
  EXPECT_EQ(std::memcmp(r->tensors.at("b").data, b.data(), 16), 0);
  // Sorted, contiguous: "a" first at offset 0; the header is padded to 8 bytes.
  std::string raw = ReadAll(path);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<uint8_t>(raw[i]);
  EXPECT_EQ(header_len % 8, 0u);
  EXPECT_EQ(raw.size(), 8 + header_len + 40);
}

TEST(Safetensors, TruncatedFileNamesTheFile) {
  std::string good = ReadAll(FixtureDir() + "/goldens.safetensors");
  std::string path = WriteTemp("trunc.safetensors", good.substr(0, good.size() / 2));
  auto r = ReadSafetensors(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find(path + ": invalid safetensors: tensor '"), std::string::npos)
      << r.status();
  EXPECT_NE(r.status().message().find("outside the"), std::string::npos) << r.status();
}

TEST(Safetensors, HeaderLengthPastEndOfFile) {
  std::string bytes = SafetensorsBytes("{}", "");
  bytes[0] = 100;
  auto r = ParseSafetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "x.st", nullptr);
  EXPECT_EQ(r.status().message(),
            "x.st: invalid safetensors: header length 100 runs past the end of the 10-byte file (truncated?)");
}

TEST(Safetensors, CorruptedHeaderJson) {
  std::string bytes = SafetensorsBytes("{\"a\": [", "");
  auto r = ParseSafetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "x.st", nullptr);
  EXPECT_EQ(r.status().message(), "x.st: invalid safetensors: header is not a JSON object");
}

TEST(Safetensors, UnknownDtype) {
  std::string bytes = SafetensorsBytes(R"({"w":{"dtype":"F7","shape":[1],"data_offsets":[0,4]}})", "abcd");
  auto r = ParseSafetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "x.st", nullptr);
  EXPECT_EQ(r.status().message(), "x.st: invalid safetensors: tensor 'w' has unknown dtype \"F7\"");
}

TEST(Safetensors, ShapeTimesDtypeMustEqualByteLength) {
  std::string bytes = SafetensorsBytes(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", "abcd");
  auto r = ParseSafetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "x.st", nullptr);
  EXPECT_EQ(r.status().message(), "x.st: invalid safetensors: tensor 'w' holds 4 bytes but shape × F32 needs 8");
}

TEST(Safetensors, OverlappingTensorsAreRejected) {
  std::string bytes = SafetensorsBytes(
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
      "abcdefgh");
  auto r = ParseSafetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "x.st", nullptr);
  EXPECT_EQ(r.status().message(), "x.st: invalid safetensors: tensors 'a' and 'b' overlap");
}

TEST(Safetensors, MissingFile) {
  auto r = ReadSafetensors("/nonexistent/model.safetensors");
  EXPECT_EQ(r.status().message(), "/nonexistent/model.safetensors: No such file or directory");
}

// --- PyTorch zip + restricted pickle ------------------------------------------

TEST(PyTorchZip, ReadsTheFixtureStateDictWithSharedStorage) {
  auto r = ReadPyTorchZip(FixtureDir() + "/pytorch_model.bin");
  ASSERT_TRUE(r.ok()) << r.status();
  json index = json::parse(ReadAll(FixtureDir() + "/weights_index.json"));
  EXPECT_EQ(r->size(), index["realm_for_open_qa"]["num_state_dict_keys"].get<size_t>());
  for (auto it = index["realm_for_open_qa"]["keys"].begin(); it != index["realm_for_open_qa"]["keys"].end(); ++it) {
    ASSERT_TRUE(r->count(it.key())) << it.key();
    EXPECT_EQ(r->at(it.key()).shape, it.value().get<std::vector<int64_t>>()) << it.key();
  }
  // Aliased keys share their bytes, as torch.save stored them once.
  EXPECT_EQ(r->at("embedder.cls.predictions.decoder.bias").data, r->at("embedder.cls.predictions.bias").data);
}

TEST(RestrictedPickle, DisallowedGlobalIsNamedWithItsOffset) {
  const std::string p = "\x80\x02" "cos\nsystem\n" "X\x02\x00\x00\x00ls\x85R.";
  PickleHooks hooks;
  auto r = Unpickle(reinterpret_cast<const uint8_t*>(p.data()), p.size(), hooks, "evil.pkl");
  EXPECT_EQ(r.status().message(), "evil.pkl: pickle: disallowed global 'os.system' at byte 2");
}

TEST(RestrictedPickle, DisallowedOpcodeIsNamedWithItsOffset) {
  const std::string p = "\x80\x02(i__builtin__\nobject\n.";  // INST
  PickleHooks hooks;
  auto r = Unpickle(reinterpret_cast<const uint8_t*>(p.data()), p.size(), hooks, "evil.pkl");
  EXPECT_EQ(r.status().message(), "evil.pkl: pickle: disallowed opcode 0x69 at byte 3");
}

TEST(RestrictedPickle, TruncatedPickle) {
  const std::string p("\x80\x02}q\x00(X\x05\x00\x00\x00" "ab", 13);
  PickleHooks hooks;
  auto r = Unpickle(reinterpret_cast<const uint8_t*>(p.data()), p.size(), hooks, "t.pkl");
  EXPECT_EQ(r.status().message(), "t.pkl: pickle: string of 5 bytes at byte 6 runs past the end");
}

TEST(PyTorchZip, TruncatedArchive) {
  std::string good = ReadAll(FixtureDir() + "/pytorch_model.bin");
  std::string path = WriteTemp("trunc.bin", good.substr(0, good.size() - 1000));
  auto r = ReadPyTorchZip(path);
  EXPECT_EQ(r.status().message(), path + ": invalid zip archive: no end-of-central-directory record (truncated?)");
}

// --- npy ------------------------------------------------------------------------

TEST(Npy, Float32Float16AndFortranOrderDecodeToTheSameValues) {
  const std::string dir = SharedDir() + "/fixtures/hf-format/";
  auto f32 = ReadNpyArray(dir + "block_emb_f32.npy");
  auto f16 = ReadNpyArray(dir + "block_emb_f16.npy");
  auto fortran = ReadNpyArray(dir + "block_emb_f32_fortran.npy");
  ASSERT_TRUE(f32.ok() && f16.ok() && fortran.ok()) << f32.status() << f16.status() << fortran.status();
  EXPECT_EQ(f32->shape, (std::vector<int64_t>{12, 16}));
  EXPECT_EQ(fortran->shape, (std::vector<int64_t>{12, 16}));
  EXPECT_EQ(f16->dtype, DType::kF16);
  for (int i = 0; i < 192; ++i) {
    EXPECT_EQ(ElementAt<float>(*f32, i), static_cast<float>(i / 7.0)) << i;
    EXPECT_EQ(ElementAt<float>(*fortran, i), ElementAt<float>(*f32, i)) << i;
  }
}

TEST(Npy, BlockRecordsObjectArrayOfBytes) {
  json expected = json::parse(ReadAll(SharedDir() + "/fixtures/hf-format/expected.json"));
  std::vector<std::string> texts;
  absl::Status st = ForEachNpyBytes(SharedDir() + "/fixtures/hf-format/block_records.npy",
                                    [&](int64_t i, std::string_view b) {
                                      EXPECT_EQ(i, static_cast<int64_t>(texts.size()));
                                      texts.emplace_back(b);
                                    });
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(texts, expected["block_records.npy"]["texts"].get<std::vector<std::string>>());
}

TEST(Npy, UnsupportedHeaderIsNamed) {
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
  std::string header = "{'descr': '>c16', 'fortran_order': False, 'shape': (2,), }";
  header += std::string(128 - 10 - header.size() - 1, ' ') + "\n";
  bytes += std::string(1, static_cast<char>(header.size())) + std::string(1, '\0') + header + std::string(32, '\0');
  std::string path = WriteTemp("bad.npy", bytes);
  auto r = ReadNpyArray(path);
  EXPECT_EQ(r.status().message(), path + ": unsupported .npy dtype '>c16' (expected <f4, <f2, <f8, <i8, <i4, <i2, |i1, |u1, |b1)");
  std::string v9 = bytes;
  v9[6] = 9;
  auto r9 = ReadNpyArray(WriteTemp("v9.npy", v9));
  EXPECT_NE(r9.status().message().find("invalid .npy: unsupported format version 9.0"), std::string::npos);
}

TEST(Npy, ObjectArrayWithForeignOpcodeIsRejected) {
  std::string good = ReadAll(SharedDir() + "/fixtures/hf-format/block_records.npy");
  size_t body = 10 + (static_cast<uint8_t>(good[8]) | (static_cast<uint8_t>(good[9]) << 8));
  std::string bad = good;
  bad[body + 2] = 'i';  // INST instead of GLOBAL
  auto st = ParseNpyBytes(reinterpret_cast<const uint8_t*>(bad.data()), bad.size(), "b.npy",
                          [](int64_t, std::string_view) {});
  EXPECT_EQ(st.message(), absl::StrCat("b.npy: invalid .npy: disallowed pickle opcode 0x69 at byte ", body + 2));
}

// Object arrays whose pickle refers back to a repeated element through the
// memo, as np.save writes them (tests/unit/gen_npy_memo.py).
std::vector<std::string> NpyStrings(const std::string& file, absl::Status* st) {
  std::vector<std::string> out;
  *st = ForEachNpyBytes(std::string(ORQA_SOURCE_DIR) + "/tests/unit/data/npy-memo/" + file,
                        [&](int64_t i, std::string_view b) {
                          EXPECT_EQ(i, static_cast<int64_t>(out.size()));
                          out.emplace_back(b);
                        });
  return out;
}

TEST(Npy, RepeatedElementsComeBackThroughBinputAndBinget) {
  absl::Status st;
  auto v = NpyStrings("dup.npy", &st);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(v, (std::vector<std::string>{"same", "same", "same", "same", "same", "other"}));
}

TEST(Npy, RepeatedElementsComeBackThroughLongBinputAndLongBinget) {
  absl::Status st;
  auto v = NpyStrings("long.npy", &st);
  ASSERT_TRUE(st.ok()) << st;
  ASSERT_EQ(v.size(), 263u);
  for (int i = 0; i < 260; ++i) {
    EXPECT_EQ(v[i], std::string({static_cast<char>(i >> 8), static_cast<char>(i & 0xFF)})) << i;
  }
  EXPECT_EQ(v[260], v[259]);  // memo id >= 256: LONG_BINGET
  EXPECT_EQ(v[261], v[3]);    // BINGET
  EXPECT_EQ(v[262], v[259]);
}

TEST(Npy, StrElementsAreTheirUtf8) {
  absl::Status st;
  auto v = NpyStrings("str.npy", &st);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(v, (std::vector<std::string>{"caf\xc3\xa9", "t\xc3\xa9", "raw", "caf\xc3\xa9"}));
}

TEST(Npy, AMemoReferenceToSomethingElseIsNamed) {
  std::string good = ReadAll(std::string(ORQA_SOURCE_DIR) + "/tests/unit/data/npy-memo/dup.npy");
  const size_t body = 10 + (static_cast<uint8_t>(good[8]) | (static_cast<uint8_t>(good[9]) << 8));
  // The second element's BINGET 14 (the first string) -> 13 (the list itself), then 99 (never stored).
  const size_t at = good.find(std::string("h\x0eh\x0e", 4), body);
  ASSERT_NE(at, std::string::npos);
  auto parse = [](const std::string& bytes) {
    return ParseNpyBytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "d.npy",
                         [](int64_t, std::string_view) {});
  };
  std::string list = good;
  list[at + 1] = 13;
  EXPECT_EQ(parse(list).message(),
            absl::StrCat("d.npy: invalid .npy: element 1 (memo reference 13 at byte ", at, ") is not a string"));
  std::string unset = good;
  unset[at + 1] = 99;
  EXPECT_EQ(parse(unset).message(),
            absl::StrCat("d.npy: invalid .npy: memo reference 99 at byte ", at, " to nothing stored"));
}

// --- TFRecord --------------------------------------------------------------------

void CheckPenguin(const std::string& file, const std::string& decoded, size_t expected_count) {
  auto reader = TFRecordReader::Open(file);
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::vector<std::string> lines = testing::ReadLines(decoded);
  ASSERT_EQ(lines.size(), expected_count);
  std::string record;
  size_t n = 0;
  while (true) {
    auto more = reader->Next(&record);
    ASSERT_TRUE(more.ok()) << more.status();
    if (!*more) break;
    ASSERT_LT(n, lines.size());
    json want = json::parse(lines[n]);
    EXPECT_EQ(record.size(), want["record_bytes"].get<size_t>());
    auto ex = ParseTFExample(record);
    ASSERT_TRUE(ex.ok()) << ex.status();
    EXPECT_EQ(ex->size(), want["features"].size());
    for (auto it = want["features"].begin(); it != want["features"].end(); ++it) {
      const TFFeature& f = ex->at(it.key());
      if (it.value()["kind"] == "float") {
        ASSERT_EQ(f.kind, TFFeature::Kind::kFloat);
        std::vector<float> v;
        for (double d : it.value()["values"]) v.push_back(static_cast<float>(d));
        EXPECT_EQ(f.floats, v) << it.key();
      } else {
        ASSERT_EQ(f.kind, TFFeature::Kind::kInt64);
        EXPECT_EQ(f.ints, it.value()["values"].get<std::vector<int64_t>>()) << it.key();
      }
    }
    ++n;
  }
  EXPECT_EQ(n, expected_count);
}

TEST(TFRecord, PenguinTrainAndEvalDecodeAsListed) {
  const std::string dir = SharedDir() + "/data/tf-formats/tfx-penguin-tfrecord/";
  CheckPenguin(dir + "train_data.tfrecord", dir + "train_data.decoded.jsonl", 234);
  CheckPenguin(dir + "eval_data.tfrecord", dir + "eval_data.decoded.jsonl", 100);
  // The original GZIP-compressed files hold the same streams.
  CheckPenguin(dir + "train_data_tfrecord-00000-of-00001.gz", dir + "train_data.decoded.jsonl", 234);
}

TEST(TFRecord, BadDataCrcNamesRecordAndOffset) {
  std::string good = ReadAll(SharedDir() + "/data/tf-formats/tfx-penguin-tfrecord/eval_data.tfrecord");
  std::string bad = good;
  bad[152 * 2 + 12 + 5] ^= 0x40;  // a data byte of record 2 (every record is 136 + 16 bytes)
  std::string path = WriteTemp("bad.tfrecord", bad);
  auto reader = TFRecordReader::Open(path);
  ASSERT_TRUE(reader.ok());
  std::string rec;
  EXPECT_TRUE(*reader->Next(&rec));
  EXPECT_TRUE(*reader->Next(&rec));
  auto third = reader->Next(&rec);
  EXPECT_EQ(third.status().message(), path + ": record 2 at byte 304: data checksum mismatch");
  absl::Status st = ForEachTFRecord(bad, "mem", [](std::string_view) {});
  EXPECT_EQ(st.message(), "mem: record 2 at byte 304: data checksum mismatch");
}

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(Crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(Crc32c("", 0), 0u);
}

// --- TF tensor bundles -----------------------------------------------------------

// Every entry of `reader` as the manifest lists it: header, names, dtypes,
// shapes, placement, checksums and the first values.
void ExpectMatchesManifest(const TFBundleReader& reader, const json& entries) {
  EXPECT_EQ(reader.num_shards(), entries[0]["header"]["num_shards"].get<int>());
  EXPECT_EQ(reader.endianness(), entries[0]["header"]["endianness"].get<int>());
  EXPECT_EQ(reader.version_producer(), entries[0]["header"]["version"]["1"].get<int>());
  ASSERT_EQ(reader.entries().size() + 1, entries.size());
  for (size_t i = 1; i < entries.size(); ++i) {
    const json& want = entries[i];
    const TFBundleEntry& e = reader.entries()[i - 1];
    SCOPED_TRACE(e.name);
    EXPECT_EQ(e.name, want["name"].get<std::string>());
    EXPECT_EQ(TFDataTypeName(e.dtype), want["dtype"].get<std::string>());
    EXPECT_EQ(e.shape, want["shape"].get<std::vector<int64_t>>());
    EXPECT_EQ(e.shard_id, want["shard_id"].get<int>());
    EXPECT_EQ(e.offset, want["offset"].get<uint64_t>());
    EXPECT_EQ(e.size, want["size"].get<uint64_t>());
    EXPECT_EQ(e.crc32c, want["crc32c"].get<uint32_t>());
    if (want["dtype"] == "DT_STRING") {
      auto strings = reader.ReadStrings(e.name);
      ASSERT_TRUE(strings.ok()) << strings.status();
      std::vector<size_t> lengths;
      for (const auto& s : *strings) lengths.push_back(s.size());
      EXPECT_EQ(lengths, want["string_lengths"].get<std::vector<size_t>>());
      continue;
    }
    auto t = reader.Read(e.name);
    ASSERT_TRUE(t.ok()) << t.status();
    const auto& first = want["first_values"];
    for (size_t k = 0; k < first.size(); ++k) {
      if (want["dtype"] == "DT_INT64") {
        EXPECT_EQ(ElementAt<int64_t>(*t, k), first[k].get<int64_t>());  // offsets need not be 8-aligned
      } else {
        double v = ElementAt<float>(*t, k);
        EXPECT_NEAR(v, first[k].get<double>(), 5e-7 + 1e-5 * std::fabs(v));
      }
    }
  }
}

TEST(TFBundle, BothCheckpointsMatchTheManifest) {
  const std::string dir = SharedDir() + "/data/tf-formats/";
  json manifest = json::parse(ReadAll(dir + "checkpoints.manifest.json"));
  for (auto it = manifest.begin(); it != manifest.end(); ++it) {
    SCOPED_TRACE(it.key());
    std::string index = it.value()["index"];
    auto reader = TFBundleReader::Open(dir + index.substr(0, index.size() - 6));
    ASSERT_TRUE(reader.ok()) << reader.status();
    ExpectMatchesManifest(*reader, it.value()["entries"]);
  }
}

// orqa's writer re-writes each real checkpoint (tensors added in their
// original data order) into a bundle the reader and the manifest agree on,
// entry by entry: the same names, dtypes, shapes, offsets, sizes and crc32c.
TEST(TFBundle, RewrittenCheckpointsMatchTheManifest) {
  const std::string dir = SharedDir() + "/data/tf-formats/";
  json manifest = json::parse(ReadAll(dir + "checkpoints.manifest.json"));
  for (auto it = manifest.begin(); it != manifest.end(); ++it) {
    SCOPED_TRACE(it.key());
    std::string index = it.value()["index"];
    auto source = TFBundleReader::Open(dir + index.substr(0, index.size() - 6));
    ASSERT_TRUE(source.ok()) << source.status();
    std::vector<TFBundleEntry> by_offset = source->entries();
    std::sort(by_offset.begin(), by_offset.end(),
              [](const TFBundleEntry& a, const TFBundleEntry& b) { return a.offset < b.offset; });
    const std::string prefix = ::testing::TempDir() + "/rewritten-" + it.key();
    auto writer = TFBundleWriter::Create(prefix);
    ASSERT_TRUE(writer.ok()) << writer.status();
    for (const auto& e : by_offset) {
      if (e.dtype == 7) {
        auto strings = source->ReadStrings(e.name);
        ASSERT_TRUE(strings.ok()) << strings.status();
        ASSERT_TRUE((*writer)->AddStrings(e.name, e.shape, *strings).ok());
      } else {
        auto t = source->Read(e.name);
        ASSERT_TRUE(t.ok()) << t.status();
        ASSERT_TRUE((*writer)->Add(e.name, *t).ok());
      }
    }
    ASSERT_TRUE((*writer)->Finish().ok());
    auto reader = TFBundleReader::Open(prefix);
    ASSERT_TRUE(reader.ok()) << reader.status();
    ExpectMatchesManifest(*reader, it.value()["entries"]);
  }
}

TEST(TFBundle, WriterRejectsDuplicateAndMisSizedTensors) {
  auto writer = TFBundleWriter::Create(::testing::TempDir() + "/dup");
  ASSERT_TRUE(writer.ok());
  float v[2] = {1, 2};
  TensorView t;
  t.shape = {2};
  t.data = reinterpret_cast<const uint8_t*>(v);
  t.nbytes = sizeof(v);
  ASSERT_TRUE((*writer)->Add("a", t).ok());
  absl::Status dup = (*writer)->Add("a", t);
  EXPECT_EQ(dup.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(dup.message().find("'a' added twice"), std::string::npos) << dup;
  t.shape = {3};
  absl::Status bad = (*writer)->Add("b", t);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("'b' has 8 bytes"), std::string::npos) << bad;
}

TEST(TFBundle, CorruptedShardFailsItsChecksum) {
  const std::string src = SharedDir() + "/data/tf-formats/tfx-estimator-ckpt/model.ckpt-1000";
  const std::string dst = ::testing::TempDir() + "/ckpt";
  std::ofstream(dst + ".index", std::ios::binary) << ReadAll(src + ".index");
  std::string data = ReadAll(src + ".data-00000-of-00001");
  data[401] ^= 1;  // inside dnn/hiddenlayer_0/kernel (offset 400)
  std::ofstream(dst + ".data-00000-of-00001", std::ios::binary) << data;
  auto reader = TFBundleReader::Open(dst);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_TRUE(reader->Read("dnn/hiddenlayer_0/bias").ok());
  EXPECT_EQ(reader->Read("dnn/hiddenlayer_0/kernel").status().message(),
            dst + ".data-00000-of-00001: 'dnn/hiddenlayer_0/kernel' fails its checksum");
}

TEST(TFBundle, CorruptedIndexBlockIsRejected) {
  std::string index = ReadAll(SharedDir() + "/data/tf-formats/tfx-estimator-ckpt/model.ckpt-1000.index");
  index[20] ^= 0x10;
  std::vector<TFBundleEntry> entries;
  int32_t shards = 0, endian = 0, producer = 0;
  absl::Status st = ParseTFBundleIndex(reinterpret_cast<const uint8_t*>(index.data()), index.size(), "i",
                                       &entries, &shards, &endian, &producer);
  EXPECT_EQ(st.message(), "i: invalid checkpoint index: block at 0 fails its checksum");
}

}  // namespace
}  // namespace orqa
