#include "tools/png.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatefuse {
namespace {

using ::testing::HasSubstr;

// ---- A small independent inflater (stored and fixed-Huffman blocks), so the encoder's
// output is checked by decoding it rather than by comparing it with itself.

class BitReader {
 public:
  explicit BitReader(absl::string_view data) : data_(data) {}
  // `count` bits, least-significant first (deflate's packing of values).
  absl::StatusOr<uint32_t> Bits(int count) {
    uint32_t v = 0;
    for (int i = 0; i < count; ++i) {
      if (pos_ / 8 >= data_.size()) return absl::DataLossError("deflate stream ends early");
      v |= ((static_cast<uint8_t>(data_[pos_ / 8]) >> (pos_ % 8)) & 1u) << i;
      ++pos_;
    }
    return v;
  }
  // One more bit of a Huffman code, which is packed most-significant first.
  absl::StatusOr<uint32_t> Extend(uint32_t code) {
    absl::StatusOr<uint32_t> bit = Bits(1);
    if (!bit.ok()) return bit.status();
    return (code << 1) | *bit;
  }
  void AlignToByte() { pos_ = (pos_ + 7) / 8 * 8; }
  size_t byte_pos() const { return pos_ / 8; }

 private:
  absl::string_view data_;
  size_t pos_ = 0;
};

#define TEST_ASSIGN(lhs, expr)                 \
  auto lhs##_or = (expr);                      \
  if (!lhs##_or.ok()) return lhs##_or.status(); \
  auto lhs = *lhs##_or

absl::StatusOr<int> FixedLiteralSymbol(BitReader& r) {
  uint32_t code = 0;
  for (int length = 1; length <= 9; ++length) {
    TEST_ASSIGN(next, r.Extend(code));
    code = next;
    if (length == 7 && code <= 0x17) return 256 + code;
    if (length == 8 && code >= 0x30 && code <= 0xBF) return code - 0x30;
    if (length == 8 && code >= 0xC0 && code <= 0xC7) return 280 + code - 0xC0;
    if (length == 9 && code >= 0x190) return 144 + code - 0x190;
  }
  return absl::DataLossError("invalid fixed Huffman code");
}

absl::StatusOr<std::string> Inflate(absl::string_view data, size_t* consumed = nullptr) {
  static const int kLengthBase[] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                    31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
  static const int kLengthExtra[] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                     2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
  static const int kDistBase[] = {1,    2,    3,    4,    5,    7,     9,     13,    17,  25,
                                  33,   49,   65,   97,   129,  193,   257,   385,   513, 769,
                                  1025, 1537, 2049, 3073, 4097, 6145,  8193,  12289, 16385, 24577};
  std::string out;
  BitReader r(data);
  for (bool final_block = false; !final_block;) {
    TEST_ASSIGN(bfinal, r.Bits(1));
    TEST_ASSIGN(btype, r.Bits(2));
    final_block = bfinal == 1;
    if (btype == 0) {
      r.AlignToByte();
      TEST_ASSIGN(len, r.Bits(16));
      TEST_ASSIGN(nlen, r.Bits(16));
      if ((len ^ 0xFFFF) != nlen) return absl::DataLossError("stored block: LEN != ~NLEN");
      for (uint32_t i = 0; i < len; ++i) {
        TEST_ASSIGN(byte, r.Bits(8));
        out.push_back(static_cast<char>(byte));
      }
      continue;
    }
    if (btype != 1) return absl::DataLossError(absl::StrCat("unexpected block type ", btype));
    while (true) {
      TEST_ASSIGN(symbol, FixedLiteralSymbol(r));
      if (symbol < 256) {
        out.push_back(static_cast<char>(symbol));
        continue;
      }
      if (symbol == 256) break;
      if (symbol > 285) return absl::DataLossError("invalid length symbol");
      TEST_ASSIGN(length_extra, r.Bits(kLengthExtra[symbol - 257]));
      const int length = kLengthBase[symbol - 257] + length_extra;
      uint32_t dcode = 0;
      for (int i = 0; i < 5; ++i) {
        TEST_ASSIGN(next, r.Extend(dcode));
        dcode = next;
      }
      if (dcode >= 30) return absl::DataLossError("invalid distance code");
      TEST_ASSIGN(dist_extra, r.Bits(static_cast<int>(dcode < 4 ? 0 : dcode / 2 - 1)));
      const size_t distance = kDistBase[dcode] + dist_extra;
      if (distance > out.size() || distance > 32768) {
        return absl::DataLossError("distance reaches before the start");
      }
      for (int i = 0; i < length; ++i) out.push_back(out[out.size() - distance]);
    }
  }
  r.AlignToByte();
  if (consumed != nullptr) *consumed = r.byte_pos();
  return out;
}

uint32_t ReadBigEndian32(absl::string_view s, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(s[at + i]);
  return v;
}

absl::StatusOr<std::string> ZlibDecompress(absl::string_view z) {
  if (z.size() < 6) return absl::DataLossError("zlib stream too short");
  const int cmf = static_cast<uint8_t>(z[0]), flg = static_cast<uint8_t>(z[1]);
  if ((cmf & 0x0F) != 8 || (cmf * 256 + flg) % 31 != 0 || (flg & 0x20) != 0) {
    return absl::DataLossError("bad zlib header");
  }
  size_t consumed = 0;
  TEST_ASSIGN(data, Inflate(z.substr(2), &consumed));
  if (2 + consumed + 4 != z.size()) return absl::DataLossError("zlib: trailing bytes");
  if (ReadBigEndian32(z, 2 + consumed) != Adler32(data)) {
    return absl::DataLossError("zlib: Adler-32 mismatch");
  }
  return data;
}

// Parses the PNG: every chunk's CRC, IHDR (8-bit RGB only), IDAT inflated and unfiltered.
absl::StatusOr<RgbImage> DecodePng(absl::string_view png) {
  if (png.substr(0, 8) != absl::string_view("\x89PNG\r\n\x1a\n", 8)) {
    return absl::DataLossError("no PNG signature");
  }
  int width = -1, height = -1;
  std::string idat;
  bool ended = false;
  for (size_t at = 8; !ended;) {
    if (at + 12 > png.size()) return absl::DataLossError("truncated chunk");
    const uint32_t length = ReadBigEndian32(png, at);
    if (at + 12 + length > png.size()) return absl::DataLossError("truncated chunk data");
    const absl::string_view typed = png.substr(at + 4, 4 + length);
    if (ReadBigEndian32(png, at + 8 + length) != Crc32(typed)) {
      return absl::DataLossError(absl::StrCat("CRC mismatch in ", typed.substr(0, 4)));
    }
    const absl::string_view type = typed.substr(0, 4), data = typed.substr(4);
    if (type == "IHDR") {
      if (data != absl::StrCat(data.substr(0, 8), absl::string_view("\x08\x02\0\0\0", 5))) {
        return absl::DataLossError("not 8-bit RGB, non-interlaced");
      }
      width = static_cast<int>(ReadBigEndian32(data, 0));
      height = static_cast<int>(ReadBigEndian32(data, 4));
    } else if (type == "IDAT") {
      idat += std::string(data);
    } else if (type == "IEND") {
      ended = true;
      if (at + 12 != png.size()) return absl::DataLossError("bytes after IEND");
    }
    at += 12 + length;
  }
  if (width <= 0 || height <= 0) return absl::DataLossError("no IHDR");
  TEST_ASSIGN(raw, ZlibDecompress(idat));
  const size_t row = static_cast<size_t>(width) * 3;
  if (raw.size() != (row + 1) * height) return absl::DataLossError("wrong scanline bytes");
  RgbImage image(width, height, {});
  for (int y = 0; y < height; ++y) {
    const char* line = raw.data() + y * (row + 1);
    if (line[0] != 0) return absl::DataLossError("unexpected filter type");
    for (int x = 0; x < width; ++x) {
      const auto* p = reinterpret_cast<const uint8_t*>(line + 1 + x * 3);
      image.Set(x, y, {p[0], p[1], p[2]});
    }
  }
  return image;
}

// Deterministic pseudo-random bytes (a 32-bit LCG).
std::string NoiseBytes(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  for (char& c : s) {
    seed = seed * 1664525u + 1013904223u;
    c = static_cast<char>(seed >> 24);
  }
  return s;
}

TEST(PngTest, Crc32KnownValues) {
  EXPECT_EQ(Crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(Crc32(""), 0u);
  EXPECT_EQ(Crc32("IEND"), 0xAE426082u);  // the CRC every PNG ends with
}

TEST(PngTest, Adler32KnownValues) {
  EXPECT_EQ(Adler32("Wikipedia"), 0x11E60398u);
  EXPECT_EQ(Adler32(""), 1u);
  // Large enough that both sums wrap modulo 65521 many times.
  EXPECT_EQ(Adler32(std::string(100000, '\xff')), 0x149A302Cu);
}

TEST(PngTest, InflaterReadsAStoredBlock) {
  // BFINAL=1, BTYPE=00, LEN=5, NLEN=~5, "hello": checks the test's own decoder.
  EXPECT_EQ(Inflate(absl::string_view("\x01\x05\x00\xfa\xffhello", 10)).value(), "hello");
  EXPECT_FALSE(Inflate(absl::string_view("\x01\x05\x00\xfa\xfehello", 10)).ok());
}

TEST(PngTest, DeflateMatchesAKnownFixedHuffmanEncoding) {
  // zlib's raw deflate of "a" with the fixed code.
  EXPECT_EQ(Deflate("a"), std::string("\x4b\x04\x00", 3));
  EXPECT_EQ(Deflate(""), std::string("\x03\x00", 2));
}

TEST(PngTest, DeflateRoundTrips) {
  std::string far_repeat = NoiseBytes(40000, 7);
  far_repeat += far_repeat.substr(0, 3000);  // a match 40000 bytes back is out of reach
  const std::vector<std::string> inputs = {
      "",
      "a",
      "abcabcabcabcabcabcabc",
      std::string(100000, 'x'),
      NoiseBytes(70000, 1),
      absl::StrCat(NoiseBytes(300, 2), std::string(1000, '\0'), NoiseBytes(300, 2)),
      far_repeat,
  };
  for (const std::string& in : inputs) {
    absl::StatusOr<std::string> out = Inflate(Deflate(in));
    ASSERT_TRUE(out.ok()) << out.status() << " for an input of " << in.size() << " bytes";
    EXPECT_EQ(*out, in) << "for an input of " << in.size() << " bytes";
  }
}

TEST(PngTest, DeflateCompressesRuns) {
  // 388 matches of 258 bytes at 13 bits each.
  EXPECT_LT(Deflate(std::string(100000, 'x')).size(), 700u);
}

TEST(PngTest, ZlibStreamRoundTrips) {
  const std::string in = absl::StrCat(NoiseBytes(5000, 3), std::string(5000, 'q'));
  absl::StatusOr<std::string> out = ZlibDecompress(ZlibCompress(in));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, in);
}

TEST(PngTest, EncodedImageDecodesToTheSamePixels) {
  RgbImage image(37, 21, {255, 255, 255});
  for (int y = 0; y < image.height(); ++y) {
    for (int x = 0; x < image.width(); ++x) {
      if ((x * 7 + y * 3) % 5 == 0) {
        image.Set(x, y, {static_cast<uint8_t>(x * 6), static_cast<uint8_t>(y * 12), 77});
      }
    }
  }
  const std::string png = EncodePng(image);
  absl::StatusOr<RgbImage> decoded = DecodePng(png);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->width(), 37);
  ASSERT_EQ(decoded->height(), 21);
  EXPECT_EQ(decoded->bytes(), image.bytes());
}

TEST(PngTest, DecoderNoticesACorruptedByte) {
  const std::string png = EncodePng(RgbImage(4, 4, {1, 2, 3}));
  std::string bad = png;
  bad[40] ^= 0x10;  // inside IDAT
  absl::StatusOr<RgbImage> decoded = DecodePng(bad);
  ASSERT_FALSE(decoded.ok());
  EXPECT_THAT(decoded.status().message(), HasSubstr("CRC mismatch"));
}

TEST(PngTest, SetOutsideTheImageIsIgnored) {
  RgbImage image(2, 2, {9, 9, 9});
  image.Set(-1, 0, {1, 1, 1});
  image.Set(2, 1, {1, 1, 1});
  image.Set(1, 1, {5, 6, 7});
  EXPECT_EQ(image.Get(1, 1), (Rgb{5, 6, 7}));
  EXPECT_EQ(image.Get(0, 0), (Rgb{9, 9, 9}));
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

int FilesIn(const std::string& folder) {
  int n = 0;
  DIR* d = opendir(folder.c_str());
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

TEST(PngTest, WritesAtomicallyAndLeavesNoTemporaryFile) {
  const std::string folder = absl::StrCat(testing::TempDir(), "/png_write");
  mkdir(folder.c_str(), 0755);
  const std::string path = folder + "/image.png";
  ASSERT_TRUE(WriteFileAtomically(path, "old").ok());
  ASSERT_TRUE(WritePngFile(RgbImage(3, 2, {0, 128, 255}), path).ok());
  absl::StatusOr<RgbImage> back = DecodePng(ReadWholeFile(path));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->Get(2, 1), (Rgb{0, 128, 255}));
  EXPECT_EQ(FilesIn(folder), 1);

  // A folder where the file should be: the rename fails and the temporary file goes.
  const std::string sub = folder + "/sub";
  mkdir(sub.c_str(), 0755);
  const absl::Status over_folder = WriteFileAtomically(sub, "x");
  EXPECT_FALSE(over_folder.ok());
  EXPECT_THAT(over_folder.message(), HasSubstr(sub));
  EXPECT_EQ(FilesIn(folder), 2);  // image.png and sub
}

TEST(PngTest, MissingFolderIsAnErrorNamingThePath) {
  const absl::Status s = WriteFileAtomically("/nonexistent-folder/x.png", "x");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("/nonexistent-folder/x.png"));
  EXPECT_THAT(s.message(), HasSubstr("No such file"));
}

}  // namespace
}  // namespace gatefuse
