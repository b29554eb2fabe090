// Shape: the dimensions of a tensor, row-major. Rank 0 is a scalar with one element.
#ifndef GATEFUSE_CORE_SHAPE_H_
#define GATEFUSE_CORE_SHAPE_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace gatefuse {

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) : dims_(dims) {}
  explicit Shape(std::vector<int64_t> dims) : dims_(std::move(dims)) {}

  int rank() const { return static_cast<int>(dims_.size()); }
  int64_t operator[](int i) const { return dims_[i]; }
  int64_t& operator[](int i) { return dims_[i]; }
  const std::vector<int64_t>& dims() const { return dims_; }
  int64_t num_elements() const;
  // Row-major strides, in elements.
  std::vector<int64_t> RowMajorStrides() const;
  // "[2,3]"; "[]" for a scalar.
  std::string ToString() const;

  bool operator==(const Shape& o) const { return dims_ == o.dims_; }
  bool operator!=(const Shape& o) const { return dims_ != o.dims_; }

 private:
  std::vector<int64_t> dims_;
};

// Numpy broadcasting of two shapes; InvalidArgument naming `op` and both shapes.
absl::StatusOr<Shape> BroadcastShapes(const Shape& a, const Shape& b, absl::string_view op);

// Resolves a possibly negative axis against `rank`; InvalidArgument if out of range.
absl::StatusOr<int> NormalizeAxis(int64_t axis, int rank, absl::string_view op);

}  // namespace gatefuse

#endif  // GATEFUSE_CORE_SHAPE_H_
