// Elementwise ops: binary arithmetic with numpy broadcasting, scalar forms,
// activations, and the broadcast pair BroadcastTo / SumTo their gradients use.
#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "ops/op_util.h"
#include "ops/ops.h"
#include "ops/register_all.h"

namespace gatefuse {
namespace {

using P = pointwise::Op;
// The values an adjoint instruction reads: g = dL/dy, y, and the inputs.
constexpr pointwise::Ref kG = pointwise::kGrad, kY = pointwise::kOutput;
constexpr pointwise::Ref kX0 = pointwise::Input(0), kX1 = pointwise::Input(1);

template <typename T, typename F>
Tensor BinaryKernel(const Tensor& a, const Tensor& b, const TensorSpec& out, F f) {
  Tensor y = Tensor::Empty(out.shape, out.dtype);
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* py = y.data<T>();
  if (a.shape() == b.shape()) {
    for (int64_t i = 0, n = y.num_elements(); i < n; ++i) py[i] = f(pa[i], pb[i]);
    return y;
  }
  ForEachBroadcastRun(out.shape, a.shape(), b.shape(),
                      [&](int64_t o, int64_t ia, int64_t ib, int64_t n, int64_t sa, int64_t sb) {
                        for (int64_t j = 0; j < n; ++j) py[o + j] = f(pa[ia + j * sa], pb[ib + j * sb]);
                      });
  return y;
}

template <typename T, typename F>
Tensor UnaryKernel(const Tensor& x, F f) {
  Tensor y = Tensor::Empty(x.shape(), x.dtype());
  const T* px = x.data<T>();
  T* py = y.data<T>();
  for (int64_t i = 0, n = x.num_elements(); i < n; ++i) py[i] = f(px[i]);
  return y;
}

// f is a generic lambda (T, T) -> T.
template <typename F>
OpDef& DefineBinary(OpRegistry& r, const std::string& name, F f) {
  OpDef& d = r.Define(name, 2);
  d.shape_fn = [name](const std::vector<TensorSpec>& in,
                      const Attrs&) -> absl::StatusOr<std::vector<TensorSpec>> {
    GF_RETURN_IF_ERROR(ExpectSameFloat(name, in));
    GF_ASSIGN_OR_RETURN(Shape out, BroadcastShapes(in[0].shape, in[1].shape, name));
    return std::vector<TensorSpec>{{out, in[0].dtype}};
  };
  d.kernel = [f](const KernelContext& c) {
    return FloatKernel(c, [&](auto t) {
      using T = decltype(t);
      return BinaryKernel<T>(c.inputs[0], c.inputs[1], c.outputs[0], f);
    });
  };
  return d;
}

// f is a generic lambda (T x, double attr) -> T; `attr` names a float attribute or is "".
template <typename F>
OpDef& DefineUnary(OpRegistry& r, const std::string& name, const std::string& attr, F f) {
  OpDef& d = r.Define(name, 1);
  d.shape_fn = [name, attr](const std::vector<TensorSpec>& in,
                            const Attrs& attrs) -> absl::StatusOr<std::vector<TensorSpec>> {
    if (!attr.empty()) GF_RETURN_IF_ERROR(attrs.GetFloat(name, attr).status());
    return UnaryFloatShape(name, in);
  };
  d.kernel = [f, attr, name](const KernelContext& c) {
    const double s = attr.empty() ? 0.0 : *c.attrs.GetFloat(name, attr);
    return FloatKernel(c, [&](auto t) {
      using T = decltype(t);
      return UnaryKernel<T>(c.inputs[0], [&](T x) { return f(x, static_cast<T>(s)); });
    });
  };
  return d;
}

template <typename T>
T StableSigmoid(T x) {
  if (x >= 0) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

// Runs a broadcast between x and `target` in either direction: BroadcastTo copies
// x's elements out to the larger shape; SumTo adds the larger x into `target`.
absl::StatusOr<std::vector<TensorSpec>> BroadcastPairShape(const std::string& op,
                                                           const std::vector<TensorSpec>& in,
                                                           const Attrs& attrs, bool to_larger) {
  GF_RETURN_IF_ERROR(ExpectFloat(op, in, 0));
  GF_ASSIGN_OR_RETURN(std::vector<int64_t> dims, attrs.GetInts(op, "shape"));
  const Shape target(dims);
  for (int64_t d : dims) {
    if (d < 0) return OpError(op, in, absl::StrCat("negative size in shape ", target.ToString()));
  }
  const Shape& large = to_larger ? target : in[0].shape;
  const Shape& small = to_larger ? in[0].shape : target;
  auto b = BroadcastShapes(small, large, op);
  if (!b.ok() || *b != large || small.rank() > large.rank()) {
    return OpError(op, in, absl::StrCat(small.ToString(), " does not broadcast to ",
                                        large.ToString()));
  }
  return std::vector<TensorSpec>{{target, in[0].dtype}};
}

}  // namespace

void RegisterElementwiseOps(OpRegistry& r) {
  // Each rule below is the op's tape gradient and its compiled form at once
  // (ops/pointwise_lowering.h); every input's adjoint is summed to its shape,
  // which undoes the broadcast.

  // y = a + b; da = g, db = g
  OpDef& add = DefineBinary(r, "Add", [](auto a, auto b) { return a + b; });
  add.commutative = true;
  add.SetPointwise({P::kAdd, {{{P::kAcc, {kG}}}, {{P::kAcc, {kG}}}}});
  // y = x_0 + x_1 + ... (broadcasting); dx_k = g
  OpDef& add_n = r.Define("AddN", -1);
  add_n.commutative = true;
  add_n.shape_fn = [](const std::vector<TensorSpec>& in,
                      const Attrs&) -> absl::StatusOr<std::vector<TensorSpec>> {
    GF_RETURN_IF_ERROR(ExpectSameFloat("AddN", in));
    Shape out = in[0].shape;
    for (size_t k = 1; k < in.size(); ++k) {
      auto b = BroadcastShapes(out, in[k].shape, "AddN");
      if (!b.ok()) return OpError("AddN", in, absl::StrCat("input ", k, " does not broadcast"));
      out = *b;
    }
    return std::vector<TensorSpec>{{out, in[0].dtype}};
  };
  add_n.kernel = [](const KernelContext& c) {
    return FloatKernel(c, [&](auto t) {
      using T = decltype(t);
      Tensor acc = Tensor::Zeros(c.outputs[0].shape, c.outputs[0].dtype);
      T* pa = acc.data<T>();
      for (const Tensor& x : c.inputs) {
        const T* px = x.data<T>();
        ForEachBroadcastRun(acc.shape(), acc.shape(), x.shape(),
                            [&](int64_t o, int64_t, int64_t ix, int64_t n, int64_t, int64_t sx) {
                              for (int64_t j = 0; j < n; ++j) pa[o + j] += px[ix + j * sx];
                            });
      }
      return acc;
    });
  };
  add_n.SetPointwise({P::kAdd, {{{P::kAcc, {kG}}}}, "", /*variadic=*/true});

  // y = a - b; da = g, db = -g
  DefineBinary(r, "Sub", [](auto a, auto b) { return a - b; })
      .SetPointwise({P::kSub, {{{P::kAcc, {kG}}}, {{P::kNegAcc, {kG}}}}});
  // y = a * b; da = g * b, db = g * a
  OpDef& mul = DefineBinary(r, "Mul", [](auto a, auto b) { return a * b; });
  mul.commutative = true;
  mul.SetPointwise({P::kMul, {{{P::kAccMul, {kG, kX1}}}, {{P::kAccMul, {kG, kX0}}}}});
  // y = a / b; da = g / b, db = -g * y / b
  DefineBinary(r, "Div", [](auto a, auto b) { return a / b; })
      .SetPointwise({P::kDiv, {{{P::kAccDiv, {kG, kX1}}}, {{P::kAccDivRhs, {kG, kY, kX1}}}}});

  // y = -x; dx = -g
  DefineUnary(r, "Neg", "", [](auto x, auto) { return -x; })
      .SetPointwise({P::kNeg, {{{P::kNegAcc, {kG}}}}});
  // y = x + s; dx = g
  DefineUnary(r, "AddScalar", "value", [](auto x, auto s) { return x + s; })
      .SetPointwise({P::kAddScalar, {{{P::kAcc, {kG}}}}, "value"});
  // y = x * s; dx = g * s
  DefineUnary(r, "MulScalar", "value", [](auto x, auto s) { return x * s; })
      .SetPointwise({P::kMulScalar, {{{P::kAccScale, {kG}}}}, "value"});
  // y = s - x; dx = -g
  DefineUnary(r, "RSubScalar", "value", [](auto x, auto s) { return s - x; })
      .SetPointwise({P::kRSubScalar, {{{P::kNegAcc, {kG}}}}, "value"});

  // y = sigmoid(x); dx = g * y * (1 - y)
  DefineUnary(r, "Sigmoid", "", [](auto x, auto) { return StableSigmoid(x); })
      .SetPointwise({P::kSigmoid, {{{P::kAccSigmoid, {kG, kY}}}}});
  // y = tanh(x); dx = g * (1 - y^2)
  DefineUnary(r, "Tanh", "", [](auto x, auto) { return std::tanh(x); })
      .SetPointwise({P::kTanh, {{{P::kAccTanh, {kG, kY}}}}});
  // y = max(x, 0); dx = g * step(x)
  DefineUnary(r, "Relu", "", [](auto x, auto) { return x > 0 ? x : decltype(x)(0); })
      .SetPointwise({P::kRelu, {{{P::kAccStep, {kG, kX0}}}}});
  // y = [x > 0]; piecewise constant, so dx = 0 (almost everywhere): no instruction.
  DefineUnary(r, "Step", "", [](auto x, auto) { return x > 0 ? decltype(x)(1) : decltype(x)(0); })
      .SetPointwise({P::kStep, {{}}});
  // y = exp(x); dx = g * y
  DefineUnary(r, "Exp", "", [](auto x, auto) { return std::exp(x); })
      .SetPointwise({P::kExp, {{{P::kAccMul, {kG, kY}}}}});
  // y = log(x); dx = g / x
  DefineUnary(r, "Log", "", [](auto x, auto) { return std::log(x); })
      .SetPointwise({P::kLog, {{{P::kAccDiv, {kG, kX0}}}}});

  // y = broadcast(x, shape); dx = sum_to(g, x.shape)
  OpDef& bcast = r.Define("BroadcastTo", 1);
  bcast.shape_fn = [](const std::vector<TensorSpec>& in, const Attrs& attrs) {
    return BroadcastPairShape("BroadcastTo", in, attrs, /*to_larger=*/true);
  };
  bcast.kernel = [](const KernelContext& c) {
    return FloatKernel(c, [&](auto t) {
      using T = decltype(t);
      const Tensor& x = c.inputs[0];
      Tensor y = Tensor::Empty(c.outputs[0].shape, x.dtype());
      const T* px = x.data<T>();
      T* py = y.data<T>();
      ForEachBroadcastRun(y.shape(), x.shape(), y.shape(),
                          [&](int64_t o, int64_t ix, int64_t, int64_t n, int64_t sx, int64_t) {
                            for (int64_t j = 0; j < n; ++j) py[o + j] = px[ix + j * sx];
                          });
      return y;
    });
  };
  bcast.gradient = [](const GradContext& c) {
    return CollectGrads({SumTo(c.output_grads[0], c.inputs[0].shape())});
  };

  // y = sum of x over the axes broadcast from `shape`; dx = broadcast(g, x.shape)
  OpDef& sum_to = r.Define("SumTo", 1);
  sum_to.shape_fn = [](const std::vector<TensorSpec>& in, const Attrs& attrs) {
    return BroadcastPairShape("SumTo", in, attrs, /*to_larger=*/false);
  };
  sum_to.kernel = [](const KernelContext& c) -> absl::StatusOr<std::vector<Tensor>> {
    return std::vector<Tensor>{SumToShape(c.inputs[0], c.outputs[0].shape)};
  };
  sum_to.gradient = [](const GradContext& c) {
    return CollectGrads({BroadcastTo(c.output_grads[0], c.inputs[0].shape())});
  };
}

VarOr Add(const VarOr& a, const VarOr& b) { return Apply("Add", {a, b}); }
VarOr AddN(const std::vector<VarOr>& xs) { return Apply("AddN", xs); }
VarOr Sub(const VarOr& a, const VarOr& b) { return Apply("Sub", {a, b}); }
VarOr Mul(const VarOr& a, const VarOr& b) { return Apply("Mul", {a, b}); }
VarOr Div(const VarOr& a, const VarOr& b) { return Apply("Div", {a, b}); }
VarOr Neg(const VarOr& x) { return Apply("Neg", {x}); }
VarOr AddScalar(const VarOr& x, double s) { return Apply("AddScalar", {x}, {{"value", s}}); }
VarOr MulScalar(const VarOr& x, double s) { return Apply("MulScalar", {x}, {{"value", s}}); }
VarOr RSubScalar(double s, const VarOr& x) { return Apply("RSubScalar", {x}, {{"value", s}}); }
VarOr Sigmoid(const VarOr& x) { return Apply("Sigmoid", {x}); }
VarOr Tanh(const VarOr& x) { return Apply("Tanh", {x}); }
VarOr Relu(const VarOr& x) { return Apply("Relu", {x}); }
VarOr Step(const VarOr& x) { return Apply("Step", {x}); }
VarOr Exp(const VarOr& x) { return Apply("Exp", {x}); }
VarOr Log(const VarOr& x) { return Apply("Log", {x}); }

VarOr BroadcastTo(const VarOr& x, const Shape& shape) {
  if (x.ok() && x->defined() && x->shape() == shape) return x;
  return Apply("BroadcastTo", {x}, {{"shape", shape.dims()}});
}
VarOr SumTo(const VarOr& x, const Shape& shape) {
  if (x.ok() && x->defined() && x->shape() == shape) return x;
  return Apply("SumTo", {x}, {{"shape", shape.dims()}});
}

VarOr operator+(const VarOr& a, const VarOr& b) { return Add(a, b); }
VarOr operator-(const VarOr& a, const VarOr& b) { return Sub(a, b); }
VarOr operator*(const VarOr& a, const VarOr& b) { return Mul(a, b); }
VarOr operator/(const VarOr& a, const VarOr& b) { return Div(a, b); }
VarOr operator-(const VarOr& x) { return Neg(x); }
VarOr operator+(const VarOr& x, double s) { return AddScalar(x, s); }
VarOr operator+(double s, const VarOr& x) { return AddScalar(x, s); }
VarOr operator-(const VarOr& x, double s) { return AddScalar(x, -s); }
VarOr operator-(double s, const VarOr& x) { return RSubScalar(s, x); }
VarOr operator*(const VarOr& x, double s) { return MulScalar(x, s); }
VarOr operator*(double s, const VarOr& x) { return MulScalar(x, s); }
VarOr operator/(const VarOr& x, double s) { return MulScalar(x, 1.0 / s); }

}  // namespace gatefuse
