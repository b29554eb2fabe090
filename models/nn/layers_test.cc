#include "models/nn/layers.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/nn/optimizer.h"
#include "ops/ops.h"

namespace gatefuse {
namespace {

using ::testing::HasSubstr;

Tensor Ids(const Shape& shape, std::vector<double> ids) {
  return *Tensor::FromValues(shape, ids, DType::kI64);
}

TEST(EmbeddingLayerTest, ShapesAndRows) {
  EmbeddingLayer e = *EmbeddingLayer::Create(5, 3, 7);
  EXPECT_EQ(e.table().shape(), Shape({5, 3}));
  Var y = *e.Forward(Var::Constant(Ids({2, 2}, {0, 4, 4, 1})));
  EXPECT_EQ(y.shape(), Shape({2, 2, 3}));
  for (int d = 0; d < 3; ++d) {
    EXPECT_EQ(y.value().At(3 + d), e.table().value().At(4 * 3 + d));
    EXPECT_EQ(y.value().At(6 + d), y.value().At(3 + d));
  }
}

TEST(EmbeddingLayerTest, DeterministicFromSeed) {
  EXPECT_EQ(EmbeddingLayer::Create(6, 4, 3)->table().value().ToVector(),
            EmbeddingLayer::Create(6, 4, 3)->table().value().ToVector());
  EXPECT_NE(EmbeddingLayer::Create(6, 4, 3)->table().value().ToVector(),
            EmbeddingLayer::Create(6, 4, 4)->table().value().ToVector());
}

TEST(EmbeddingLayerTest, Errors) {
  EXPECT_THAT(EmbeddingLayer::Create(0, 3, 1).status().message(), HasSubstr("vocabulary size 0"));
  EmbeddingLayer e = *EmbeddingLayer::Create(5, 3, 7);
  EXPECT_THAT(e.Forward(Var::Constant(Ids({1}, {5}))).status().message(),
              HasSubstr("out of range"));
}

TEST(DenseLayerTest, ComputesAffineMap) {
  DenseLayer d = *DenseLayer::Create(2, 3, 11, DType::kF64);
  EXPECT_EQ(d.weight().shape(), Shape({2, 3}));
  EXPECT_EQ(d.bias().shape(), Shape({3}));
  Tensor x = *Tensor::FromValues({1, 2}, {1.5, -2}, DType::kF64);
  Var y = *d.Forward(Var::Constant(x));
  const Tensor& w = d.weight().value();
  for (int j = 0; j < 3; ++j) {
    EXPECT_DOUBLE_EQ(y.value().At(j), 1.5 * w.At(j) - 2 * w.At(3 + j));
  }
}

TEST(DenseLayerTest, HigherRankInputKeepsLeadingDims) {
  DenseLayer d = *DenseLayer::Create(4, 2, 1);
  Var x = Var::Constant(Tensor::Uniform({3, 5, 4}, DType::kF32, 2, -1, 1));
  Var y = *d.Forward(x);
  EXPECT_EQ(y.shape(), Shape({3, 5, 2}));
  Var flat = *d.Forward(*Reshape(x, Shape({15, 4})));
  EXPECT_EQ(y.value().ToVector(), flat.value().ToVector());
}

TEST(DenseLayerTest, GradientsReachBothParameters) {
  DenseLayer d = *DenseLayer::Create(3, 2, 5, DType::kF64);
  Var x = Var::Constant(Tensor::Uniform({4, 3}, DType::kF64, 9, -1, 1));
  ASSERT_TRUE(Backward(*Sum(d.Forward(x))).ok());
  ASSERT_TRUE(d.weight().grad().defined());
  // d sum / d b_j = number of rows.
  EXPECT_EQ(d.bias().grad().ToVector(), std::vector<double>({4, 4}));
}

TEST(DenseLayerTest, Errors) {
  EXPECT_THAT(DenseLayer::Create(3, 0, 1).status().message(), HasSubstr("output size 0"));
  DenseLayer d = *DenseLayer::Create(3, 2, 1);
  Var x = Var::Constant(Tensor::Zeros({2, 4}, DType::kF32));
  EXPECT_THAT(d.Forward(x).status().message(), HasSubstr("[2,4]"));
}

TEST(DropoutLayerTest, OffAtEvalSeededInTraining) {
  DropoutLayer drop = *DropoutLayer::Create(0.5);
  Var x = Var::Constant(Tensor::Full({100}, DType::kF32, 1));
  EXPECT_EQ(drop.Forward(x, 3, false)->value().ToVector(), x.value().ToVector());
  const std::vector<double> a = drop.Forward(x, 3, true)->value().ToVector();
  EXPECT_EQ(a, drop.Forward(x, 3, true)->value().ToVector());
  EXPECT_NE(a, drop.Forward(x, 4, true)->value().ToVector());
  int zeros = 0;
  for (double v : a) zeros += v == 0;
  EXPECT_GT(zeros, 20);
  EXPECT_LT(zeros, 80);
}

TEST(DropoutLayerTest, RejectsBadRate) {
  EXPECT_THAT(DropoutLayer::Create(1.0).status().message(), HasSubstr("outside [0, 1)"));
  EXPECT_FALSE(DropoutLayer::Create(-0.1).ok());
}

TEST(LrScheduleTest, Kinds) {
  LrSchedule constant{.kind = "constant", .lr = 0.1};
  EXPECT_DOUBLE_EQ(constant.At(12345), 0.1);
  LrSchedule step{.kind = "step", .lr = 1, .step_size = 10, .gamma = 0.5};
  EXPECT_DOUBLE_EQ(step.At(9), 1);
  EXPECT_DOUBLE_EQ(step.At(10), 0.5);
  EXPECT_DOUBLE_EQ(step.At(25), 0.25);
  LrSchedule warm{
      .kind = "warmup", .lr = 1, .warmup_steps = 4, .total_steps = 14, .final_fraction = 0};
  EXPECT_DOUBLE_EQ(warm.At(0), 0.25);
  EXPECT_DOUBLE_EQ(warm.At(3), 1);
  EXPECT_DOUBLE_EQ(warm.At(9), 0.5);
  EXPECT_DOUBLE_EQ(warm.At(14), 0);
  EXPECT_DOUBLE_EQ(warm.At(100), 0);
}

TEST(LrScheduleTest, Validate) {
  EXPECT_TRUE(LrSchedule{}.Validate().ok());
  EXPECT_THAT(LrSchedule{.kind = "cosine"}.Validate().message(), HasSubstr("unknown kind"));
  EXPECT_THAT(LrSchedule{.lr = 0}.Validate().message(), HasSubstr("lr 0"));
  EXPECT_THAT(
      (LrSchedule{.kind = "warmup", .warmup_steps = 10, .total_steps = 10}.Validate().message()),
      HasSubstr("warmup_steps"));
}

TEST(AdamStateTest, SetStateReproducesSteps) {
  auto make = [] { return Var::Leaf(Tensor::Full({2}, DType::kF32, 1), true, "p"); };
  auto step = [](Adam& adam, const Var& p) {
    adam.ZeroGrad();
    ASSERT_TRUE(Backward(*Sum(p * p)).ok());
    ASSERT_TRUE(adam.Step().ok());
  };
  Var a = make();
  Adam first({a}, {.lr = 0.1});
  step(first, a);
  Var b = Var::Leaf(a.value().Clone(), true, "p");
  Adam second({b}, {.lr = 0.1});
  ASSERT_TRUE(second.SetState(first.steps(), first.first_moments(), first.second_moments()).ok());
  step(first, a);
  step(second, b);
  EXPECT_EQ(a.value().ToVector(), b.value().ToVector());
  EXPECT_THAT(second.SetState(1, {}, {}).message(), HasSubstr("0 tensors for 1"));
}

TEST(SgdStateTest, SetVelocityReproducesSteps) {
  Var a = Var::Leaf(Tensor::Full({3}, DType::kF64, 2), true, "p");
  Sgd first({a}, 0.1, 0.9);
  auto step = [](Sgd& sgd, const Var& p) {
    sgd.ZeroGrad();
    ASSERT_TRUE(Backward(*Sum(p * p)).ok());
    ASSERT_TRUE(sgd.Step().ok());
  };
  step(first, a);
  Var b = Var::Leaf(a.value().Clone(), true, "p");
  Sgd second({b}, 0.1, 0.9);
  ASSERT_TRUE(second.SetVelocity(first.velocity()).ok());
  step(first, a);
  step(second, b);
  EXPECT_EQ(a.value().ToVector(), b.value().ToVector());
  EXPECT_THAT(second.SetVelocity({Tensor::Zeros({2}, DType::kF64)}).message(),
              HasSubstr("does not match parameter 'p'"));
}

}  // namespace
}  // namespace gatefuse
