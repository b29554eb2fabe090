#include "models/cells/cell.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ops/ops.h"
#include "ops/testing/gradient_check.h"

namespace gatefuse {
namespace {

using ::testing::HasSubstr;

// Every builtin cell run over a short sequence: the tape's gradients with respect
// to the inputs, the initial states and every parameter agree with finite
// differences in f64.
TEST(CellTest, SequenceGradientsMatchFiniteDifferences) {
  const int64_t T = 3, B = 2, I = 3, H = 4;
  for (const std::string& kind : BuiltinCellKinds()) {
    SCOPED_TRACE(kind);
    absl::StatusOr<Cell> cell = BuiltinCell(kind, I, H);
    ASSERT_TRUE(cell.ok()) << cell.status();
    std::vector<Tensor> inputs = {testing::RandomF64({T, B, I}, 1)};
    for (size_t s = 0; s < cell->states.size(); ++s) {
      inputs.push_back(testing::RandomF64({B, H}, 2 + s));
    }
    const size_t first_param = inputs.size();
    for (const CellParam& p : cell->params) {
      // Keep relu away from its kink by using positive pre-activations.
      const double lo = kind == "rnn_relu" ? 0.1 : -0.8;
      inputs.push_back(testing::RandomF64(p.shape, inputs.size() + 10, lo, 0.8));
    }
    if (kind == "rnn_relu") inputs[0] = testing::RandomF64({T, B, I}, 1, 0.1, 1);
    auto f = [&](const std::vector<Var>& xs) -> VarOr {
      std::vector<Var> initial(xs.begin() + 1, xs.begin() + first_param);
      ParamMap params;
      for (size_t k = 0; k < cell->params.size(); ++k) {
        params[cell->params[k].name] = xs[first_param + k];
      }
      absl::StatusOr<SequenceResult> r = RunSequence(*cell, xs[0], initial, params);
      if (!r.ok()) return r.status();
      std::vector<VarOr> parts = {Reshape(r->y, {-1})};
      for (const Var& s : r->final_states) parts.push_back(Reshape(s, {-1}));
      return Concat(parts, 0);
    };
    absl::Status s = testing::CheckGradients(f, inputs);
    EXPECT_TRUE(s.ok()) << s;
  }
}

TEST(CellTest, ParameterShapesFollowTheSizes) {
  absl::StatusOr<Cell> gru = BuiltinCell("gru", 5, 7);
  ASSERT_TRUE(gru.ok());
  std::map<std::string, Shape> shapes;
  for (const CellParam& p : gru->params) shapes[p.name] = p.shape;
  EXPECT_EQ(shapes.size(), 12u);  // W, U, b, bh for r, z, n
  EXPECT_EQ(shapes["Wz"], Shape({5, 7}));
  EXPECT_EQ(shapes["Un"], Shape({7, 7}));
  EXPECT_EQ(shapes["bhr"], Shape({7}));
  absl::StatusOr<Cell> peephole = BuiltinCell("peephole", 2, 3);
  ASSERT_TRUE(peephole.ok());
  EXPECT_EQ(peephole->params.size(), 15u);  // 4 W, 4 U, 4 b, 3 p
  EXPECT_EQ(peephole->states, (std::vector<std::string>{"h", "c"}));
}

TEST(CellTest, BadInputsAreNamed) {
  EXPECT_THAT(BuiltinCell("lstmm", 2, 3).status().message(),
              HasSubstr("unknown cell kind 'lstmm'; builtin: rnn_tanh"));
  EXPECT_THAT(BuiltinCell("lstm", 0, 3).status().message(), HasSubstr("I=0"));

  Cell cell = *BuiltinCell("lstm", 2, 3);
  ParamMap params = InitParams(cell, DType::kF64, 1);
  Var h = Var::Constant(Tensor::Zeros({4, 3}, DType::kF64));
  Var x_bad = Var::Constant(Tensor::Zeros({5, 4, 3}, DType::kF64));
  EXPECT_THAT(RunSequence(cell, x_bad, {h, h}, params).status().message(),
              HasSubstr("input must be [T, B, 2], got [5,4,3]"));
  Var x = Var::Constant(Tensor::Zeros({5, 4, 2}, DType::kF64));
  EXPECT_THAT(RunSequence(cell, x, {h}, params).status().message(),
              HasSubstr("needs 2 initial states, got 1"));
  Var h_bad = Var::Constant(Tensor::Zeros({4, 2}, DType::kF64));
  EXPECT_THAT(RunSequence(cell, x, {h, h_bad}, params).status().message(),
              HasSubstr("initial state c must be [4,3], got [4,2]"));
  params.erase("Uf");
  EXPECT_THAT(RunSequence(cell, x, {h, h}, params).status().message(),
              HasSubstr("parameter Uf is missing"));
}

}  // namespace
}  // namespace gatefuse
