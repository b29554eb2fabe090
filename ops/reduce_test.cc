// Tests of the reductions (reduce.cc): Sum and Mean over axes, Softmax and
// LogSoftmax along an axis; values, finite-difference gradients and errors.
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ops/ops.h"
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
using ::gatefuse::testing::RandomF64;
using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pointwise;

// softmax([1, 2, 3]) and its logarithm.
const std::vector<double> kSoftmax123 = {0.09003057317038046, 0.24472847105479767,
                                         0.6652409557748219};
const std::vector<double> kLogSoftmax123 = {-2.40760596444438, -1.4076059644443801,
                                            -0.4076059644443803};

// ---- forward values ----

TEST(ReduceTest, SumAndMeanOverAxes) {
  for (DType dtype : {DType::kF32, DType::kF64}) {
    SCOPED_TRACE(DTypeName(dtype));
    const Var x = Const({2, 3}, {1, 2, 3, 4, 5, 6}, dtype);
    EXPECT_THAT(Values(Sum(x)), ElementsAre(21));
    EXPECT_EQ(Sum(x)->shape(), Shape({}));
    EXPECT_THAT(Values(Sum(x, {0})), ElementsAre(5, 7, 9));
    EXPECT_THAT(Values(Sum(x, {1})), ElementsAre(6, 15));
    EXPECT_THAT(Values(Sum(x, {-1})), ElementsAre(6, 15));
    EXPECT_THAT(Values(Sum(x, {0, 1})), ElementsAre(21));
    EXPECT_EQ(Sum(x, {1}, true)->shape(), Shape({2, 1}));
    EXPECT_EQ(Sum(x, {}, true)->shape(), Shape({1, 1}));
    EXPECT_EQ(Sum(x, {0})->dtype(), dtype);
    EXPECT_THAT(Values(Mean(x)), ElementsAre(3.5));
    EXPECT_THAT(Values(Mean(x, {0})), ElementsAre(2.5, 3.5, 4.5));
    EXPECT_THAT(Values(Mean(x, {1}, true)), ElementsAre(2, 5));
    EXPECT_EQ(Mean(x, {1}, true)->shape(), Shape({2, 1}));
  }
}

TEST(ReduceTest, Rank3AndScalarAndEmpty) {
  // x[i,j,k] = 12 i + 4 j + k
  std::vector<double> v(24);
  for (int i = 0; i < 24; ++i) v[i] = i;
  const Var x = Const({2, 3, 4}, v);
  VarOr s = Sum(x, {0, 2});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->shape(), Shape({3}));
  EXPECT_THAT(Values(s), ElementsAre(60, 92, 124));  // sum over i,k of 12i + 4j + k
  EXPECT_EQ(Sum(x, {2, 0}, true)->shape(), Shape({1, 3, 1}));
  EXPECT_THAT(Values(Mean(x, {1})), ElementsAre(4, 5, 6, 7, 16, 17, 18, 19));

  EXPECT_THAT(Values(Sum(Const({}, {2.5}))), ElementsAre(2.5));
  EXPECT_THAT(Values(Mean(Const({}, {2.5}))), ElementsAre(2.5));
  // The sum of nothing is 0.
  EXPECT_THAT(Values(Sum(Var::Constant(Tensor::Zeros({0, 3}, DType::kF64)))), ElementsAre(0));
  EXPECT_THAT(Values(Sum(Var::Constant(Tensor::Zeros({0, 3}, DType::kF64)), {0})),
              ElementsAre(0, 0, 0));
}

TEST(SoftmaxTest, OfOneTwoThree) {
  for (DType dtype : {DType::kF32, DType::kF64}) {
    SCOPED_TRACE(DTypeName(dtype));
    const Var x = Const({3}, {1, 2, 3}, dtype);
    EXPECT_THAT(Values(Softmax(x)), Pointwise(ValueNear(dtype), kSoftmax123));
    EXPECT_THAT(Values(LogSoftmax(x)), Pointwise(ValueNear(dtype), kLogSoftmax123));
  }
}

TEST(SoftmaxTest, AlongEachAxis) {
  // Rows [1,2,3] and [3,3,3]; along axis 0 the columns are [1,3], [2,3], [3,3].
  const Var x = Const({2, 3}, {1, 2, 3, 3, 3, 3});
  EXPECT_THAT(Values(Softmax(x)),
              Pointwise(DoubleNear(1e-15), {kSoftmax123[0], kSoftmax123[1], kSoftmax123[2], 1.0 / 3,
                                            1.0 / 3, 1.0 / 3}));
  const double a = 1 / (1 + std::exp(2.0)), b = 1 / (1 + std::exp(1.0));
  EXPECT_THAT(Values(Softmax(x, 0)), Pointwise(DoubleNear(1e-15), {a, b, 0.5, 1 - a, 1 - b, 0.5}));
  EXPECT_THAT(Values(LogSoftmax(x, -2)),
              Pointwise(DoubleNear(1e-14), {std::log(a), std::log(b), std::log(0.5),
                                            std::log(1 - a), std::log(1 - b), std::log(0.5)}));

  // Every line along the middle axis of a rank-3 tensor sums to 1.
  VarOr y = Softmax(Var::Constant(RandomF64({2, 3, 4}, 0, -5, 5)), 1);
  ASSERT_TRUE(y.ok()) << y.status();
  for (int64_t i = 0; i < 2; ++i) {
    for (int64_t k = 0; k < 4; ++k) {
      double total = 0;
      for (int64_t j = 0; j < 3; ++j) total += y->value().At((i * 3 + j) * 4 + k);
      EXPECT_NEAR(total, 1, 1e-14);
    }
  }
}

TEST(SoftmaxTest, StableForLargeLogits) {
  for (DType dtype : {DType::kF32, DType::kF64}) {
    SCOPED_TRACE(DTypeName(dtype));
    const Var x = Const({2, 2}, {1000, 1000, -1000, 0}, dtype);
    EXPECT_THAT(Values(Softmax(x)), ElementsAre(0.5, 0.5, 0, 1));
    // The last two are -1000 - log(1 + e^-1000) and -log(1 + e^-1000): -1000 and 0 to
    // double precision.
    EXPECT_THAT(Values(LogSoftmax(x)),
                Pointwise(ValueNear(dtype), {-std::log(2.0), -std::log(2.0), -1000.0, 0.0}));
  }
}

// ---- gradients ----

TEST(ReduceGradientTest, SumAndMean) {
  struct Case {
    Shape shape;
    std::vector<int64_t> axes;
    bool keepdims;
  };
  const Case kCases[] = {
      {{2, 3}, {}, false},        {{2, 3}, {0}, false},      {{2, 3}, {1}, true},
      {{2, 3, 4}, {0, 2}, false}, {{2, 3, 4}, {-1}, true},   {{}, {}, false},
      {{1, 4, 1}, {0, 2}, false}, {{2, 3, 4}, {1, 0}, true}, {{5}, {0}, true},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(absl::StrCat(c.shape.ToString(), " axes [", absl::StrJoin(c.axes, ","),
                              "] keepdims ", c.keepdims));
    ExpectGradientsMatch([&](const std::vector<Var>& x) { return Sum(x[0], c.axes, c.keepdims); },
                         {RandomF64(c.shape)});
    ExpectGradientsMatch([&](const std::vector<Var>& x) { return Mean(x[0], c.axes, c.keepdims); },
                         {RandomF64(c.shape)});
  }
}

TEST(ReduceGradientTest, SoftmaxAndLogSoftmax) {
  struct Case {
    Shape shape;
    int64_t axis;
  };
  const Case kCases[] = {{{5}, -1},   {{3, 4}, -1},    {{3, 4}, 0},    {{2, 3, 4}, 1},
                         {{1, 3}, 0}, {{2, 1, 4}, -1}, {{2, 3, 4}, -3}};
  for (const Case& c : kCases) {
    SCOPED_TRACE(absl::StrCat(c.shape.ToString(), " axis ", c.axis));
    const Tensor x = RandomF64(c.shape, 0, -2, 2);
    ExpectGradientsMatch([&](const std::vector<Var>& v) { return Softmax(v[0], c.axis); }, {x});
    ExpectGradientsMatch([&](const std::vector<Var>& v) { return LogSoftmax(v[0], c.axis); }, {x});
  }
}

// ---- errors ----

TEST(ReduceErrorTest, MeanOfNothing) {
  const Var empty = Var::Constant(Tensor::Zeros({0, 3}, DType::kF64));
  ExpectInvalidArgument(Mean(empty), {"Mean: the mean of no elements is undefined", "f64[0,3]"});
  ExpectInvalidArgument(Mean(empty, {0}), {"Mean", "no elements", "f64[0,3]"});
  ExpectInvalidArgument(Mean(Var::Constant(Tensor::Zeros({2, 0}, DType::kF64)), {1}, true),
                        {"Mean", "no elements", "f64[2,0]"});
}

TEST(ReduceErrorTest, BadAxes) {
  const Var x = Var::Constant(RandomF64({2, 3}));
  for (const char* op : {"Sum", "Mean"}) {
    SCOPED_TRACE(op);
    auto reduce = [&](const std::vector<int64_t>& axes) {
      return std::string(op) == "Sum" ? Sum(x, axes) : Mean(x, axes);
    };
    ExpectInvalidArgument(reduce({2}), {op, "axis 2 is out of range for rank 2"});
    ExpectInvalidArgument(reduce({-3}), {op, "axis -3 is out of range for rank 2"});
    ExpectInvalidArgument(reduce({0, -2}), {op, "axis 0 is listed twice", "f64[2,3]"});
  }
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    SCOPED_TRACE(op);
    auto normalise = [&](const VarOr& v, int64_t axis) {
      return std::string(op) == "Softmax" ? Softmax(v, axis) : LogSoftmax(v, axis);
    };
    ExpectInvalidArgument(normalise(x, 2), {op, "axis 2 is out of range for rank 2"});
    ExpectInvalidArgument(normalise(Var::Constant(RandomF64({})), 0),
                          {op, "needs at least one axis", "f64[]"});
  }
}

TEST(ReduceErrorTest, IntegerInputs) {
  const Var labels = Var::Constant(Tensor::Zeros({4}, DType::kI64));
  ExpectInvalidArgument(Sum(labels), {"Sum: input 0 must be f32 or f64, not i64", "i64[4]"});
  ExpectInvalidArgument(Mean(labels), {"Mean: input 0 must be f32 or f64, not i64", "i64[4]"});
  ExpectInvalidArgument(Softmax(labels),
                        {"Softmax: input 0 must be f32 or f64, not i64", "i64[4]"});
  ExpectInvalidArgument(LogSoftmax(labels),
                        {"LogSoftmax: input 0 must be f32 or f64, not i64", "i64[4]"});
}

TEST(ReduceErrorTest, PropagatesThroughAnExpression) {
  const VarOr bad = Sum(Var::Constant(RandomF64({2, 3})), {5});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(Softmax(Exp(bad) + 1.0).status(), bad.status());
  EXPECT_EQ(Mean(LogSoftmax(bad)).status(), bad.status());
}

}  // namespace
}  // namespace gatefuse
