// The interpreter's row instructions (graph/compiled_pointwise.h Program::sweeps):
// a hand-written program of three sweeps normalises each row (mean, variance)
// over rows that end in a partial register chunk, through the row scratch, and
// writes the per-row values to [rows, 1] operands (lane 0 of the register), at
// widths whose registers (RegisterFloats) are 64, 128 and 256 floats long.
#include <cmath>
#include <set>
#include <vector>

#include "graph/compiled_pointwise.h"
#include "gtest/gtest.h"

namespace gatefuse::pointwise {
namespace {

TEST(CompiledSweepsTest, ThreeSweepsNormaliseEachRow) {
  std::set<int> lanes;
  for (const int64_t n : std::vector<int64_t>{1, 37, kChunk, 70, 2 * kChunk + 5, 600}) {
    SCOPED_TRACE(n);
    lanes.insert(RegisterFloats(n));
    const int64_t rows = 3;
    std::vector<float> v(rows * n), y(rows * n, -7), mean(rows, -7), var(rows, 5);
    for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.7 * i) * 3 + 0.1 * i;
    // Operands: v, y, mean [rows, 1] (stored), var [rows, 1] (acc_stored onto 5).
    const std::vector<Operand> ops = {
        {v.data(), n, 1}, {y.data(), n, 1}, {mean.data(), 1, 0}, {var.data(), 1, 0}};
    Program p;
    p.width = n;
    p.num_registers = 8;
    p.scratch_slots = 1;
    const float inv = 1.0f / static_cast<float>(n);
    p.sweeps = {
        {{{Op::kZero, 0}},                                        // A = 0
         {{Op::kLoad, 1, -1, -1, -1, 0, 0}, {Op::kRowAcc, 0, 1}}},  // A += v
        {{{Op::kRowSum, 2, 0, -1, -1, inv},                       // m = sum A / n
          {Op::kStore, -1, 2, -1, -1, 0, 2},
          {Op::kZero, 3}},
         {{Op::kLoad, 1, -1, -1, -1, 0, 0},
          {Op::kSub, 4, 1, 2},                                    // d = v - m
          {Op::kSpill, -1, 4, -1, -1, 0, 0},
          {Op::kMul, 5, 4, 4},
          {Op::kRowAcc, 3, 5}}},                                  // A' += d^2
        {{{Op::kRowSum, 6, 3, -1, -1, inv},                       // var = sum A' / n
          {Op::kAccStore, -1, 6, -1, -1, 0, 3},
          {Op::kSqrt, 6, 6}},
         {{Op::kReload, 7, -1, -1, -1, 0, 0}, {Op::kDiv, 7, 7, 6},  // y = d / sqrt(var)
          {Op::kStore, -1, 7, -1, -1, 0, 1}}},
    };
    pointwise::Run(p, rows, ops.data());
    for (int64_t r = 0; r < rows; ++r) {
      double m = 0, s = 0;
      for (int64_t j = 0; j < n; ++j) m += v[r * n + j];
      m /= n;
      for (int64_t j = 0; j < n; ++j) s += (v[r * n + j] - m) * (v[r * n + j] - m);
      s /= n;
      EXPECT_NEAR(mean[r], m, 1e-5 * (1 + std::abs(m)));
      EXPECT_NEAR(var[r], 5 + s, 1e-4 * (1 + s));
      for (int64_t j = 0; j < n; ++j) {
        const double want = s > 0 ? (v[r * n + j] - m) / std::sqrt(s) : 0.0;
        if (s > 0) EXPECT_NEAR(y[r * n + j], want, 1e-4 * (1 + std::abs(want))) << r << "," << j;
      }
    }
    EXPECT_EQ(p.NumInstructions(), 17);
  }
  EXPECT_EQ(lanes, (std::set<int>{kChunk, 2 * kChunk, 4 * kChunk}));
}

}  // namespace
}  // namespace gatefuse::pointwise
