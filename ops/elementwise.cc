// Elementwise ops: binary arithmetic with numpy broadcasting, scalar forms,
// activations, and the broadcast pair BroadcastTo / SumTo their gradients use.
#include <algorithm>
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

// f is a generic lambda (T x, T s, T t) -> T; s and t are the float attributes
// named in `attrs` (at most two; an absent one is 0).
template <typename F>
OpDef& DefineUnary(OpRegistry& r, const std::string& name, std::vector<std::string> attrs, F f) {
  OpDef& d = r.Define(name, 1);
  d.shape_fn = [name, attrs](const std::vector<TensorSpec>& in,
                             const Attrs& a) -> absl::StatusOr<std::vector<TensorSpec>> {
    for (const std::string& attr : attrs) GF_RETURN_IF_ERROR(a.GetFloat(name, attr).status());
    return UnaryFloatShape(name, in);
  };
  d.kernel = [f, attrs, name](const KernelContext& c) {
    double st[2] = {0, 0};
    for (size_t k = 0; k < attrs.size() && k < 2; ++k) st[k] = *c.attrs.GetFloat(name, attrs[k]);
    return FloatKernel(c, [&](auto x0) {
      using T = decltype(x0);
      const T s = static_cast<T>(st[0]), t = static_cast<T>(st[1]);
      return UnaryKernel<T>(c.inputs[0], [&](T x) { return f(x, s, t); });
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

// log(1 + exp(x)) = max(x, 0) + log(1 + exp(-|x|)): exp never overflows, and for
// x << 0 log1p keeps the tiny result exp(x) accurate.
template <typename T>
T StableSoftplus(T x) {
  return (x > 0 ? x : T(0)) + std::log1p(std::exp(-std::abs(x)));
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
  add_n.SetPointwise({P::kAdd, {{{P::kAcc, {kG}}}}, "", "", /*variadic=*/true});

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
  // A tie goes to the first input (pointwise_lowering.h), in value and gradient.
  // y = max(a, b); da = g * [a >= b], db = g * [b > a]
  OpDef& max = DefineBinary(r, "Max", [](auto a, auto b) { return b > a ? b : a; });
  max.SetPointwise({P::kMax, {{{P::kAccGe, {kG, kX0, kX1}}}, {{P::kAccGt, {kG, kX1, kX0}}}}});
  // y = min(a, b); da = g * [b >= a], db = g * [a > b]
  OpDef& min = DefineBinary(r, "Min", [](auto a, auto b) { return b < a ? b : a; });
  min.SetPointwise({P::kMin, {{{P::kAccGe, {kG, kX1, kX0}}}, {{P::kAccGt, {kG, kX0, kX1}}}}});

  // y = -x; dx = -g
  DefineUnary(r, "Neg", {}, [](auto x, auto, auto) { return -x; })
      .SetPointwise({P::kNeg, {{{P::kNegAcc, {kG}}}}});
  // y = x + s; dx = g
  DefineUnary(r, "AddScalar", {"value"}, [](auto x, auto s, auto) { return x + s; })
      .SetPointwise({P::kAddScalar, {{{P::kAcc, {kG}}}}, "value"});
  // y = x * s; dx = g * s
  DefineUnary(r, "MulScalar", {"value"}, [](auto x, auto s, auto) { return x * s; })
      .SetPointwise({P::kMulScalar, {{{P::kAccScale, {kG}}}}, "value"});
  // y = s - x; dx = -g
  DefineUnary(r, "RSubScalar", {"value"}, [](auto x, auto s, auto) { return s - x; })
      .SetPointwise({P::kRSubScalar, {{{P::kNegAcc, {kG}}}}, "value"});

  // y = sigmoid(x); dx = g * y * (1 - y)
  DefineUnary(r, "Sigmoid", {}, [](auto x, auto, auto) { return StableSigmoid(x); })
      .SetPointwise({P::kSigmoid, {{{P::kAccSigmoid, {kG, kY}}}}});
  // y = tanh(x); dx = g * (1 - y^2)
  DefineUnary(r, "Tanh", {}, [](auto x, auto, auto) { return std::tanh(x); })
      .SetPointwise({P::kTanh, {{{P::kAccTanh, {kG, kY}}}}});
  // y = max(x, 0); dx = g * step(x)
  DefineUnary(r, "Relu", {}, [](auto x, auto, auto) { return x > 0 ? x : decltype(x)(0); })
      .SetPointwise({P::kRelu, {{{P::kAccStep, {kG, kX0}}}}});
  // y = [x > 0]; piecewise constant, so dx = 0 (almost everywhere): no instruction.
  DefineUnary(r, "Step", {},
              [](auto x, auto, auto) { return x > 0 ? decltype(x)(1) : decltype(x)(0); })
      .SetPointwise({P::kStep, {{}}});
  // y = exp(x); dx = g * y
  DefineUnary(r, "Exp", {}, [](auto x, auto, auto) { return std::exp(x); })
      .SetPointwise({P::kExp, {{{P::kAccMul, {kG, kY}}}}});
  // y = log(x); dx = g / x
  DefineUnary(r, "Log", {}, [](auto x, auto, auto) { return std::log(x); })
      .SetPointwise({P::kLog, {{{P::kAccDiv, {kG, kX0}}}}});

  // The activations ONNX's RNN operators allow (with its attribute names and
  // formulas) and the ones layer-norm cells need. At a kink the gradient takes
  // Relu's side (pointwise_lowering.h).
  // y = x if x >= 0 else alpha x; dx = g * (x > 0 ? 1 : alpha)
  DefineUnary(r, "LeakyRelu", {"alpha"}, [](auto x, auto a, auto) { return x >= 0 ? x : a * x; })
      .SetPointwise({P::kLeakyRelu, {{{P::kAccLeakyRelu, {kG, kX0}}}}, "alpha"});
  // y = x if x > alpha else 0; dx = g * [x > alpha]
  DefineUnary(r, "ThresholdedRelu", {"alpha"},
              [](auto x, auto a, auto) { return x > a ? x : decltype(x)(0); })
      .SetPointwise({P::kThresholdedRelu, {{{P::kAccStepAbove, {kG, kX0}}}}, "alpha"});
  // y = x if x >= 0 else alpha (exp(x) - 1); dx = g * (x > 0 ? 1 : alpha exp(x))
  DefineUnary(r, "Elu", {"alpha"},
              [](auto x, auto a, auto) { return x >= 0 ? x : a * std::expm1(x); })
      .SetPointwise({P::kElu, {{{P::kAccElu, {kG, kX0}}}}, "alpha"});
  // y = x / (1 + |x|); dx = g / (1 + |x|)^2
  DefineUnary(r, "Softsign", {}, [](auto x, auto, auto) { return x / (1 + std::abs(x)); })
      .SetPointwise({P::kSoftsign, {{{P::kAccSoftsign, {kG, kX0}}}}});
  // y = log(1 + exp(x)); dx = g * sigmoid(x)
  DefineUnary(r, "Softplus", {}, [](auto x, auto, auto) { return StableSoftplus(x); })
      .SetPointwise({P::kSoftplus, {{{P::kAccSoftplus, {kG, kX0}}}}});
  // y = max(0, min(1, alpha x + beta)); dx = g * alpha * [0 < y < 1]
  DefineUnary(r, "HardSigmoid", {"alpha", "beta"}, [](auto x, auto a, auto b) {
    using T = decltype(x);
    return std::max(T(0), std::min(T(1), a * x + b));
  }).SetPointwise({P::kHardSigmoid, {{{P::kAccHardSigmoid, {kG, kY}}}}, "alpha", "beta"});
  // y = min(max(x, lo), hi) (hi where lo > hi, as ONNX's Clip); dx = g * [lo < x < hi]
  DefineUnary(r, "Clip", {"lo", "hi"},
              [](auto x, auto lo, auto hi) { return std::min(std::max(x, lo), hi); })
      .SetPointwise({P::kClip, {{{P::kAccClip, {kG, kX0}}}}, "lo", "hi"});
  // y = |x|; dx = g * sign(x)
  DefineUnary(r, "Abs", {}, [](auto x, auto, auto) { return std::abs(x); })
      .SetPointwise({P::kAbs, {{{P::kAccSign, {kG, kX0}}}}});
  // y = sqrt(x); dx = g / (2 y)
  DefineUnary(r, "Sqrt", {}, [](auto x, auto, auto) { return std::sqrt(x); })
      .SetPointwise({P::kSqrt, {{{P::kAccSqrt, {kG, kY}}}}});

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
VarOr Min(const VarOr& a, const VarOr& b) { return Apply("Min", {a, b}); }
VarOr Max(const VarOr& a, const VarOr& b) { return Apply("Max", {a, b}); }
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
VarOr LeakyRelu(const VarOr& x, double alpha) {
  return Apply("LeakyRelu", {x}, {{"alpha", alpha}});
}
VarOr ThresholdedRelu(const VarOr& x, double alpha) {
  return Apply("ThresholdedRelu", {x}, {{"alpha", alpha}});
}
VarOr Elu(const VarOr& x, double alpha) { return Apply("Elu", {x}, {{"alpha", alpha}}); }
VarOr Softsign(const VarOr& x) { return Apply("Softsign", {x}); }
VarOr Softplus(const VarOr& x) { return Apply("Softplus", {x}); }
VarOr HardSigmoid(const VarOr& x, double alpha, double beta) {
  return Apply("HardSigmoid", {x}, {{"alpha", alpha}, {"beta", beta}});
}
VarOr Clip(const VarOr& x, double lo, double hi) {
  return Apply("Clip", {x}, {{"lo", lo}, {"hi", hi}});
}
VarOr Abs(const VarOr& x) { return Apply("Abs", {x}); }
VarOr Sqrt(const VarOr& x) { return Apply("Sqrt", {x}); }

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
