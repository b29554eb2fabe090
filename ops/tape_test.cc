// Tests of the tape (core/tape.h) through the ops that record onto it: gradient
// accumulation, NoGradGuard, retain_graph, seeds, the functional Gradients form,
// higher derivatives with create_graph, long chains and dropped values.
#include "core/tape.h"

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ops/ops.h"
#include "ops/testing/gradient_check.h"
#include "ops/testing/op_test_util.h"

namespace gatefuse {
namespace {

using ::gatefuse::testing::RandomF64;
using ::gatefuse::testing::ValueTolerance;
using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pointwise;

Tensor TensorOf(const Shape& shape, std::vector<double> values, DType dtype = DType::kF64) {
  return Tensor::FromValues(shape, values, dtype).value();
}

Var Param(const Tensor& value) { return Var::Leaf(value, /*requires_grad=*/true); }

// The value of `v`, which must be OK.
Var Ok(VarOr v) {
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *std::move(v) : Var();
}

std::vector<double> Grad(const Var& leaf) {
  EXPECT_TRUE(leaf.grad().defined());
  return leaf.grad().defined() ? leaf.grad().ToVector() : std::vector<double>{};
}

Tensor Ones(const Var& v) { return Tensor::Full(v.shape(), v.dtype(), 1); }

TEST(TapeTest, GradientsOfAValueUsedSeveralTimesAdd) {
  const Var x = Param(TensorOf({3}, {-1, 0.5, 2}));
  // d/dx sum(x*x + x) = 2x + 1
  ASSERT_TRUE(Backward(Ok(Sum(x * x + x))).ok());
  EXPECT_THAT(Grad(x), ElementsAre(-1, 2, 5));

  // Three uses in three ops: d/dx sum(tanh(x) x + exp(x)) = (1 - t^2) x + t + e^x.
  const Var z = Param(TensorOf({3}, {-1, 0.5, 2}));
  ASSERT_TRUE(Backward(Ok(Sum(Tanh(z) * z + Exp(z)))).ok());
  std::vector<double> want;
  for (double v : {-1.0, 0.5, 2.0}) {
    const double t = std::tanh(v);
    want.push_back((1 - t * t) * v + t + std::exp(v));
  }
  EXPECT_THAT(Grad(z), Pointwise(DoubleNear(1e-14), want));
}

TEST(TapeTest, GradientsAccumulateAcrossBackwardCallsUntilZeroGrad) {
  Var x = Param(TensorOf({2}, {1, 3}));
  EXPECT_FALSE(x.grad().defined());
  ASSERT_TRUE(Backward(Ok(Sum(x * x))).ok());  // 2x
  EXPECT_THAT(Grad(x), ElementsAre(2, 6));
  ASSERT_TRUE(Backward(Ok(Sum(x * 3.0))).ok());  // + 3
  EXPECT_THAT(Grad(x), ElementsAre(5, 9));
  x.ZeroGrad();
  EXPECT_FALSE(x.grad().defined());
  ASSERT_TRUE(Backward(Ok(Sum(x * 3.0))).ok());
  EXPECT_THAT(Grad(x), ElementsAre(3, 3));
}

TEST(TapeTest, OnlyLeavesThatRequireGradientsGetThem) {
  const Var x = Param(TensorOf({2}, {1, 2}));
  const Var c = Var::Leaf(TensorOf({2}, {5, 7}), /*requires_grad=*/false);
  const Var loss = Ok(Sum(x * c));
  ASSERT_TRUE(Backward(loss).ok());
  EXPECT_THAT(Grad(x), ElementsAre(5, 7));
  EXPECT_FALSE(c.grad().defined());
  // Values computed from constants alone are not recorded.
  const Var k = Ok(c * c);
  EXPECT_FALSE(k.requires_grad());
  EXPECT_EQ(k.producer(), nullptr);
  EXPECT_TRUE(loss.requires_grad());
  EXPECT_FALSE(loss.is_leaf());
}

TEST(TapeTest, NoGradGuardStopsRecording) {
  const Var x = Param(TensorOf({2}, {1, 2}));
  ASSERT_TRUE(GradEnabled());
  Var y;
  {
    NoGradGuard no_grad;
    EXPECT_FALSE(GradEnabled());
    {
      NoGradGuard nested;
      EXPECT_FALSE(GradEnabled());
    }
    EXPECT_FALSE(GradEnabled());  // the inner guard restores "off", not "on"
    y = Ok(Sum(x * x));
  }
  EXPECT_TRUE(GradEnabled());
  EXPECT_THAT(y.value().ToVector(), ElementsAre(5));  // still computed
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(y.producer(), nullptr);
  const absl::Status s = Backward(y);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr("NoGradGuard"));
  EXPECT_FALSE(x.grad().defined());
  // Recording is back on after the guard.
  EXPECT_TRUE(Ok(x * x).requires_grad());
}

TEST(TapeTest, BackwardTwiceNeedsRetainGraph) {
  const Var x = Param(TensorOf({2}, {1, 3}));
  const Var loss = Ok(Sum(Tanh(x) * x));
  ASSERT_TRUE(Backward(loss).ok());
  const std::vector<double> once = Grad(x);
  const absl::Status again = Backward(loss);
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition) << again;
  EXPECT_THAT(again.message(), HasSubstr("retain_graph"));
  EXPECT_EQ(Grad(x), once);  // the failed call changed nothing

  // Another loss sharing a freed part of the graph fails the same way.
  const Var y = Param(TensorOf({2}, {1, 3}));
  const Var t = Ok(Tanh(y));
  ASSERT_TRUE(Backward(Ok(Sum(t))).ok());
  EXPECT_EQ(Backward(Ok(Sum(t * 2.0))).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(TapeTest, RetainGraphAllowsBackwardTwiceAndDoublesTheGradient) {
  const Var x = Param(TensorOf({2}, {1, 3}));
  const Var loss = Ok(Sum(Tanh(x) * x));
  BackwardOptions retain;
  retain.retain_graph = true;
  ASSERT_TRUE(Backward(loss, retain).ok());
  const std::vector<double> once = Grad(x);
  ASSERT_TRUE(Backward(loss, retain).ok());
  EXPECT_THAT(Grad(x), Pointwise(DoubleNear(1e-15), {2 * once[0], 2 * once[1]}));
  // The last call may free it.
  ASSERT_TRUE(Backward(loss).ok());
  EXPECT_THAT(Grad(x), Pointwise(DoubleNear(1e-15), {3 * once[0], 3 * once[1]}));
  EXPECT_EQ(Backward(loss).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(TapeTest, BackwardOnALeaf) {
  const Var x = Param(TensorOf({}, {3}));
  ASSERT_TRUE(Backward(x).ok());
  EXPECT_THAT(Grad(x), ElementsAre(1));
  const absl::Status s = Backward(Var::Constant(TensorOf({}, {3})));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr("does not require a gradient"));
  EXPECT_EQ(Backward(Var()).code(), absl::StatusCode::kInvalidArgument);
}

TEST(TapeTest, NonScalarLossNeedsASeed) {
  const Var x = Param(TensorOf({3}, {1, 2, 3}));
  const absl::Status s = Backward(Ok(x * x));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr("seed"));
  EXPECT_THAT(s.message(), HasSubstr("[3]"));
  EXPECT_FALSE(x.grad().defined());
  // A loss of one element in any rank needs none.
  ASSERT_TRUE(Backward(Ok(Sum(x, {}, /*keepdims=*/true))).ok());
  EXPECT_THAT(Grad(x), ElementsAre(1, 1, 1));
}

TEST(TapeTest, SeededBackwardOnANonScalarRoot) {
  const Var x = Param(TensorOf({2, 2}, {1, 2, 3, 4}));
  const Var y = Ok(x * x);
  ASSERT_TRUE(Backward(y, TensorOf({2, 2}, {1, 0, -1, 0.5})).ok());
  EXPECT_THAT(Grad(x), ElementsAre(2, 0, -6, 4));  // 2x * seed

  const Var z = Ok(x * x);
  const absl::Status wrong_shape = Backward(z, TensorOf({4}, {1, 1, 1, 1}));
  EXPECT_EQ(wrong_shape.code(), absl::StatusCode::kInvalidArgument) << wrong_shape;
  EXPECT_THAT(wrong_shape.message(),
              HasSubstr("seed gradient f64[4] does not match the root f64[2,2]"));
  const absl::Status wrong_dtype = Backward(z, Tensor::Full({2, 2}, DType::kF32, 1));
  EXPECT_EQ(wrong_dtype.code(), absl::StatusCode::kInvalidArgument) << wrong_dtype;
  EXPECT_THAT(wrong_dtype.message(), HasSubstr("f32[2,2]"));
}

TEST(TapeTest, GradientsReturnsGradientsOfIntermediateValues) {
  const Var x = Param(TensorOf({3}, {-0.5, 0.25, 1}));
  const Var unused = Param(TensorOf({1}, {1}));
  const Var h = Ok(Tanh(x));
  const Var y = Ok(Sum(h * h));
  auto grads = Gradients({y}, {Ones(y)}, {h, x, unused});
  ASSERT_TRUE(grads.ok()) << grads.status();
  ASSERT_EQ(grads->size(), 3u);
  std::vector<double> dh, dx;
  for (double v : x.value().ToVector()) {
    const double t = std::tanh(v);
    dh.push_back(2 * t);
    dx.push_back(2 * t * (1 - t * t));
  }
  EXPECT_THAT((*grads)[0].value().ToVector(), Pointwise(DoubleNear(1e-15), dh));
  EXPECT_THAT((*grads)[1].value().ToVector(), Pointwise(DoubleNear(1e-15), dx));
  EXPECT_FALSE((*grads)[2].defined());  // not reached
  // Returned, not accumulated.
  EXPECT_FALSE(x.grad().defined());
}

TEST(TapeTest, GradientsOfSeveralSeededRoots) {
  // d/dx (2 sum(x^2) + seed . 3x) = 4x + 3 seed
  const Var x = Param(TensorOf({2}, {1, -2}));
  const Var a = Ok(Sum(x * x));
  const Var b = Ok(x * 3.0);
  auto grads = Gradients({a, b}, {Tensor::Scalar(2, DType::kF64), TensorOf({2}, {1, 10})}, {x});
  ASSERT_TRUE(grads.ok()) << grads.status();
  EXPECT_THAT((*grads)[0].value().ToVector(), ElementsAre(7, 22));
  const auto mismatched = Gradients({a, b}, {Tensor::Scalar(1, DType::kF64)}, {x});
  EXPECT_EQ(mismatched.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TapeTest, CreateGraphGivesTheSecondDerivativeOfACube) {
  const Var x = Param(TensorOf({4}, {-2, -0.5, 1, 3}));
  BackwardOptions create;
  create.create_graph = true;
  auto first = Gradients({Ok(Sum(x * x * x))}, {Tensor::Scalar(1, DType::kF64)}, {x}, create);
  ASSERT_TRUE(first.ok()) << first.status();
  const Var g = (*first)[0];
  EXPECT_TRUE(g.requires_grad());  // recorded
  EXPECT_THAT(g.value().ToVector(), Pointwise(DoubleNear(1e-14), {12.0, 0.75, 3.0, 27.0}));  // 3x^2
  auto second = Gradients({g}, {Ones(g)}, {x});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_THAT((*second)[0].value().ToVector(),
              Pointwise(DoubleNear(1e-14), {-12.0, -3.0, 6.0, 18.0}));  // 6x
  // And numerically: central differences of the first derivative.
  const double eps = 1e-6;
  auto first_derivative = [&](double v) {
    const Var p = Param(TensorOf({}, {v}));
    auto d = Gradients({Ok(p * p * p)}, {Tensor::Scalar(1, DType::kF64)}, {p});
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? (*d)[0].value().At(0) : std::nan("");
  };
  for (int i = 0; i < 4; ++i) {
    const double v = x.value().At(i);
    const double numeric = (first_derivative(v + eps) - first_derivative(v - eps)) / (2 * eps);
    EXPECT_NEAR((*second)[0].value().At(i), numeric, 1e-7 + 1e-6 * std::abs(numeric)) << v;
  }
}

// Hessian-vector products through create_graph, against central differences of the
// tape's gradient: H v = (g(x + eps v) - g(x - eps v)) / 2 eps.
TEST(TapeTest, CreateGraphThroughEveryKindOfOp) {
  const Var w = Var::Constant(RandomF64({3, 2}, 7));
  const Var c = Var::Constant(RandomF64({2, 3}, 8));
  const Var targets = Var::Constant(RandomF64({2, 3}, 9, 0, 1));
  const Var labels = Var::Constant(TensorOf({2}, {2, 0}, DType::kI64));
  struct Case {
    const char* name;
    std::function<VarOr(const Var&)> f;
  };
  const Case kCases[] = {
      {"cube", [](const Var& x) { return Sum(x * x * x); }},
      {"tanh", [](const Var& x) { return Sum(Tanh(x)); }},
      {"sigmoid / (1 + x^2)", [](const Var& x) { return Sum(Sigmoid(x) / (1.0 + x * x)); }},
      {"exp * log", [](const Var& x) { return Sum(Exp(x) * Log(x + 2.0)); }},
      {"softmax", [&](const Var& x) { return Sum(Softmax(x) * c); }},
      {"log-softmax axis 0", [&](const Var& x) { return Sum(LogSoftmax(x, 0) * c); }},
      {"tanh(matmul)", [&](const Var& x) { return Sum(Tanh(MatMul(x, w))); }},
      {"broadcast",
       [&](const Var& x) { return Sum(Sigmoid(Sum(x, {0}) * x - Mean(x, {1}, true))); }},
      {"mse", [&](const Var& x) { return MeanSquaredError(Tanh(x), c); }},
      {"bce", [&](const Var& x) { return BinaryCrossEntropyWithLogits(x, targets); }},
      {"cross-entropy", [&](const Var& x) { return SparseSoftmaxCrossEntropy(x, labels); }},
      {"transpose, concat, slice",
       [](const Var& x) {
         return Sum(Exp(Slice(Concat({Transpose(x, {1, 0}), Reshape(x, {3, 2})}, 1), 1, 1, 4)));
       }},
  };
  const Tensor x0 = RandomF64({2, 3}, 1);
  const Tensor v = RandomF64({2, 3}, 2);
  auto gradient = [&v](const Case& c, const Tensor& at, bool create_graph) -> absl::StatusOr<Var> {
    const Var x = Param(at);
    VarOr loss = c.f(x);
    if (!loss.ok()) return loss.status();
    BackwardOptions options;
    options.create_graph = create_graph;
    auto g = Gradients({*loss}, {Ones(*loss)}, {x}, options);
    if (!g.ok()) return g.status();
    if (!create_graph) return (*g)[0];
    // H v: the gradient of g . v with respect to the same x.
    auto hv = Gradients({(*g)[0]}, {v}, {x});
    if (!hv.ok()) return hv.status();
    return (*hv)[0];
  };
  const double eps = 1e-6;
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    auto hv = gradient(c, x0, true);
    ASSERT_TRUE(hv.ok()) << hv.status();
    ASSERT_TRUE(hv->defined());
    std::vector<double> up = x0.ToVector(), down = x0.ToVector();
    for (size_t i = 0; i < up.size(); ++i) {
      up[i] += eps * v.At(i);
      down[i] -= eps * v.At(i);
    }
    auto g_up = gradient(c, TensorOf(x0.shape(), up), false);
    auto g_down = gradient(c, TensorOf(x0.shape(), down), false);
    ASSERT_TRUE(g_up.ok() && g_down.ok());
    for (int64_t i = 0; i < x0.num_elements(); ++i) {
      const double numeric = (g_up->value().At(i) - g_down->value().At(i)) / (2 * eps);
      EXPECT_NEAR(hv->value().At(i), numeric, 1e-7 + 1e-6 * std::abs(numeric)) << "element " << i;
    }
  }
}

TEST(TapeTest, LongChainBackpropagatesWithoutStackOverflow) {
  constexpr int kLength = 100000;
  const Var x = Param(TensorOf({}, {0.5}));
  VarOr y = x;
  // In long double, so that the 10^5 roundings of the reference stay far below 1e-12.
  long double value = 0.5, derivative = 1;
  for (int i = 0; i < kLength; ++i) {
    y = Tanh(y);
    value = std::tanh(value);
    derivative *= 1 - value * value;
  }
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_NEAR(y->value().At(0), static_cast<double>(value), 1e-15);  // 2.6e-13 of 0.0039
  ASSERT_TRUE(Backward(*y).ok());
  const double want = static_cast<double>(derivative);
  // 10^5 chained products: the f64 bound (1e-12 relative), not the per-op one.
  EXPECT_NEAR(x.grad().At(0), want, 1e-12 * want);
}

// Dropping a long recorded chain must not recurse once per op either: 10^5 nested
// destructors overflow an 8 MB stack.
TEST(TapeTest, LongChainIsFreedWithoutStackOverflow) {
  constexpr int kLength = 100000;
  enum Variant { kNeverDifferentiated, kAfterRetainedBackward, kEachValueUsedTwice };
  for (Variant variant : {kNeverDifferentiated, kAfterRetainedBackward, kEachValueUsedTwice}) {
    SCOPED_TRACE(variant);
    const Var x = Param(TensorOf({}, {0.5}));
    VarOr y = x;
    for (int i = 0; i < kLength; ++i) y = variant == kEachValueUsedTwice ? y * y : Tanh(y);
    ASSERT_TRUE(y.ok()) << y.status();
    if (variant == kAfterRetainedBackward) {
      BackwardOptions retain;
      retain.retain_graph = true;
      ASSERT_TRUE(Backward(*y, retain).ok());
    }
    y = Var();  // the last reference to the chain
  }
}

TEST(TapeTest, TemporariesTheUserDroppedStillGetGradients) {
  const Var x = Param(TensorOf({3}, {-1, 0.5, 2}));
  Var loss;
  {
    const Var h = Ok(Tanh(x));
    const Var squared = Ok(h * h);
    loss = Ok(Sum(squared));
  }  // h and squared are gone; the tape keeps what it needs
  ASSERT_TRUE(Backward(loss).ok());
  std::vector<double> want;
  for (double v : {-1.0, 0.5, 2.0}) {
    const double t = std::tanh(v);
    want.push_back(2 * t * (1 - t * t));
  }
  EXPECT_THAT(Grad(x), Pointwise(DoubleNear(1e-15), want));

  // Never named at all.
  const Var z = Param(TensorOf({2, 2}, {1, 2, 3, 4}));
  ASSERT_TRUE(Backward(Ok(Mean(Exp(MatMul(z, z) * 0.1) + Sigmoid(Transpose(z, {1, 0}))))).ok());
  EXPECT_TRUE(z.grad().defined());
}

// y0 = 2x, y1 = 3x: an op with two outputs, to drop one of them.
class TwoScalesOp : public TapeOp {
 public:
  const std::string& name() const override { return name_; }
  absl::StatusOr<std::vector<Var>> Gradient(const GradContext& c) const override {
    // The outputs (even a dropped one) and a gradient for each reach the rule.
    if (c.outputs.size() != 2 || c.output_grads.size() != 2 ||
        c.outputs[0].shape() != c.inputs[0].shape() ||
        c.output_grads[0].shape() != c.inputs[0].shape()) {
      return absl::InternalError("TwoScales: malformed gradient context");
    }
    VarOr dx = c.output_grads[0] * 2.0 + c.output_grads[1] * 3.0;
    if (!dx.ok()) return dx.status();
    return std::vector<Var>{*dx};
  }

 private:
  std::string name_ = "TwoScales";
};

std::vector<Var> TwoScales(const Var& x) {
  static const TwoScalesOp* op = new TwoScalesOp;
  std::vector<Tensor> out;
  {
    NoGradGuard no_grad;
    out = {Ok(x * 2.0).value(), Ok(x * 3.0).value()};
  }
  return RecordOp(op, {}, {x}, out);
}

TEST(TapeTest, AnOutputTheUserDroppedGetsAZeroGradient) {
  const Var x = Param(TensorOf({2}, {1, -1}));
  const Var y1 = TwoScales(x)[1];  // y0 is dropped at once
  ASSERT_TRUE(Backward(Ok(Sum(y1 * y1))).ok());
  EXPECT_THAT(Grad(x), ElementsAre(18, -18));  // d/dx (3x)^2

  const Var z = Param(TensorOf({2}, {1, -1}));
  const std::vector<Var> both = TwoScales(z);
  ASSERT_TRUE(Backward(Ok(Sum(both[0] + both[1] * 2.0))).ok());
  EXPECT_THAT(Grad(z), ElementsAre(8, 8));  // 2 + 2 * 3
}

}  // namespace
}  // namespace gatefuse
