// A self-contained PNG writer: 8-bit RGB, one IDAT chunk holding a zlib stream compressed
// with deflate (LZ77 matches + the fixed Huffman code of RFC 1951 section 3.2.6).
//
//   RgbImage image(64, 32, kWhite);
//   image.Set(3, 4, {255, 0, 0});
//   GF_RETURN_IF_ERROR(WritePngFile(image, "/tmp/red_dot.png"));  // atomic: temp + rename
#ifndef GATEFUSE_TOOLS_PNG_H_
#define GATEFUSE_TOOLS_PNG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace gatefuse {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb& o) const { return r == o.r && g == o.g && b == o.b; }
  bool operator!=(const Rgb& o) const { return !(*this == o); }
};

// Row-major 8-bit RGB pixels; (0, 0) is the top-left corner.
class RgbImage {
 public:
  RgbImage(int width, int height, Rgb fill);

  int width() const { return width_; }
  int height() const { return height_; }
  bool Contains(int x, int y) const { return x >= 0 && y >= 0 && x < width_ && y < height_; }
  // Pixels outside the image are ignored, so shapes may be drawn across its edges.
  void Set(int x, int y, Rgb c);
  Rgb Get(int x, int y) const;
  // Three bytes (r, g, b) per pixel, row after row.
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  int width_, height_;
  std::vector<uint8_t> bytes_;
};

// CRC-32 (ISO-HDLC, polynomial 0xEDB88320 reflected) as PNG chunks use: "123456789" ->
// 0xCBF43926.
uint32_t Crc32(absl::string_view data);
// Adler-32 as the zlib trailer uses: "Wikipedia" -> 0x11E60398.
uint32_t Adler32(absl::string_view data);

// One final deflate block with the fixed Huffman code (BTYPE 01).
std::string Deflate(absl::string_view data);
// A zlib stream (RFC 1950): header 0x78 0x01, Deflate(data), Adler-32 big-endian.
std::string ZlibCompress(absl::string_view data);

// The bytes of a PNG file of `image` (every scanline with filter type 0).
std::string EncodePng(const RgbImage& image);

// Writes `bytes` to `path` atomically: a temporary file in the same folder, then rename, so
// a reader sees the old file or the whole new one. The error names the path.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view bytes);

inline absl::Status WritePngFile(const RgbImage& image, const std::string& path) {
  return WriteFileAtomically(path, EncodePng(image));
}

}  // namespace gatefuse

#endif  // GATEFUSE_TOOLS_PNG_H_
