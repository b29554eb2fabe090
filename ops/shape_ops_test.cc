// Tests of the data-movement ops (shape_ops.cc): Concat, Slice, Split, Reshape and
// Transpose layouts, their finite-difference gradients and their errors.
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
using ::gatefuse::testing::RandomF64;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// 0, 1, 2, ... in `shape`.
Var Iota(const Shape& shape, DType dtype = DType::kF64) {
  std::vector<double> v(shape.num_elements());
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i);
  return Const(shape, v, dtype);
}

// ---- forward layouts ----

TEST(ConcatTest, Layout) {
  const Var a = Const({2, 2}, {1, 2, 3, 4});
  const Var b = Const({2, 1}, {5, 6});
  VarOr cols = Concat({a, b}, 1);
  ASSERT_TRUE(cols.ok()) << cols.status();
  EXPECT_EQ(cols->shape(), Shape({2, 3}));
  EXPECT_THAT(Values(cols), ElementsAre(1, 2, 5, 3, 4, 6));
  EXPECT_THAT(Values(Concat({a, b}, -1)), ElementsAre(1, 2, 5, 3, 4, 6));

  VarOr rows = Concat({a, Const({1, 2}, {7, 8}), a}, 0);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->shape(), Shape({5, 2}));
  EXPECT_THAT(Values(rows), ElementsAre(1, 2, 3, 4, 7, 8, 1, 2, 3, 4));

  // The middle axis of rank 3: [2,1,2] | [2,2,2] -> [2,3,2].
  VarOr mid = Concat({Iota({2, 1, 2}), Const({2, 2, 2}, {10, 11, 12, 13, 14, 15, 16, 17})}, 1);
  ASSERT_TRUE(mid.ok()) << mid.status();
  EXPECT_EQ(mid->shape(), Shape({2, 3, 2}));
  EXPECT_THAT(Values(mid), ElementsAre(0, 1, 10, 11, 12, 13, 2, 3, 14, 15, 16, 17));
}

TEST(ConcatTest, EmptyPiecesSingleInputAndIntegers) {
  EXPECT_THAT(
      Values(Concat({Var::Constant(Tensor::Zeros({2, 0}, DType::kF64)), Const({2, 1}, {5, 6})}, 1)),
      ElementsAre(5, 6));
  EXPECT_THAT(Values(Concat({Const({3}, {1, 2, 3})}, 0)), ElementsAre(1, 2, 3));
  VarOr ints = Concat({Const({2}, {1, 2}, DType::kI64), Const({1}, {3}, DType::kI64)}, 0);
  ASSERT_TRUE(ints.ok()) << ints.status();
  EXPECT_EQ(ints->dtype(), DType::kI64);
  EXPECT_THAT(Values(ints), ElementsAre(1, 2, 3));
  VarOr f32 = Concat({Const({1}, {1.5}, DType::kF32), Const({1}, {-2}, DType::kF32)}, 0);
  EXPECT_THAT(Values(f32), ElementsAre(1.5, -2));
}

TEST(SliceTest, RangesAlongEachAxisAreViews) {
  const Var x = Iota({3, 4});
  EXPECT_THAT(Values(Slice(x, 1, 1, 3)), ElementsAre(1, 2, 5, 6, 9, 10));
  EXPECT_THAT(Values(Slice(x, -1, 3, 4)), ElementsAre(3, 7, 11));
  EXPECT_THAT(Values(Slice(x, 0, 2, 3)), ElementsAre(8, 9, 10, 11));
  EXPECT_THAT(Values(Slice(x, 0, 0, 3)), ElementsAre(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11));
  VarOr empty = Slice(x, 0, 1, 1);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->shape(), Shape({0, 4}));
  VarOr view = Slice(x, 1, 1, 3);
  ASSERT_TRUE(view.ok());
  EXPECT_TRUE(view->value().SharesStorageWith(x.value()));
  EXPECT_THAT(Values(Slice(Iota({2, 3, 4}), 1, 2, 3)), ElementsAre(8, 9, 10, 11, 20, 21, 22, 23));
}

TEST(SplitTest, EqualParts) {
  auto parts = Split(Iota({2, 6}), 3, 1);
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->size(), 3u);
  EXPECT_THAT(Values((*parts)[0]), ElementsAre(0, 1, 6, 7));
  EXPECT_THAT(Values((*parts)[1]), ElementsAre(2, 3, 8, 9));
  EXPECT_THAT(Values((*parts)[2]), ElementsAre(4, 5, 10, 11));
  for (const Var& p : *parts) EXPECT_EQ(p.shape(), Shape({2, 2}));

  auto rows = Split(Iota({4, 2}), 2, -2);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_THAT(Values((*rows)[1]), ElementsAre(4, 5, 6, 7));
  auto whole = Split(Iota({3}), 1, 0);
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_THAT(Values((*whole)[0]), ElementsAre(0, 1, 2));
}

TEST(ReshapeTest, KeepsRowMajorOrderAndInfersOneDim) {
  const Var x = Iota({2, 3});
  VarOr y = Reshape(x, {3, 2});
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->shape(), Shape({3, 2}));
  EXPECT_THAT(Values(y), ElementsAre(0, 1, 2, 3, 4, 5));
  EXPECT_EQ(Reshape(x, {-1})->shape(), Shape({6}));
  EXPECT_EQ(Reshape(x, {1, -1, 2})->shape(), Shape({1, 3, 2}));
  EXPECT_EQ(Reshape(Const({}, {7}), {1, 1})->shape(), Shape({1, 1}));
  EXPECT_THAT(Values(Reshape(Const({1, 1}, {7}), {})), ElementsAre(7));
  EXPECT_EQ(Reshape(Var::Constant(Tensor::Zeros({0, 3}, DType::kF64)), {3, 0})->shape(),
            Shape({3, 0}));
}

TEST(TransposeTest, Layout) {
  VarOr y = Transpose(Const({2, 3}, {1, 2, 3, 4, 5, 6}), {1, 0});
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->shape(), Shape({3, 2}));
  EXPECT_THAT(Values(y), ElementsAre(1, 4, 2, 5, 3, 6));

  // perm {2,0,1}: y.shape = [4,2,3] and y[i,j,k] = x[j,k,i].
  const Var x = Iota({2, 3, 4});
  VarOr z = Transpose(x, {2, 0, 1});
  ASSERT_TRUE(z.ok()) << z.status();
  ASSERT_EQ(z->shape(), Shape({4, 2, 3}));
  for (int64_t i = 0; i < 4; ++i) {
    for (int64_t j = 0; j < 2; ++j) {
      for (int64_t k = 0; k < 3; ++k) {
        EXPECT_EQ(z->value().At((i * 2 + j) * 3 + k), x.value().At((j * 3 + k) * 4 + i));
      }
    }
  }
  // Transposing by the inverse permutation restores x.
  EXPECT_EQ(Values(Transpose(z, {1, 2, 0})), x.value().ToVector());
  EXPECT_THAT(Values(Transpose(Const({2, 2}, {1, 2, 3, 4}, DType::kI64), {1, 0})),
              ElementsAre(1, 3, 2, 4));
  EXPECT_THAT(Values(Transpose(Const({2, 2}, {1, 2, 3, 4}, DType::kF32), {1, 0})),
              ElementsAre(1, 3, 2, 4));
  EXPECT_THAT(Values(Transpose(Const({}, {5}), {})), ElementsAre(5));
}

// A Slice is a strided view; every op reading one must see its elements, not its storage.
TEST(SliceTest, ViewsFeedOtherOps) {
  const Var x = Iota({3, 4});
  const Var cols = Slice(x, 1, 1, 3).value();  // [[1,2],[5,6],[9,10]]
  ASSERT_FALSE(cols.value().is_contiguous());
  EXPECT_THAT(Values(cols * 2.0), ElementsAre(2, 4, 10, 12, 18, 20));
  EXPECT_THAT(Values(cols + Const({2}, {100, 200})), ElementsAre(101, 202, 105, 206, 109, 210));
  EXPECT_THAT(Values(Sum(cols, {0})), ElementsAre(15, 18));
  EXPECT_THAT(Values(Transpose(cols, {1, 0})), ElementsAre(1, 5, 9, 2, 6, 10));
  EXPECT_THAT(Values(Reshape(cols, {6})), ElementsAre(1, 2, 5, 6, 9, 10));
  EXPECT_THAT(Values(Concat({cols, cols}, 0)), ElementsAre(1, 2, 5, 6, 9, 10, 1, 2, 5, 6, 9, 10));
  EXPECT_THAT(Values(MatMul(cols, cols, true, false)), ElementsAre(107, 122, 122, 140));
  EXPECT_THAT(Values(Slice(cols, 0, 1, 3)), ElementsAre(5, 6, 9, 10));
}

// ---- gradients ----

TEST(ShapeOpsGradientTest, ViewsFeedOtherOps) {
  ExpectGradientsMatch(
      [](const std::vector<Var>& x) {
        const Var& v = x[0];  // [3,4]
        return MatMul(Slice(v, 1, 0, 2), Slice(v, 1, 1, 3), true, false) +
               Transpose(Slice(Slice(v, 0, 1, 3), 1, 2, 4), {1, 0}) *
                   Reshape(Slice(Reshape(Slice(v, 1, 2, 4), {6}), 0, 1, 5), {2, 2});
      },
      {RandomF64({3, 4})});
}

TEST(ShapeOpsGradientTest, Concat) {
  struct Case {
    std::vector<Shape> shapes;
    int64_t axis;
  };
  const Case kCases[] = {
      {{{2, 3}, {2, 1}, {2, 4}}, 1}, {{{1, 3}, {2, 3}}, 0}, {{{2, 3, 1}, {2, 3, 2}}, -1},
      {{{2, 1, 4}, {2, 2, 4}}, 1},   {{{3}, {1}, {2}}, 0},  {{{2, 2}}, 0},
      {{{2, 0}, {2, 2}}, 1},
  };
  for (const Case& c : kCases) {
    std::vector<std::string> names;
    std::vector<Tensor> inputs;
    for (size_t i = 0; i < c.shapes.size(); ++i) {
      names.push_back(c.shapes[i].ToString());
      inputs.push_back(RandomF64(c.shapes[i], i));
    }
    SCOPED_TRACE(absl::StrCat(absl::StrJoin(names, " | "), " axis ", c.axis));
    ExpectGradientsMatch(
        [&](const std::vector<Var>& x) {
          return Concat(std::vector<VarOr>(x.begin(), x.end()), c.axis);
        },
        inputs);
  }
  // One value concatenated with itself: both slices of the gradient add up.
  ExpectGradientsMatch(
      [](const std::vector<Var>& x) {
        return Concat({x[0], x[0]}, 0);
      },
      {RandomF64({2, 3})});
}

TEST(ShapeOpsGradientTest, Slice) {
  struct Case {
    Shape shape;
    int64_t axis, start, end;
  };
  const Case kCases[] = {
      {{5}, 0, 1, 4},       {{3, 4}, 1, 0, 2},    {{3, 4}, -1, 2, 4}, {{3, 4}, 0, 0, 3},
      {{2, 3, 4}, 1, 1, 2}, {{2, 3, 4}, 2, 1, 3}, {{1, 4}, 0, 0, 1},  {{3, 4}, 0, 1, 1},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(
        absl::StrCat(c.shape.ToString(), " axis ", c.axis, " [", c.start, ", ", c.end, ")"));
    ExpectGradientsMatch(
        [&](const std::vector<Var>& x) { return Slice(x[0], c.axis, c.start, c.end); },
        {RandomF64(c.shape)});
  }
}

TEST(ShapeOpsGradientTest, Split) {
  struct Case {
    Shape shape;
    int64_t n, axis;
  };
  const Case kCases[] = {
      {{6}, 3, 0}, {{2, 6}, 3, 1}, {{6, 2, 1}, 3, 0}, {{3, 6}, 3, -1}, {{2, 3, 3}, 3, 2}};
  for (const Case& c : kCases) {
    SCOPED_TRACE(absl::StrCat(c.shape.ToString(), " into ", c.n, " along ", c.axis));
    // Reordered, with the middle part used twice and scaled: each part's gradient
    // must land in its own range of x.
    ExpectGradientsMatch(
        [&](const std::vector<Var>& x) -> VarOr {
          auto parts = Split(x[0], c.n, c.axis);
          if (!parts.ok()) return parts.status();
          const std::vector<Var>& p = *parts;
          return Concat({p[2], p[0] * 3.0, p[1] * p[1]}, c.axis);
        },
        {RandomF64(c.shape)});
  }
}

TEST(ShapeOpsGradientTest, Reshape) {
  struct Case {
    Shape from, to;
  };
  const Case kCases[] = {{{2, 3}, {3, 2}}, {{2, 3}, {6}}, {{2, 3, 4}, {4, -1}}, {{6}, {1, 6, 1}},
                         {{}, {1, 1}},     {{1}, {}},     {{2, 3, 4}, {2, 12}}};
  for (const Case& c : kCases) {
    SCOPED_TRACE(absl::StrCat(c.from.ToString(), " -> ", c.to.ToString()));
    ExpectGradientsMatch([&](const std::vector<Var>& x) { return Reshape(x[0], c.to); },
                         {RandomF64(c.from)});
  }
}

TEST(ShapeOpsGradientTest, Transpose) {
  struct Case {
    Shape shape;
    std::vector<int64_t> perm;
  };
  const Case kCases[] = {{{2, 3}, {1, 0}},
                         {{2, 3, 4}, {2, 0, 1}},
                         {{2, 3, 4}, {1, 2, 0}},
                         {{2, 3, 4}, {0, 2, 1}},
                         {{1, 3}, {1, 0}},
                         {{5}, {0}},
                         {{}, {}},
                         {{2, 1, 3, 2}, {3, 1, 0, 2}}};
  for (const Case& c : kCases) {
    SCOPED_TRACE(absl::StrCat(c.shape.ToString(), " perm [", absl::StrJoin(c.perm, ","), "]"));
    ExpectGradientsMatch([&](const std::vector<Var>& x) { return Transpose(x[0], c.perm); },
                         {RandomF64(c.shape)});
  }
}

// ---- errors ----

TEST(ShapeOpsErrorTest, ConcatMismatch) {
  const Var a = Var::Constant(RandomF64({2, 3}));
  ExpectInvalidArgument(
      Concat({a, Var::Constant(RandomF64({3, 1}))}, 1),
      {"Concat", "input 1 does not match input 0 outside axis 1", "f64[2,3], f64[3,1]"});
  ExpectInvalidArgument(Concat({a, Var::Constant(RandomF64({3}))}, 0),
                        {"Concat", "input 1", "f64[2,3], f64[3]"});
  ExpectInvalidArgument(Concat({a, Var::Constant(Tensor::Zeros({2, 3}, DType::kF32))}, 0),
                        {"Concat", "f64[2,3], f32[2,3]"});
  ExpectInvalidArgument(Concat({a, a}, 2), {"Concat", "axis 2 is out of range for rank 2"});
  ExpectInvalidArgument(Concat({Var::Constant(RandomF64({})), Var::Constant(RandomF64({}))}, 0),
                        {"Concat", "cannot concatenate scalars", "f64[], f64[]"});
  ExpectInvalidArgument(Concat({}, 0), {"Concat", "at least 1", "got 0"});
}

TEST(ShapeOpsErrorTest, SliceOutOfBounds) {
  const Var x = Var::Constant(RandomF64({2, 3}));
  ExpectInvalidArgument(Slice(x, 1, 1, 5),
                        {"Slice", "range [1, 5) is out of bounds for axis 1", "f64[2,3]"});
  ExpectInvalidArgument(Slice(x, 0, -1, 1), {"Slice", "range [-1, 1)", "f64[2,3]"});
  ExpectInvalidArgument(Slice(x, 0, 2, 1), {"Slice", "range [2, 1)", "f64[2,3]"});
  ExpectInvalidArgument(Slice(x, 2, 0, 1), {"Slice", "axis 2 is out of range for rank 2"});
  ExpectInvalidArgument(Slice(Var::Constant(RandomF64({})), 0, 0, 1),
                        {"Slice", "cannot slice a scalar", "f64[]"});
}

TEST(ShapeOpsErrorTest, SplitNotDivisible) {
  const Var x = Var::Constant(RandomF64({2, 3}));
  ExpectInvalidArgument(Split(x, 2, 1),
                        {"Split: axis 1 of shape [2,3] does not divide into 2 equal parts"});
  ExpectInvalidArgument(Split(x, 0, 0), {"Split", "[2,3]", "0 equal parts"});
  ExpectInvalidArgument(Split(x, -2, 0), {"Split", "[2,3]", "-2 equal parts"});
  ExpectInvalidArgument(Split(x, 1, 2), {"Split", "axis 2 is out of range for rank 2"});
  ExpectInvalidArgument(Split(Var::Constant(RandomF64({})), 1, 0),
                        {"Split", "cannot split a scalar"});
  // An error going in comes out unchanged.
  const VarOr bad = Reshape(x, {4});
  EXPECT_EQ(Split(bad, 2, 0).status(), bad.status());
}

TEST(ShapeOpsErrorTest, ReshapeWrongCount) {
  const Var x = Var::Constant(RandomF64({2, 3}));
  ExpectInvalidArgument(Reshape(x, {4}),
                        {"Reshape", "cannot reshape 6 elements to [4]", "f64[2,3]"});
  ExpectInvalidArgument(Reshape(x, {4, -1}), {"Reshape", "cannot reshape to [4,-1]", "f64[2,3]"});
  ExpectInvalidArgument(Reshape(x, {-1, -1}),
                        {"Reshape", "invalid target shape [-1,-1]", "f64[2,3]"});
  ExpectInvalidArgument(Reshape(x, {-2, -3}), {"Reshape", "invalid target shape [-2,-3]"});
  ExpectInvalidArgument(Reshape(x, {0, -1}), {"Reshape", "[0,-1]", "f64[2,3]"});
}

TEST(ShapeOpsErrorTest, TransposeNotAPermutation) {
  const Var x = Var::Constant(RandomF64({2, 3}));
  ExpectInvalidArgument(Transpose(x, {0, 0}),
                        {"Transpose", "perm [0,0] is not a permutation of the axes", "f64[2,3]"});
  ExpectInvalidArgument(Transpose(x, {1, 0, 2}), {"Transpose", "perm [1,0,2]", "f64[2,3]"});
  ExpectInvalidArgument(Transpose(x, {0}), {"Transpose", "perm [0]", "f64[2,3]"});
  ExpectInvalidArgument(Transpose(x, {0, 2}), {"Transpose", "perm [0,2]", "f64[2,3]"});
  ExpectInvalidArgument(Transpose(x, {-1, 0}), {"Transpose", "perm [-1,0]", "f64[2,3]"});
}

}  // namespace
}  // namespace gatefuse
