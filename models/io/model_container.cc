#include "models/io/model_container.h"

#include <array>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gatefuse {
namespace {

constexpr uint32_t kCrc32cPolynomial = 0x82F63B78;  // Castagnoli, bit-reflected

constexpr std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kCrc32cPolynomial : c >> 1;
    table[i] = c;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kCrcTable = MakeCrcTable();

// The header is little-endian whatever the host, so files move between machines.
template <typename T>
void PutLittleEndian(T v, std::string& out) {
  for (size_t k = 0; k < sizeof(T); ++k) out.push_back(static_cast<char>((v >> (8 * k)) & 0xff));
}

template <typename T>
T GetLittleEndian(absl::string_view bytes, size_t offset) {
  T v = 0;
  for (size_t k = 0; k < sizeof(T); ++k) {
    v |= static_cast<T>(static_cast<unsigned char>(bytes[offset + k])) << (8 * k);
  }
  return v;
}

}  // namespace

uint32_t Crc32c(absl::string_view data, uint32_t crc) {
  crc = ~crc;
  for (char c : data) crc = kCrcTable[(crc ^ static_cast<unsigned char>(c)) & 0xff] ^ (crc >> 8);
  return ~crc;
}

std::string EncodeModelFileContainer(absl::string_view payload, uint32_t version) {
  std::string out(kModelFileMagic, sizeof kModelFileMagic);
  out.reserve(kModelFileHeaderSize + payload.size());
  PutLittleEndian<uint32_t>(version, out);
  PutLittleEndian<uint64_t>(payload.size(), out);
  PutLittleEndian<uint32_t>(Crc32c(payload), out);
  out.append(payload.data(), payload.size());
  return out;
}

absl::StatusOr<ModelFileContainer> DecodeModelFileContainer(absl::string_view bytes) {
  const size_t size = bytes.size();
  // A prefix of the magic counts as the magic, so a cut file reads as truncated, not foreign.
  if (absl::string_view(kModelFileMagic, sizeof kModelFileMagic).substr(0, size) !=
      bytes.substr(0, sizeof kModelFileMagic)) {
    return absl::DataLossError("not a gatefuse model file (the magic \"GFMODEL\\0\" is missing)");
  }
  if (size < static_cast<size_t>(kModelFileHeaderSize)) {
    return absl::DataLossError(absl::StrCat("truncated: ", size, " bytes, the header alone is ",
                                            kModelFileHeaderSize));
  }
  const uint32_t version = GetLittleEndian<uint32_t>(bytes, 8);
  if (version == 0) return absl::DataLossError("format version 0 is not a valid version");
  if (version > kModelFormatVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("written by a newer gatefuse (format ", version,
                     ", this binary reads up to ", kModelFormatVersion, ")"));
  }
  const uint64_t length = GetLittleEndian<uint64_t>(bytes, 12);
  const uint64_t available = size - kModelFileHeaderSize;
  if (length > available) {
    return absl::DataLossError(absl::StrCat("truncated: the header declares a ", length,
                                            "-byte payload but only ", available,
                                            " bytes follow it"));
  }
  if (length < available) {
    return absl::DataLossError(absl::StrCat(available - length,
                                            " bytes of trailing data after the declared ",
                                            length, "-byte payload"));
  }
  const absl::string_view payload = bytes.substr(kModelFileHeaderSize);
  const uint32_t stored = GetLittleEndian<uint32_t>(bytes, 20);
  const uint32_t computed = Crc32c(payload);
  if (stored != computed) {
    return absl::DataLossError(absl::StrFormat(
        "checksum mismatch: the header says CRC-32C 0x%08x, the payload has 0x%08x", stored,
        computed));
  }
  return ModelFileContainer{version, payload};
}

}  // namespace gatefuse
