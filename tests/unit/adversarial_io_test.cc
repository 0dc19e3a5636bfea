// Readers against headers at the integer limits: offsets and lengths near 2^64
// that wrap around when added to a constant must be rejected with an error
// naming the file and the field, never read out of bounds.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/index/block_store.h"
#include "common/io/crc32c.h"
#include "common/io/restricted_pickle.h"
#include "common/io/zip_reader.h"

namespace orqa {
namespace {

void Put16(std::vector<uint8_t>* b, uint16_t v) {
  for (int i = 0; i < 2; ++i) b->push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void Put32(std::vector<uint8_t>* b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b->push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void Put64(std::vector<uint8_t>* b, uint64_t v) {
  for (int i = 0; i < 8; ++i) b->push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// An end-of-central-directory record (22 bytes).
void Eocd(std::vector<uint8_t>* b, uint16_t count, uint32_t cd_size, uint32_t cd_offset) {
  Put32(b, 0x06054b50);
  Put16(b, 0);
  Put16(b, 0);
  Put16(b, count);
  Put16(b, count);
  Put32(b, cd_size);
  Put32(b, cd_offset);
  Put16(b, 0);
}

TEST(AdversarialZip, Zip64RecordOffsetNearTwoToTheSixtyFourIsOutOfBounds) {
  for (uint64_t z64 : {~0ull - 10, ~0ull - 55, ~0ull, 1ull << 63}) {
    std::vector<uint8_t> b(8, 0);
    Put32(&b, 0x07064b50);  // zip64 locator
    Put32(&b, 0);
    Put64(&b, z64);
    Put32(&b, 1);
    Eocd(&b, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF);
    auto z = ZipReader::FromMemory(nullptr, b.data(), b.size(), "crafted.bin");
    ASSERT_FALSE(z.ok());
    EXPECT_EQ(z.status().message(), "crafted.bin: invalid zip archive: zip64 end-of-central-directory record at offset " +
                                        std::to_string(z64) + " is out of bounds");
  }
}

TEST(AdversarialZip, LocalHeaderOffsetNearTwoToTheSixtyFourIsOutOfBounds) {
  for (uint64_t off : {~0ull - 8, ~0ull - 29, ~0ull}) {
    std::vector<uint8_t> b;
    // Central directory entry "a": stored, offset in a zip64 extra field.
    Put32(&b, 0x02014b50);
    Put16(&b, 45);
    Put16(&b, 45);
    Put16(&b, 0);
    Put16(&b, 0);  // method: stored
    Put32(&b, 0);
    Put32(&b, 0);  // crc
    Put32(&b, 1);  // compressed size
    Put32(&b, 1);  // size
    Put16(&b, 1);  // name length
    Put16(&b, 12);  // extra length
    Put16(&b, 0);
    Put16(&b, 0);
    Put16(&b, 0);
    Put32(&b, 0);
    Put32(&b, 0xFFFFFFFF);  // local header offset: in the extra field
    b.push_back('a');
    Put16(&b, 0x0001);
    Put16(&b, 8);
    Put64(&b, off);
    const uint32_t cd_size = static_cast<uint32_t>(b.size());
    Eocd(&b, 1, cd_size, 0);
    auto z = ZipReader::FromMemory(nullptr, b.data(), b.size(), "crafted.bin");
    ASSERT_TRUE(z.ok()) << z.status();
    auto e = z->Read("a");
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.status().message(), "crafted.bin: invalid zip archive: local header of 'a' at offset " +
                                        std::to_string(off) + " is out of bounds or corrupt");
  }
}

TEST(AdversarialZip, CentralDirectoryEntriesCannotRunPastTheDirectory) {
  std::vector<uint8_t> b;
  Put32(&b, 0x02014b50);
  b.resize(28, 0);
  Put16(&b, 0xFFFF);  // name length far past the directory
  b.resize(46, 0);
  Eocd(&b, 1, 46, 0);
  auto z = ZipReader::FromMemory(nullptr, b.data(), b.size(), "crafted.bin");
  ASSERT_FALSE(z.ok());
  EXPECT_EQ(z.status().message(), "crafted.bin: invalid zip archive: central directory entry 0 runs past the directory");
}

TEST(AdversarialPickle, LengthsNearTwoToTheSixtyFourAreRejected) {
  PickleHooks hooks;
  for (uint8_t op : {0x8d, 0x8e}) {  // BINUNICODE8, BINBYTES8
    for (uint64_t len : {~0ull, ~0ull - 1, 1ull << 63, 1ull << 32}) {
      std::vector<uint8_t> b = {0x80, 0x04, op};
      Put64(&b, len);
      b.push_back('x');
      auto r = Unpickle(b.data(), b.size(), hooks, "data.pkl");
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.status().message(),
                "data.pkl: pickle: string of " + std::to_string(len) + " bytes at byte 2 runs past the end");
    }
  }
  // An opcode whose fixed-width argument is cut off.
  std::vector<uint8_t> cut = {0x80, 0x04, 0x8d, 0x01, 0x02};
  auto r = Unpickle(cut.data(), cut.size(), hooks, "data.pkl");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "data.pkl: pickle: opcode argument of 8 bytes runs past the end at byte 3");
}

TEST(AdversarialBlockStore, BlockCountsThatOverflowTheTableSizeAreRejected) {
  for (uint64_t n : {1ull << 61, (1ull << 60) + 1, ~0ull >> 1}) {
    std::vector<uint8_t> b = {'O', 'R', 'Q', 'A', 'B', 'L', 'K', '1'};
    Put64(&b, n);
    Put64(&b, 64);  // offsets table offset
    Put64(&b, 64);  // data offset
    Put64(&b, 0);   // data bytes
    Put32(&b, 0);
    Put32(&b, Crc32c(b.data(), 44));
    b.resize(64 + 8, 0);
    const std::string path = "/tmp/orqa-adversarial-" + std::to_string(n) + ".blocks";
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(b.data(), 1, b.size(), f);
    std::fclose(f);
    auto store = BlockStore::Open(path);
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.status().message(), path + ": invalid block store: sizes do not add up: 72-byte file, " +
                                            std::to_string(static_cast<int64_t>(n)) + " blocks, 0 data bytes (truncated?)");
    std::remove(path.c_str());
  }
}

}  // namespace
}  // namespace orqa
