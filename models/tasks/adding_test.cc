#include "models/tasks/adding.h"

#include "gtest/gtest.h"

namespace gatefuse {
namespace {

TEST(AddingTest, TwoMarkersOnePerHalfAndTheirSum) {
  const int64_t T = 20, B = 16;
  AddingBatch batch = MakeAddingBatch(T, B, 7, DType::kF64);
  ASSERT_EQ(batch.x.shape(), Shape({T, B, 2}));
  ASSERT_EQ(batch.target.shape(), Shape({B, 1}));
  const std::vector<double> x = batch.x.ToVector();
  for (int64_t b = 0; b < B; ++b) {
    int markers_first = 0, markers_second = 0;
    double sum = 0;
    for (int64_t t = 0; t < T; ++t) {
      const double v = x[(t * B + b) * 2], m = x[(t * B + b) * 2 + 1];
      EXPECT_GE(v, 0);
      EXPECT_LT(v, 1);
      if (m == 1) {
        (t < T / 2 ? markers_first : markers_second)++;
        sum += v;
      } else {
        EXPECT_EQ(m, 0);
      }
    }
    EXPECT_EQ(markers_first, 1);
    EXPECT_EQ(markers_second, 1);
    EXPECT_DOUBLE_EQ(batch.target.At(b), sum);
  }
}

TEST(AddingTest, ReproducibleFromTheSeed) {
  EXPECT_EQ(MakeAddingBatch(10, 4, 3, DType::kF32).x.ToVector(),
            MakeAddingBatch(10, 4, 3, DType::kF32).x.ToVector());
  EXPECT_NE(MakeAddingBatch(10, 4, 3, DType::kF32).x.ToVector(),
            MakeAddingBatch(10, 4, 4, DType::kF32).x.ToVector());
}

}  // namespace
}  // namespace gatefuse
