#include "models/onnx/int_tensor.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace gatefuse::int_tensor {
namespace {

std::vector<int64_t> Strides(const Shape& s) {
  std::vector<int64_t> st(s.rank(), 1);
  for (int k = s.rank() - 2; k >= 0; --k) st[k] = st[k + 1] * s[k + 1];
  return st;
}

// Calls f(flat index, multi-index) for every element of `s` in row-major order.
void ForEach(const Shape& s, const std::function<void(int64_t, const std::vector<int64_t>&)>& f) {
  const int64_t n = s.num_elements();
  std::vector<int64_t> idx(s.rank(), 0);
  for (int64_t i = 0; i < n; ++i) {
    f(i, idx);
    for (int k = s.rank() - 1; k >= 0; --k) {
      if (++idx[k] < s[k]) break;
      idx[k] = 0;
    }
  }
}

}  // namespace

Tensor Make(const Shape& shape, const std::vector<int64_t>& values) {
  Tensor t = Tensor::Empty(shape, DType::kI64);
  std::copy(values.begin(), values.end(), t.data<int64_t>());
  return t;
}

std::vector<int64_t> Values(const Tensor& t) {
  const int64_t n = t.shape().num_elements();
  std::vector<int64_t> v(n);
  for (int64_t i = 0; i < n; ++i) {
    switch (t.dtype()) {
      case DType::kI64: v[i] = t.data<int64_t>()[i]; break;
      case DType::kF32: v[i] = static_cast<int64_t>(t.data<float>()[i]); break;
      case DType::kF64: v[i] = static_cast<int64_t>(t.data<double>()[i]); break;
    }
  }
  return v;
}

absl::StatusOr<Shape> BroadcastShapes(const Shape& a, const Shape& b) {
  const int r = std::max(a.rank(), b.rank());
  std::vector<int64_t> dims(r);
  for (int k = 0; k < r; ++k) {
    const int ka = k - (r - a.rank()), kb = k - (r - b.rank());
    const int64_t da = ka >= 0 ? a[ka] : 1, db = kb >= 0 ? b[kb] : 1;
    if (da != db && da != 1 && db != 1) {
      return absl::InvalidArgumentError(absl::StrCat("shapes ", a.ToString(), " and ",
                                                     b.ToString(), " do not broadcast"));
    }
    dims[k] = da == 1 ? db : da;
  }
  return Shape(dims);
}

absl::StatusOr<Tensor> BroadcastTo(const Tensor& a, const Shape& shape) {
  absl::StatusOr<Shape> s = BroadcastShapes(a.shape(), shape);
  if (!s.ok()) return s.status();
  if (*s != shape) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot broadcast ", a.shape().ToString(), " to ", shape.ToString()));
  }
  const std::vector<int64_t> va = Values(a), sa = Strides(a.shape());
  std::vector<int64_t> out(shape.num_elements());
  const int off = shape.rank() - a.shape().rank();
  ForEach(shape, [&](int64_t i, const std::vector<int64_t>& idx) {
    int64_t j = 0;
    for (int k = 0; k < a.shape().rank(); ++k) {
      if (a.shape()[k] != 1) j += idx[k + off] * sa[k];
    }
    out[i] = va[j];
  });
  return Make(shape, out);
}

absl::StatusOr<Tensor> Binary(const Tensor& a, const Tensor& b,
                              const std::function<int64_t(int64_t, int64_t)>& f) {
  absl::StatusOr<Shape> s = BroadcastShapes(a.shape(), b.shape());
  if (!s.ok()) return s.status();
  absl::StatusOr<Tensor> ab = BroadcastTo(a, *s), bb = BroadcastTo(b, *s);
  if (!ab.ok()) return ab.status();
  if (!bb.ok()) return bb.status();
  std::vector<int64_t> va = Values(*ab), vb = Values(*bb);
  for (size_t i = 0; i < va.size(); ++i) va[i] = f(va[i], vb[i]);
  return Make(*s, va);
}

Tensor Reshape(const Tensor& t, const Shape& shape) { return Make(shape, Values(t)); }

Tensor Transpose(const Tensor& t, const std::vector<int64_t>& perm) {
  std::vector<int64_t> dims(perm.size());
  for (size_t k = 0; k < perm.size(); ++k) dims[k] = t.shape()[perm[k]];
  const Shape out_shape(dims);
  const std::vector<int64_t> v = Values(t), st = Strides(t.shape());
  std::vector<int64_t> out(v.size());
  ForEach(out_shape, [&](int64_t i, const std::vector<int64_t>& idx) {
    int64_t j = 0;
    for (size_t k = 0; k < perm.size(); ++k) j += idx[k] * st[perm[k]];
    out[i] = v[j];
  });
  return Make(out_shape, out);
}

Tensor Gather(const Tensor& data, const Tensor& indices, int64_t axis) {
  std::vector<int64_t> dims;
  for (int k = 0; k < axis; ++k) dims.push_back(data.shape()[k]);
  for (int k = 0; k < indices.shape().rank(); ++k) dims.push_back(indices.shape()[k]);
  for (int k = axis + 1; k < data.shape().rank(); ++k) dims.push_back(data.shape()[k]);
  const Shape out_shape(dims);
  const std::vector<int64_t> v = Values(data), ind = Values(indices), st = Strides(data.shape());
  const int ri = indices.shape().rank();
  const std::vector<int64_t> sti = Strides(indices.shape());
  std::vector<int64_t> out(out_shape.num_elements());
  ForEach(out_shape, [&](int64_t i, const std::vector<int64_t>& idx) {
    int64_t j = 0, q = 0;
    for (int k = 0; k < axis; ++k) j += idx[k] * st[k];
    for (int k = 0; k < ri; ++k) q += idx[axis + k] * sti[k];
    j += ind[q] * st[axis];
    for (int k = axis + 1; k < data.shape().rank(); ++k) j += idx[k - 1 + ri] * st[k];
    out[i] = v[j];
  });
  return Make(out_shape, out);
}

Tensor Concat(const std::vector<Tensor>& parts, int64_t axis) {
  std::vector<int64_t> dims(parts[0].shape().rank());
  for (int k = 0; k < parts[0].shape().rank(); ++k) dims[k] = parts[0].shape()[k];
  dims[axis] = 0;
  for (const Tensor& p : parts) dims[axis] += p.shape()[axis];
  const Shape out_shape(dims);
  std::vector<int64_t> out(out_shape.num_elements());
  int64_t offset = 0;
  const std::vector<int64_t> so = Strides(out_shape);
  for (const Tensor& p : parts) {
    const std::vector<int64_t> v = Values(p);
    ForEach(p.shape(), [&](int64_t i, const std::vector<int64_t>& idx) {
      int64_t j = 0;
      for (size_t k = 0; k < idx.size(); ++k) {
        j += (idx[k] + (static_cast<int64_t>(k) == axis ? offset : 0)) * so[k];
      }
      out[j] = v[i];
    });
    offset += p.shape()[axis];
  }
  return Make(out_shape, out);
}

Tensor Slice(const Tensor& t, int64_t axis, int64_t start, int64_t end, int64_t step) {
  std::vector<int64_t> picks;
  for (int64_t i = start; step > 0 ? i < end : i > end; i += step) picks.push_back(i);
  return Gather(t, Make(Shape{static_cast<int64_t>(picks.size())}, picks), axis);
}

}  // namespace gatefuse::int_tensor
