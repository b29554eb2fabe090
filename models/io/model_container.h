// The model file's outer container: a fixed header that frames one payload and guards it with a
// checksum, so damage is caught before protobuf or anything else reads the payload.
//
//   offset  size  field
//        0     8  magic "GFMODEL\0"
//        8     4  format version, uint32 little-endian
//       12     8  payload length in bytes, uint64 little-endian
//       20     4  CRC-32C (Castagnoli) of the payload, uint32 little-endian
//       24     n  payload (for a model: the serialized ModelFile)
//
//   std::string bytes = EncodeModelFileContainer("payload");        // 24 + 7 bytes
//   GF_ASSIGN_OR_RETURN(ModelFileContainer c, DecodeModelFileContainer(bytes));
//   // c.version == kModelFormatVersion, c.payload == "payload"
#ifndef GATEFUSE_MODELS_IO_MODEL_CONTAINER_H_
#define GATEFUSE_MODELS_IO_MODEL_CONTAINER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gatefuse {

// The newest format this binary reads and the one it writes.
inline constexpr uint32_t kModelFormatVersion = 1;
inline constexpr char kModelFileMagic[8] = {'G', 'F', 'M', 'O', 'D', 'E', 'L', '\0'};
inline constexpr int64_t kModelFileHeaderSize = 24;

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven; pass
// the previous result as `crc` to continue over more data.
// Crc32c("123456789") == 0xE3069283.
uint32_t Crc32c(absl::string_view data, uint32_t crc = 0);

// The header above followed by `payload`, with `version` written as given
// (tests write newer versions and damaged payloads with it).
std::string EncodeModelFileContainer(absl::string_view payload,
                                     uint32_t version = kModelFormatVersion);

struct ModelFileContainer {
  uint32_t version = 0;
  absl::string_view payload;  // points into the decoded bytes
};

// The header checked against `bytes`: DataLoss for a missing magic, a truncation, a declared
// length that is not the real one, version 0 or a checksum mismatch; InvalidArgument for a
// version newer than kModelFormatVersion (an intact file this binary is too old for).
absl::StatusOr<ModelFileContainer> DecodeModelFileContainer(absl::string_view bytes);

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_IO_MODEL_CONTAINER_H_
