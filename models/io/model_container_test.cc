#include "models/io/model_container.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatefuse {
namespace {

using ::testing::HasSubstr;

std::string LittleEndian(uint64_t v, int bytes) {
  std::string out;
  for (int k = 0; k < bytes; ++k) out.push_back(static_cast<char>((v >> (8 * k)) & 0xff));
  return out;
}

void ExpectRefused(absl::string_view bytes, absl::StatusCode code, const std::string& message) {
  absl::StatusOr<ModelFileContainer> c = DecodeModelFileContainer(bytes);
  ASSERT_FALSE(c.ok()) << "accepted a damaged container (expected: " << message << ")";
  EXPECT_EQ(c.status().code(), code) << c.status();
  EXPECT_THAT(c.status().message(), HasSubstr(message));
}

TEST(ModelContainerTest, Crc32cMatchesTheStandardCheckValues) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);   // RFC 3720 B.4
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62A8AB43u);  // RFC 3720 B.4
  EXPECT_EQ(Crc32c("56789", Crc32c("1234")), Crc32c("123456789"));
}

TEST(ModelContainerTest, LayoutIsTheDocumentedOne) {
  const std::string payload("any\0bytes", 9);
  const std::string bytes = EncodeModelFileContainer(payload);
  ASSERT_EQ(bytes.size(), 24u + payload.size());
  EXPECT_EQ(bytes.substr(0, 8), std::string("GFMODEL\0", 8));
  EXPECT_EQ(bytes.substr(8, 4), LittleEndian(kModelFormatVersion, 4));
  EXPECT_EQ(bytes.substr(12, 8), LittleEndian(payload.size(), 8));
  EXPECT_EQ(bytes.substr(20, 4), LittleEndian(Crc32c(payload), 4));
  EXPECT_EQ(bytes.substr(24), payload);
  EXPECT_EQ(EncodeModelFileContainer(payload, 7).substr(8, 4), LittleEndian(7, 4));
}

TEST(ModelContainerTest, DecodeReturnsTheVersionAndPayload) {
  for (const std::string& payload : {std::string(), std::string("p"), std::string(1000, 'x')}) {
    const std::string bytes = EncodeModelFileContainer(payload);
    absl::StatusOr<ModelFileContainer> c = DecodeModelFileContainer(bytes);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->version, kModelFormatVersion);
    EXPECT_EQ(c->payload, payload);
    EXPECT_EQ(c->payload.data(), bytes.data() + 24);  // a view, not a copy
  }
}

TEST(ModelContainerTest, EveryTruncationAndEveryBitFlipIsRefused) {
  const std::string good = EncodeModelFileContainer("a payload of a few bytes");
  for (size_t n = 0; n < good.size(); ++n) {
    SCOPED_TRACE(n);
    ExpectRefused(absl::string_view(good).substr(0, n), absl::StatusCode::kDataLoss, "truncated");
  }
  for (size_t bit = 0; bit < good.size() * 8; ++bit) {
    std::string bad = good;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    EXPECT_FALSE(DecodeModelFileContainer(bad).ok()) << "bit " << bit << " flipped was accepted";
  }
}

TEST(ModelContainerTest, DamagedHeadersAreRefusedWithTheirReason) {
  const std::string payload = "payload";
  const std::string good = EncodeModelFileContainer(payload);
  ExpectRefused("PK\x03\x04 a zip file", absl::StatusCode::kDataLoss, "not a gatefuse model file");
  ExpectRefused("", absl::StatusCode::kDataLoss, "truncated: 0 bytes, the header alone is 24");
  ExpectRefused(EncodeModelFileContainer(payload, 2), absl::StatusCode::kInvalidArgument,
                "written by a newer gatefuse (format 2, this binary reads up to 1)");
  ExpectRefused(EncodeModelFileContainer(payload, 0), absl::StatusCode::kDataLoss,
                "format version 0 is not a valid version");
  std::string bad = good;
  bad[12] = static_cast<char>(bad[12] + 1);
  ExpectRefused(bad, absl::StatusCode::kDataLoss,
                "truncated: the header declares a 8-byte payload but only 7 bytes follow it");
  ExpectRefused(good + "xy", absl::StatusCode::kDataLoss,
                "2 bytes of trailing data after the declared 7-byte payload");
  bad = good;
  bad.back() = 'X';
  ExpectRefused(bad, absl::StatusCode::kDataLoss, "checksum mismatch: the header says CRC-32C 0x");
}

}  // namespace
}  // namespace gatefuse
