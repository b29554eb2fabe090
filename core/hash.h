// A hash of bytes that is the same in every process and on every machine (FNV-1a,
// 64 bits), unlike absl::Hash, which is seeded per process: for comparing values
// across the ranks of a run and for seeds derived from names.
#ifndef GATEFUSE_CORE_HASH_H_
#define GATEFUSE_CORE_HASH_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace gatefuse {

inline constexpr uint64_t kFnv1aOffset = 0xcbf29ce484222325ULL;

// `h` continues an earlier hash, so that several pieces hash as one.
inline uint64_t Fnv1a(const void* data, size_t n, uint64_t h = kFnv1aOffset) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ bytes[i]) * 0x100000001b3ULL;
  return h;
}

inline uint64_t Fnv1a(absl::string_view s, uint64_t h = kFnv1aOffset) {
  return Fnv1a(s.data(), s.size(), h);
}

}  // namespace gatefuse

#endif  // GATEFUSE_CORE_HASH_H_
