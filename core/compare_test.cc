#include "core/compare.h"

#include <cmath>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatefuse {
namespace {

using ::testing::HasSubstr;

Tensor Values(const Shape& shape, std::vector<double> v, DType dtype = DType::kF64) {
  return *Tensor::FromValues(shape, v, dtype);
}

TEST(CompareTest, EqualTensorsHaveZeroError) {
  const Tensor a = Values({2, 2}, {1, -2, 3, 4});
  EXPECT_EQ(CompareTensors(a, a).error, 0);
  EXPECT_TRUE(ExpectClose(a, a, 0, "a").ok());
}

TEST(CompareTest, ErrorIsMaxDifferenceOverMaxReference) {
  const Tensor ref = Values({3}, {1, -4, 2});
  const Tensor ours = Values({3}, {1.5, -4, 2.1});
  const TensorComparison c = CompareTensors(ours, ref);
  EXPECT_DOUBLE_EQ(c.error, 0.5 / 4);
  EXPECT_EQ(c.worst_index, 0);
  EXPECT_DOUBLE_EQ(c.scale, 4);
}

TEST(CompareTest, AllZeroReferenceComparesAbsolutely) {
  const Tensor ref = Values({2}, {0, 0});
  EXPECT_DOUBLE_EQ(CompareTensors(Values({2}, {0, 1e-3}), ref).error, 1e-3);
  EXPECT_EQ(CompareTensors(ref, ref).error, 0);
}

TEST(CompareTest, NaNOnEitherSideFails) {
  const double nan = std::nan("");
  const Tensor ref = Values({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor bad = Values({2, 3}, {1, 2, 3, 4, nan, 6});
  EXPECT_TRUE(std::isinf(CompareTensors(bad, ref).error));
  EXPECT_TRUE(std::isinf(CompareTensors(ref, bad).error));
  const absl::Status s = ExpectClose(bad, ref, 1e30, "y");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("y:"));
  EXPECT_THAT(s.message(), HasSubstr("not finite"));
  EXPECT_THAT(s.message(), HasSubstr("[1,1]"));
}

TEST(CompareTest, AllNaNFails) {
  const double nan = std::nan("");
  const Tensor all_nan = Values({3}, {nan, nan, nan});
  EXPECT_FALSE(ExpectClose(all_nan, Values({3}, {1, 2, 3}), 1e30, "y").ok());
  EXPECT_FALSE(ExpectClose(all_nan, all_nan, 1e30, "y").ok());
}

TEST(CompareTest, InfFails) {
  const double inf = std::numeric_limits<double>::infinity();
  const Tensor ref = Values({2}, {inf, 1});
  EXPECT_FALSE(ExpectClose(ref, ref, 1e30, "y").ok());
  EXPECT_FALSE(ExpectClose(Values({2}, {1, -inf}), Values({2}, {1, 1}), 1e30, "y").ok());
}

TEST(CompareTest, SingleWrongElementFailsAndIsNamed) {
  std::vector<double> v(24, 0.5);
  const Tensor ref = Values({2, 3, 4}, v, DType::kF32);
  v[1 * 12 + 2 * 4 + 3] = 0.5001;  // [1,2,3]
  const Tensor ours = Values({2, 3, 4}, v, DType::kF32);
  const absl::Status s = ExpectClose(ours, ref, 1e-5, "d_W");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("d_W: relative error"));
  EXPECT_THAT(s.message(), HasSubstr("[1,2,3]"));
  EXPECT_TRUE(ExpectClose(ours, ref, 1e-3, "d_W").ok());
}

TEST(CompareTest, ShapeMismatchFails) {
  const TensorComparison c = CompareTensors(Values({2}, {1, 2}), Values({1, 2}, {1, 2}));
  EXPECT_TRUE(std::isinf(c.error));
  EXPECT_FALSE(c.Within(1e30));
  EXPECT_THAT(c.problem, HasSubstr("shape"));
}

TEST(CompareTest, MixedDTypesCompareByValue) {
  EXPECT_EQ(CompareTensors(Values({2}, {0.5, 0.25}, DType::kF32), Values({2}, {0.5, 0.25})).error,
            0);
}

TEST(CompareTest, FormatIndex) {
  EXPECT_EQ(FormatIndex(Shape{2, 3, 4}, 23), "[1,2,3]");
  EXPECT_EQ(FormatIndex(Shape{}, 0), "[]");
}

}  // namespace
}  // namespace gatefuse
