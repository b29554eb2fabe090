#include "graph/compiled_pointwise.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace gatefuse::pointwise {
namespace {

TEST(CompiledPointwiseTest, FastExpIsAccurate) {
  double worst = 0;
  for (float x = -87.0f; x <= 88.0f; x += 0.01337f) {
    const double want = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::abs(FastExp(x) - want) / want);
  }
  EXPECT_LT(worst, 2e-7);
}

// y = sigmoid(a + b) * tanh(a) with a [rows, n] and b [n] broadcast, n not a
// multiple of the chunk; then the adjoint of a for dy = 1.
TEST(CompiledPointwiseTest, ForwardAndBackwardOfASmallGroup) {
  const int64_t rows = 3, n = 150;
  std::vector<float> a(rows * n), b(n), y(rows * n, -7), da(rows * n, 0.5f), one(rows * n, 1);
  for (size_t i = 0; i < a.size(); ++i) a[i] = std::sin(0.37 * i) * 4;
  for (size_t i = 0; i < b.size(); ++i) b[i] = std::cos(0.11 * i);
  Program p;
  p.width = n;
  p.num_registers = 5;
  p.code = {{Op::kLoad, 0, -1, -1, -1, 0, 0}, {Op::kLoad, 1, -1, -1, -1, 0, 1},
            {Op::kAdd, 2, 0, 1},             {Op::kSigmoid, 3, 2},
            {Op::kTanh, 4, 0},               {Op::kMul, 2, 3, 4},
            {Op::kStore, -1, 2, -1, -1, 0, 2}};
  std::vector<Operand> ops = {{a.data(), n, 1}, {b.data(), 0, 1}, {y.data(), n, 1}};
  pointwise::Run(p, rows, ops.data());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < n; ++j) {
      const double s = 1 / (1 + std::exp(-(a[r * n + j] + b[j]))), t = std::tanh(a[r * n + j]);
      EXPECT_NEAR(y[r * n + j], s * t, 1e-6) << r << "," << j;
    }
  }
  // Backward: recompute s (3) and t (4), then da += dy * (t * s (1 - s) + s (1 - t^2)).
  Program q;
  q.width = n;
  q.num_registers = 10;
  q.code = {{Op::kLoad, 0, -1, -1, -1, 0, 0}, {Op::kLoad, 1, -1, -1, -1, 0, 1},
            {Op::kAdd, 2, 0, 1},             {Op::kSigmoid, 3, 2},
            {Op::kTanh, 4, 0},               {Op::kLoad, 5, -1, -1, -1, 0, 2},  // dy
            {Op::kZero, 6},                  {Op::kZero, 7},
            {Op::kZero, 8},                  {Op::kAccMul, 6, 5, 4},           // ds
            {Op::kAccMul, 7, 5, 3},                                             // dt
            {Op::kAccSigmoid, 8, 6, 3},                                         // d(a + b)
            {Op::kAccTanh, 8, 7, 4},                                            // + via tanh
            {Op::kAccStore, -1, 8, -1, -1, 0, 3}};
  std::vector<Operand> qops = {{a.data(), n, 1}, {b.data(), 0, 1}, {one.data(), n, 1},
                               {da.data(), n, 1}};
  pointwise::Run(q, rows, qops.data());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < n; ++j) {
      const double s = 1 / (1 + std::exp(-(a[r * n + j] + b[j]))), t = std::tanh(a[r * n + j]);
      EXPECT_NEAR(da[r * n + j], 0.5 + t * s * (1 - s) + s * (1 - t * t), 1e-6);
    }
  }
}

TEST(CompiledPointwiseTest, ScalarOperandsBroadcastOverColumns) {
  const int64_t rows = 2, n = 70;
  std::vector<float> a(rows * n, 3), c = {0.25f}, y(rows * n);
  Program p;
  p.width = n;
  p.num_registers = 3;
  p.code = {{Op::kLoad, 0, -1, -1, -1, 0, 0}, {Op::kLoad, 1, -1, -1, -1, 0, 1},
            {Op::kDiv, 2, 0, 1}, {Op::kStore, -1, 2, -1, -1, 0, 2}};
  std::vector<Operand> ops = {{a.data(), n, 1}, {c.data(), 0, 0}, {y.data(), n, 1}};
  pointwise::Run(p, rows, ops.data());
  for (float v : y) EXPECT_FLOAT_EQ(v, 12.0f);
}

// The two-immediate instructions read s (imm) and t (imm2); softplus and elu stay
// finite and accurate however large |x| is.
TEST(CompiledPointwiseTest, ActivationsReadBothImmediatesAndStayFinite) {
  const std::vector<float> a = {-1000, -50, -2, -0.5f, 0, 0.5f, 2, 50, 1000};
  const int64_t n = static_cast<int64_t>(a.size());
  std::vector<std::vector<float>> out(4, std::vector<float>(n, -7));
  Program p;
  p.width = n;
  p.num_registers = 5;
  p.code = {{Op::kLoad, 0, -1, -1, -1, 0, 0},
            {Op::kClip, 1, 0, -1, -1, -1.0f, -1, 0.5f},
            {Op::kHardSigmoid, 2, 0, -1, -1, 0.2f, -1, 0.5f},
            {Op::kSoftplus, 3, 0},
            {Op::kElu, 4, 0, -1, -1, 2.0f}};
  for (int k = 0; k < 4; ++k) p.code.push_back({Op::kStore, -1, 1 + k, -1, -1, 0, 1 + k});
  std::vector<Operand> ops = {{const_cast<float*>(a.data()), n, 1}};
  for (std::vector<float>& o : out) ops.push_back({o.data(), n, 1});
  pointwise::Run(p, 1, ops.data());
  for (int64_t i = 0; i < n; ++i) {
    const double x = a[i];
    const double want[4] = {std::min(std::max(x, -1.0), 0.5),
                            std::max(0.0, std::min(1.0, 0.2 * x + 0.5)),
                            std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x))),
                            x >= 0 ? x : 2 * std::expm1(x)};
    for (int k = 0; k < 4; ++k) {
      EXPECT_TRUE(std::isfinite(out[k][i])) << k << " at " << x;
      EXPECT_NEAR(out[k][i], want[k], 1e-6 * (1 + std::abs(want[k]))) << k << " at " << x;
    }
  }
}

}  // namespace
}  // namespace gatefuse::pointwise
