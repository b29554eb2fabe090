// Integer tensor arithmetic on the host, for the shape computations of exported
// models (Shape -> Gather -> Concat -> Reshape ...): small i64 tensors that need
// no tape. Floating tensors go through gatefuse's ops instead.
#ifndef GATEFUSE_MODELS_ONNX_INT_TENSOR_H_
#define GATEFUSE_MODELS_ONNX_INT_TENSOR_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tensor.h"

namespace gatefuse::int_tensor {

Tensor Make(const Shape& shape, const std::vector<int64_t>& values);
std::vector<int64_t> Values(const Tensor& t);  // any dtype, elements as i64

// NumPy broadcasting of two shapes; InvalidArgument naming both when they do not.
absl::StatusOr<Shape> BroadcastShapes(const Shape& a, const Shape& b);
// out[i] = f(a[i'], b[i'']) over the broadcast shape.
absl::StatusOr<Tensor> Binary(const Tensor& a, const Tensor& b,
                              const std::function<int64_t(int64_t, int64_t)>& f);
absl::StatusOr<Tensor> BroadcastTo(const Tensor& a, const Shape& shape);

Tensor Reshape(const Tensor& t, const Shape& shape);  // same element count
Tensor Transpose(const Tensor& t, const std::vector<int64_t>& perm);
// data[..., indices[...], ...] along `axis` (indices already in [0, dims[axis])).
Tensor Gather(const Tensor& data, const Tensor& indices, int64_t axis);
Tensor Concat(const std::vector<Tensor>& parts, int64_t axis);
// Elements start, start + step, ... (< end for step > 0, > end for step < 0).
Tensor Slice(const Tensor& t, int64_t axis, int64_t start, int64_t end, int64_t step);

}  // namespace gatefuse::int_tensor

#endif  // GATEFUSE_MODELS_ONNX_INT_TENSOR_H_
