// Tests of MatMul (matmul.cc): the four transpose forms by hand, oneDNN f32
// against the f64 loop, finite-difference gradients and shape errors.
#include <algorithm>
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
using ::gatefuse::testing::RandomF64;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The stored shape of an operand that is logically [rows, cols].
Shape Stored(int64_t rows, int64_t cols, bool transposed) {
  return transposed ? Shape{cols, rows} : Shape{rows, cols};
}

struct Transposes {
  bool a, b;
};
const Transposes kTransposes[] = {{false, false}, {true, false}, {false, true}, {true, true}};

TEST(MatMulTest, TwoByTwoInEveryTransposeForm) {
  // A = [[1,2],[3,4]], B = [[5,6],[7,8]].
  for (DType dtype : {DType::kF32, DType::kF64}) {
    SCOPED_TRACE(DTypeName(dtype));
    const Var a = Const({2, 2}, {1, 2, 3, 4}, dtype);
    const Var b = Const({2, 2}, {5, 6, 7, 8}, dtype);
    EXPECT_THAT(Values(MatMul(a, b)), ElementsAre(19, 22, 43, 50));
    EXPECT_THAT(Values(MatMul(a, b, true, false)), ElementsAre(26, 30, 38, 44));
    EXPECT_THAT(Values(MatMul(a, b, false, true)), ElementsAre(17, 23, 39, 53));
    EXPECT_THAT(Values(MatMul(a, b, true, true)), ElementsAre(23, 31, 34, 46));
    EXPECT_EQ(MatMul(a, b)->dtype(), dtype);
  }
}

TEST(MatMulTest, NonSquareShapes) {
  for (DType dtype : {DType::kF32, DType::kF64}) {
    SCOPED_TRACE(DTypeName(dtype));
    // [2,3] @ [3,1]
    const Var a = Const({2, 3}, {1, 2, 3, 4, 5, 6}, dtype);
    VarOr y = MatMul(a, Const({3, 1}, {1, 0, -1}, dtype));
    ASSERT_TRUE(y.ok()) << y.status();
    EXPECT_EQ(y->shape(), Shape({2, 1}));
    EXPECT_THAT(Values(y), ElementsAre(-2, -2));
    // [2,3]^T @ [2,2] -> [3,2]
    VarOr z = MatMul(a, Const({2, 2}, {1, 0, 0, 1}, dtype), true, false);
    ASSERT_TRUE(z.ok()) << z.status();
    EXPECT_EQ(z->shape(), Shape({3, 2}));
    EXPECT_THAT(Values(z), ElementsAre(1, 4, 2, 5, 3, 6));
    // [1,3] @ [2,3]^T -> [1,2]
    EXPECT_THAT(Values(MatMul(Const({1, 3}, {1, 1, 1}, dtype), a, false, true)),
                ElementsAre(6, 15));
  }
}

TEST(MatMulTest, EmptyOperands) {
  for (DType dtype : {DType::kF32, DType::kF64}) {
    SCOPED_TRACE(DTypeName(dtype));
    VarOr no_rows = MatMul(Var::Constant(Tensor::Zeros({0, 3}, dtype)),
                           Var::Constant(Tensor::Zeros({3, 2}, dtype)));
    ASSERT_TRUE(no_rows.ok()) << no_rows.status();
    EXPECT_EQ(no_rows->shape(), Shape({0, 2}));
    // An empty inner dimension sums nothing: zeros.
    VarOr no_inner = MatMul(Var::Constant(Tensor::Full({2, 0}, dtype, 1)),
                            Var::Constant(Tensor::Full({0, 3}, dtype, 1)));
    EXPECT_THAT(Values(no_inner), ElementsAre(0, 0, 0, 0, 0, 0));
  }
}

// oneDNN (f32) against the f64 loop on the same (f32-rounded) operands. Each element
// is compared relative to sum_p |a_ip b_pj|, the scale of its rounding error.
TEST(MatMulTest, OneDnnF32AgreesWithTheF64Loop) {
  struct Dims {
    int64_t m, k, n;
  };
  const Dims kDims[] = {{1, 7, 5}, {6, 7, 1},   {1, 1, 1},     {5, 1, 4},   {1, 64, 1},
                        {3, 4, 5}, {17, 33, 9}, {64, 128, 32}, {2, 300, 3}, {31, 1, 29}};
  for (const Dims& d : kDims) {
    for (const Transposes& t : kTransposes) {
      SCOPED_TRACE(absl::StrCat("m=", d.m, " k=", d.k, " n=", d.n, " transpose_a=", t.a,
                                " transpose_b=", t.b));
      const Tensor a32 = RandomF64(Stored(d.m, d.k, t.a), 1).Cast(DType::kF32);
      const Tensor b32 = RandomF64(Stored(d.k, d.n, t.b), 2).Cast(DType::kF32);
      const Tensor a64 = a32.Cast(DType::kF64), b64 = b32.Cast(DType::kF64);
      VarOr c32 = MatMul(Var::Constant(a32), Var::Constant(b32), t.a, t.b);
      VarOr c64 = MatMul(Var::Constant(a64), Var::Constant(b64), t.a, t.b);
      ASSERT_TRUE(c32.ok()) << c32.status();
      ASSERT_TRUE(c64.ok()) << c64.status();
      ASSERT_EQ(c32->dtype(), DType::kF32);
      ASSERT_EQ(c32->shape(), Shape({d.m, d.n}));
      ASSERT_EQ(c64->shape(), Shape({d.m, d.n}));
      // |A| |B| with the same transposes gives each element's scale.
      auto abs_of = [](const Tensor& x) {
        std::vector<double> v = x.ToVector();
        for (double& e : v) e = std::abs(e);
        return Var::Constant(Tensor::FromValues(x.shape(), v, DType::kF64).value());
      };
      VarOr scale = MatMul(abs_of(a64), abs_of(b64), t.a, t.b);
      ASSERT_TRUE(scale.ok()) << scale.status();
      for (int64_t i = 0; i < d.m * d.n; ++i) {
        const double want = c64->value().At(i);
        EXPECT_LE(std::abs(c32->value().At(i) - want), 1e-5 * scale->value().At(i))
            << "element " << i << ": f32 " << c32->value().At(i) << ", f64 " << want;
      }
    }
  }
}

TEST(MatMulGradientTest, EveryTransposeFormOverShapes) {
  struct Dims {
    int64_t m, k, n;
  };
  const Dims kDims[] = {{2, 3, 4}, {1, 5, 3}, {4, 5, 1}, {3, 1, 2}, {1, 1, 1}, {1, 4, 1}};
  for (const Dims& d : kDims) {
    for (const Transposes& t : kTransposes) {
      SCOPED_TRACE(absl::StrCat("m=", d.m, " k=", d.k, " n=", d.n, " transpose_a=", t.a,
                                " transpose_b=", t.b));
      const absl::Status s = CheckGradients(
          [&](const std::vector<Var>& x) { return MatMul(x[0], x[1], t.a, t.b); },
          {RandomF64(Stored(d.m, d.k, t.a), 1), RandomF64(Stored(d.k, d.n, t.b), 2)});
      EXPECT_TRUE(s.ok()) << s;
    }
  }
}

// In f32 the gradient rules' MatMuls run on oneDNN, in whichever transpose forms
// they pick; they must agree with the f64 loop.
TEST(MatMulGradientTest, F32GradientsAgreeWithF64) {
  struct Dims {
    int64_t m, k, n;
  };
  const Dims kDims[] = {{5, 7, 3}, {1, 4, 6}, {6, 4, 1}, {2, 1, 3}};
  for (const Dims& d : kDims) {
    for (const Transposes& t : kTransposes) {
      SCOPED_TRACE(absl::StrCat("m=", d.m, " k=", d.k, " n=", d.n, " transpose_a=", t.a,
                                " transpose_b=", t.b));
      // f32-representable operands and weights, so only the arithmetic differs.
      const Tensor a = RandomF64(Stored(d.m, d.k, t.a), 1).Cast(DType::kF32);
      const Tensor b = RandomF64(Stored(d.k, d.n, t.b), 2).Cast(DType::kF32);
      const Tensor w = RandomF64({d.m, d.n}, 3).Cast(DType::kF32);
      std::vector<std::vector<double>> grads[2];  // per dtype: dA, dB
      for (DType dtype : {DType::kF32, DType::kF64}) {
        const Var va = Var::Leaf(a.Cast(dtype), true), vb = Var::Leaf(b.Cast(dtype), true);
        VarOr loss = Sum(MatMul(va, vb, t.a, t.b) * Var::Constant(w.Cast(dtype)));
        ASSERT_TRUE(loss.ok()) << loss.status();
        ASSERT_TRUE(Backward(*loss).ok());
        ASSERT_EQ(va.grad().dtype(), dtype);
        grads[dtype == DType::kF64].push_back(va.grad().ToVector());
        grads[dtype == DType::kF64].push_back(vb.grad().ToVector());
      }
      for (int g = 0; g < 2; ++g) {
        const std::vector<double>& want = grads[1][g];
        double largest = 0;
        for (double v : want) largest = std::max(largest, std::abs(v));
        for (size_t i = 0; i < want.size(); ++i) {
          EXPECT_NEAR(grads[0][g][i], want[i], 1e-5 * largest) << (g ? "dB" : "dA") << i;
        }
      }
    }
  }
}

TEST(MatMulGradientTest, SameMatrixOnBothSides) {
  for (const Transposes& t : kTransposes) {
    SCOPED_TRACE(absl::StrCat("transpose_a=", t.a, " transpose_b=", t.b));
    const absl::Status s =
        CheckGradients([&](const std::vector<Var>& x) { return MatMul(x[0], x[0], t.a, t.b); },
                       {RandomF64({3, 3}, 4)});
    EXPECT_TRUE(s.ok()) << s;
  }
}

TEST(MatMulErrorTest, InnerDimensionsDiffer) {
  const Var a = Var::Constant(RandomF64({2, 3}));
  const Var b = Var::Constant(RandomF64({4, 5}));
  ExpectInvalidArgument(MatMul(a, b),
                        {"MatMul", "inner dimensions differ (3 vs 4)", "f64[2,3], f64[4,5]"});
  ExpectInvalidArgument(MatMul(a, b, true, false),
                        {"MatMul", "(2 vs 4)", "transpose_a=1 transpose_b=0", "[2,3]", "[4,5]"});
  ExpectInvalidArgument(MatMul(a, a), {"MatMul", "(3 vs 2)", "f64[2,3], f64[2,3]"});
  ExpectInvalidArgument(MatMul(a, a, true, true),
                        {"MatMul", "(2 vs 3)", "transpose_a=1 transpose_b=1"});
}

TEST(MatMulErrorTest, OperandsMustBeMatrices) {
  ExpectInvalidArgument(
      MatMul(Var::Constant(RandomF64({2, 3, 4})), Var::Constant(RandomF64({4, 5}))),
      {"MatMul", "rank 2", "f64[2,3,4], f64[4,5]"});
  ExpectInvalidArgument(MatMul(Var::Constant(RandomF64({3})), Var::Constant(RandomF64({3, 2}))),
                        {"MatMul", "rank 2", "f64[3], f64[3,2]"});
  ExpectInvalidArgument(MatMul(Var::Constant(RandomF64({})), Var::Constant(RandomF64({}))),
                        {"MatMul", "rank 2", "f64[], f64[]"});
}

TEST(MatMulErrorTest, DTypes) {
  const Var f32 = Var::Constant(Tensor::Zeros({2, 2}, DType::kF32));
  const Var f64 = Var::Constant(Tensor::Zeros({2, 2}, DType::kF64));
  const Var i64 = Var::Constant(Tensor::Zeros({2, 2}, DType::kI64));
  ExpectInvalidArgument(MatMul(f32, f64), {"MatMul", "one dtype", "f32[2,2], f64[2,2]"});
  ExpectInvalidArgument(MatMul(i64, i64), {"MatMul", "not i64", "i64[2,2], i64[2,2]"});
  ExpectInvalidArgument(MatMul(f32, i64), {"MatMul", "input 1", "f32[2,2], i64[2,2]"});
}

TEST(MatMulErrorTest, PropagatesThroughAnExpression) {
  const Var x = Var::Constant(RandomF64({2, 3}));
  const Var w = Var::Leaf(RandomF64({4, 5}), /*requires_grad=*/true);
  const Var b = Var::Leaf(RandomF64({5}), /*requires_grad=*/true);
  const VarOr bad = MatMul(x, w);
  ASSERT_FALSE(bad.ok());
  const VarOr y = Sigmoid(MatMul(x, w) + b);
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status(), bad.status());
  EXPECT_THAT(y.status().message(), HasSubstr("MatMul: inner dimensions differ (3 vs 4)"));
  const VarOr loss = Sum(Tanh(MatMul(Sigmoid(MatMul(x, w) + b), w)));
  EXPECT_EQ(loss.status(), bad.status());
}

}  // namespace
}  // namespace gatefuse
