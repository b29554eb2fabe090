#include "core/tensor.h"

#include <cstdint>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatefuse {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(TensorTest, StorageIs64ByteAligned) {
  for (int n : {1, 3, 17, 1000}) {
    Tensor t = Tensor::Zeros({n}, DType::kF32);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u) << n;
  }
}

TEST(TensorTest, RowMajorStridesAndValues) {
  Tensor t = Tensor::FromValues({2, 3}, {1, 2, 3, 4, 5, 6}, DType::kF64).value();
  EXPECT_THAT(t.strides(), ElementsAre(3, 1));
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.data<double>()[4], 5);
  EXPECT_EQ(t.At(5), 6);
}

TEST(TensorTest, FromValuesRejectsWrongCount) {
  auto t = Tensor::FromValues({2, 3}, {1, 2}, DType::kF32);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("[2,3]"));
}

TEST(TensorTest, SliceIsAViewThatSharesStorage) {
  Tensor t = Tensor::FromValues({3, 2}, {1, 2, 3, 4, 5, 6}, DType::kF32).value();
  Tensor row = t.Slice(0, 1, 3).value();
  EXPECT_TRUE(row.SharesStorageWith(t));
  EXPECT_TRUE(row.is_contiguous());
  EXPECT_THAT(row.ToVector(), ElementsAre(3, 4, 5, 6));
  row.data<float>()[0] = 30;  // writes through to the parent
  EXPECT_EQ(t.At(2), 30);
}

TEST(TensorTest, ColumnSliceIsStridedAndContiguousCopies) {
  Tensor t = Tensor::FromValues({2, 3}, {1, 2, 3, 4, 5, 6}, DType::kF64).value();
  Tensor col = t.Slice(1, 1, 3).value();
  EXPECT_FALSE(col.is_contiguous());
  EXPECT_THAT(col.ToVector(), ElementsAre(2, 3, 5, 6));
  Tensor c = col.Contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_FALSE(c.SharesStorageWith(t));
  EXPECT_THAT(c.ToVector(), ElementsAre(2, 3, 5, 6));
}

TEST(TensorTest, ReshapeOfContiguousIsAView) {
  Tensor t = Tensor::Uniform({4, 6}, DType::kF32, 7, -1, 1);
  Tensor r = t.Reshape({2, -1, 3}).value();
  EXPECT_EQ(r.shape(), Shape({2, 4, 3}));
  EXPECT_TRUE(r.SharesStorageWith(t));
  EXPECT_EQ(r.ToVector(), t.ToVector());
}

TEST(TensorTest, ReshapeRejectsWrongElementCount) {
  Tensor t = Tensor::Zeros({4, 6}, DType::kF32);
  auto r = t.Reshape({5, 5});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("[4,6]"));
  EXPECT_FALSE(t.Reshape({-1, 7}).ok());
}

TEST(TensorTest, SliceRejectsOutOfRange) {
  Tensor t = Tensor::Zeros({4, 6}, DType::kF32);
  EXPECT_EQ(t.Slice(1, 2, 7).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(t.Slice(2, 0, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(t.Slice(0, 3, 2).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TensorTest, ScalarHasRankZeroAndOneElement) {
  Tensor s = Tensor::Scalar(2.5, DType::kF64);
  EXPECT_EQ(s.rank(), 0);
  EXPECT_EQ(s.num_elements(), 1);
  EXPECT_EQ(s.At(0), 2.5);
}

TEST(TensorTest, CastConvertsValues) {
  Tensor t = Tensor::FromValues({3}, {1.5, -2, 3}, DType::kF64).value();
  Tensor f = t.Cast(DType::kF32);
  EXPECT_EQ(f.dtype(), DType::kF32);
  EXPECT_THAT(f.ToVector(), ElementsAre(1.5, -2, 3));
  EXPECT_THAT(t.Cast(DType::kI64).ToVector(), ElementsAre(1, -2, 3));
}

TEST(TensorTest, UniformIsReproducible) {
  EXPECT_EQ(Tensor::Uniform({5}, DType::kF64, 3, 0, 1).ToVector(),
            Tensor::Uniform({5}, DType::kF64, 3, 0, 1).ToVector());
  EXPECT_NE(Tensor::Uniform({5}, DType::kF64, 3, 0, 1).ToVector(),
            Tensor::Uniform({5}, DType::kF64, 4, 0, 1).ToVector());
}

TEST(ShapeTest, Broadcasting) {
  EXPECT_EQ(BroadcastShapes({3, 1, 5}, {4, 1}, "Add").value(), Shape({3, 4, 5}));
  EXPECT_EQ(BroadcastShapes({}, {2, 2}, "Add").value(), Shape({2, 2}));
  auto bad = BroadcastShapes({3, 2}, {3}, "Mul");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("Mul: shapes [3,2] and [3] do not broadcast"));
}

}  // namespace
}  // namespace gatefuse

namespace gatefuse {
namespace {

TEST(TensorTest, WriteStampIdentifiesContents) {
  Tensor a = Tensor::Zeros({4}, DType::kF32), b = Tensor::Zeros({4}, DType::kF32);
  EXPECT_NE(a.write_stamp(), b.write_stamp());
  EXPECT_EQ(Tensor().write_stamp(), 0u);
  const uint64_t stamp = a.write_stamp();
  const Tensor& view = a;
  EXPECT_EQ(view.data<float>()[0], 0.0f);  // reading keeps the stamp
  EXPECT_EQ(a.write_stamp(), stamp);
  a.data<float>()[0] = 1;  // a mutable access renews it, for every view of the storage
  EXPECT_NE(a.write_stamp(), stamp);
  Tensor slice = *a.Slice(0, 1, 3);
  EXPECT_EQ(slice.write_stamp(), a.write_stamp());
  EXPECT_NE(slice.offset(), a.offset());
}

// Large blocks go back to a cache and come out again for the same size: the
// contents a new tensor gets are whatever was there, as with malloc.
TEST(TensorTest, LargeTensorsAreReallocatedCleanly) {
  for (int round = 0; round < 3; ++round) {
    Tensor t = Tensor::Zeros({1 << 19}, DType::kF32);  // 2 MiB
    for (int64_t i = 0; i < t.num_elements(); i += 4096) EXPECT_EQ(t.At(i), 0.0);
    t.data<float>()[0] = 7;
  }
}

}  // namespace
}  // namespace gatefuse
