// The non-recurrent ONNX ops a Network runs (network.h) but the shape ops
// (network_shape_ops.cc), and the table of all: floating values through gatefuse's
// ops on the tape (arithmetic, activations, Clip, Min/Max/Sum, ReduceMean/ReduceSum),
// integer values (shape arithmetic) on the host.
#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status.h"
#include "graph/serialize.h"
#include "models/onnx/int_tensor.h"
#include "models/onnx/network.h"
#include "models/onnx/node_attrs.h"
#include "models/onnx/network_ops_internal.h"
#include "ops/ops.h"

namespace gatefuse {
namespace {

using namespace network_ops;  // NOLINT: this file is the other half of those helpers
namespace it = int_tensor;

using Builder = std::function<absl::StatusOr<NodeFn>(const NetworkNodeProto&, const NodeAttrs&,
                                                     const NodeContext&)>;

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

// One float input, one output: the plain activations, and those with ONNX's alpha
// (and beta) at ONNX's defaults.
absl::StatusOr<NodeFn> Unary(const NetworkNodeProto& n, const NodeAttrs& a, const NodeContext&) {
  GF_RETURN_IF_ERROR(CheckInputCount(n, a, 1, 1));
  static const auto* plain = new std::map<std::string, VarOr (*)(const VarOr&)>{
      {"Sigmoid", Sigmoid}, {"Tanh", Tanh},         {"Relu", Relu},         {"Neg", Neg},
      {"Exp", Exp},         {"Log", Log},           {"Sqrt", Sqrt},         {"Abs", Abs},
      {"Softsign", Softsign}, {"Softplus", Softplus},
  };
  const std::string& op = n.op();
  std::function<VarOr(const Var&)> f;
  if (auto p = plain->find(op); p != plain->end()) {
    f = p->second;
  } else {
    GF_ASSIGN_OR_RETURN(const double alpha,
                        a.Float("alpha", op == "LeakyRelu" ? 0.01 : op == "HardSigmoid" ? 0.2 : 1));
    if (op == "LeakyRelu") f = [alpha](const Var& x) { return LeakyRelu(x, alpha); };
    if (op == "Elu") f = [alpha](const Var& x) { return Elu(x, alpha); };
    if (op == "ThresholdedRelu") f = [alpha](const Var& x) { return ThresholdedRelu(x, alpha); };
    if (op == "HardSigmoid") {
      GF_ASSIGN_OR_RETURN(const double beta, a.Float("beta", 0.5));
      f = [alpha, beta](const Var& x) { return HardSigmoid(x, alpha, beta); };
    }
  }
  return NodeFn([=](const std::vector<Var>& in, const auto&) -> absl::StatusOr<std::vector<Var>> {
    if (IsInt(in[0])) return Invalid(a, "needs a floating input");
    GF_ASSIGN_OR_RETURN(Var y, f(in[0]));
    return std::vector<Var>{y};
  });
}

// A bound of Clip given as an input: a floating tensor of one element, read as a
// number (no gradient flows to it).
absl::StatusOr<double> ClipBound(const NodeAttrs& a, const Var& v, const std::string& what) {
  if (IsInt(v) || v.shape().num_elements() != 1) {
    return Invalid(a, absl::StrCat(what, " must be a floating scalar, is ",
                                   IsInt(v) ? "an integer " : "", v.shape().ToString()));
  }
  return v.value().At(0);
}

absl::StatusOr<NodeFn> ClipOp(const NetworkNodeProto& n, const NodeAttrs& a,
                              const NodeContext& c) {
  // Before opset 11 the bounds are attributes (defaults: float's lowest and max);
  // from 11 on, optional inputs 1 and 2 (absent: unbounded).
  const bool from_attrs = c.opset < 11;
  GF_RETURN_IF_ERROR(CheckInputCount(n, a, 1, from_attrs ? 1 : 3));
  double attr_lo = -std::numeric_limits<double>::infinity();
  double attr_hi = std::numeric_limits<double>::infinity();
  if (from_attrs) {
    GF_ASSIGN_OR_RETURN(attr_lo, a.Float("min", std::numeric_limits<float>::lowest()));
    GF_ASSIGN_OR_RETURN(attr_hi, a.Float("max", std::numeric_limits<float>::max()));
  }
  return NodeFn([=](const std::vector<Var>& in, const auto&) -> absl::StatusOr<std::vector<Var>> {
    if (IsInt(in[0])) return Invalid(a, "needs a floating input");
    double lo = attr_lo, hi = attr_hi;
    if (in.size() > 1 && in[1].defined()) {
      GF_ASSIGN_OR_RETURN(lo, ClipBound(a, in[1], "min"));
    }
    if (in.size() > 2 && in[2].defined()) {
      GF_ASSIGN_OR_RETURN(hi, ClipBound(a, in[2], "max"));
    }
    GF_ASSIGN_OR_RETURN(Var y, Clip(in[0], lo, hi));
    return std::vector<Var>{y};
  });
}

// Min, Max, Sum of one or more float inputs, broadcasting together like numpy.
absl::StatusOr<NodeFn> Variadic(const NetworkNodeProto& n, const NodeAttrs& a,
                                const NodeContext&) {
  GF_RETURN_IF_ERROR(CheckInputCount(n, a, 1, 1 << 20));
  const std::string op = n.op();
  return NodeFn([=](const std::vector<Var>& in, const auto&) -> absl::StatusOr<std::vector<Var>> {
    Shape s = in[0].shape();
    for (size_t k = 0; k < in.size(); ++k) {
      if (!in[k].defined() || IsInt(in[k])) {
        return Invalid(a, absl::StrCat("input ", k, " must be given and floating"));
      }
      absl::StatusOr<Shape> b = it::BroadcastShapes(s, in[k].shape());
      if (!b.ok()) return Invalid(a, absl::StrCat("input ", k, ": ", b.status().message()));
      s = *b;
    }
    if (in.size() == 1) return std::vector<Var>{in[0]};
    if (op == "Sum") {
      GF_ASSIGN_OR_RETURN(Var y, AddN(std::vector<VarOr>(in.begin(), in.end())));
      return std::vector<Var>{y};
    }
    Var y = in[0];
    for (size_t k = 1; k < in.size(); ++k) {
      GF_ASSIGN_OR_RETURN(y, op == "Min" ? Min(y, in[k]) : Max(y, in[k]));
    }
    return std::vector<Var>{y};
  });
}

absl::StatusOr<NodeFn> Reduce(const NetworkNodeProto& n, const NodeAttrs& a,
                              const NodeContext& c) {
  const bool mean = n.op() == "ReduceMean";
  // The axes: an attribute before opset 18 (ReduceMean) or 13 (ReduceSum), then the
  // optional input 1, with noop_with_empty_axes. No axes: all of them.
  const bool from_attr = c.opset < (mean ? 18 : 13);
  GF_RETURN_IF_ERROR(CheckInputCount(n, a, 1, from_attr ? 1 : 2));
  GF_ASSIGN_OR_RETURN(const int64_t keepdims, a.Int("keepdims", 1));
  std::vector<int64_t> attr_axes;
  int64_t noop_with_empty_axes = 0;
  if (from_attr) {
    GF_ASSIGN_OR_RETURN(attr_axes, a.Ints("axes"));
  } else {
    GF_ASSIGN_OR_RETURN(noop_with_empty_axes, a.Int("noop_with_empty_axes", 0));
  }
  return NodeFn([=](const std::vector<Var>& in, const auto&) -> absl::StatusOr<std::vector<Var>> {
    if (IsInt(in[0])) return Invalid(a, "needs a floating input");
    std::vector<int64_t> axes = attr_axes;
    if (in.size() > 1 && in[1].defined()) {
      GF_ASSIGN_OR_RETURN(axes, IntInput(a, in[1], "axes"));
    }
    if (axes.empty() && noop_with_empty_axes) return std::vector<Var>{in[0]};
    const int64_t r = in[0].shape().rank();
    std::vector<bool> seen(r, false);
    for (int64_t& ax : axes) {
      const int64_t given = ax;
      GF_ASSIGN_OR_RETURN(ax, NormalizeAxis(a, ax, r));
      if (seen[ax]) return Invalid(a, absl::StrCat("axis ", given, " given twice"));
      seen[ax] = true;
    }
    GF_ASSIGN_OR_RETURN(Var y, mean ? Mean(in[0], axes, keepdims != 0)
                                    : Sum(in[0], axes, keepdims != 0));
    return std::vector<Var>{y};
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
      {"Transpose", TransposeOp}, {"Gather", Gather}, {"ReverseSequence", ReverseSequence},
      {"Range", Range},         {"Equal", Compare},
      {"Less", Compare},        {"LessOrEqual", Compare},
      {"Greater", Compare},     {"GreaterOrEqual", Compare},
      {"Concat", ConcatOp},     {"Slice", SliceOp},
      {"Split", SplitOp},       {"Expand", Expand},
      {"Add", Binary},          {"Sub", Binary},
      {"Mul", Binary},          {"Div", Binary},
      {"Sigmoid", Unary},       {"Tanh", Unary},
      {"Relu", Unary},          {"Neg", Unary},
      {"Exp", Unary},           {"Log", Unary},
      {"Sqrt", Unary},          {"Abs", Unary},
      {"Softsign", Unary},      {"Softplus", Unary},
      {"LeakyRelu", Unary},     {"Elu", Unary},
      {"ThresholdedRelu", Unary}, {"HardSigmoid", Unary},
      {"Clip", ClipOp},
      {"Min", Variadic},        {"Max", Variadic},        {"Sum", Variadic},
      {"ReduceMean", Reduce},   {"ReduceSum", Reduce},
      {"Softmax", SoftmaxOp},   {"LogSoftmax", SoftmaxOp},
      {"MatMul", MatMulOp},     {"Gemm", Gemm},
  };
  return *builders;
}

}  // namespace

bool IsRecurrentOp(const std::string& op) { return op == "LSTM" || op == "GRU" || op == "RNN"; }

std::vector<std::string> SupportedOnnxOps() {
  std::vector<std::string> ops{"GRU", "LSTM", "RNN", "Scan"};
  for (const auto& [name, builder] : Builders()) ops.push_back(name);
  std::sort(ops.begin(), ops.end());
  return ops;
}

absl::StatusOr<NodeFn> MakeNodeFn(const NetworkNodeProto& node, const NodeContext& context) {
  if (IsRecurrentOp(node.op())) return MakeRecurrentNodeFn(node, context);
  if (node.op() == "Scan") return MakeScanNodeFn(node, context);
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
