#include "ops/testing/gradient_check.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ops/ops.h"

namespace gatefuse::testing {
namespace {

TEST(GradientCheckTest, AcceptsACorrectGradient) {
  absl::Status s = CheckGradients([](const std::vector<Var>& x) { return x[0] * x[0]; },
                                  {RandomF64({3, 2})});
  EXPECT_TRUE(s.ok()) << s;
}

// x * stop_gradient(x) has tape gradient x but true derivative 2x: the check must fail.
TEST(GradientCheckTest, RejectsAWrongGradient) {
  absl::Status s = CheckGradients(
      [](const std::vector<Var>& x) { return x[0] * Var::Constant(x[0].value()); },
      {RandomF64({3, 2})});
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(s.message(), ::testing::HasSubstr("finite differences"));
}

TEST(GradientCheckTest, RejectsF32Inputs) {
  EXPECT_FALSE(CheckGradients([](const std::vector<Var>& x) { return x[0]; },
                              {Tensor::Zeros({2}, DType::kF32)})
                   .ok());
}

}  // namespace
}  // namespace gatefuse::testing
