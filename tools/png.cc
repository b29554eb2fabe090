#include "tools/png.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace gatefuse {
namespace {

// ---- Deflate with the fixed Huffman code (RFC 1951).

constexpr int kMinMatch = 3;
constexpr int kMaxMatch = 258;
constexpr int kWindow = 32768;
constexpr int kHashBits = 15;
constexpr int kMaxChain = 64;  // candidates tried per position: speed against ratio

// Length codes 257..285 and distance codes 0..29: the smallest value each code stands for,
// and how many extra bits follow it.
constexpr std::array<int, 29> kLengthBase = {3,  4,  5,  6,  7,  8,  9,  10,  11,  13,
                                             15, 17, 19, 23, 27, 31, 35, 43,  51,  59,
                                             67, 83, 99, 115, 131, 163, 195, 227, 258};
constexpr std::array<int, 29> kLengthExtra = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                              2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
constexpr std::array<int, 30> kDistanceBase = {
    1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
    193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
constexpr std::array<int, 30> kDistanceExtra = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                                6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

// Deflate packs bits least-significant first; Huffman codes go most-significant first.
class BitWriter {
 public:
  void Bits(uint32_t value, int count) {
    buffer_ |= static_cast<uint64_t>(value) << filled_;
    filled_ += count;
    while (filled_ >= 8) {
      out_.push_back(static_cast<char>(buffer_ & 0xFF));
      buffer_ >>= 8;
      filled_ -= 8;
    }
  }
  void Code(uint32_t code, int length) {
    uint32_t reversed = 0;
    for (int i = 0; i < length; ++i) reversed |= ((code >> i) & 1u) << (length - 1 - i);
    Bits(reversed, length);
  }
  std::string Finish() {
    if (filled_ > 0) Bits(0, 8 - filled_);
    return std::move(out_);
  }

 private:
  std::string out_;
  uint64_t buffer_ = 0;
  int filled_ = 0;
};

// RFC 1951 3.2.6: 0-143 -> 8 bits from 0x30, 144-255 -> 9 bits from 0x190,
// 256-279 -> 7 bits from 0, 280-287 -> 8 bits from 0xC0.
void FixedLiteral(BitWriter& w, int symbol) {
  if (symbol < 144) return w.Code(0x30 + symbol, 8);
  if (symbol < 256) return w.Code(0x190 + symbol - 144, 9);
  if (symbol < 280) return w.Code(symbol - 256, 7);
  w.Code(0xC0 + symbol - 280, 8);
}

// The last code whose base is <= value.
template <size_t N>
int CodeFor(const std::array<int, N>& base, int value) {
  int code = 0;
  while (code + 1 < static_cast<int>(N) && base[code + 1] <= value) ++code;
  return code;
}

void EmitMatch(BitWriter& w, int length, int distance) {
  const int lc = CodeFor(kLengthBase, length);
  FixedLiteral(w, 257 + lc);
  w.Bits(length - kLengthBase[lc], kLengthExtra[lc]);
  const int dc = CodeFor(kDistanceBase, distance);
  w.Code(dc, 5);
  w.Bits(distance - kDistanceBase[dc], kDistanceExtra[dc]);
}

uint32_t Hash3(const uint8_t* p) {
  const uint32_t v = p[0] | (p[1] << 8) | (p[2] << 16);
  return (v * 2654435761u) >> (32 - kHashBits);
}

// Chains of earlier positions with the same 3-byte hash, newest first.
class MatchFinder {
 public:
  explicit MatchFinder(absl::string_view data)
      : data_(reinterpret_cast<const uint8_t*>(data.data())),
        size_(static_cast<int>(data.size())),
        head_(1 << kHashBits, -1),
        prev_(kWindow, -1) {}

  void Insert(int pos) {
    if (pos + kMinMatch > size_) return;
    const uint32_t h = Hash3(data_ + pos);
    prev_[pos % kWindow] = head_[h];
    head_[h] = pos;
  }

  // The longest earlier match at `pos` (length 0 when none reaches kMinMatch).
  std::pair<int, int> Longest(int pos) const {
    int best_length = 0, best_distance = 0;
    if (pos + kMinMatch > size_) return {0, 0};
    const int limit = std::min(kMaxMatch, size_ - pos);
    int candidate = head_[Hash3(data_ + pos)];
    for (int tries = 0; candidate >= 0 && pos - candidate <= kWindow && tries < kMaxChain;
         ++tries) {
      int length = 0;
      while (length < limit && data_[candidate + length] == data_[pos + length]) ++length;
      if (length > best_length) {
        best_length = length;
        best_distance = pos - candidate;
        if (length == limit) break;
      }
      // A slot reused by a newer position would point forward; the chain ends there.
      const int next = prev_[candidate % kWindow];
      if (next >= candidate) break;
      candidate = next;
    }
    if (best_length < kMinMatch) return {0, 0};
    return {best_length, best_distance};
  }

 private:
  const uint8_t* data_;
  int size_;
  std::vector<int> head_;
  std::vector<int> prev_;
};

// ---- Files.

std::string ErrnoMessage(int err, absl::string_view what, absl::string_view path) {
  return absl::StrCat(what, " ", path, ": ", std::strerror(err));
}

absl::Status WriteAll(int fd, absl::string_view bytes, const std::string& temp) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError(ErrnoMessage(errno, "cannot write", temp));
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) return absl::InternalError(ErrnoMessage(errno, "cannot sync", temp));
  return absl::OkStatus();
}

void AppendBigEndian32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

void AppendChunk(std::string& png, absl::string_view type, absl::string_view data) {
  AppendBigEndian32(png, static_cast<uint32_t>(data.size()));
  const std::string typed = absl::StrCat(type, data);
  png += typed;
  AppendBigEndian32(png, Crc32(typed));
}

}  // namespace

RgbImage::RgbImage(int width, int height, Rgb fill)
    : width_(width), height_(height), bytes_(static_cast<size_t>(width) * height * 3) {
  for (size_t i = 0; i < bytes_.size(); i += 3) {
    bytes_[i] = fill.r;
    bytes_[i + 1] = fill.g;
    bytes_[i + 2] = fill.b;
  }
}

void RgbImage::Set(int x, int y, Rgb c) {
  if (!Contains(x, y)) return;
  uint8_t* p = &bytes_[(static_cast<size_t>(y) * width_ + x) * 3];
  p[0] = c.r;
  p[1] = c.g;
  p[2] = c.b;
}

Rgb RgbImage::Get(int x, int y) const {
  const uint8_t* p = &bytes_[(static_cast<size_t>(y) * width_ + x) * 3];
  return {p[0], p[1], p[2]};
}

uint32_t Crc32(absl::string_view data) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char ch : data) crc = table[(crc ^ ch) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

uint32_t Adler32(absl::string_view data) {
  constexpr uint32_t kMod = 65521;
  uint32_t a = 1, b = 0;
  for (unsigned char ch : data) {
    a = (a + ch) % kMod;
    b = (b + a) % kMod;
  }
  return (b << 16) | a;
}

std::string Deflate(absl::string_view data) {
  BitWriter w;
  w.Bits(1, 1);  // BFINAL
  w.Bits(1, 2);  // BTYPE 01: fixed Huffman
  MatchFinder finder(data);
  const int size = static_cast<int>(data.size());
  for (int pos = 0; pos < size;) {
    const auto [length, distance] = finder.Longest(pos);
    if (length == 0) {
      FixedLiteral(w, static_cast<uint8_t>(data[pos]));
      finder.Insert(pos++);
      continue;
    }
    EmitMatch(w, length, distance);
    for (int end = pos + length; pos < end;) finder.Insert(pos++);
  }
  FixedLiteral(w, 256);  // end of block
  return w.Finish();
}

std::string ZlibCompress(absl::string_view data) {
  // CMF 0x78: deflate with a 32 KiB window; FLG 0x01 makes (CMF * 256 + FLG) % 31 == 0.
  std::string out = "\x78\x01";
  out += Deflate(data);
  AppendBigEndian32(out, Adler32(data));
  return out;
}

std::string EncodePng(const RgbImage& image) {
  const size_t row_bytes = static_cast<size_t>(image.width()) * 3;
  std::string scanlines;
  scanlines.reserve((row_bytes + 1) * image.height());
  const char* pixels = reinterpret_cast<const char*>(image.bytes().data());
  for (int y = 0; y < image.height(); ++y) {
    scanlines.push_back('\0');  // filter type 0: none
    scanlines.append(pixels + y * row_bytes, row_bytes);
  }
  std::string header;
  AppendBigEndian32(header, static_cast<uint32_t>(image.width()));
  AppendBigEndian32(header, static_cast<uint32_t>(image.height()));
  // Bit depth 8, colour type 2 (RGB), compression 0, filter method 0, no interlace.
  header += std::string("\x08\x02\x00\x00\x00", 5);

  std::string png = "\x89PNG\r\n\x1a\n";
  AppendChunk(png, "IHDR", header);
  AppendChunk(png, "IDAT", ZlibCompress(scanlines));
  AppendChunk(png, "IEND", "");
  return png;
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view bytes) {
  static std::atomic<int> counter{0};
  const std::string temp = absl::StrCat(path, ".tmp-", getpid(), "-", counter++);
  const int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) {
    return absl::InvalidArgumentError(
        ErrnoMessage(errno, "cannot create a temporary file for", path));
  }
  absl::Status status = WriteAll(fd, bytes, temp);
  if (close(fd) != 0 && status.ok()) {
    status = absl::InternalError(ErrnoMessage(errno, "cannot close", temp));
  }
  if (status.ok() && std::rename(temp.c_str(), path.c_str()) != 0) {
    status = absl::InvalidArgumentError(ErrnoMessage(errno, "cannot write", path));
  }
  if (!status.ok()) unlink(temp.c_str());
  return status;
}

}  // namespace gatefuse
