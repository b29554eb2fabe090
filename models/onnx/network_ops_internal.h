// Internal to models/onnx: what the files that build a Network's non-recurrent nodes
// share (network_ops.cc: constants, casts, arithmetic, activations, reductions and the
// op table; network_shape_ops.cc: the shape ops).
#ifndef GATEFUSE_MODELS_ONNX_NETWORK_OPS_INTERNAL_H_
#define GATEFUSE_MODELS_ONNX_NETWORK_OPS_INTERNAL_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "models/onnx/int_tensor.h"
#include "models/onnx/network.h"
#include "models/onnx/node_attrs.h"
#include "ops/ops.h"

namespace gatefuse::network_ops {

inline bool IsInt(const Var& v) { return v.dtype() == DType::kI64; }
inline Var IntVar(Tensor t) { return Var::Constant(std::move(t)); }

inline absl::Status Invalid(const NodeAttrs& a, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(a.Where(), ": ", what));
}

inline absl::Status CheckInputCount(const NetworkNodeProto& node, const NodeAttrs& a, int lo, int hi) {
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
inline absl::StatusOr<int64_t> NormalizeAxis(const NodeAttrs& a, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank) {
    return Invalid(a, absl::StrCat("axis ", axis, " is outside [", -rank, ", ", rank, ")"));
  }
  return axis < 0 ? axis + rank : axis;
}

inline absl::StatusOr<std::vector<int64_t>> IntInput(const NodeAttrs& a, const Var& v,
                                              const std::string& what) {
  if (!v.defined() || !IsInt(v)) {
    return Invalid(a, absl::StrCat(what, " must be an integer tensor"));
  }
  return int_tensor::Values(v.value());
}

// The largest tensor a shape computed from a file may ask for (2^27 elements, 512 MiB
// in f32; initial states and masks of real models are far smaller): a damaged
// ConstantOfShape or Expand is refused rather than exhausting memory.
inline absl::Status CheckElementCount(const NodeAttrs& a, const std::vector<int64_t>& dims) {
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
inline VarOr ReshapeAny(const Var& x, const Shape& shape) {
  if (IsInt(x)) return IntVar(int_tensor::Reshape(x.value(), shape));
  return Reshape(x, shape);
}


// The builders network_shape_ops.cc defines.
#define GATEFUSE_SHAPE_OP(name) \
  absl::StatusOr<NodeFn> name(const NetworkNodeProto&, const NodeAttrs&, const NodeContext&);
GATEFUSE_SHAPE_OP(Unsqueeze)
GATEFUSE_SHAPE_OP(Squeeze)
GATEFUSE_SHAPE_OP(Flatten)
GATEFUSE_SHAPE_OP(ReshapeOp)
GATEFUSE_SHAPE_OP(TransposeOp)
GATEFUSE_SHAPE_OP(Gather)
GATEFUSE_SHAPE_OP(ConcatOp)
GATEFUSE_SHAPE_OP(SliceOp)
GATEFUSE_SHAPE_OP(SplitOp)
GATEFUSE_SHAPE_OP(Expand)
GATEFUSE_SHAPE_OP(ReverseSequence)
GATEFUSE_SHAPE_OP(Range)
GATEFUSE_SHAPE_OP(Compare)
#undef GATEFUSE_SHAPE_OP

}  // namespace gatefuse::network_ops

#endif  // GATEFUSE_MODELS_ONNX_NETWORK_OPS_INTERNAL_H_
