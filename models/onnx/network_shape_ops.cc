// The shape ops of a Network (network.h): Unsqueeze Squeeze Flatten Reshape Transpose
// Gather Concat Slice Split Expand ReverseSequence, on floating values through
// gatefuse's ops and on integer values on the host; and the ops that make masks
// (Range, the comparisons), on the host, without gradients.
#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status.h"
#include "models/onnx/network_ops_internal.h"
#include "ops/ops.h"

namespace gatefuse::network_ops {
namespace it = int_tensor;

// ---- shape ops -------------------------------------------------------------------

// Unsqueeze and Squeeze: the axes from the attribute (opset < 13) or input 1.
static absl::StatusOr<std::vector<int64_t>> AxesOf(const NodeAttrs& a, const std::vector<Var>& in,
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
static VarOr GatherAny(const NodeAttrs& a, const Var& x, const Var& indices, int64_t axis_attr) {
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
static void ClampSlice(int64_t dim, int64_t step, int64_t& start, int64_t& end) {
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


// Each batch entry's first sequence_lens[b] steps reversed, the rest as they are:
// a gather of rows (Embedding, whose gradient scatters back) over [T*B, rest].
absl::StatusOr<NodeFn> ReverseSequence(const NetworkNodeProto& n, const NodeAttrs& a,
                                       const NodeContext&) {
  GF_RETURN_IF_ERROR(CheckInputCount(n, a, 2, 2));
  GF_ASSIGN_OR_RETURN(int64_t batch_axis, a.Int("batch_axis", 1));
  GF_ASSIGN_OR_RETURN(int64_t time_axis, a.Int("time_axis", 0));
  if (!((batch_axis == 1 && time_axis == 0) || (batch_axis == 0 && time_axis == 1))) {
    return Invalid(a, absl::StrCat("batch_axis ", batch_axis, " and time_axis ", time_axis,
                                   " must be 1 and 0, or 0 and 1"));
  }
  return NodeFn([=](const std::vector<Var>& in, const auto&) -> absl::StatusOr<std::vector<Var>> {
    const Shape& s = in[0].shape();
    if (s.rank() < 2 || IsInt(in[0])) return Invalid(a, "the input must be floats of rank >= 2");
    GF_ASSIGN_OR_RETURN(std::vector<int64_t> lens, IntInput(a, in[1], "sequence_lens"));
    const int64_t T = s[time_axis], B = s[batch_axis];
    if (static_cast<int64_t>(lens.size()) != B) {
      return Invalid(a, absl::StrCat("sequence_lens has ", lens.size(), " entries for a batch of ", B));
    }
    // Row r of the flattened input is (t, b): r = t * B + b (time first) or b * T + t.
    auto row = [&](int64_t t, int64_t b) { return time_axis == 0 ? t * B + b : b * T + t; };
    std::vector<int64_t> idx(T * B);
    for (int64_t b = 0; b < B; ++b) {
      if (lens[b] < 0 || lens[b] > T) {
        return Invalid(a, absl::StrCat("sequence_lens[", b, "] = ", lens[b], " is outside [0, ", T, "]"));
      }
      for (int64_t t = 0; t < T; ++t) idx[row(t, b)] = row(t < lens[b] ? lens[b] - 1 - t : t, b);
    }
    const int64_t rest = s.num_elements() / std::max<int64_t>(T * B, 1);
    GF_ASSIGN_OR_RETURN(Var table, Reshape(in[0], Shape{T * B, rest}));
    GF_ASSIGN_OR_RETURN(Var picked, Embedding(table, Var::Constant(it::Make(Shape{T * B}, idx))));
    GF_ASSIGN_OR_RETURN(Var y, Reshape(picked, s));
    return std::vector<Var>{y};
  });
}

// ---- masks -----------------------------------------------------------------------

// start, start + delta, ... while < limit (delta > 0) or > limit (delta < 0): ONNX's
// count max(ceil((limit - start) / delta), 0). Integer or floating scalars alike.
absl::StatusOr<NodeFn> Range(const NetworkNodeProto& n, const NodeAttrs& a, const NodeContext& c) {
  GF_RETURN_IF_ERROR(CheckInputCount(n, a, 3, 3));
  const DType dtype = c.options.dtype;
  return NodeFn([=](const std::vector<Var>& in, const auto&) -> absl::StatusOr<std::vector<Var>> {
    const bool ints = IsInt(in[0]);
    for (const Var& v : in) {
      if (v.shape().num_elements() != 1 || IsInt(v) != ints) {
        return Invalid(a, "start, limit and delta must be scalars of one type");
      }
    }
    const double start = in[0].value().At(0), limit = in[1].value().At(0),
                 delta = in[2].value().At(0);
    if (delta == 0) return Invalid(a, "delta is 0");
    const double count = std::max(std::ceil((limit - start) / delta), 0.0);
    if (!(count <= static_cast<double>(int64_t{1} << 27))) {
      return Invalid(a, absl::StrCat("a range of ", count, " elements"));
    }
    const int64_t len = static_cast<int64_t>(count);
    if (ints) {
      std::vector<int64_t> v(len);
      const int64_t s0 = static_cast<int64_t>(start), d = static_cast<int64_t>(delta);
      for (int64_t k = 0; k < len; ++k) v[k] = s0 + k * d;
      return std::vector<Var>{IntVar(it::Make(Shape{len}, v))};
    }
    std::vector<double> v(len);
    for (int64_t k = 0; k < len; ++k) v[k] = start + static_cast<double>(k) * delta;
    GF_ASSIGN_OR_RETURN(Tensor t, Tensor::FromValues(Shape{len}, v, dtype));
    return std::vector<Var>{Var::Constant(t)};
  });
}

// Equal Less LessOrEqual Greater GreaterOrEqual, by their position in this list.
const std::vector<std::string>& ComparisonOps() {
  static const auto* ops =
      new std::vector<std::string>{"Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"};
  return *ops;
}

template <typename T>
int64_t Compared(size_t kind, T x, T y) {
  const bool r = kind == 0 ? x == y : kind == 1 ? x < y : kind == 2 ? x <= y : kind == 3 ? x > y
                                                                                      : x >= y;
  return r ? 1 : 0;
}

// A comparison with broadcasting: a bool tensor (i64 0/1, as the network keeps
// bools), of integer operands exactly, of floating ones by value.
absl::StatusOr<NodeFn> Compare(const NetworkNodeProto& n, const NodeAttrs& a, const NodeContext&) {
  GF_RETURN_IF_ERROR(CheckInputCount(n, a, 2, 2));
  const std::vector<std::string>& ops = ComparisonOps();
  const size_t kind = std::find(ops.begin(), ops.end(), n.op()) - ops.begin();
  if (kind == ops.size()) return Invalid(a, "is not a comparison");
  return NodeFn([=](const std::vector<Var>& in, const auto&) -> absl::StatusOr<std::vector<Var>> {
    if (IsInt(in[0]) != IsInt(in[1])) return Invalid(a, "cannot compare an integer and a float");
    if (IsInt(in[0])) {
      absl::StatusOr<Tensor> t = it::Binary(in[0].value(), in[1].value(), [kind](int64_t x, int64_t y) {
        return Compared(kind, x, y);
      });
      if (!t.ok()) return Invalid(a, std::string(t.status().message()));
      return std::vector<Var>{IntVar(*t)};
    }
    absl::StatusOr<Shape> s = it::BroadcastShapes(in[0].shape(), in[1].shape());
    if (!s.ok()) return Invalid(a, std::string(s.status().message()));
    NoGradGuard no_grad;
    GF_ASSIGN_OR_RETURN(Var x, BroadcastTo(in[0], *s));
    GF_ASSIGN_OR_RETURN(Var y, BroadcastTo(in[1], *s));
    const Tensor xv = x.value().Contiguous(), yv = y.value().Contiguous();
    std::vector<int64_t> out(s->num_elements());
    for (int64_t k = 0; k < s->num_elements(); ++k) out[k] = Compared(kind, xv.At(k), yv.At(k));
    return std::vector<Var>{IntVar(it::Make(*s, out))};
  });
}

}  // namespace gatefuse::network_ops
