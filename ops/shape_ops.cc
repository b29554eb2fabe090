// Ops that move data without arithmetic: Concat, Slice, Reshape, Transpose.
// They work on every dtype (they copy bytes); Slice and Reshape return views.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status.h"
#include "ops/op_util.h"
#include "ops/ops.h"
#include "ops/register_all.h"

namespace gatefuse {
namespace {

absl::StatusOr<std::vector<TensorSpec>> ConcatShape(const std::vector<TensorSpec>& in,
                                                    const Attrs& attrs) {
  GF_ASSIGN_OR_RETURN(int64_t axis_attr, attrs.GetInt("Concat", "axis"));
  const Shape& first = in[0].shape;
  if (first.rank() == 0) return OpError("Concat", in, "cannot concatenate scalars");
  GF_ASSIGN_OR_RETURN(int axis, NormalizeAxis(axis_attr, first.rank(), "Concat"));
  Shape out = first;
  out[axis] = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const Shape& s = in[i].shape;
    if (in[i].dtype != in[0].dtype) {
      return OpError("Concat", in, absl::StrCat("input ", i, " has another dtype than input 0"));
    }
    bool fits = s.rank() == first.rank();
    for (int d = 0; fits && d < s.rank(); ++d) fits = d == axis || s[d] == first[d];
    if (!fits) {
      return OpError("Concat", in,
                     absl::StrCat("input ", i, " does not match input 0 outside axis ", axis));
    }
    out[axis] += s[axis];
  }
  return std::vector<TensorSpec>{{out, in[0].dtype}};
}

absl::StatusOr<std::vector<Tensor>> ConcatKernel(const KernelContext& c) {
  const int axis = *NormalizeAxis(*c.attrs.GetInt("Concat", "axis"), c.inputs[0].rank(), "Concat");
  Tensor out = Tensor::Empty(c.outputs[0].shape, c.outputs[0].dtype);
  const Shape& s = out.shape();
  const int64_t elem = SizeOf(out.dtype());
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= s[d];
  for (int d = axis + 1; d < s.rank(); ++d) inner *= s[d];
  char* dst = static_cast<char*>(out.raw_data());
  const int64_t out_row = s[axis] * inner * elem;
  int64_t col = 0;
  for (const Tensor& x : c.inputs) {
    const int64_t row = x.dim(axis) * inner * elem;
    const char* src = static_cast<const char*>(x.raw_data());
    for (int64_t o = 0; o < outer && row > 0; ++o) {
      std::memcpy(dst + o * out_row + col, src + o * row, row);
    }
    col += row;
  }
  return std::vector<Tensor>{out};
}

absl::StatusOr<Shape> ResolveReshape(const std::vector<TensorSpec>& in, const Attrs& attrs) {
  GF_ASSIGN_OR_RETURN(std::vector<int64_t> dims, attrs.GetInts("Reshape", "shape"));
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == -1 && infer < 0) {
      infer = static_cast<int64_t>(i);
    } else if (dims[i] < 0) {
      return OpError("Reshape", in, absl::StrCat("invalid target shape ", Shape(dims).ToString()));
    } else if (__builtin_mul_overflow(known, dims[i], &known)) {  // a shape from a file
      return OpError("Reshape", in, absl::StrCat("target shape ", Shape(dims).ToString(),
                                                 " has too many elements"));
    }
  }
  const int64_t n = in[0].shape.num_elements();
  if (infer >= 0) {
    if (known == 0 || n % known != 0) {
      return OpError("Reshape", in, absl::StrCat("cannot reshape to ", Shape(dims).ToString()));
    }
    dims[infer] = n / known;
  }
  Shape out(dims);
  if (out.num_elements() != n) {
    return OpError("Reshape", in, absl::StrCat("cannot reshape ", n, " elements to ",
                                               out.ToString()));
  }
  return out;
}

absl::StatusOr<std::vector<int64_t>> GetPerm(const std::vector<TensorSpec>& in,
                                             const Attrs& attrs) {
  GF_ASSIGN_OR_RETURN(std::vector<int64_t> perm, attrs.GetInts("Transpose", "perm"));
  std::vector<int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> iota(in[0].shape.rank());
  std::iota(iota.begin(), iota.end(), 0);
  if (sorted != iota) {
    return OpError("Transpose", in, absl::StrCat("perm [", absl::StrJoin(perm, ","),
                                                 "] is not a permutation of the axes"));
  }
  return perm;
}

template <typename T>
void TransposeCopy(const T* src, const Shape& in_shape, const std::vector<int64_t>& perm, T* dst) {
  const int rank = in_shape.rank();
  const std::vector<int64_t> in_strides = in_shape.RowMajorStrides();
  std::vector<int64_t> out_dims(rank), src_step(rank);
  for (int d = 0; d < rank; ++d) {
    out_dims[d] = in_shape[perm[d]];
    src_step[d] = in_strides[perm[d]];
  }
  const int64_t n = in_shape.num_elements();
  std::vector<int64_t> idx(rank, 0);
  int64_t off = 0;
  for (int64_t o = 0; o < n; ++o) {
    dst[o] = src[off];
    for (int d = rank - 1; d >= 0; --d) {
      off += src_step[d];
      if (++idx[d] < out_dims[d]) break;
      off -= src_step[d] * out_dims[d];
      idx[d] = 0;
    }
  }
}

}  // namespace

void RegisterShapeOps(OpRegistry& r) {
  // y = [x_0 | x_1 | ...] along axis; dx_i = the slice of g where x_i landed
  OpDef& concat = r.Define("Concat", -1);
  concat.shape_fn = ConcatShape;
  concat.kernel = ConcatKernel;
  concat.gradient = [](const GradContext& c) -> absl::StatusOr<std::vector<Var>> {
    GF_ASSIGN_OR_RETURN(int64_t axis, c.attrs.GetInt("Concat", "axis"));
    std::vector<VarOr> grads;
    int64_t start = 0;
    for (const Var& x : c.inputs) {
      const int a = *NormalizeAxis(axis, x.shape().rank(), "Concat");
      grads.push_back(Slice(c.output_grads[0], a, start, start + x.shape()[a]));
      start += x.shape()[a];
    }
    return CollectGrads(std::move(grads));
  };

  // y = x[start:end] along axis; dx = g placed between zeros
  OpDef& slice = r.Define("Slice", 1);
  slice.shape_fn = [](const std::vector<TensorSpec>& in,
                      const Attrs& attrs) -> absl::StatusOr<std::vector<TensorSpec>> {
    GF_ASSIGN_OR_RETURN(int64_t axis, attrs.GetInt("Slice", "axis"));
    GF_ASSIGN_OR_RETURN(int64_t start, attrs.GetInt("Slice", "start"));
    GF_ASSIGN_OR_RETURN(int64_t end, attrs.GetInt("Slice", "end"));
    const Shape& s = in[0].shape;
    if (s.rank() == 0) return OpError("Slice", in, "cannot slice a scalar");
    GF_ASSIGN_OR_RETURN(int a, NormalizeAxis(axis, s.rank(), "Slice"));
    if (start < 0 || end > s[a] || start > end) {
      return OpError("Slice", in, absl::StrCat("range [", start, ", ", end,
                                               ") is out of bounds for axis ", a));
    }
    Shape out = s;
    out[a] = end - start;
    return std::vector<TensorSpec>{{out, in[0].dtype}};
  };
  slice.kernel = [](const KernelContext& c) -> absl::StatusOr<std::vector<Tensor>> {
    GF_ASSIGN_OR_RETURN(Tensor view, c.inputs[0].Slice(*c.attrs.GetInt("Slice", "axis"),
                                                       *c.attrs.GetInt("Slice", "start"),
                                                       *c.attrs.GetInt("Slice", "end")));
    return std::vector<Tensor>{view};
  };
  slice.gradient = [](const GradContext& c) -> absl::StatusOr<std::vector<Var>> {
    const Shape& s = c.inputs[0].shape();
    const int a = *NormalizeAxis(*c.attrs.GetInt("Slice", "axis"), s.rank(), "Slice");
    const int64_t start = *c.attrs.GetInt("Slice", "start");
    const int64_t end = *c.attrs.GetInt("Slice", "end");
    auto zeros = [&](int64_t n) {
      Shape z = s;
      z[a] = n;
      return Var::Constant(Tensor::Zeros(z, c.inputs[0].dtype()));
    };
    std::vector<VarOr> parts;
    if (start > 0) parts.push_back(zeros(start));
    parts.push_back(c.output_grads[0]);
    if (end < s[a]) parts.push_back(zeros(s[a] - end));
    return CollectGrads({parts.size() == 1 ? parts[0] : Concat(parts, a)});
  };

  // y = x viewed with another shape; dx = g viewed with x's shape
  OpDef& reshape = r.Define("Reshape", 1);
  reshape.shape_fn = [](const std::vector<TensorSpec>& in,
                        const Attrs& attrs) -> absl::StatusOr<std::vector<TensorSpec>> {
    GF_ASSIGN_OR_RETURN(Shape out, ResolveReshape(in, attrs));
    return std::vector<TensorSpec>{{out, in[0].dtype}};
  };
  reshape.kernel = [](const KernelContext& c) -> absl::StatusOr<std::vector<Tensor>> {
    GF_ASSIGN_OR_RETURN(Tensor view, c.inputs[0].Reshape(c.outputs[0].shape));
    return std::vector<Tensor>{view};
  };
  reshape.gradient = [](const GradContext& c) {
    return CollectGrads({Reshape(c.output_grads[0], c.inputs[0].shape())});
  };

  // y = x with axes permuted: y.shape[d] = x.shape[perm[d]]; dx = transpose(g, perm^-1)
  OpDef& transpose = r.Define("Transpose", 1);
  transpose.shape_fn = [](const std::vector<TensorSpec>& in,
                          const Attrs& attrs) -> absl::StatusOr<std::vector<TensorSpec>> {
    GF_ASSIGN_OR_RETURN(std::vector<int64_t> perm, GetPerm(in, attrs));
    Shape out = in[0].shape;
    for (size_t d = 0; d < perm.size(); ++d) out[d] = in[0].shape[perm[d]];
    return std::vector<TensorSpec>{{out, in[0].dtype}};
  };
  transpose.kernel = [](const KernelContext& c) -> absl::StatusOr<std::vector<Tensor>> {
    const std::vector<int64_t> perm = *c.attrs.GetInts("Transpose", "perm");
    const Tensor& x = c.inputs[0];
    Tensor out = Tensor::Empty(c.outputs[0].shape, x.dtype());
    if (SizeOf(x.dtype()) == 4) {
      TransposeCopy(static_cast<const uint32_t*>(x.raw_data()), x.shape(), perm,
                    static_cast<uint32_t*>(out.raw_data()));
    } else {
      TransposeCopy(static_cast<const uint64_t*>(x.raw_data()), x.shape(), perm,
                    static_cast<uint64_t*>(out.raw_data()));
    }
    return std::vector<Tensor>{out};
  };
  transpose.gradient = [](const GradContext& c) {
    const std::vector<int64_t> perm = *c.attrs.GetInts("Transpose", "perm");
    std::vector<int64_t> inverse(perm.size());
    for (size_t d = 0; d < perm.size(); ++d) inverse[perm[d]] = static_cast<int64_t>(d);
    return CollectGrads({Transpose(c.output_grads[0], inverse)});
  };
}

VarOr Concat(const std::vector<VarOr>& xs, int64_t axis) {
  return Apply("Concat", xs, {{"axis", axis}});
}

VarOr Slice(const VarOr& x, int64_t axis, int64_t start, int64_t end) {
  return Apply("Slice", {x}, {{"axis", axis}, {"start", start}, {"end", end}});
}

absl::StatusOr<std::vector<Var>> Split(const VarOr& x, int64_t n, int64_t axis) {
  if (!x.ok()) return x.status();
  const Shape& s = x->shape();
  if (s.rank() == 0) return absl::InvalidArgumentError("Split: cannot split a scalar");
  GF_ASSIGN_OR_RETURN(int a, NormalizeAxis(axis, s.rank(), "Split"));
  if (n <= 0 || s[a] % n != 0) {
    return absl::InvalidArgumentError(absl::StrCat("Split: axis ", a, " of shape ", s.ToString(),
                                                   " does not divide into ", n, " equal parts"));
  }
  const int64_t part = s[a] / n;
  std::vector<VarOr> parts;
  for (int64_t i = 0; i < n; ++i) parts.push_back(Slice(x, a, i * part, (i + 1) * part));
  return CollectGrads(std::move(parts));
}

VarOr Reshape(const VarOr& x, const Shape& shape) {
  return Apply("Reshape", {x}, {{"shape", shape.dims()}});
}

VarOr Transpose(const VarOr& x, const std::vector<int64_t>& perm) {
  return Apply("Transpose", {x}, {{"perm", perm}});
}

}  // namespace gatefuse
