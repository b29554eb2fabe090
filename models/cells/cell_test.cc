#include "models/cells/cell.h"

#include <cmath>
#include <optional>

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

// ln_lstm is a builtin kind defined by models/cells/ln_lstm.cell.
TEST(CellTest, LnLstmIsABuiltinWithTheReferenceLayout) {
  const std::vector<std::string> kinds = BuiltinCellKinds();
  EXPECT_EQ(kinds.back(), "ln_lstm");
  EXPECT_EQ(*BuiltinCellGates("ln_lstm"), (std::vector<std::string>{"i", "f", "g", "o"}));
  absl::StatusOr<Cell> cell = BuiltinCell("ln_lstm", 2, 3);
  ASSERT_TRUE(cell.ok()) << cell.status();
  EXPECT_EQ(cell->kind, "ln_lstm");
  EXPECT_EQ(cell->input_size, 2);
  EXPECT_EQ(cell->hidden_size, 3);
  EXPECT_EQ(cell->states, (std::vector<std::string>{"h", "c"}));
  std::vector<std::string> names;
  for (const CellParam& p : cell->params) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"W", "U", "lnx_g", "lnx_b", "lnh_g", "lnh_b",
                                             "lnc_g", "lnc_b"}));
  const std::vector<Shape> shapes = {{2, 12}, {3, 12}, {12}, {12}, {12}, {12}, {3}, {3}};
  const std::vector<std::optional<double>> inits = {std::nullopt, std::nullopt, 1.0, 0.0,
                                                    1.0,          0.0,          1.0, 0.0};
  for (size_t k = 0; k < names.size(); ++k) {
    EXPECT_EQ(cell->params[k].shape, shapes[k]) << names[k];
    EXPECT_EQ(cell->params[k].init, inits[k]) << names[k];
  }
  EXPECT_THAT(BuiltinCell("ln_lstm", 2, 0).status().message(),
              HasSubstr("cell ln_lstm: sizes must be positive, got I=2 H=0"));

  // One step with W = U = 0 and the initial gains and shifts: z = 0, so every
  // sigmoid gate is 1/2 and g = 0; c' = LN(c / 2), h' = tanh(c') / 2. For c = (1, 2, 3):
  // c / 2 - mean = (-0.5, 0, 0.5), variance 1/6.
  ParamMap params = InitParams(*cell, DType::kF64, 5);
  EXPECT_THAT(params.at("lnx_g").value().ToVector(), ::testing::Each(1.0));
  EXPECT_THAT(params.at("lnc_b").value().ToVector(), ::testing::Each(0.0));
  params["W"] = Var::Leaf(Tensor::Zeros({2, 12}, DType::kF64), true);
  params["U"] = Var::Leaf(Tensor::Zeros({3, 12}, DType::kF64), true);
  const Var x = Var::Constant(*Tensor::FromValues({1, 1, 2}, {0.3, -0.7}, DType::kF64));
  const Var h = Var::Constant(*Tensor::FromValues({1, 3}, {0.1, 0.2, 0.3}, DType::kF64));
  const Var c = Var::Constant(*Tensor::FromValues({1, 3}, {1, 2, 3}, DType::kF64));
  absl::StatusOr<SequenceResult> r = RunSequence(*cell, x, {h, c}, params);
  ASSERT_TRUE(r.ok()) << r.status();
  const double s = std::sqrt(1.0 / 6 + 1e-5);
  const std::vector<double> c2 = {-0.5 / s, 0, 0.5 / s};
  const std::vector<double> got_c = r->final_states[1].value().ToVector();
  const std::vector<double> got_h = r->final_states[0].value().ToVector();
  ASSERT_EQ(got_c.size(), 3u);
  ASSERT_EQ(got_h.size(), 3u);
  for (int k = 0; k < 3; ++k) {
    EXPECT_NEAR(got_c[k], c2[k], 1e-14) << k;
    EXPECT_NEAR(got_h[k], 0.5 * std::tanh(c2[k]), 1e-14) << k;
  }
}

// A param's init replaces the uniform draw for it alone.
TEST(CellTest, InitParamsUsesTheInitialValues) {
  Cell cell = *BuiltinCell("rnn_tanh", 2, 4);
  const ParamMap uniform = InitParams(cell, DType::kF32, 9);
  cell.params[2].init = 0.25;  // b
  const ParamMap with_init = InitParams(cell, DType::kF32, 9);
  EXPECT_EQ(cell.params[2].name, "b");
  EXPECT_THAT(with_init.at("b").value().ToVector(), ::testing::Each(0.25));
  EXPECT_EQ(with_init.at("b").value().dtype(), DType::kF32);
  EXPECT_TRUE(with_init.at("b").requires_grad());
  EXPECT_EQ(with_init.at("W").value().ToVector(), uniform.at("W").value().ToVector());
  EXPECT_EQ(with_init.at("U").value().ToVector(), uniform.at("U").value().ToVector());
}

TEST(CellTest, BadInputsAreNamed) {
  EXPECT_THAT(BuiltinCell("lstmm", 2, 3).status().message(),
              HasSubstr("unknown cell kind 'lstmm'; builtin: rnn_tanh"));
  EXPECT_THAT(BuiltinCell("lstmm", 2, 3).status().message(), HasSubstr("mgu ln_lstm"));
  EXPECT_THAT(BuiltinCellGates("lstmm").status().message(), HasSubstr("unknown cell kind"));
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
