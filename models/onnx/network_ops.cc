// The non-recurrent ONNX ops a Network runs (network.h): floating values through
// gatefuse's ops on the tape, integer values (shape arithmetic) on the host.
#include <algorithm>
#include <functional>
#include <map>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status.h"
#include "graph/serialize.h"
#include "models/onnx/int_tensor.h"
#include "models/onnx/network.h"
#include "models/onnx/node_attrs.h"
#include "ops/ops.h"

namespace gatefuse {
namespace {

namespace it = int_tensor;

using Builder = std::function<absl::StatusOr<NodeFn>(const NetworkNodeProto&, const NodeAttrs&,
                                                     const NodeContext&)>;

bool IsInt(const Var& v) { return v.dtype() == DType::kI64; }
Var IntVar(Tensor t) { return Var::Constant(std::move(t)); }

absl::Status Invalid(const NodeAttrs& a, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(a.Where(), ": ", what));
}

absl::Status CheckInputCount(const NetworkNodeProto& node, const NodeAttrs& a, int lo, int hi) {
  if (node.inputs_size() < lo || node.inputs_size() > hi) {
    return Invalid(a, lo == hi ? absl::StrCat("takes ", lo, " inputs, has ", node.inputs_size())
                               : absl::StrCat("takes ", lo, " to ", hi, " inputs, has ",
                                              node.inputs_size()));
  }
  for (int k = 0; k < lo; ++k) {
    if (node.inputs(k).empty()) return Invalid(a, absl::StrCat("input ", k, " is required"));
  }
  return absl::OkStatus();
}

// An axis in [-rank, rank) as a position in [0, rank).
absl::StatusOr<int64_t> NormalizeAxis(const NodeAttrs& a, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank) {
    return Invalid(a, absl::StrCat("axis ", axis, " is outside [", -rank, ", ", rank, ")"));
  }
  return axis < 0 ? axis + rank : axis;
}

absl::StatusOr<std::vector<int64_t>> IntInput(const NodeAttrs& a, const Var& v,
                                              const std::string& what) {
  if (!v.defined() || !IsInt(v)) {
    return Invalid(a, absl::StrCat(what, " must be an integer tensor"));
  }
  return it::Values(v.value());
}

// The largest tensor a shape computed from a file may ask for (2^27 elements, 512 MiB
// in f32; initial states and masks of real models are far smaller): a damaged
// ConstantOfShape or Expand is refused rather than exhausting memory.
absl::Status CheckElementCount(const NodeAttrs& a, const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) return Invalid(a, absl::StrCat("dimension ", d, " < 0"));
    if (d > 0 && n > (int64_t{1} << 27) / d) {
      return Invalid(a, absl::StrCat("a shape of more than 2^27 elements: [",
                                     absl::StrJoin(dims, ","), "]"));
    }
    n *= d;
  }
  return absl::OkStatus();
}

// Reshape a float Var or an int tensor alike.
VarOr ReshapeAny(const Var& x, const Shape& shape) {
  if (IsInt(x)) return IntVar(it::Reshape(x.value(), shape));
  return Reshape(x, shape);
}

// ---- constants, casts, shapes ----------------------------------------------------

absl::StatusOr<NodeFn> Identity(const NetworkNodeProto& n, const NodeAttrs& a, const NodeContext&) {
  GF_RETURN_IF_ERROR(CheckInputCount(n, a, 1, 1));
  return NodeFn([](const std::vector<Var>& in, const auto&) -> absl::StatusOr<std::vector<Var>> {
    return std::vector<Var>{in[0]};
  });
}

// A tensor read at build time, floats in the network's dtype.
Var ConstantVar(Tensor t, DType dtype) {
  if (IsFloating(t.dtype()) && t.dtype() != dtype) t = t.Cast(dtype);
  return Var::Constant(std::move(t));
}

absl::StatusOr<NodeFn> ConstantOp(const NetworkNodeProto& n, const NodeAttrs& a,
                                  const NodeContext& c) {
  GF_RETURN_IF_ERROR(CheckInputCount(n, a, 0, 0));
  Tensor t;
  GF_ASSIGN_OR_RETURN(const TensorProto* value, a.TensorAttr("value"));
  if (value != nullptr) {
    GF_ASSIGN_OR_RETURN(t, TensorFromProto(*value, a.Where()));
  } else if (a.Has("value_float")) {
    GF_ASSIGN_OR_RETURN(double f, a.Float("value_float", 0));
    t = Tensor::Scalar(f, DType::kF32);
  } else if (a.Has("value_floats")) {
    GF_ASSIGN_OR_RETURN(std::vector<double> fs, a.Floats("value_floats"));
    GF_ASSIGN_OR_RETURN(t, Tensor::FromValues(Shape{static_cast<int64_t>(fs.size())}, fs,
                                              DType::kF32));
  } else if (a.Has("value_int")) {
    GF_ASSIGN_OR_RETURN(int64_t i, a.Int("value_int", 0));
    t = it::Make(Shape{}, {i});
  } else if (a.Has("value_ints")) {
    GF_ASSIGN_OR_RETURN(std::vector<int64_t> is, a.Ints("value_ints"));
    t = it::Make(Shape{static_cast<int64_t>(is.size())}, is);
  } else {
    GF_RETURN_IF_ERROR(a.CheckAllRead());
    return Invalid(a, "has no value (value, value_float(s) or value_int(s))");
  }
  Var v = ConstantVar(t, c.options.dtype);
  return NodeFn([v](const auto&, const auto&) -> absl::StatusOr<std::vector<Var>> {
    return std::vector<Var>{v};
  });
}

absl::StatusOr<NodeFn> Cast(const NetworkNodeProto& n, const NodeAttrs& a, const NodeContext& c) {
  GF_RETURN_IF_ERROR(CheckInputCount(n, a, 1, 1));
  GF_ASSIGN_OR_RETURN(int64_t to, a.Int("to", 0));
  GF_RETURN_IF_ERROR(a.Int("saturate", 1).status());  // float8 only
  // ONNX TensorProto.DataType: FLOAT 1, DOUBLE 11 are the network's floating type;
  // the integer types and BOOL (9) are i64.
  const bool to_float = to == 1 || to == 11;
  const bool to_bool = to == 9;
  const bool to_int = to_bool || to == 2 || to == 3 || to == 4 || to == 5 || to == 6 ||
                      to == 7 || to == 12 || to == 13;
  if (!to_float && !to_int) {
    return Invalid(a, absl::StrCat("cast to element type ", to,
                                   " is not supported (float, double, integers, bool are)"));
  }
  const DType dtype = c.options.dtype;
  return NodeFn([=](const std::vector<Var>& in, const auto&) -> absl::StatusOr<std::vector<Var>> {
    const Var& x = in[0];
    if (to_float) {
      if (!IsInt(x)) return std::vector<Var>{x};  // one floating type: nothing to do
      return std::vector<Var>{Var::Constant(x.value().Cast(dtype))};
    }
    std::vector<int64_t> v = it::Values(x.value());
    if (to_bool) {
      for (int64_t& e : v) e = e != 0;
      if (!IsInt(x)) {  // fractional values are true too
        for (int64_t i = 0; i < x.shape().num_elements(); ++i) {
          v[i] = x.value().Cast(DType::kF64).data<double>()[i] != 0;
        }
      }
    }
    return std::vector<Var>{IntVar(it::Make(x.shape(), v))};
  });
}

absl::StatusOr<NodeFn> ShapeOp(const NetworkNodeProto& n, const NodeAttrs& a, const NodeContext&) {
  GF_RETURN_IF_ERROR(CheckInputCount(n, a, 1, 1));
  GF_ASSIGN_OR_RETURN(int64_t start, a.Int("start", 0));
  const bool has_end = a.Has("end");
  GF_ASSIGN_OR_RETURN(int64_t end, a.Int("end", 0));
  return NodeFn([=](const std::vector<Var>& in, const auto&) -> absl::StatusOr<std::vector<Var>> {
    const int64_t r = in[0].shape().rank();
    int64_t s = start < 0 ? start + r : start, e = has_end ? (end < 0 ? end + r : end) : r;
    s = std::clamp<int64_t>(s, 0, r);
    e = std::clamp<int64_t>(e, s, r);
    std::vector<int64_t> dims;
    for (int64_t k = s; k < e; ++k) dims.push_back(in[0].shape()[k]);
    return std::vector<Var>{IntVar(it::Make(Shape{e - s}, dims))};
  });
}

absl::StatusOr<NodeFn> ConstantOfShape(const NetworkNodeProto& n, const NodeAttrs& a,
                                       const NodeContext& c) {
  GF_RETURN_IF_ERROR(CheckInputCount(n, a, 1, 1));
  Tensor value = Tensor::Scalar(0, c.options.dtype);
  GF_ASSIGN_OR_RETURN(const TensorProto* v, a.TensorAttr("value"));
  if (v != nullptr) {
    GF_ASSIGN_OR_RETURN(value, TensorFromProto(*v, a.Where()));
    if (value.shape().num_elements() != 1) return Invalid(a, "value must hold one element");
  }
  const bool is_int = value.dtype() == DType::kI64;
  const double fill = value.Cast(DType::kF64).data<double>()[0];
  const DType dtype = c.options.dtype;
  return NodeFn([=](const std::vector<Var>& in, const auto&) -> absl::StatusOr<std::vector<Var>> {
    GF_ASSIGN_OR_RETURN(std::vector<int64_t> dims, IntInput(a, in[0], "the shape"));
    GF_RETURN_IF_ERROR(CheckElementCount(a, dims));
    return std::vector<Var>{Var::Constant(Tensor::Full(Shape(dims), is_int ? DType::kI64 : dtype,
                                                       fill))};
  });
}

// ---- shape ops -------------------------------------------------------------------

// Unsqueeze and Squeeze: the axes from the attribute (opset < 13) or input 1.
absl::StatusOr<std::vector<int64_t>> AxesOf(const NodeAttrs& a, const std::vector<Var>& in,
                                            const std::vector<int64_t>& attr_axes) {
  if (in.size() > 1 && in[1].defined()) return IntInput(a, in[1], "axes");
  return attr_axes;
}

absl::StatusOr<NodeFn> Unsqueeze(const NetworkNodeProto& n, const NodeAttrs& a,
                                 const NodeContext&) {
  GF_RETURN_IF_ERROR(CheckInputCount(n, a, 1, 2));
  GF_ASSIGN_OR_RETURN(std::vector<int64_t> attr_axes, a.Ints("axes"));
  return NodeFn([=](const std::vector<Var>& in, const auto&) -> absl::StatusOr<std::vector<Var>> {
    GF_ASSIGN_OR_RETURN(std::vector<int64_t> axes, AxesOf(a, in, attr_axes));
    const int64_t r = in[0].shape().rank() + static_cast<int64_t>(axes.size());
    std::vector<bool> inserted(r, false);
    for (int64_t ax : axes) {
      GF_ASSIGN_OR_RETURN(int64_t k, NormalizeAxis(a, ax, r));
      if (inserted[k]) return Invalid(a, absl::StrCat("axis ", ax, " given twice"));
      inserted[k] = true;
    }
    std::vector<int64_t> dims;
    int64_t src = 0;
    for (int64_t k = 0; k < r; ++k) dims.push_back(inserted[k] ? 1 : in[0].shape()[src++]);
    GF_ASSIGN_OR_RETURN(Var y, ReshapeAny(in[0], Shape(dims)));
    return std::vector<Var>{y};
  });
}

absl::StatusOr<NodeFn> Squeeze(const NetworkNodeProto& n, const NodeAttrs& a, const NodeContext&) {
  GF_RETURN_IF_ERROR(CheckInputCount(n, a, 1, 2));
  GF_ASSIGN_OR_RETURN(std::vector<int64_t> attr_axes, a.Ints("axes"));
  return NodeFn([=](const std::vector<Var>& in, const auto&) -> absl::StatusOr<std::vector<Var>> {
    GF_ASSIGN_OR_RETURN(std::vector<int64_t> axes, AxesOf(a, in, attr_axes));
    const Shape& s = in[0].shape();
    std::vector<bool> drop(s.rank(), axes.empty());
    if (axes.empty()) {
      for (int k = 0; k < s.rank(); ++k) drop[k] = s[k] == 1;
    }
    for (int64_t ax : axes) {
      GF_ASSIGN_OR_RETURN(int64_t k, NormalizeAxis(a, ax, s.rank()));
      if (s[k] != 1) {
        return Invalid(a, absl::StrCat("cannot squeeze axis ", ax, " of ", s.ToString()));
      }
      drop[k] = true;
    }
    std::vector<int64_t> dims;
    for (int k = 0; k < s.rank(); ++k) {
      if (!drop[k]) dims.push_back(s[k]);
    }
    GF_ASSIGN_OR_RETURN(Var y, ReshapeAny(in[0], Shape(dims)));
    return std::vector<Var>{y};
  });
}

absl::StatusOr<NodeFn> Flatten(const NetworkNodeProto& n, const NodeAttrs& a, const NodeContext&) {
  GF_RETURN_IF_ERROR(CheckInputCount(n, a, 1, 1));
  GF_ASSIGN_OR_RETURN(int64_t axis, a.Int("axis", 1));
  return NodeFn([=](const std::vector<Var>& in, const auto&) -> absl::StatusOr<std::vector<Var>> {
    const Shape& s = in[0].shape();
    int64_t k = axis < 0 ? axis + s.rank() : axis;
    if (k < 0 || k > s.rank()) return Invalid(a, absl::StrCat("axis ", axis, " is out of range"));
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < s.rank(); ++d) (d < k ? outer : inner) *= s[d];
    GF_ASSIGN_OR_RETURN(Var y, ReshapeAny(in[0], Shape{outer, inner}));
    return std::vector<Var>{y};
  });
}

absl::StatusOr<NodeFn> ReshapeOp(const NetworkNodeProto& n, const NodeAttrs& a,
                                 const NodeContext&) {
  GF_RETURN_IF_ERROR(CheckInputCount(n, a, 2, 2));
  GF_ASSIGN_OR_RETURN(int64_t allowzero, a.Int("allowzero", 0));
  return NodeFn([=](const std::vector<Var>& in, const auto&) -> absl::StatusOr<std::vector<Var>> {
    GF_ASSIGN_OR_RETURN(std::vector<int64_t> dims, IntInput(a, in[1], "the shape"));
    const Shape& s = in[0].shape();
    int64_t known = 1, infer = -1;
    for (size_t k = 0; k < dims.size(); ++k) {
      if (dims[k] == 0 && !allowzero) {
        if (static_cast<int>(k) >= s.rank()) return Invalid(a, "a 0 in the shape has no input dim");
        dims[k] = s[k];
      }
      if (dims[k] == -1) {
        if (infer >= 0) return Invalid(a, "the shape has two -1");
        infer = k;
      } else if (dims[k] < 0) {
        return Invalid(a, absl::StrCat("dimension ", dims[k], " in the shape"));
      } else if (__builtin_mul_overflow(known, dims[k], &known)) {
        return Invalid(a, absl::StrCat("the shape [", absl::StrJoin(dims, ","), "] overflows"));
      }
    }
    if (infer < 0 && known != s.num_elements()) {
      return Invalid(a, absl::StrCat("cannot reshape ", s.ToString(), " to [",
                                     absl::StrJoin(dims, ","), "]"));
    }
    if (infer >= 0) {
      if (known == 0 || s.num_elements() % known != 0) {
        return Invalid(a, absl::StrCat("cannot reshape ", s.ToString(), " to [",
                                       absl::StrJoin(dims, ","), "]"));
      }
      dims[infer] = s.num_elements() / known;
    }
    if (Shape(dims).num_elements() != s.num_elements()) {
      return Invalid(a, absl::StrCat("cannot reshape ", s.ToString(), " to [",
                                     absl::StrJoin(dims, ","), "]"));
    }
    GF_ASSIGN_OR_RETURN(Var y, ReshapeAny(in[0], Shape(dims)));
    return std::vector<Var>{y};
  });
}

absl::StatusOr<NodeFn> TransposeOp(const NetworkNodeProto& n, const NodeAttrs& a,
                                   const NodeContext&) {
  GF_RETURN_IF_ERROR(CheckInputCount(n, a, 1, 1));
  GF_ASSIGN_OR_RETURN(std::vector<int64_t> attr_perm, a.Ints("perm"));
  return NodeFn([=](const std::vector<Var>& in, const auto&) -> absl::StatusOr<std::vector<Var>> {
    const int r = in[0].shape().rank();
    std::vector<int64_t> perm = attr_perm;
    if (perm.empty()) {
      for (int k = r - 1; k >= 0; --k) perm.push_back(k);
    }
    std::vector<int64_t> sorted = perm;
    std::sort(sorted.begin(), sorted.end());
    for (int k = 0; k < r; ++k) {
      if (static_cast<int>(sorted.size()) != r || sorted[k] != k) {
        return Invalid(a, absl::StrCat("perm [", absl::StrJoin(perm, ","),
                                       "] is not a permutation of ", r, " axes"));
      }
    }
    if (IsInt(in[0])) return std::vector<Var>{IntVar(it::Transpose(in[0].value(), perm))};
    GF_ASSIGN_OR_RETURN(Var y, Transpose(in[0], perm));
    return std::vector<Var>{y};
  });
}

// The rows of x picked along `axis` by integer indices of any shape.
VarOr GatherAny(const NodeAttrs& a, const Var& x, const Var& indices, int64_t axis_attr) {
  GF_ASSIGN_OR_RETURN(std::vector<int64_t> idx, IntInput(a, indices, "indices"));
  const Shape& s = x.shape();
  GF_ASSIGN_OR_RETURN(const int64_t axis, NormalizeAxis(a, axis_attr, s.rank()));
  for (int64_t& i : idx) {
    if (i < -s[axis] || i >= s[axis]) {
      return Invalid(a, absl::StrCat("index ", i, " is outside [", -s[axis], ", ", s[axis], ")"));
    }
    if (i < 0) i += s[axis];
  }
  const Tensor index = it::Make(indices.shape(), idx);
  if (IsInt(x)) return IntVar(it::Gather(x.value(), index, axis));
  // Floats: move `axis` to the front, gather rows with Embedding (its gradient is a
  // scatter-add), and move the index dimensions back into its place.
  std::vector<int64_t> perm{axis};
  for (int k = 0; k < s.rank(); ++k) {
    if (k != axis) perm.push_back(k);
  }
  Var front = x;
  if (axis != 0) {
    GF_ASSIGN_OR_RETURN(front, Transpose(x, perm));
  }
  const int64_t rows = s[axis], rest = s.num_elements() / std::max<int64_t>(rows, 1);
  GF_ASSIGN_OR_RETURN(Var table, Reshape(front, Shape{rows, rest}));
  GF_ASSIGN_OR_RETURN(Var picked,
                      Embedding(table, Var::Constant(it::Reshape(index, Shape{index.shape().num_elements()}))));
  std::vector<int64_t> dims;
  for (int k = 0; k < indices.shape().rank(); ++k) dims.push_back(indices.shape()[k]);
  for (int k = 0; k < s.rank(); ++k) {
    if (k != axis) dims.push_back(s[k]);
  }
  GF_ASSIGN_OR_RETURN(Var y, Reshape(picked, Shape(dims)));
  if (axis == 0) return y;
  // y is [idx..., s without axis]; the result wants [s[:axis], idx..., s[axis+1:]].
  const int ri = indices.shape().rank();
  std::vector<int64_t> back;
  for (int k = 0; k < axis; ++k) back.push_back(ri + k);
  for (int k = 0; k < ri; ++k) back.push_back(k);
  for (int k = axis + 1; k < s.rank(); ++k) back.push_back(ri + k - 1);
  return Transpose(y, back);
}

absl::StatusOr<NodeFn> Gather(const NetworkNodeProto& n, const NodeAttrs& a, const NodeContext&) {
  GF_RETURN_IF_ERROR(CheckInputCount(n, a, 2, 2));
  GF_ASSIGN_OR_RETURN(int64_t axis, a.Int("axis", 0));
  return NodeFn([=](const std::vector<Var>& in, const auto&) -> absl::StatusOr<std::vector<Var>> {
    GF_ASSIGN_OR_RETURN(Var y, GatherAny(a, in[0], in[1], axis));
    return std::vector<Var>{y};
  });
}

absl::StatusOr<NodeFn> ConcatOp(const NetworkNodeProto& n, const NodeAttrs& a,
                                const NodeContext&) {
  GF_RETURN_IF_ERROR(CheckInputCount(n, a, 1, 1 << 20));
  GF_ASSIGN_OR_RETURN(int64_t axis_attr, a.Int("axis", 0));
  return NodeFn([=](const std::vector<Var>& in, const auto&) -> absl::StatusOr<std::vector<Var>> {
    const int r = in[0].shape().rank();
    GF_ASSIGN_OR_RETURN(const int64_t axis, NormalizeAxis(a, axis_attr, r));
    for (const Var& v : in) {
      if (!v.defined() || IsInt(v) != IsInt(in[0]) || v.shape().rank() != r) {
        return Invalid(a, "inputs must all be given, of one kind and rank");
      }
      for (int k = 0; k < r; ++k) {
        if (k != axis && v.shape()[k] != in[0].shape()[k]) {
          return Invalid(a, absl::StrCat("cannot concatenate ", in[0].shape().ToString(), " and ",
                                         v.shape().ToString(), " along axis ", axis));
        }
      }
    }
    if (IsInt(in[0])) {
      std::vector<Tensor> parts;
      for (const Var& v : in) parts.push_back(v.value());
      return std::vector<Var>{IntVar(it::Concat(parts, axis))};
    }
    std::vector<VarOr> parts;
    for (const Var& v : in) {
      if (v.shape()[axis] > 0) parts.push_back(v);
    }
    if (parts.empty()) return std::vector<Var>{in[0]};
    GF_ASSIGN_OR_RETURN(Var y, Concat(parts, axis));
    return std::vector<Var>{y};
  });
}

// Clamps ONNX slice bounds to the dimension, as the spec says.
void ClampSlice(int64_t dim, int64_t step, int64_t& start, int64_t& end) {
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, dim);
    end = std::clamp<int64_t>(end, 0, dim);
  } else {
    start = std::clamp<int64_t>(start, 0, dim - 1);
    end = std::clamp<int64_t>(end, -1, dim - 1);
  }
}

absl::StatusOr<NodeFn> SliceOp(const NetworkNodeProto& n, const NodeAttrs& a,
                               const NodeContext& c) {
  const bool from_attrs = c.opset < 10;
  GF_RETURN_IF_ERROR(CheckInputCount(n, a, from_attrs ? 1 : 3, from_attrs ? 1 : 5));
  GF_ASSIGN_OR_RETURN(std::vector<int64_t> a_starts, a.Ints("starts"));
  GF_ASSIGN_OR_RETURN(std::vector<int64_t> a_ends, a.Ints("ends"));
  GF_ASSIGN_OR_RETURN(std::vector<int64_t> a_axes, a.Ints("axes"));
  return NodeFn([=](const std::vector<Var>& in, const auto&) -> absl::StatusOr<std::vector<Var>> {
    std::vector<int64_t> starts = a_starts, ends = a_ends, axes = a_axes, steps;
    if (!from_attrs) {
      GF_ASSIGN_OR_RETURN(starts, IntInput(a, in[1], "starts"));
      GF_ASSIGN_OR_RETURN(ends, IntInput(a, in[2], "ends"));
      axes.clear();
      if (in.size() > 3 && in[3].defined()) {
        GF_ASSIGN_OR_RETURN(axes, IntInput(a, in[3], "axes"));
      }
      if (in.size() > 4 && in[4].defined()) {
        GF_ASSIGN_OR_RETURN(steps, IntInput(a, in[4], "steps"));
      }
    }
    if (axes.empty()) {
      for (size_t k = 0; k < starts.size(); ++k) axes.push_back(k);
    }
    if (steps.empty()) steps.assign(starts.size(), 1);
    if (ends.size() != starts.size() || axes.size() != starts.size() ||
        steps.size() != starts.size()) {
      return Invalid(a, "starts, ends, axes and steps differ in length");
    }
    Var y = in[0];
    for (size_t k = 0; k < starts.size(); ++k) {
      GF_ASSIGN_OR_RETURN(const int64_t axis, NormalizeAxis(a, axes[k], y.shape().rank()));
      if (steps[k] == 0) return Invalid(a, "a step is 0");
      int64_t s = starts[k], e = ends[k];
      ClampSlice(y.shape()[axis], steps[k], s, e);
      if (IsInt(y)) {
        y = IntVar(it::Slice(y.value(), axis, s, e, steps[k]));
      } else if (steps[k] == 1) {
        GF_ASSIGN_OR_RETURN(y, Slice(y, axis, s, std::max(s, e)));
      } else {
        std::vector<int64_t> picks;
        for (int64_t i = s; steps[k] > 0 ? i < e : i > e; i += steps[k]) picks.push_back(i);
        GF_ASSIGN_OR_RETURN(
            y, GatherAny(a, y, IntVar(it::Make(Shape{static_cast<int64_t>(picks.size())}, picks)),
                         axis));
      }
    }
    return std::vector<Var>{y};
  });
}

absl::StatusOr<NodeFn> SplitOp(const NetworkNodeProto& n, const NodeAttrs& a, const NodeContext&) {
  GF_RETURN_IF_ERROR(CheckInputCount(n, a, 1, 2));
  GF_ASSIGN_OR_RETURN(int64_t axis_attr, a.Int("axis", 0));
  GF_ASSIGN_OR_RETURN(std::vector<int64_t> attr_split, a.Ints("split"));
  GF_RETURN_IF_ERROR(a.Int("num_outputs", 0).status());
  const int64_t num_outputs = n.outputs_size();
  return NodeFn([=](const std::vector<Var>& in, const auto&) -> absl::StatusOr<std::vector<Var>> {
    const Shape& s = in[0].shape();
    GF_ASSIGN_OR_RETURN(const int64_t axis, NormalizeAxis(a, axis_attr, s.rank()));
    std::vector<int64_t> split = attr_split;
    if (in.size() > 1 && in[1].defined()) {
      GF_ASSIGN_OR_RETURN(split, IntInput(a, in[1], "split"));
    }
    if (split.empty()) {
      const int64_t part = (s[axis] + num_outputs - 1) / num_outputs;  // the last may be smaller
      for (int64_t k = 0, left = s[axis]; k < num_outputs; ++k, left -= part) {
        split.push_back(std::min(part, left));
      }
    }
    if (static_cast<int64_t>(split.size()) != num_outputs ||
        std::accumulate(split.begin(), split.end(), int64_t{0}) != s[axis]) {
      return Invalid(a, absl::StrCat("split [", absl::StrJoin(split, ","), "] does not divide ",
                                     s[axis], " into ", num_outputs, " outputs"));
    }
    std::vector<Var> out;
    int64_t start = 0;
    for (int64_t len : split) {
      if (IsInt(in[0])) {
        out.push_back(IntVar(it::Slice(in[0].value(), axis, start, start + len, 1)));
      } else {
        GF_ASSIGN_OR_RETURN(Var part, Slice(in[0], axis, start, start + len));
        out.push_back(part);
      }
      start += len;
    }
    return out;
  });
}

absl::StatusOr<NodeFn> Expand(const NetworkNodeProto& n, const NodeAttrs& a, const NodeContext&) {
  GF_RETURN_IF_ERROR(CheckInputCount(n, a, 2, 2));
  return NodeFn([=](const std::vector<Var>& in, const auto&) -> absl::StatusOr<std::vector<Var>> {
    GF_ASSIGN_OR_RETURN(std::vector<int64_t> dims, IntInput(a, in[1], "the shape"));
    absl::StatusOr<Shape> target = it::BroadcastShapes(in[0].shape(), Shape(dims));
    if (!target.ok()) return Invalid(a, std::string(target.status().message()));
    GF_RETURN_IF_ERROR(CheckElementCount(
        a, std::vector<int64_t>(target->dims().begin(), target->dims().end())));
    if (IsInt(in[0])) {
      GF_ASSIGN_OR_RETURN(Tensor t, it::BroadcastTo(in[0].value(), *target));
      return std::vector<Var>{IntVar(t)};
    }
    GF_ASSIGN_OR_RETURN(Var y, BroadcastTo(in[0], *target));
    return std::vector<Var>{y};
  });
}

// ---- arithmetic ------------------------------------------------------------------

absl::StatusOr<NodeFn> Binary(const NetworkNodeProto& n, const NodeAttrs& a, const NodeContext&) {
  GF_RETURN_IF_ERROR(CheckInputCount(n, a, 2, 2));
  const std::string op = n.op();
  return NodeFn([=](const std::vector<Var>& in, const auto&) -> absl::StatusOr<std::vector<Var>> {
    if (IsInt(in[0]) != IsInt(in[1])) {
      return Invalid(a, "cannot mix an integer and a floating input");
    }
    if (IsInt(in[0])) {
      std::function<int64_t(int64_t, int64_t)> f;
      bool div_by_zero = false;
      // Two's-complement wrap-around, as ONNX runtimes compute int64 (defined here
      // by doing it unsigned).
      using U = uint64_t;
      if (op == "Add") f = [](int64_t x, int64_t y) { return static_cast<int64_t>(U(x) + U(y)); };
      if (op == "Sub") f = [](int64_t x, int64_t y) { return static_cast<int64_t>(U(x) - U(y)); };
      if (op == "Mul") f = [](int64_t x, int64_t y) { return static_cast<int64_t>(U(x) * U(y)); };
      if (op == "Div") {
        f = [&div_by_zero](int64_t x, int64_t y) {
          if (y == 0) div_by_zero = true;
          if (y == 0) return int64_t{0};
          if (y == -1) return static_cast<int64_t>(U(0) - U(x));  // INT64_MIN / -1 wraps
          return x / y;
        };
      }
      absl::StatusOr<Tensor> t = it::Binary(in[0].value(), in[1].value(), f);
      if (!t.ok()) return Invalid(a, std::string(t.status().message()));
      if (div_by_zero) return Invalid(a, "integer division by zero");
      return std::vector<Var>{IntVar(*t)};
    }
    absl::StatusOr<Shape> s = it::BroadcastShapes(in[0].shape(), in[1].shape());
    if (!s.ok()) return Invalid(a, std::string(s.status().message()));
    VarOr y = op == "Add"   ? Add(in[0], in[1])
              : op == "Sub" ? Sub(in[0], in[1])
              : op == "Mul" ? Mul(in[0], in[1])
                            : Div(in[0], in[1]);
    GF_RETURN_IF_ERROR(y.status());
    return std::vector<Var>{*y};
  });
}

absl::StatusOr<NodeFn> Unary(const NetworkNodeProto& n, const NodeAttrs& a, const NodeContext&) {
  GF_RETURN_IF_ERROR(CheckInputCount(n, a, 1, 1));
  const std::string op = n.op();
  return NodeFn([=](const std::vector<Var>& in, const auto&) -> absl::StatusOr<std::vector<Var>> {
    if (IsInt(in[0])) return Invalid(a, "needs a floating input");
    VarOr y = op == "Sigmoid" ? Sigmoid(in[0])
              : op == "Tanh"  ? Tanh(in[0])
              : op == "Relu"  ? Relu(in[0])
              : op == "Neg"   ? Neg(in[0])
              : op == "Exp"   ? Exp(in[0])
                              : Log(in[0]);
    GF_RETURN_IF_ERROR(y.status());
    return std::vector<Var>{*y};
  });
}

absl::StatusOr<NodeFn> SoftmaxOp(const NetworkNodeProto& n, const NodeAttrs& a,
                                 const NodeContext& c) {
  GF_RETURN_IF_ERROR(CheckInputCount(n, a, 1, 1));
  // Before opset 13 the input is flattened to 2-D at `axis` (default 1) and the
  // softmax runs over the trailing block; from 13 on, along `axis` (default -1).
  const bool coerce = c.opset < 13;
  GF_ASSIGN_OR_RETURN(int64_t axis_attr, a.Int("axis", coerce ? 1 : -1));
  const bool log = n.op() == "LogSoftmax";
  return NodeFn([=](const std::vector<Var>& in, const auto&) -> absl::StatusOr<std::vector<Var>> {
    const Shape& s = in[0].shape();
    if (IsInt(in[0])) return Invalid(a, "needs a floating input");
    GF_ASSIGN_OR_RETURN(const int64_t axis, NormalizeAxis(a, axis_attr, s.rank()));
    Var x = in[0];
    int64_t along = axis;
    if (coerce && axis != s.rank() - 1) {
      int64_t outer = 1, inner = 1;
      for (int64_t d = 0; d < s.rank(); ++d) (d < axis ? outer : inner) *= s[d];
      GF_ASSIGN_OR_RETURN(x, Reshape(x, Shape{outer, inner}));
      along = 1;
    }
    GF_ASSIGN_OR_RETURN(Var y, log ? LogSoftmax(x, along) : Softmax(x, along));
    GF_ASSIGN_OR_RETURN(y, Reshape(y, s));
    return std::vector<Var>{y};
  });
}

// numpy.matmul for [..., M, K] @ [K, N] (the second operand 2-D, as in every
// exported dense layer), and 2-D @ 2-D.
absl::StatusOr<NodeFn> MatMulOp(const NetworkNodeProto& n, const NodeAttrs& a,
                                const NodeContext&) {
  GF_RETURN_IF_ERROR(CheckInputCount(n, a, 2, 2));
  return NodeFn([=](const std::vector<Var>& in, const auto&) -> absl::StatusOr<std::vector<Var>> {
    const Shape &sa = in[0].shape(), &sb = in[1].shape();
    if (IsInt(in[0]) || IsInt(in[1])) return Invalid(a, "needs floating inputs");
    if (sb.rank() != 2 || sa.rank() < 2 || sa[sa.rank() - 1] != sb[0]) {
      return Invalid(a, absl::StrCat("multiplies [..., M, K] by [K, N]; got ", sa.ToString(),
                                     " and ", sb.ToString()));
    }
    std::vector<int64_t> dims;
    for (int k = 0; k < sa.rank() - 1; ++k) dims.push_back(sa[k]);
    dims.push_back(sb[1]);
    GF_ASSIGN_OR_RETURN(Var x2, Reshape(in[0], Shape{sa.num_elements() / sb[0], sb[0]}));
    GF_ASSIGN_OR_RETURN(Var y, MatMul(x2, in[1]));
    GF_ASSIGN_OR_RETURN(y, Reshape(y, Shape(dims)));
    return std::vector<Var>{y};
  });
}

absl::StatusOr<NodeFn> Gemm(const NetworkNodeProto& n, const NodeAttrs& a, const NodeContext&) {
  GF_RETURN_IF_ERROR(CheckInputCount(n, a, 2, 3));
  GF_ASSIGN_OR_RETURN(double alpha, a.Float("alpha", 1));
  GF_ASSIGN_OR_RETURN(double beta, a.Float("beta", 1));
  GF_ASSIGN_OR_RETURN(int64_t trans_a, a.Int("transA", 0));
  GF_ASSIGN_OR_RETURN(int64_t trans_b, a.Int("transB", 0));
  return NodeFn([=](const std::vector<Var>& in, const auto&) -> absl::StatusOr<std::vector<Var>> {
    const Shape &sa = in[0].shape(), &sb = in[1].shape();
    if (IsInt(in[0]) || IsInt(in[1])) return Invalid(a, "needs floating inputs");
    if (sa.rank() != 2 || sb.rank() != 2 || sa[trans_a ? 0 : 1] != sb[trans_b ? 1 : 0]) {
      return Invalid(a, absl::StrCat("cannot multiply ", sa.ToString(), trans_a ? "^T" : "",
                                     " by ", sb.ToString(), trans_b ? "^T" : ""));
    }
    GF_ASSIGN_OR_RETURN(Var y, MatMul(in[0], in[1], trans_a != 0, trans_b != 0));
    if (alpha != 1) {
      GF_ASSIGN_OR_RETURN(y, MulScalar(y, alpha));
    }
    if (in.size() > 2 && in[2].defined() && beta != 0) {
      Var bias = in[2];
      if (beta != 1) {
        GF_ASSIGN_OR_RETURN(bias, MulScalar(bias, beta));
      }
      absl::StatusOr<Shape> s = it::BroadcastShapes(y.shape(), bias.shape());
      if (!s.ok() || *s != y.shape()) {
        return Invalid(a, absl::StrCat("C ", bias.shape().ToString(), " does not broadcast to ",
                                       y.shape().ToString()));
      }
      GF_ASSIGN_OR_RETURN(y, Add(y, bias));
    }
    return std::vector<Var>{y};
  });
}

const std::map<std::string, Builder>& Builders() {
  static const auto* builders = new std::map<std::string, Builder>{
      {"Identity", Identity},   {"Constant", ConstantOp},
      {"Cast", Cast},           {"Shape", ShapeOp},
      {"ConstantOfShape", ConstantOfShape},
      {"Unsqueeze", Unsqueeze}, {"Squeeze", Squeeze},
      {"Flatten", Flatten},     {"Reshape", ReshapeOp},
      {"Transpose", TransposeOp}, {"Gather", Gather},
      {"Concat", ConcatOp},     {"Slice", SliceOp},
      {"Split", SplitOp},       {"Expand", Expand},
      {"Add", Binary},          {"Sub", Binary},
      {"Mul", Binary},          {"Div", Binary},
      {"Sigmoid", Unary},       {"Tanh", Unary},
      {"Relu", Unary},          {"Neg", Unary},
      {"Exp", Unary},           {"Log", Unary},
      {"Softmax", SoftmaxOp},   {"LogSoftmax", SoftmaxOp},
      {"MatMul", MatMulOp},     {"Gemm", Gemm},
  };
  return *builders;
}

}  // namespace

bool IsRecurrentOp(const std::string& op) { return op == "LSTM" || op == "GRU" || op == "RNN"; }

std::vector<std::string> SupportedOnnxOps() {
  std::vector<std::string> ops{"GRU", "LSTM", "RNN"};
  for (const auto& [name, builder] : Builders()) ops.push_back(name);
  std::sort(ops.begin(), ops.end());
  return ops;
}

absl::StatusOr<NodeFn> MakeNodeFn(const NetworkNodeProto& node, const NodeContext& context) {
  if (IsRecurrentOp(node.op())) return MakeRecurrentNodeFn(node, context);
  NodeAttrs attrs(node);
  auto b = Builders().find(node.op());
  if (b == Builders().end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        attrs.Where(), ": op ", node.op(), " is not supported (gatefuse runs ",
        absl::StrJoin(SupportedOnnxOps(), " "), ")"));
  }
  GF_ASSIGN_OR_RETURN(NodeFn fn, b->second(node, attrs, context));
  GF_RETURN_IF_ERROR(attrs.CheckAllRead());
  return fn;
}

}  // namespace gatefuse
