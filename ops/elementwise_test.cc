// Tests of the elementwise ops (elementwise.cc): forward values, numpy
// broadcasting, finite-difference gradients in f64 and the errors they report.
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ops/ops.h"
#include "ops/registry.h"
#include "ops/testing/gradient_check.h"
#include "ops/testing/op_test_util.h"

namespace gatefuse {
namespace {

using ::gatefuse::testing::CheckGradients;
using ::gatefuse::testing::Const;
using ::gatefuse::testing::ExpectGradientsMatch;
using ::gatefuse::testing::ExpectInvalidArgument;
using ::gatefuse::testing::Values;
using ::gatefuse::testing::ValueNear;
using ::gatefuse::testing::ValueTolerance;
using ::gatefuse::testing::RandomF64;
using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::Pointwise;

// x with every element moved 0.1 further from its nearest kink (Relu's 0, Clip's
// lo and hi, ...); kinks 0.4 or more apart leave every element 0.1 from each.
Tensor AwayFromKinks(const Tensor& x, const std::vector<double>& kinks) {
  std::vector<double> v = x.ToVector();
  if (kinks.empty()) return x;
  for (double& e : v) {
    double nearest = kinks[0];
    for (double k : kinks) nearest = std::abs(e - k) < std::abs(e - nearest) ? k : nearest;
    e += e >= nearest ? 0.1 : -0.1;
  }
  return Tensor::FromValues(x.shape(), v, x.dtype()).value();
}

using BinaryFn = VarOr (*)(const VarOr&, const VarOr&);
struct BinaryOp {
  const char* name;
  BinaryFn fn;
};
const BinaryOp kBinaryOps[] = {{"Add", Add}, {"Sub", Sub}, {"Mul", Mul}, {"Div", Div}};

struct UnaryOp {
  const char* name;
  std::function<VarOr(const VarOr&)> fn;
  double lo, hi;               // where the gradient check draws inputs
  std::vector<double> kinks;   // keep inputs away from these
};
const std::vector<UnaryOp>& UnaryOps() {
  static const auto* ops = new std::vector<UnaryOp>{
      {"Neg", Neg, -1, 1, {}},
      {"AddScalar", [](const VarOr& x) { return AddScalar(x, 0.75); }, -1, 1, {}},
      {"MulScalar", [](const VarOr& x) { return MulScalar(x, -1.5); }, -1, 1, {}},
      {"RSubScalar", [](const VarOr& x) { return RSubScalar(2.5, x); }, -1, 1, {}},
      {"Sigmoid", Sigmoid, -3, 3, {}},
      {"Tanh", Tanh, -2, 2, {}},
      {"Relu", Relu, -1, 1, {0}},
      {"Step", Step, -1, 1, {0}},
      {"Exp", Exp, -1, 1, {}},
      {"Log", Log, 0.5, 2, {}},
      {"LeakyRelu", [](const VarOr& x) { return LeakyRelu(x, 0.1); }, -1, 1, {0}},
      {"ThresholdedRelu", [](const VarOr& x) { return ThresholdedRelu(x, 0.3); }, -1, 1, {0.3}},
      // alpha != 1: the derivative jumps at 0 as well.
      {"Elu", [](const VarOr& x) { return Elu(x, 1.5); }, -3, 1, {0}},
      {"Softsign", Softsign, -3, 3, {}},
      {"Softplus", Softplus, -6, 6, {}},
      // 0.4 x + 0.5 leaves [0, 1] at x = -1.25 and x = 1.25.
      {"HardSigmoid", [](const VarOr& x) { return HardSigmoid(x, 0.4, 0.5); }, -2, 2,
       {-1.25, 1.25}},
      {"Clip", [](const VarOr& x) { return Clip(x, -0.5, 0.4); }, -1, 1, {-0.5, 0.4}},
      {"Abs", Abs, -1, 1, {0}},
      {"Sqrt", Sqrt, 0.2, 2, {}},
  };
  return *ops;
}

// ---- forward values ----

TEST(ElementwiseTest, BinaryOpsBroadcastARowAgainstAMatrix) {
  for (DType dtype : {DType::kF32, DType::kF64}) {
    SCOPED_TRACE(DTypeName(dtype));
    const Var a = Const({2, 3}, {1, 2, 3, 4, 5, 6}, dtype);
    const Var b = Const({3}, {10, 20, 30}, dtype);
    EXPECT_THAT(Values(Add(a, b)), ElementsAre(11, 22, 33, 14, 25, 36));
    EXPECT_THAT(Values(Sub(a, b)), ElementsAre(-9, -18, -27, -6, -15, -24));
    EXPECT_THAT(Values(Mul(a, b)), ElementsAre(10, 40, 90, 40, 100, 180));
    EXPECT_THAT(Values(Div(a, b)),
                Pointwise(ValueNear(dtype), std::vector<double>{0.1, 0.1, 0.1, 0.4, 0.25, 0.2}));
    EXPECT_EQ(Add(a, b)->shape(), Shape({2, 3}));
    EXPECT_EQ(Add(a, b)->dtype(), dtype);
  }
}

TEST(ElementwiseTest, ColumnPlusRowIsAnOuterSum) {
  const Var col = Const({3, 1}, {1, 2, 3});
  const Var row = Const({1, 4}, {10, 20, 30, 40});
  VarOr y = col + row;
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->shape(), Shape({3, 4}));
  EXPECT_THAT(Values(y), ElementsAre(11, 21, 31, 41, 12, 22, 32, 42, 13, 23, 33, 43));
  EXPECT_THAT(Values(row - col), ElementsAre(9, 19, 29, 39, 8, 18, 28, 38, 7, 17, 27, 37));
}

TEST(ElementwiseTest, ScalarBroadcastsAgainstAMatrixOnEitherSide) {
  const Var s = Const({}, {5});
  const Var m = Const({2, 2}, {1, 2, 3, 4});
  EXPECT_THAT(Values(s + m), ElementsAre(6, 7, 8, 9));
  EXPECT_THAT(Values(m - s), ElementsAre(-4, -3, -2, -1));
  EXPECT_THAT(Values(s - m), ElementsAre(4, 3, 2, 1));
  EXPECT_THAT(Values(m * s), ElementsAre(5, 10, 15, 20));
  EXPECT_THAT(Values(s / m), Pointwise(DoubleNear(1e-15), {5.0, 2.5, 5.0 / 3, 1.25}));
  EXPECT_EQ((s * s)->shape(), Shape({}));
}

TEST(ElementwiseTest, VectorBroadcastsOverTheLeadingAxesOfARank3Tensor) {
  const Tensor a = RandomF64({4}, 1), b = RandomF64({2, 3, 4}, 2);
  VarOr y = Var::Constant(a) * Var::Constant(b);
  ASSERT_TRUE(y.ok()) << y.status();
  ASSERT_EQ(y->shape(), Shape({2, 3, 4}));
  for (int64_t i = 0; i < 24; ++i) EXPECT_EQ(y->value().At(i), a.At(i % 4) * b.At(i)) << i;
  // [2,1,4] with [3,1]: both sides broadcast.
  const Tensor c = RandomF64({2, 1, 4}, 3), d = RandomF64({3, 1}, 4);
  VarOr z = Var::Constant(c) - Var::Constant(d);
  ASSERT_TRUE(z.ok()) << z.status();
  ASSERT_EQ(z->shape(), Shape({2, 3, 4}));
  for (int64_t i = 0; i < 2; ++i) {
    for (int64_t j = 0; j < 3; ++j) {
      for (int64_t k = 0; k < 4; ++k) {
        EXPECT_EQ(z->value().At((i * 3 + j) * 4 + k), c.At(i * 4 + k) - d.At(j));
      }
    }
  }
}

TEST(ElementwiseTest, EmptyOperandsBroadcast) {
  VarOr y = Var::Constant(Tensor::Zeros({2, 0}, DType::kF64)) + Const({1}, {1});
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->shape(), Shape({2, 0}));
  VarOr z = Const({1}, {1}) * Var::Constant(Tensor::Zeros({0}, DType::kF64));
  ASSERT_TRUE(z.ok()) << z.status();
  EXPECT_EQ(z->shape(), Shape({0}));
}

TEST(ElementwiseTest, ScalarFormsAndOperators) {
  const Var x = Const({3}, {-1, 0.5, 2});
  EXPECT_THAT(Values(Neg(x)), ElementsAre(1, -0.5, -2));
  EXPECT_THAT(Values(-x), ElementsAre(1, -0.5, -2));
  EXPECT_THAT(Values(AddScalar(x, 1.5)), ElementsAre(0.5, 2, 3.5));
  EXPECT_THAT(Values(x + 1.5), ElementsAre(0.5, 2, 3.5));
  EXPECT_THAT(Values(1.5 + x), ElementsAre(0.5, 2, 3.5));
  EXPECT_THAT(Values(x - 1.5), ElementsAre(-2.5, -1, 0.5));
  EXPECT_THAT(Values(MulScalar(x, -2)), ElementsAre(2, -1, -4));
  EXPECT_THAT(Values(x * -2.0), ElementsAre(2, -1, -4));
  EXPECT_THAT(Values(-2.0 * x), ElementsAre(2, -1, -4));
  EXPECT_THAT(Values(x / 4.0), ElementsAre(-0.25, 0.125, 0.5));
  EXPECT_THAT(Values(RSubScalar(1, x)), ElementsAre(2, 0.5, -1));
  EXPECT_THAT(Values(1.0 - x), ElementsAre(2, 0.5, -1));
}

TEST(ElementwiseTest, Activations) {
  for (DType dtype : {DType::kF32, DType::kF64}) {
    SCOPED_TRACE(DTypeName(dtype));
    const Var x = Const({4}, {-2, -0.5, 0, 2}, dtype);
    EXPECT_THAT(Values(Sigmoid(x)),
                Pointwise(ValueNear(dtype), {0.11920292202211755, 0.3775406687981454, 0.5,
                                             0.8807970779778823}));
    EXPECT_THAT(Values(Tanh(x)),
                Pointwise(ValueNear(dtype),
                          {-0.9640275800758169, -0.46211715726000974, 0.0, 0.9640275800758169}));
    EXPECT_THAT(Values(Relu(x)), ElementsAre(0, 0, 0, 2));
    EXPECT_THAT(Values(Step(x)), ElementsAre(0, 0, 0, 1));
    EXPECT_THAT(Values(Exp(x)),
                Pointwise(ValueNear(dtype),
                          {0.1353352832366127, 0.6065306597126334, 1.0, 7.38905609893065}));
    const Var p = Const({4}, {0.5, 1, 2, std::exp(1.0)}, dtype);
    EXPECT_THAT(Values(Log(p)),
                Pointwise(ValueNear(dtype), {-0.6931471805599453, 0.0, 0.6931471805599453, 1.0}));
  }
}

TEST(ElementwiseTest, SigmoidIsStableForLargeInputs) {
  for (DType dtype : {DType::kF32, DType::kF64}) {
    SCOPED_TRACE(DTypeName(dtype));
    const std::vector<double> y = Values(Sigmoid(Const({4}, {-1000, -50, 50, 1000}, dtype)));
    ASSERT_EQ(y.size(), 4u);
    for (double v : y) EXPECT_TRUE(std::isfinite(v)) << v;
    EXPECT_EQ(y[0], 0);
    constexpr double kExpMinus50 = 1.9287498479639178e-22;  // sigmoid(-50) to 17 digits
    EXPECT_NEAR(y[1], kExpMinus50, ValueTolerance(dtype) * kExpMinus50);
    EXPECT_EQ(y[2], 1);
    EXPECT_EQ(y[3], 1);
  }
}

TEST(ElementwiseTest, OnnxActivations) {
  for (DType dtype : {DType::kF32, DType::kF64}) {
    SCOPED_TRACE(DTypeName(dtype));
    const Var x = Const({5}, {-2, -0.5, 0, 0.5, 2}, dtype);
    EXPECT_THAT(Values(LeakyRelu(x, 0.1)),
                Pointwise(ValueNear(dtype), {-0.2, -0.05, 0.0, 0.5, 2.0}));
    EXPECT_THAT(Values(LeakyRelu(x)), Pointwise(ValueNear(dtype), {-0.02, -0.005, 0.0, 0.5, 2.0}));
    EXPECT_THAT(Values(ThresholdedRelu(x, 0.5)), ElementsAre(0, 0, 0, 0, 2));  // x > alpha
    EXPECT_THAT(Values(ThresholdedRelu(x)), ElementsAre(0, 0, 0, 0, 2));
    EXPECT_THAT(Values(ThresholdedRelu(x, -1)), ElementsAre(0, -0.5, 0, 0.5, 2));
    EXPECT_THAT(Values(Elu(x, 2)),
                Pointwise(ValueNear(dtype), {2 * std::expm1(-2.0), 2 * std::expm1(-0.5), 0.0,
                                             0.5, 2.0}));
    EXPECT_THAT(Values(Softsign(x)),
                Pointwise(ValueNear(dtype), {-2.0 / 3, -0.5 / 1.5, 0.0, 0.5 / 1.5, 2.0 / 3}));
    EXPECT_THAT(Values(Softplus(x)),
                Pointwise(ValueNear(dtype), {std::log1p(std::exp(-2.0)), std::log1p(std::exp(-0.5)),
                                             std::log(2.0), std::log1p(std::exp(0.5)),
                                             std::log1p(std::exp(2.0))}));
    // ONNX's defaults: alpha 0.2, beta 0.5; 0.2 x + 0.5 is in [0, 1] for |x| <= 2.5.
    EXPECT_THAT(Values(HardSigmoid(x)), Pointwise(ValueNear(dtype), {0.1, 0.4, 0.5, 0.6, 0.9}));
    EXPECT_THAT(Values(HardSigmoid(x, 1, 0.25)),
                Pointwise(ValueNear(dtype), {0.0, 0.0, 0.25, 0.75, 1.0}));
    EXPECT_THAT(Values(Clip(x, -1, 0.25)), ElementsAre(-1, -0.5, 0, 0.25, 0.25));
    // lo > hi gives hi everywhere, as ONNX's Clip.
    EXPECT_THAT(Values(Clip(x, 1, -1)), ElementsAre(-1, -1, -1, -1, -1));
    EXPECT_THAT(Values(Abs(x)), ElementsAre(2, 0.5, 0, 0.5, 2));
    EXPECT_THAT(Values(Sqrt(Abs(x))),
                Pointwise(ValueNear(dtype), {std::sqrt(2.0), std::sqrt(0.5), 0.0, std::sqrt(0.5),
                                             std::sqrt(2.0)}));
  }
}

TEST(ElementwiseTest, SoftplusIsStableForLargeInputs) {
  for (DType dtype : {DType::kF32, DType::kF64}) {
    SCOPED_TRACE(DTypeName(dtype));
    const std::vector<double> y = Values(Softplus(Const({4}, {-1000, -50, 50, 1000}, dtype)));
    ASSERT_EQ(y.size(), 4u);
    for (double v : y) EXPECT_TRUE(std::isfinite(v)) << v;
    EXPECT_EQ(y[0], 0);
    constexpr double kExpMinus50 = 1.9287498479639178e-22;  // log(1 + e^-50) to 17 digits
    EXPECT_NEAR(y[1], kExpMinus50, ValueTolerance(dtype) * kExpMinus50);
    EXPECT_EQ(y[2], 50);
    EXPECT_EQ(y[3], 1000);
  }
}

// Near an ONNX activation's kink the gradient takes Relu's side: the left
// derivative at 0, zero on the bounds of Clip and HardSigmoid, sign(0) = 0.
TEST(ElementwiseGradientTest, ActivationGradientsAtTheirKinks) {
  auto grad = [](const std::function<VarOr(const VarOr&)>& f, std::vector<double> at) {
    const Var x = Var::Leaf(Tensor::FromValues({static_cast<int64_t>(at.size())}, at,
                                               DType::kF64).value(), true);
    VarOr y = Sum(f(x));
    EXPECT_TRUE(y.ok()) << y.status();
    if (!y.ok()) return std::vector<double>{};
    absl::StatusOr<std::vector<Var>> g = Gradients({*y}, {Tensor::Full({}, DType::kF64, 1)}, {x});
    EXPECT_TRUE(g.ok()) << g.status();
    return g.ok() ? (*g)[0].value().ToVector() : std::vector<double>{};
  };
  EXPECT_THAT(grad([](const VarOr& x) { return LeakyRelu(x, 0.1); }, {-1, 0, 1}),
              Pointwise(DoubleNear(1e-15), {0.1, 0.1, 1.0}));
  EXPECT_THAT(grad([](const VarOr& x) { return Elu(x, 2); }, {-1, 0, 1}),
              Pointwise(DoubleNear(1e-15), {2 * std::exp(-1.0), 2.0, 1.0}));
  EXPECT_THAT(grad([](const VarOr& x) { return ThresholdedRelu(x, 0.5); }, {0.25, 0.5, 1}),
              ElementsAre(0, 0, 1));
  EXPECT_THAT(grad([](const VarOr& x) { return Clip(x, -1, 1); }, {-2, -1, 0, 1, 2}),
              ElementsAre(0, 0, 1, 0, 0));
  EXPECT_THAT(grad([](const VarOr& x) { return HardSigmoid(x, 0.5, 0.5); }, {-1, 0, 1}),
              ElementsAre(0, 0.5, 0));
  EXPECT_THAT(grad(Abs, {-2, 0, 2}), ElementsAre(-1, 0, 1));
  EXPECT_THAT(grad(Softsign, {-1, 0, 1}), Pointwise(DoubleNear(1e-15), {0.25, 1.0, 0.25}));
  EXPECT_THAT(grad(Softplus, {-1000, 0, 1000}), Pointwise(DoubleNear(1e-15), {0.0, 0.5, 1.0}));
  EXPECT_THAT(grad(Sqrt, {0.25, 4}), Pointwise(DoubleNear(1e-15), {1.0, 0.25}));
}

// A tie goes to the first input: in the value (both are equal) and in the
// gradient, which is g on exactly one input at every point.
TEST(ElementwiseTest, MinAndMaxBroadcastAndBreakTiesTowardsTheFirstInput) {
  for (DType dtype : {DType::kF32, DType::kF64}) {
    SCOPED_TRACE(DTypeName(dtype));
    const Var a = Const({2, 3}, {1, 5, -3, 4, -0.5, 6}, dtype);
    const Var b = Const({3}, {2, 5, -4}, dtype);
    EXPECT_THAT(Values(Max(a, b)), ElementsAre(2, 5, -3, 4, 5, 6));
    EXPECT_THAT(Values(Min(a, b)), ElementsAre(1, 5, -4, 2, -0.5, -4));
    EXPECT_THAT(Values(Max(b, a)), ElementsAre(2, 5, -3, 4, 5, 6));
    EXPECT_EQ(Max(a, b)->shape(), Shape({2, 3}));
    EXPECT_EQ(Min(b, a)->dtype(), dtype);
  }
  auto grads = [](BinaryFn f, std::vector<double> a, std::vector<double> b) {
    const int64_t n = static_cast<int64_t>(a.size());
    const Var x = Var::Leaf(Tensor::FromValues({n}, a, DType::kF64).value(), true);
    const Var y = Var::Leaf(Tensor::FromValues({n}, b, DType::kF64).value(), true);
    VarOr loss = Sum(f(x, y));
    EXPECT_TRUE(loss.ok()) << loss.status();
    if (!loss.ok()) return std::vector<double>{};
    absl::StatusOr<std::vector<Var>> g =
        Gradients({*loss}, {Tensor::Full({}, DType::kF64, 1)}, {x, y});
    EXPECT_TRUE(g.ok()) << g.status();
    if (!g.ok()) return std::vector<double>{};
    std::vector<double> out = (*g)[0].value().ToVector();
    for (double v : (*g)[1].value().ToVector()) out.push_back(v);
    return out;  // dx..., then dy...
  };
  EXPECT_THAT(grads(Max, {1, 2, 3}, {2, 2, 1}), ElementsAre(0, 1, 1, 1, 0, 0));
  EXPECT_THAT(grads(Min, {1, 2, 3}, {2, 2, 1}), ElementsAre(1, 1, 0, 0, 0, 1));
  // max(x, x) = x and min(x, x) = x: the whole gradient reaches x once.
  for (BinaryFn f : {static_cast<BinaryFn>(Max), static_cast<BinaryFn>(Min)}) {
    const Var x = Var::Leaf(Tensor::FromValues({2}, {0.5, -1}, DType::kF64).value(), true);
    VarOr loss = Sum(f(x, x));
    ASSERT_TRUE(loss.ok()) << loss.status();
    absl::StatusOr<std::vector<Var>> g =
        Gradients({*loss}, {Tensor::Full({}, DType::kF64, 1)}, {x});
    ASSERT_TRUE(g.ok()) << g.status();
    EXPECT_THAT((*g)[0].value().ToVector(), ElementsAre(1, 1));
  }
}

TEST(ElementwiseErrorTest, ActivationsNeedTheirAttributes) {
  const Var x = Const({2}, {1, 2});
  ExpectInvalidArgument(Apply("Clip", {x}, {{"lo", 0.0}}), {"Clip: missing attribute 'hi'"});
  ExpectInvalidArgument(Apply("HardSigmoid", {x}, {{"beta", 0.5}}),
                        {"HardSigmoid: missing attribute 'alpha'"});
  ExpectInvalidArgument(Apply("LeakyRelu", {x}), {"LeakyRelu: missing attribute 'alpha'"});
  ExpectInvalidArgument(Apply("Elu", {x}, {{"alpha", int64_t{1}}}),
                        {"Elu: attribute 'alpha' must be of type float"});
}

TEST(ElementwiseTest, BroadcastToRepeatsAndSumToAdds) {
  const Var col = Const({3, 1}, {1, 2, 3});
  EXPECT_THAT(Values(BroadcastTo(col, {3, 4})), ElementsAre(1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3));
  EXPECT_THAT(Values(BroadcastTo(Const({2}, {7, 8}), {3, 2})), ElementsAre(7, 8, 7, 8, 7, 8));
  EXPECT_THAT(Values(BroadcastTo(Const({}, {4}), {2, 2})), ElementsAre(4, 4, 4, 4));

  const Var m = Const({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_THAT(Values(SumTo(m, {3})), ElementsAre(5, 7, 9));
  EXPECT_THAT(Values(SumTo(m, {1, 3})), ElementsAre(5, 7, 9));
  EXPECT_THAT(Values(SumTo(m, {2, 1})), ElementsAre(6, 15));
  EXPECT_THAT(Values(SumTo(m, {})), ElementsAre(21));
  EXPECT_EQ(SumTo(m, {1, 3})->shape(), Shape({1, 3}));
  // To its own shape, both are the identity (the same value, no op).
  EXPECT_EQ(BroadcastTo(m, {2, 3})->id(), m.id());
  EXPECT_EQ(SumTo(m, {2, 3})->id(), m.id());
}

// ---- gradients ----

struct BroadcastCase {
  Shape a, b;
};
const BroadcastCase kBroadcastCases[] = {
    {{2, 3}, {2, 3}},    {{}, {2, 3}},           {{2, 3}, {}},           {{}, {}},
    {{3, 1}, {1, 4}},    {{4}, {2, 3, 4}},       {{2, 3, 4}, {4}},       {{1}, {5}},
    {{2, 1, 4}, {3, 1}}, {{1, 3, 1}, {2, 1, 4}}, {{2, 3, 4}, {2, 3, 4}}, {{0, 3}, {3}},
    {{1}, {0}},
};

TEST(ElementwiseGradientTest, BinaryOpsOverBroadcastShapes) {
  for (const BinaryOp& op : kBinaryOps) {
    for (const BroadcastCase& c : kBroadcastCases) {
      SCOPED_TRACE(absl::StrCat(op.name, " ", c.a.ToString(), " with ", c.b.ToString()));
      // A divisor in [0.5, 2) keeps Div away from its pole.
      const Tensor b = op.fn == Div ? RandomF64(c.b, 2, 0.5, 2) : RandomF64(c.b, 2);
      ExpectGradientsMatch([&](const std::vector<Var>& x) { return op.fn(x[0], x[1]); },
                           {RandomF64(c.a, 1), b});
    }
  }
}

// x moved onto a grid of step 0.1 at `offset` within a step: two tensors at
// offsets 0.025 and 0.075 differ by at least 0.05 in every pair of elements, far
// beyond the finite-difference step, so min and max never switch inside it.
Tensor OnGrid(const Tensor& x, double offset) {
  std::vector<double> v = x.ToVector();
  for (double& e : v) e = std::floor(e * 10) / 10 + offset;
  return Tensor::FromValues(x.shape(), v, x.dtype()).value();
}

TEST(ElementwiseGradientTest, MinAndMaxOverBroadcastShapes) {
  const BinaryOp ops[] = {{"Min", Min}, {"Max", Max}};
  for (const BinaryOp& op : ops) {
    for (const BroadcastCase& c : kBroadcastCases) {
      SCOPED_TRACE(absl::StrCat(op.name, " ", c.a.ToString(), " with ", c.b.ToString()));
      ExpectGradientsMatch([&](const std::vector<Var>& x) { return op.fn(x[0], x[1]); },
                           {OnGrid(RandomF64(c.a, 1), 0.025), OnGrid(RandomF64(c.b, 2), 0.075)});
    }
  }
}

TEST(ElementwiseGradientTest, ValueUsedAsBothOperands) {
  for (const BinaryOp& op : kBinaryOps) {
    SCOPED_TRACE(op.name);
    ExpectGradientsMatch([&](const std::vector<Var>& x) { return op.fn(x[0], x[0]); },
                         {RandomF64({2, 3}, 5, 0.5, 2)});
  }
}

TEST(ElementwiseGradientTest, UnaryOpsOverShapes) {
  const Shape kShapes[] = {{}, {1}, {5}, {3, 1}, {1, 4, 1}, {2, 3, 4}};
  for (const UnaryOp& op : UnaryOps()) {
    for (const Shape& shape : kShapes) {
      SCOPED_TRACE(absl::StrCat(op.name, " ", shape.ToString()));
      const Tensor x = AwayFromKinks(RandomF64(shape, 3, op.lo, op.hi), op.kinks);
      ExpectGradientsMatch([&](const std::vector<Var>& v) { return op.fn(v[0]); }, {x});
    }
  }
}

TEST(ElementwiseGradientTest, BroadcastToAndSumTo) {
  const BroadcastCase kCases[] = {
      // {small, large}
      {{}, {2, 3}},        {{1}, {4}},       {{3, 1}, {3, 4}},
      {{1, 4}, {3, 4}},    {{4}, {2, 3, 4}}, {{2, 1, 4}, {2, 3, 4}},
      {{3, 1}, {2, 3, 4}}, {{2, 3}, {2, 3}},
  };
  for (const BroadcastCase& c : kCases) {
    SCOPED_TRACE(absl::StrCat(c.a.ToString(), " <-> ", c.b.ToString()));
    ExpectGradientsMatch([&](const std::vector<Var>& x) { return BroadcastTo(x[0], c.b); },
                         {RandomF64(c.a, 1)});
    ExpectGradientsMatch([&](const std::vector<Var>& x) { return SumTo(x[0], c.a); },
                         {RandomF64(c.b, 1)});
  }
}

TEST(ElementwiseGradientTest, AddNOverBroadcastShapes) {
  const std::vector<std::vector<Shape>> kCases = {
      {{2, 3}},
      {{2, 3}, {2, 3}, {2, 3}},
      {{}, {3}, {2, 3}},
      {{3, 1}, {1, 4}, {4}, {3, 4}},
      {{2, 1, 4}, {3, 1}, {1}},
  };
  for (const auto& shapes : kCases) {
    std::vector<Tensor> inputs;
    std::string label;
    for (size_t k = 0; k < shapes.size(); ++k) {
      inputs.push_back(RandomF64(shapes[k], k + 1));
      absl::StrAppend(&label, shapes[k].ToString(), " ");
    }
    SCOPED_TRACE(label);
    ExpectGradientsMatch(
        [](const std::vector<Var>& x) { return AddN(std::vector<VarOr>(x.begin(), x.end())); },
        inputs);
  }
}

TEST(ElementwiseTest, AddNSumsWithBroadcasting) {
  EXPECT_THAT(Values(AddN({Const({2}, {1, 2}), Const({}, {10}), Const({2, 1}, {100, 200})})),
              ElementsAre(111, 112, 211, 212));
  EXPECT_THAT(Values(AddN({Const({3}, {1, 2, 3})})), ElementsAre(1, 2, 3));
}

TEST(ElementwiseErrorTest, AddNRejectsShapesThatDoNotBroadcast) {
  ExpectInvalidArgument(AddN({Const({2}, {1, 2}), Const({3}, {1, 2, 3})}),
                        {"AddN", "input 1 does not broadcast", "f64[2]", "f64[3]"});
  ExpectInvalidArgument(AddN({}), {"AddN", "at least 1"});
}

// ---- errors ----

TEST(ElementwiseErrorTest, ShapesThatDoNotBroadcast) {
  for (const BinaryOp& op : kBinaryOps) {
    SCOPED_TRACE(op.name);
    ExpectInvalidArgument(op.fn(Var::Constant(RandomF64({3, 2})), Var::Constant(RandomF64({4}))),
                          {absl::StrCat(op.name, ": shapes [3,2] and [4] do not broadcast")});
    ExpectInvalidArgument(
        op.fn(Var::Constant(RandomF64({2, 3, 4})), Var::Constant(RandomF64({3, 1, 5}))),
        {absl::StrCat(op.name, ": shapes [2,3,4] and [3,1,5] do not broadcast")});
  }
}

TEST(ElementwiseErrorTest, MixedOrIntegerDTypes) {
  const Var f32 = Var::Constant(Tensor::Zeros({2}, DType::kF32));
  const Var f64 = Var::Constant(Tensor::Zeros({2}, DType::kF64));
  const Var i64 = Var::Constant(Tensor::Zeros({2}, DType::kI64));
  for (const BinaryOp& op : kBinaryOps) {
    SCOPED_TRACE(op.name);
    ExpectInvalidArgument(op.fn(f32, f64), {op.name, "one dtype", "f32[2], f64[2]"});
    ExpectInvalidArgument(op.fn(i64, i64), {op.name, "must be f32 or f64, not i64", "i64[2]"});
    ExpectInvalidArgument(op.fn(f64, i64), {op.name, "input 1", "f64[2], i64[2]"});
  }
  for (const UnaryOp& op : UnaryOps()) {
    SCOPED_TRACE(op.name);
    ExpectInvalidArgument(
        op.fn(Var::Constant(Tensor::Zeros({3, 1}, DType::kI64))),
        {absl::StrCat(op.name, ": input 0 must be f32 or f64, not i64"), "i64[3,1]"});
  }
  ExpectInvalidArgument(BroadcastTo(i64, {3, 2}), {"BroadcastTo", "i64[2]"});
  ExpectInvalidArgument(SumTo(Var::Constant(Tensor::Zeros({3, 2}, DType::kI64)), {2}),
                        {"SumTo", "i64[3,2]"});
}

TEST(ElementwiseErrorTest, BroadcastToAndSumToRejectIncompatibleShapes) {
  const Var x = Var::Constant(RandomF64({3}));
  ExpectInvalidArgument(BroadcastTo(x, {2, 4}), {"BroadcastTo: [3] does not broadcast to [2,4]"});
  // Broadcasting never drops axes.
  ExpectInvalidArgument(BroadcastTo(Var::Constant(RandomF64({2, 3})), {3}),
                        {"BroadcastTo: [2,3] does not broadcast to [3]"});
  ExpectInvalidArgument(SumTo(Var::Constant(RandomF64({2, 3})), {4}),
                        {"SumTo: [4] does not broadcast to [2,3]"});
  ExpectInvalidArgument(SumTo(x, {2, 3}), {"SumTo: [2,3] does not broadcast to [3]"});
  // Negative sizes are not shapes.
  ExpectInvalidArgument(BroadcastTo(Var::Constant(RandomF64({1})), Shape({-2})),
                        {"BroadcastTo", "[-2]", "f64[1]"});
  ExpectInvalidArgument(BroadcastTo(x, Shape({-1, 3})), {"BroadcastTo", "[-1,3]", "f64[3]"});
}

TEST(ElementwiseErrorTest, TheFirstErrorOfAnExpressionComesOut) {
  const Var a = Var::Constant(RandomF64({3, 2}));
  const Var b = Var::Constant(RandomF64({4}));
  const VarOr bad = a + b;
  ASSERT_FALSE(bad.ok());
  const VarOr y = Tanh(Exp(bad) * a) - 1.0;
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status(), bad.status());
  // With two failing operands, the left one is reported.
  const VarOr worse = Mul(a, Var::Constant(RandomF64({5})));
  EXPECT_EQ(Sub(bad, worse).status(), bad.status());
  EXPECT_EQ(Sub(worse, bad).status(), worse.status());
}

TEST(ElementwiseErrorTest, UndefinedVarIsRejected) {
  ExpectInvalidArgument(Tanh(Var()), {"Tanh: undefined input"});
  ExpectInvalidArgument(Add(Var::Constant(RandomF64({2})), Var()), {"Add: undefined input"});
}

}  // namespace
}  // namespace gatefuse
