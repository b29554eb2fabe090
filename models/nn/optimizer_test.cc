#include "models/nn/optimizer.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ops/ops.h"

namespace gatefuse {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;

Var Param(std::vector<double> v) {
  return Var::Leaf(*Tensor::FromValues({static_cast<int64_t>(v.size())}, v, DType::kF64), true);
}

// loss = sum(c * p) has gradient c.
absl::Status LinearLoss(const Var& p, std::vector<double> c) {
  Var cv = Var::Constant(*Tensor::FromValues({static_cast<int64_t>(c.size())}, c, DType::kF64));
  absl::StatusOr<Var> loss = Sum(p * cv);
  if (!loss.ok()) return loss.status();
  return Backward(*loss);
}

TEST(SgdTest, PlainStep) {
  Var p = Param({1, 2});
  Sgd sgd({p}, 0.1);
  ASSERT_TRUE(LinearLoss(p, {3, -4}).ok());
  ASSERT_TRUE(sgd.Step().ok());
  EXPECT_THAT(p.value().ToVector(), ElementsAre(DoubleNear(0.7, 1e-12), DoubleNear(2.4, 1e-12)));
}

TEST(SgdTest, MomentumAccumulatesVelocity) {
  Var p = Param({0});
  Sgd sgd({p}, 1.0, 0.5);
  for (int i = 0; i < 2; ++i) {
    sgd.ZeroGrad();
    ASSERT_TRUE(LinearLoss(p, {1}).ok());
    ASSERT_TRUE(sgd.Step().ok());
  }
  // v1 = 1, p = -1; v2 = 0.5 + 1 = 1.5, p = -2.5
  EXPECT_THAT(p.value().ToVector(), ElementsAre(DoubleNear(-2.5, 1e-12)));
}

TEST(AdamTest, FirstStepMovesByLrAgainstTheGradientSign) {
  Var p = Param({1, 1});
  Adam adam({p}, {.lr = 0.01});
  ASSERT_TRUE(LinearLoss(p, {5, -0.2}).ok());
  ASSERT_TRUE(adam.Step().ok());
  EXPECT_THAT(p.value().ToVector(), ElementsAre(DoubleNear(0.99, 1e-6), DoubleNear(1.01, 1e-6)));
}

TEST(AdamTest, MinimisesAQuadratic) {
  Var p = Param({3, -2});
  Adam adam({p}, {.lr = 0.1});
  for (int i = 0; i < 300; ++i) {
    adam.ZeroGrad();
    absl::StatusOr<Var> loss = Sum(p * p);
    ASSERT_TRUE(loss.ok());
    ASSERT_TRUE(Backward(*loss).ok());
    ASSERT_TRUE(adam.Step().ok());
  }
  for (double v : p.value().ToVector()) EXPECT_LT(std::abs(v), 1e-2);
}

TEST(OptimizerTest, ParametersWithoutGradientStayPut) {
  Var p = Param({1}), q = Param({2});
  Adam adam({p, q}, {.lr = 0.1});
  ASSERT_TRUE(LinearLoss(p, {1}).ok());
  ASSERT_TRUE(adam.Step().ok());
  EXPECT_THAT(q.value().ToVector(), ElementsAre(2));
}

TEST(ClipGradNormTest, ScalesToTheMaximumNorm) {
  Var p = Param({0, 0});
  ASSERT_TRUE(LinearLoss(p, {3, 4}).ok());
  absl::StatusOr<double> norm = ClipGradNorm({p}, 1.0);
  ASSERT_TRUE(norm.ok());
  EXPECT_DOUBLE_EQ(*norm, 5.0);
  EXPECT_THAT(p.grad().ToVector(), ElementsAre(DoubleNear(0.6, 1e-12), DoubleNear(0.8, 1e-12)));
  // Below the maximum: unchanged.
  EXPECT_DOUBLE_EQ(*ClipGradNorm({p}, 10.0), 1.0);
  EXPECT_THAT(p.grad().ToVector(), ElementsAre(DoubleNear(0.6, 1e-12), DoubleNear(0.8, 1e-12)));
}

// In a + b both leaves receive the same upstream gradient; clipping one must not
// scale the other a second time.
TEST(ClipGradNormTest, LeavesOwnTheirGradients) {
  Var a = Param({3}), b = Param({4});
  absl::StatusOr<Var> loss = Sum(a + b);
  ASSERT_TRUE(loss.ok());
  ASSERT_TRUE(Backward(*loss).ok());
  ASSERT_DOUBLE_EQ(*ClipGradNorm({a, b}, 1.0), std::sqrt(2.0));
  EXPECT_THAT(a.grad().ToVector(), ElementsAre(DoubleNear(1 / std::sqrt(2.0), 1e-12)));
  EXPECT_THAT(b.grad().ToVector(), ElementsAre(DoubleNear(1 / std::sqrt(2.0), 1e-12)));
}

}  // namespace
}  // namespace gatefuse
