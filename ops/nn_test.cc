// Tests of the neural-network ops (nn.cc): Embedding and its adjoint, OneHot, the
// three losses and Dropout; values, finite-difference gradients and errors.
#include <cmath>
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

using ::gatefuse::testing::CheckGradients;
using ::gatefuse::testing::Const;
using ::gatefuse::testing::ExpectGradientsMatch;
using ::gatefuse::testing::ExpectInvalidArgument;
using ::gatefuse::testing::Values;
using ::gatefuse::testing::ValueNear;
using ::gatefuse::testing::RandomF64;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pointwise;

Tensor TensorOf(const Shape& shape, std::vector<double> values, DType dtype = DType::kF64) {
  return Tensor::FromValues(shape, values, dtype).value();
}
Tensor Indices(const Shape& shape, std::vector<double> values) {
  return TensorOf(shape, std::move(values), DType::kI64);
}

// -log softmax([1, 2, 3])[2]
constexpr double kCrossEntropy123 = 0.4076059644443803;
// e^-50 to 17 digits; log(1 + e^-50) is the same to 1e-22 relative.
constexpr double kExpMinus50 = 1.9287498479639178e-22;

// ---- forward values ----

TEST(EmbeddingTest, GathersRows) {
  for (DType dtype : {DType::kF32, DType::kF64}) {
    SCOPED_TRACE(DTypeName(dtype));
    const Var table = Const({3, 2}, {0, 1, 10, 11, 20, 21}, dtype);
    VarOr y = Embedding(table, Var::Constant(Indices({3}, {2, 0, 2})));
    ASSERT_TRUE(y.ok()) << y.status();
    EXPECT_EQ(y->shape(), Shape({3, 2}));
    EXPECT_EQ(y->dtype(), dtype);
    EXPECT_THAT(Values(y), ElementsAre(20, 21, 0, 1, 20, 21));
    VarOr grid = Embedding(table, Var::Constant(Indices({2, 2}, {1, 1, 0, 2})));
    ASSERT_TRUE(grid.ok()) << grid.status();
    EXPECT_EQ(grid->shape(), Shape({2, 2, 2}));
    EXPECT_THAT(Values(grid), ElementsAre(10, 11, 10, 11, 0, 1, 20, 21));
    VarOr one = Embedding(table, Var::Constant(Indices({}, {1})));
    ASSERT_TRUE(one.ok()) << one.status();
    EXPECT_EQ(one->shape(), Shape({2}));
    EXPECT_THAT(Values(one), ElementsAre(10, 11));
  }
}

TEST(EmbeddingTest, EmbeddingGradScatterAdds) {
  const Var g = Const({3, 2}, {1, 2, 3, 4, 5, 6});
  VarOr y = EmbeddingGrad(g, Var::Constant(Indices({3}, {2, 0, 2})), 4);
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->shape(), Shape({4, 2}));
  EXPECT_THAT(Values(y), ElementsAre(3, 4, 0, 0, 6, 8, 0, 0));
  VarOr none = EmbeddingGrad(Var::Constant(Tensor::Zeros({0, 2}, DType::kF64)),
                             Var::Constant(Indices({0}, {})), 2);
  EXPECT_THAT(Values(none), ElementsAre(0, 0, 0, 0));
}

TEST(OneHotTest, OnesAtTheLabels) {
  VarOr y = OneHot(Var::Constant(Indices({3}, {2, 0, 1})), 3, DType::kF32);
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->shape(), Shape({3, 3}));
  EXPECT_EQ(y->dtype(), DType::kF32);
  EXPECT_THAT(Values(y), ElementsAre(0, 0, 1, 1, 0, 0, 0, 1, 0));
  VarOr grid = OneHot(Var::Constant(Indices({2, 1}, {1, 0})), 2, DType::kF64);
  ASSERT_TRUE(grid.ok()) << grid.status();
  EXPECT_EQ(grid->shape(), Shape({2, 1, 2}));
  EXPECT_THAT(Values(grid), ElementsAre(0, 1, 1, 0));
}

TEST(LossTest, SparseSoftmaxCrossEntropyKnownCases) {
  for (DType dtype : {DType::kF32, DType::kF64}) {
    SCOPED_TRACE(DTypeName(dtype));
    const Var one_row = Const({1, 3}, {1, 2, 3}, dtype);
    EXPECT_THAT(Values(SparseSoftmaxCrossEntropy(one_row, Var::Constant(Indices({1}, {2})))),
                Pointwise(ValueNear(dtype), {kCrossEntropy123}));
    // Mean over rows: uniform logits cost log 3.
    const Var two_rows = Const({2, 3}, {1, 2, 3, 0, 0, 0}, dtype);
    VarOr loss = SparseSoftmaxCrossEntropy(two_rows, Var::Constant(Indices({2}, {2, 1})));
    ASSERT_TRUE(loss.ok()) << loss.status();
    EXPECT_EQ(loss->shape(), Shape({}));
    EXPECT_EQ(loss->dtype(), dtype);
    EXPECT_THAT(Values(loss),
                Pointwise(ValueNear(dtype), {(kCrossEntropy123 + std::log(3.0)) / 2}));
    // Large logits neither overflow nor lose the answer.
    EXPECT_THAT(Values(SparseSoftmaxCrossEntropy(Const({2, 2}, {1000, 0, -1000, 1000}, dtype),
                                                 Var::Constant(Indices({2}, {1, 1})))),
                Pointwise(ValueNear(dtype), {500.0}));
  }
}

TEST(LossTest, BinaryCrossEntropyWithLogitsIsStableAtFifty) {
  for (DType dtype : {DType::kF32, DType::kF64}) {
    SCOPED_TRACE(DTypeName(dtype));
    // x = 0 costs log 2 whatever the target.
    EXPECT_THAT(
        Values(BinaryCrossEntropyWithLogits(Const({2}, {0, 0}, dtype), Const({2}, {0, 1}, dtype))),
        Pointwise(ValueNear(dtype), {std::log(2.0)}));
    // Confident and right: log(1 + e^-50), tiny but not 0 or NaN; confident and wrong: 50.
    EXPECT_THAT(Values(BinaryCrossEntropyWithLogits(Const({2}, {50, -50}, dtype),
                                                    Const({2}, {1, 0}, dtype))),
                Pointwise(ValueNear(dtype), {kExpMinus50}));
    EXPECT_THAT(Values(BinaryCrossEntropyWithLogits(Const({2}, {50, -50}, dtype),
                                                    Const({2}, {0, 1}, dtype))),
                ElementsAre(50));
    const Var x = Var::Leaf(TensorOf({4}, {50, -50, 1000, -1000}, dtype), true);
    VarOr loss = BinaryCrossEntropyWithLogits(x, Const({4}, {1, 1, 0, 0.5}, dtype));
    ASSERT_TRUE(loss.ok()) << loss.status();
    // (log(1 + e^-50) + 50 + log(1 + e^-50) + 1000 + 500) / 4: the e^-50 terms are far
    // below the last bit of 387.5.
    EXPECT_THAT(Values(loss), Pointwise(ValueNear(dtype), {(0 + 50 + 1000 + 500) / 4.0}));
    // So is the gradient: (sigmoid(x) - t) / n. The first is -sigmoid(-50) / 4 = -4.8e-23,
    // 0 to double precision next to the others (and what sigmoid(50) - 1 rounds to).
    ASSERT_TRUE(Backward(*loss).ok());
    EXPECT_THAT(x.grad().ToVector(), Pointwise(ValueNear(dtype), {0.0, -0.25, 0.25, -0.125}));
    for (double g : x.grad().ToVector()) EXPECT_TRUE(std::isfinite(g));
  }
}

TEST(LossTest, MeanSquaredError) {
  for (DType dtype : {DType::kF32, DType::kF64}) {
    SCOPED_TRACE(DTypeName(dtype));
    VarOr loss = MeanSquaredError(Const({3}, {1, 2, 3}, dtype), Const({3}, {1, 0, 0}, dtype));
    ASSERT_TRUE(loss.ok()) << loss.status();
    EXPECT_EQ(loss->shape(), Shape({}));
    EXPECT_THAT(Values(loss), Pointwise(ValueNear(dtype), {13.0 / 3}));
    EXPECT_THAT(Values(MeanSquaredError(Const({2, 2}, {1, 2, 3, 4}, dtype),
                                        Const({2, 2}, {1, 2, 3, 4}, dtype))),
                ElementsAre(0));
  }
}

TEST(DropoutTest, SameSeedSameMaskOtherSeedOtherMask) {
  const Var x = Var::Constant(Tensor::Full({1000}, DType::kF64, 1));
  const std::vector<double> a = Values(Dropout(x, 0.5, 7));
  EXPECT_EQ(Values(Dropout(x, 0.5, 7)), a);
  const std::vector<double> b = Values(Dropout(x, 0.5, 8));
  ASSERT_EQ(a.size(), b.size());
  int differ = 0;
  for (size_t i = 0; i < a.size(); ++i) differ += a[i] != b[i];
  // Independent masks at rate 0.5 differ in about half the places.
  EXPECT_GT(differ, 350);
  // The mask depends only on (seed, index): a value of another dtype and shape with
  // as many elements gets the same mask.
  const Var x32 = Var::Constant(Tensor::Full({10, 100}, DType::kF32, 1));
  EXPECT_EQ(Values(Dropout(x32, 0.5, 7)), a);
}

TEST(DropoutTest, ZeroesAboutRateAndScalesTheRest) {
  for (double rate : {0.1, 0.3, 0.5, 0.9}) {
    SCOPED_TRACE(rate);
    const Tensor x = RandomF64({100, 100}, 1, 0.5, 2);  // no zeros of its own
    VarOr y = Dropout(Var::Constant(x), rate, 12345);
    ASSERT_TRUE(y.ok()) << y.status();
    ASSERT_EQ(y->shape(), x.shape());
    int zeros = 0;
    for (int64_t i = 0; i < x.num_elements(); ++i) {
      const double v = y->value().At(i);
      if (v == 0) {
        ++zeros;
      } else {
        EXPECT_DOUBLE_EQ(v, x.At(i) / (1 - rate)) << i;
      }
    }
    // Binomial(10000, rate): 5 standard deviations is at most 250.
    EXPECT_NEAR(zeros, rate * 10000, 250);
  }
}

TEST(DropoutTest, GradientUsesTheSameMask) {
  const Var x = Var::Leaf(RandomF64({20, 30}, 2, 0.5, 2), true);
  VarOr y = Dropout(x, 0.4, 99);
  ASSERT_TRUE(y.ok()) << y.status();
  VarOr loss = Sum(y);
  ASSERT_TRUE(loss.ok()) << loss.status();
  ASSERT_TRUE(Backward(*loss).ok());
  int kept = 0;
  for (int64_t i = 0; i < x.value().num_elements(); ++i) {
    const bool dropped = y->value().At(i) == 0;
    kept += !dropped;
    EXPECT_DOUBLE_EQ(x.grad().At(i), dropped ? 0 : 1 / 0.6) << i;
  }
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, 600);
}

TEST(DropoutTest, RateZeroAndInference) {
  const Var x = Var::Constant(RandomF64({3, 4}));
  EXPECT_EQ(Values(Dropout(x, 0, 3)), x.value().ToVector());
  VarOr off = Dropout(x, 0.5, 3, /*training=*/false);
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off->id(), x.id());
}

// ---- gradients ----

TEST(NnGradientTest, Embedding) {
  struct Case {
    Shape table;
    Tensor indices;
  };
  const Case kCases[] = {
      {{5, 3}, Indices({4}, {0, 4, 2, 4})}, {{5, 3}, Indices({2, 3}, {1, 0, 3, 3, 2, 4})},
      {{5, 3}, Indices({}, {3})},           {{5, 3}, Indices({1, 1}, {0})},
      {{1, 2}, Indices({3}, {0, 0, 0})},    {{5, 3}, Indices({0}, {})},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(absl::StrCat("table ", c.table.ToString(), " indices ", c.indices.DebugString()));
    ExpectGradientsMatch([](const std::vector<Var>& x) { return Embedding(x[0], x[1]); },
                         {RandomF64(c.table), c.indices});
  }
}

TEST(NnGradientTest, EmbeddingGrad) {
  struct Case {
    Tensor indices;
    int64_t dim, rows;
  };
  const Case kCases[] = {
      {Indices({4}, {0, 4, 2, 4}), 3, 5},
      {Indices({2, 3}, {1, 0, 5, 5, 2, 1}), 2, 6},
      {Indices({}, {2}), 4, 3},
      {Indices({3}, {0, 0, 0}), 1, 1},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(absl::StrCat("indices ", c.indices.DebugString(), " D ", c.dim, " rows ", c.rows));
    std::vector<int64_t> g = c.indices.shape().dims();
    g.push_back(c.dim);
    ExpectGradientsMatch(
        [&](const std::vector<Var>& x) { return EmbeddingGrad(x[0], x[1], c.rows); },
        {RandomF64(Shape(g)), c.indices});
  }
}

TEST(NnGradientTest, SparseSoftmaxCrossEntropy) {
  struct Case {
    Shape logits;
    Tensor labels;
  };
  const Case kCases[] = {
      {{4, 3}, Indices({4}, {0, 2, 1, 2})},
      {{1, 5}, Indices({1}, {4})},
      {{3, 1}, Indices({3}, {0, 0, 0})},
      {{6, 4}, Indices({6}, {3, 0, 1, 2, 3, 3})},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(absl::StrCat("logits ", c.logits.ToString(), " labels ", c.labels.DebugString()));
    ExpectGradientsMatch(
        [](const std::vector<Var>& x) { return SparseSoftmaxCrossEntropy(x[0], x[1]); },
        {RandomF64(c.logits, 0, -2, 2), c.labels});
  }
}

TEST(NnGradientTest, BinaryCrossEntropyWithLogitsAndMeanSquaredError) {
  const Shape kShapes[] = {{5}, {2, 3}, {}, {2, 1, 3}, {1, 4, 1}};
  for (const Shape& shape : kShapes) {
    SCOPED_TRACE(shape.ToString());
    const Tensor logits = RandomF64(shape, 1, -3, 3);
    const Tensor targets = RandomF64(shape, 2, 0, 1);
    ExpectGradientsMatch(
        [](const std::vector<Var>& x) { return BinaryCrossEntropyWithLogits(x[0], x[1]); },
        {logits, targets});
    ExpectGradientsMatch([](const std::vector<Var>& x) { return MeanSquaredError(x[0], x[1]); },
                         {RandomF64(shape, 3), RandomF64(shape, 4)});
  }
}

TEST(NnGradientTest, Dropout) {
  const Shape kShapes[] = {{10}, {3, 4}, {2, 3, 4}, {}, {1, 5, 1}};
  for (double rate : {0.0, 0.3, 0.5}) {
    for (const Shape& shape : kShapes) {
      SCOPED_TRACE(absl::StrCat(shape.ToString(), " rate ", rate));
      ExpectGradientsMatch([&](const std::vector<Var>& x) { return Dropout(x[0], rate, 5); },
                           {RandomF64(shape)});
    }
  }
}

// ---- errors ----

TEST(NnErrorTest, EmbeddingIndexOutOfRange) {
  const Var table = Var::Constant(RandomF64({5, 3}));
  ExpectInvalidArgument(Embedding(table, Var::Constant(Indices({3}, {0, 5, 1}))),
                        {"Embedding", "index 5 at position 1 is out of range for 5 table rows"});
  ExpectInvalidArgument(Embedding(table, Var::Constant(Indices({2}, {-1, 0}))),
                        {"Embedding", "index -1 at position 0"});
}

TEST(NnErrorTest, EmbeddingShapesAndDTypes) {
  const Var table = Var::Constant(RandomF64({5, 3}));
  ExpectInvalidArgument(Embedding(table, Var::Constant(RandomF64({2}))),
                        {"Embedding", "input 1 must hold i64 indices", "f64[5,3], f64[2]"});
  ExpectInvalidArgument(Embedding(Var::Constant(RandomF64({5})), Var::Constant(Indices({1}, {0}))),
                        {"Embedding", "input 0 must have rank 2", "f64[5], i64[1]"});
  ExpectInvalidArgument(
      Embedding(Var::Constant(Indices({2, 2}, {0, 0, 0, 0})), Var::Constant(Indices({1}, {0}))),
      {"Embedding", "not i64", "i64[2,2], i64[1]"});
}

TEST(NnErrorTest, EmbeddingGrad) {
  const Var g = Var::Constant(RandomF64({3, 2}));
  ExpectInvalidArgument(EmbeddingGrad(g, Var::Constant(Indices({4}, {0, 1, 2, 3})), 5),
                        {"EmbeddingGrad", "g must be shaped [indices..., D]", "f64[3,2], i64[4]"});
  ExpectInvalidArgument(EmbeddingGrad(g, Var::Constant(Indices({3}, {0, 1, 4})), 4),
                        {"EmbeddingGrad", "index 4 at position 2 is out of range for 4"});
  ExpectInvalidArgument(EmbeddingGrad(g, Var::Constant(RandomF64({3})), 4),
                        {"EmbeddingGrad", "i64 indices", "f64[3,2], f64[3]"});
  ExpectInvalidArgument(EmbeddingGrad(g, Var::Constant(Indices({3}, {0, 0, 0})), -1),
                        {"EmbeddingGrad", "num_rows -1", "f64[3,2], i64[3]"});
  ExpectInvalidArgument(EmbeddingGrad(Var::Constant(Tensor::Zeros({0, 2}, DType::kF64)),
                                      Var::Constant(Indices({0}, {})), -3),
                        {"EmbeddingGrad", "num_rows -3"});
}

TEST(NnErrorTest, OneHot) {
  const Var labels = Var::Constant(Indices({2}, {1, 3}));
  ExpectInvalidArgument(OneHot(labels, 3, DType::kF32),
                        {"OneHot", "index 3 at position 1 is out of range for 3 classes"});
  ExpectInvalidArgument(OneHot(Var::Constant(Indices({1}, {-2})), 3, DType::kF32),
                        {"OneHot", "index -2"});
  ExpectInvalidArgument(OneHot(labels, 0, DType::kF32), {"OneHot", "depth > 0", "i64[2]"});
  ExpectInvalidArgument(OneHot(labels, 4, DType::kI64), {"OneHot", "float dtype", "i64[2]"});
  ExpectInvalidArgument(OneHot(Var::Constant(RandomF64({2})), 4, DType::kF32),
                        {"OneHot", "i64 indices", "f64[2]"});
}

TEST(NnErrorTest, SparseSoftmaxCrossEntropy) {
  const Var logits = Var::Constant(RandomF64({2, 3}));
  const std::string op = "SparseSoftmaxCrossEntropy";
  ExpectInvalidArgument(SparseSoftmaxCrossEntropy(logits, Var::Constant(Indices({2}, {0, 3}))),
                        {op, "index 3 at position 1 is out of range for 3 classes"});
  ExpectInvalidArgument(SparseSoftmaxCrossEntropy(logits, Var::Constant(Indices({2}, {-1, 0}))),
                        {op, "index -1 at position 0"});
  ExpectInvalidArgument(SparseSoftmaxCrossEntropy(logits, Var::Constant(Indices({3}, {0, 0, 0}))),
                        {op, "one label per row", "f64[2,3], i64[3]"});
  ExpectInvalidArgument(SparseSoftmaxCrossEntropy(logits, Var::Constant(Indices({2, 1}, {0, 0}))),
                        {op, "input 1 must have rank 1", "f64[2,3], i64[2,1]"});
  ExpectInvalidArgument(SparseSoftmaxCrossEntropy(logits, Var::Constant(RandomF64({2}))),
                        {op, "i64 indices", "f64[2,3], f64[2]"});
  ExpectInvalidArgument(
      SparseSoftmaxCrossEntropy(Var::Constant(RandomF64({3})), Var::Constant(Indices({1}, {0}))),
      {op, "input 0 must have rank 2", "f64[3], i64[1]"});
  ExpectInvalidArgument(
      SparseSoftmaxCrossEntropy(Var::Constant(RandomF64({0, 3})), Var::Constant(Indices({0}, {}))),
      {op, "must not be empty", "f64[0,3], i64[0]"});
  ExpectInvalidArgument(SparseSoftmaxCrossEntropy(Var::Constant(RandomF64({2, 0})),
                                                  Var::Constant(Indices({2}, {0, 0}))),
                        {op, "must not be empty", "f64[2,0], i64[2]"});
}

TEST(NnErrorTest, PairLosses) {
  for (const char* op : {"BinaryCrossEntropyWithLogits", "MeanSquaredError"}) {
    SCOPED_TRACE(op);
    auto loss = [&](const VarOr& a, const VarOr& b) {
      return std::string(op) == "MeanSquaredError" ? MeanSquaredError(a, b)
                                                   : BinaryCrossEntropyWithLogits(a, b);
    };
    ExpectInvalidArgument(loss(Var::Constant(RandomF64({2, 3})), Var::Constant(RandomF64({3}))),
                          {op, "inputs must have the same shape", "f64[2,3], f64[3]"});
    ExpectInvalidArgument(loss(Var::Constant(RandomF64({0})), Var::Constant(RandomF64({0}))),
                          {op, "must not be empty", "f64[0], f64[0]"});
    ExpectInvalidArgument(
        loss(Var::Constant(Tensor::Zeros({2}, DType::kF32)), Var::Constant(RandomF64({2}))),
        {op, "one dtype", "f32[2], f64[2]"});
    ExpectInvalidArgument(loss(Var::Constant(Indices({2}, {0, 1})), Var::Constant(RandomF64({2}))),
                          {op, "not i64", "i64[2], f64[2]"});
  }
}

TEST(NnErrorTest, DropoutRate) {
  const Var x = Var::Constant(RandomF64({3}));
  ExpectInvalidArgument(Dropout(x, 1.0, 1), {"Dropout", "rate 1 is not in [0, 1)", "f64[3]"});
  ExpectInvalidArgument(Dropout(x, -0.1, 1), {"Dropout", "rate -0.1 is not in [0, 1)", "f64[3]"});
  ExpectInvalidArgument(Dropout(x, std::nan(""), 1), {"Dropout", "is not in [0, 1)", "f64[3]"});
  ExpectInvalidArgument(Dropout(Var::Constant(Indices({2}, {1, 2})), 0.5, 1),
                        {"Dropout", "not i64", "i64[2]"});
}

TEST(NnErrorTest, PropagatesThroughAnExpression) {
  const Var logits = Var::Constant(RandomF64({2, 3}));
  const VarOr bad = MatMul(logits, Var::Constant(RandomF64({2, 3})));
  ASSERT_FALSE(bad.ok());
  const Var labels = Var::Constant(Indices({2}, {0, 1}));
  EXPECT_EQ(SparseSoftmaxCrossEntropy(Dropout(bad, 0.5, 1), labels).status(), bad.status());
  EXPECT_EQ(Embedding(bad, labels).status(), bad.status());
  EXPECT_EQ(MeanSquaredError(logits, Relu(bad)).status(), bad.status());
}

}  // namespace
}  // namespace gatefuse
