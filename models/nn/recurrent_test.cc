// The recurrent layer: variable-length batches give each sequence what it gets
// alone (outputs, final state and gradients), for fused and unfused cells, both
// directions, stacked; bad arguments are refused with clear messages.
#include "models/nn/recurrent.h"

#include <cmath>

#include "core/compare.h"
#include "models/nn/cpp_cells_testing.h"
#include "gtest/gtest.h"
#include "ops/ops.h"

namespace gatefuse {
namespace {

struct Case {
  std::string cell;  // builtin kind, .cell path, or "cpp:<name>" (models/nn/cpp_cells_testing.h)
  int layers;
  bool bidirectional;
  std::string merge;
  DType dtype;
  double tol;
};

std::string Name(const Case& c) {
  return absl::StrCat(c.cell, " layers=", c.layers, c.bidirectional ? " bidir-" + c.merge : "",
                      " ", DTypeName(c.dtype));
}

// max|got - want| / max|want| (core/compare.h): +inf for NaN, Inf or a shape
// mismatch, so a broken run can never look close.
double MaxRelErr(const Tensor& got, const Tensor& want) { return CompareTensors(got, want).error; }

// Steps [t0, t1) of column b, as [t1 - t0, 1, ...].
Tensor Part(const Tensor& t, int64_t t0, int64_t t1, int64_t b) {
  return t.Slice(0, t0, t1)->Slice(1, b, b + 1)->Contiguous();
}
Tensor Row(const Tensor& t, int64_t b) { return t.Slice(0, b, b + 1)->Contiguous(); }

Tensor Lengths(const std::vector<int64_t>& len) {
  Tensor t = Tensor::Empty(Shape{static_cast<int64_t>(len.size())}, DType::kI64);
  std::copy(len.begin(), len.end(), t.data<int64_t>());
  return t;
}

// loss = sum(y * wy) + sum(last * wl): every output and the final state matter.
VarOr Loss(const RecurrentOutput& out, const Tensor& wy, const Tensor& wl) {
  return Sum(out.y * Var::Leaf(wy)) + Sum(out.last * Var::Leaf(wl));
}

absl::StatusOr<CellSpec> SpecOf(const std::string& cell) {
  if (cell == "cpp:janet") return testing_cells::Janet();
  if (cell == "cpp:concat_lstm") return testing_cells::ConcatLstm();
  return CellSpecFromFlag(cell);
}

class VariableLengthTest : public testing::TestWithParam<Case> {};

TEST_P(VariableLengthTest, BatchEqualsEachSequenceAlone) {
  const Case c = GetParam();
  SCOPED_TRACE(Name(c));
  const int64_t T = 6, I = 3, H = 4;
  const std::vector<int64_t> len = {6, 2, 0, 4, 2};
  const int64_t B = len.size();
  absl::StatusOr<CellSpec> spec = SpecOf(c.cell);
  ASSERT_TRUE(spec.ok()) << spec.status();
  absl::StatusOr<Recurrent> rnn = Recurrent::Create(
      *spec, {.input_size = I, .hidden_size = H, .num_layers = c.layers,
              .bidirectional = c.bidirectional, .merge = c.merge, .dtype = c.dtype}, 7);
  ASSERT_TRUE(rnn.ok()) << rnn.status();
  const int64_t D = rnn->output_size();
  Tensor x = Tensor::Uniform({T, B, I}, c.dtype, 11, -1, 1);
  Tensor wy = Tensor::Uniform({T, B, D}, c.dtype, 12, -1, 1);
  Tensor wl = Tensor::Uniform({B, D}, c.dtype, 13, -1, 1);

  Var xv = Var::Leaf(x, true);
  absl::StatusOr<RecurrentOutput> batch = rnn->Forward(xv, Lengths(len));
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->y.shape(), (Shape{T, B, D}));
  VarOr loss = Loss(*batch, wy, wl);
  ASSERT_TRUE(loss.ok()) << loss.status();
  ASSERT_TRUE(Backward(*loss).ok());
  std::map<std::string, Tensor> batch_grads;
  for (const auto& [name, p] : rnn->params()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    batch_grads[name] = p.grad().Clone();
    Var(p).ZeroGrad();
  }
  const Tensor batch_dx = xv.grad().Clone();
  const Tensor y = batch->y.value().Cast(DType::kF64), last = batch->last.value().Cast(DType::kF64);

  std::map<std::string, Tensor> sum_grads;
  double worst = 0;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t L = len[b];
    if (L == 0) {  // nothing ran: zero outputs and final state, no gradient into x
      for (int64_t t = 0; t < T; ++t)
        for (int64_t d = 0; d < D; ++d) EXPECT_EQ(y.data<double>()[(t * B + b) * D + d], 0);
      for (int64_t d = 0; d < D; ++d) EXPECT_EQ(last.data<double>()[b * D + d], 0);
      continue;
    }
    // Sequence b alone: its last L steps, batch of one, no lengths.
    Var xb = Var::Leaf(Part(x, T - L, T, b), true);
    absl::StatusOr<RecurrentOutput> alone = rnn->Forward(xb);
    ASSERT_TRUE(alone.ok()) << alone.status();
    Tensor wyb = Part(wy, T - L, T, b);
    Tensor wlb = Row(wl, b);
    VarOr lb = Loss(*alone, wyb, wlb);
    ASSERT_TRUE(lb.ok());
    ASSERT_TRUE(Backward(*lb).ok());
    worst = std::max(worst, MaxRelErr(Part(batch->y.value(), T - L, T, b),
                                      alone->y.value()));
    worst = std::max(worst, MaxRelErr(Row(batch->last.value(), b),
                                      alone->last.value()));
    worst = std::max(worst, MaxRelErr(Part(batch_dx, T - L, T, b),
                                      xb.grad()));
    for (int64_t t = 0; t < T - L; ++t) {  // padded steps: zero output, no gradient into x
      for (int64_t d = 0; d < D; ++d) EXPECT_EQ(y.data<double>()[(t * B + b) * D + d], 0);
      for (int64_t i = 0; i < I; ++i) {
        EXPECT_EQ(batch_dx.Cast(DType::kF64).data<double>()[(t * B + b) * I + i], 0);
      }
    }
    for (const auto& [name, p] : rnn->params()) {
      Tensor g = p.grad().Cast(DType::kF64);
      if (sum_grads.count(name)) {
        for (int64_t i = 0; i < g.num_elements(); ++i) {
          sum_grads[name].data<double>()[i] += g.data<double>()[i];
        }
      } else {
        sum_grads[name] = g.Clone();
      }
      Var(p).ZeroGrad();
    }
  }
  for (const auto& [name, g] : batch_grads) {
    worst = std::max(worst, MaxRelErr(g, sum_grads[name]));
  }
  EXPECT_LE(worst, c.tol);
}

INSTANTIATE_TEST_SUITE_P(
    Cells, VariableLengthTest,
    testing::Values(Case{"lstm", 1, false, "concat", DType::kF32, 1e-4},
                    Case{"gru", 1, false, "concat", DType::kF32, 1e-4},
                    Case{"cifg", 1, false, "concat", DType::kF32, 1e-4},
                    Case{"mgu", 1, false, "concat", DType::kF32, 1e-4},
                    Case{"lstm", 2, true, "concat", DType::kF32, 1e-4},
                    Case{"gru_lbr", 2, true, "sum", DType::kF32, 1e-4},
                    Case{"models/cells/peephole.cell", 1, true, "concat", DType::kF32, 1e-4},
                    Case{"cpp:janet", 2, true, "concat", DType::kF32, 1e-4},
                    Case{"cpp:concat_lstm", 2, true, "sum", DType::kF32, 1e-4},
                    Case{"cpp:janet", 1, true, "concat", DType::kF64, 1e-12},
                    Case{"lstm", 2, true, "concat", DType::kF64, 1e-12},
                    Case{"rnn_tanh", 1, true, "sum", DType::kF64, 1e-12}));

// Independent of the layer's own machinery: the reverse direction is the cell run
// on the time-reversed sequence (RunSequence, op by op), its outputs reversed back;
// the second layer reads both directions concatenated.
TEST(RecurrentTest, BidirectionalStackMatchesTheCellOnReversedSequences) {
  const int64_t T = 5, B = 2, I = 3, H = 4;
  absl::StatusOr<Recurrent> rnn = Recurrent::Create(
      *CellSpecFromFlag("gru"),
      {.input_size = I, .hidden_size = H, .num_layers = 2, .bidirectional = true,
       .dtype = DType::kF64}, 3);
  ASSERT_TRUE(rnn.ok()) << rnn.status();
  Var x = Var::Leaf(Tensor::Uniform({T, B, I}, DType::kF64, 5, -1, 1));
  absl::StatusOr<RecurrentOutput> out = rnn->Forward(x);
  ASSERT_TRUE(out.ok()) << out.status();

  auto reverse = [&](const Var& v) -> Var {
    std::vector<VarOr> steps;
    for (int64_t t = v.shape()[0] - 1; t >= 0; --t) steps.push_back(Slice(v, 0, t, t + 1));
    return *Concat(steps, 0);
  };
  auto run = [&](int layer, const std::string& dir, const Var& in) -> SequenceResult {
    ParamMap params;
    const std::string prefix = absl::StrCat("l", layer, ".", dir, ".");
    for (const auto& [name, v] : rnn->params()) {
      if (name.rfind(prefix, 0) == 0) params[name.substr(prefix.size())] = v;
    }
    std::vector<Var> zeros(rnn->cell(layer).states.size(),
                           Var::Leaf(Tensor::Zeros({B, H}, DType::kF64)));
    return *RunSequence(rnn->cell(layer), in, zeros, params);
  };
  Var in = x;
  SequenceResult fwd, bwd;
  for (int layer = 0; layer < 2; ++layer) {
    fwd = run(layer, "fwd", in);
    bwd = run(layer, "bwd", reverse(in));
    in = *Concat({fwd.y, reverse(bwd.y)}, 2);
  }
  EXPECT_LE(MaxRelErr(out->y.value(), in.value()), 1e-12);
  Var last = *Concat({fwd.final_states[0], bwd.final_states[0]}, 1);
  EXPECT_LE(MaxRelErr(out->last.value(), last.value()), 1e-12);
}

TEST(RecurrentTest, FusedWhenRecognised) {
  for (const auto& [cell, fusion] : std::vector<std::pair<std::string, std::string>>{
           {"lstm", "lstm"}, {"gru", "gru"}, {"mgu", "custom"},
           {"models/cells/cifg.cell", "cifg"}}) {
    absl::StatusOr<Recurrent> rnn =
        Recurrent::Create(*CellSpecFromFlag(cell), {.input_size = 3, .hidden_size = 4}, 1);
    ASSERT_TRUE(rnn.ok()) << rnn.status();
    EXPECT_EQ(rnn->fusion(), fusion) << cell;
    EXPECT_EQ(rnn->PathLines(),
              std::vector<std::string>{fusion == "custom" ? "path: compiled"
                                                          : "path: fused " + fusion})
        << cell;
  }
  absl::StatusOr<Recurrent> off = Recurrent::Create(
      *CellSpecFromFlag("lstm"), {.input_size = 3, .hidden_size = 4, .recognize = false}, 1);
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off->fusion(), "custom");
  EXPECT_EQ(off->path(0, 0).kind, SequencePathKind::kCompiled);
  // f64 runs op by op, and says so for every layer and direction at once.
  absl::StatusOr<Recurrent> f64 = Recurrent::Create(
      *CellSpecFromFlag("lstm"),
      {.input_size = 3, .hidden_size = 4, .num_layers = 2, .bidirectional = true,
       .dtype = DType::kF64},
      1);
  ASSERT_TRUE(f64.ok()) << f64.status();
  ASSERT_EQ(f64->PathLines().size(), 1u);
  EXPECT_EQ(f64->PathLines()[0].rfind("path: op-by-op: f64", 0), 0u) << f64->PathLines()[0];
}

// The old spellings of two kinds are accepted where users type them, and name the
// canonical kind.
TEST(RecurrentTest, OldKindSpellingsAreAccepted) {
  for (const auto& [alias, kind] : std::vector<std::pair<std::string, std::string>>{
           {"peephole_lstm", "peephole"}, {"cifg_lstm", "cifg"}}) {
    absl::StatusOr<CellSpec> spec = CellSpecFromFlag(alias);
    ASSERT_TRUE(spec.ok()) << spec.status();
    EXPECT_EQ(spec->builtin, kind);
    absl::StatusOr<Recurrent> rnn = Recurrent::Create(*spec, {.input_size = 3, .hidden_size = 4}, 1);
    ASSERT_TRUE(rnn.ok()) << rnn.status();
    EXPECT_EQ(rnn->fusion(), kind);
  }
  EXPECT_FALSE(CellSpecFromFlag("peephole_gru").ok());
}

TEST(RecurrentTest, ParametersAreNamedPerLayerAndDirection) {
  absl::StatusOr<Recurrent> rnn = Recurrent::Create(
      *CellSpecFromFlag("rnn_tanh"),
      {.input_size = 3, .hidden_size = 4, .num_layers = 2, .bidirectional = true}, 1);
  ASSERT_TRUE(rnn.ok());
  EXPECT_EQ(rnn->params().size(), 2u * 2u * 3u);
  EXPECT_EQ(rnn->params().at("l0.bwd.W").shape(), (Shape{3, 4}));
  EXPECT_EQ(rnn->params().at("l1.fwd.W").shape(), (Shape{8, 4}));  // concat of both directions
}

TEST(RecurrentTest, RefusesBadArguments) {
  absl::StatusOr<CellSpec> unknown = CellSpecFromFlag("lsmt");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("lstm"), std::string::npos);
  EXPECT_EQ(CellSpecFromFlag("no/such.cell").status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(Recurrent::Create(*CellSpecFromFlag("lstm"), {.input_size = 0, .hidden_size = 4}, 1)
                   .ok());
  EXPECT_FALSE(Recurrent::Create(*CellSpecFromFlag("lstm"),
                                 {.input_size = 3, .hidden_size = 4, .merge = "avg"}, 1)
                   .ok());
  absl::StatusOr<Recurrent> rnn =
      Recurrent::Create(*CellSpecFromFlag("lstm"), {.input_size = 3, .hidden_size = 4}, 1);
  ASSERT_TRUE(rnn.ok());
  Var x = Var::Leaf(Tensor::Zeros({5, 2, 3}, DType::kF32));
  EXPECT_FALSE(rnn->Forward(Var::Leaf(Tensor::Zeros({5, 2, 4}, DType::kF32))).ok());
  EXPECT_FALSE(rnn->Forward(x, Lengths({6, 1})).ok());
  EXPECT_FALSE(rnn->Forward(x, Lengths({1, 2, 3})).ok());
  absl::Status negative = rnn->Forward(x, Lengths({-1, 2})).status();
  EXPECT_NE(negative.message().find("lengths[0] = -1"), std::string::npos) << negative;
}

}  // namespace
}  // namespace gatefuse
