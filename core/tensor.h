// Tensor: a typed, shaped view of 64-byte aligned, reference-counted storage.
//
// Copies are cheap and share storage. Reshape of a contiguous tensor and Slice
// along any axis are views (no copy); a sliced view may be non-contiguous, and
// Contiguous() copies only then. Kernels read contiguous data through data<T>().
//
//   Tensor x = Tensor::Zeros({4, 3}, DType::kF32);
//   Tensor row = x.Slice(0, 1, 2).value();  // shares x's storage
#ifndef GATEFUSE_CORE_TENSOR_H_
#define GATEFUSE_CORE_TENSOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/dtype.h"
#include "core/shape.h"

namespace gatefuse {

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() is false

  // Uninitialised contents.
  static Tensor Empty(const Shape& shape, DType dtype);
  static Tensor Zeros(const Shape& shape, DType dtype);
  static Tensor Full(const Shape& shape, DType dtype, double value);
  static Tensor Scalar(double value, DType dtype) { return Full(Shape{}, dtype, value); }
  // Row-major values; InvalidArgument if their count does not match the shape.
  static absl::StatusOr<Tensor> FromValues(const Shape& shape, absl::Span<const double> values,
                                           DType dtype);
  // Uniform in [lo, hi), reproducible from `seed`.
  static Tensor Uniform(const Shape& shape, DType dtype, uint64_t seed, double lo, double hi);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  int64_t dim(int i) const { return shape_[i]; }
  int64_t num_elements() const { return shape_.num_elements(); }
  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& strides() const { return strides_; }
  bool is_contiguous() const;
  // True if both views start at the same element of the same storage.
  bool SharesStorageWith(const Tensor& o) const { return storage_ == o.storage_; }

  // Pointer to the first element. The dtype must match (a programmer error otherwise).
  template <typename T> T* data();
  template <typename T> const T* data() const;
  void* raw_data();
  const void* raw_data() const;
  // Identifies the storage's contents: unique across the process, and renewed by
  // every mutable access (data<T>() or raw_data() on a non-const tensor), so a
  // cache keyed by (write_stamp, offset) of its inputs never sees stale data.
  // 0 for an undefined tensor.
  uint64_t write_stamp() const;
  int64_t offset() const { return offset_; }

  Tensor Contiguous() const;  // this, if already contiguous
  Tensor Clone() const;       // always a fresh contiguous copy
  Tensor Cast(DType to) const;
  absl::StatusOr<Tensor> Reshape(const Shape& shape) const;  // view if contiguous
  // Elements [start, end) along `axis`, as a view.
  absl::StatusOr<Tensor> Slice(int64_t axis, int64_t start, int64_t end) const;

  // Row-major element i as double (any dtype); for tests, printing and small copies.
  double At(int64_t flat_index) const;
  std::vector<double> ToVector() const;
  std::string DebugString(int max_values = 8) const;

 private:
  struct Storage;
  std::shared_ptr<Storage> storage_;
  int64_t offset_ = 0;  // in elements
  Shape shape_;
  std::vector<int64_t> strides_;
  DType dtype_ = DType::kF32;
};

// ---- implementation of the templates ----
void CheckDTypeOrDie(DType have, DType want);

template <typename T> T* Tensor::data() {
  CheckDTypeOrDie(dtype_, DTypeOf<T>::value);
  return static_cast<T*>(raw_data());
}
template <typename T> const T* Tensor::data() const {
  CheckDTypeOrDie(dtype_, DTypeOf<T>::value);
  return static_cast<const T*>(raw_data());
}

}  // namespace gatefuse

#endif  // GATEFUSE_CORE_TENSOR_H_
