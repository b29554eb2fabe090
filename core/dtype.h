// Element types. Kernels run in f32; f64 exists so gradient checks are tight;
// i64 carries indices and labels (embedding lookups, class targets).
#ifndef GATEFUSE_CORE_DTYPE_H_
#define GATEFUSE_CORE_DTYPE_H_

#include <cstdint>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace gatefuse {

enum class DType : uint8_t { kF32, kF64, kI64 };

inline int64_t SizeOf(DType t) { return t == DType::kF32 ? 4 : 8; }
inline bool IsFloating(DType t) { return t != DType::kI64; }

inline absl::string_view DTypeName(DType t) {
  switch (t) {
    case DType::kF32: return "f32";
    case DType::kF64: return "f64";
    case DType::kI64: return "i64";
  }
  return "?";
}

absl::StatusOr<DType> ParseDType(absl::string_view name);

template <typename T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::kF32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::kF64; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::kI64; };

// Calls fn(T{}) with T the C++ type of a floating dtype: the one switch on dtype
// that float kernels go through.
template <typename Fn>
auto DispatchFloat(DType t, Fn&& fn) {
  if (t == DType::kF64) return fn(double{});
  return fn(float{});
}

}  // namespace gatefuse

#endif  // GATEFUSE_CORE_DTYPE_H_
