// Cells with feature-axis reductions, [B, 1] values, divisions, every elementwise
// function and concatenations run on the compiled plan (path "compiled", one
// CompiledSequence tape node) and match the same cell run op by op on the tape:
// y, the final states and the gradients of x, of the initial states and of every
// parameter, 1e-4 relative in f32, at shapes with B = 1 and widths that are not
// a multiple of the register length (graph/compiled_cells_testing.h).
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "gmock/gmock.h"
#include "graph/compiled_cells_testing.h"
#include "graph/compiled_plan.h"
#include "graph/compiled_pointwise.h"
#include "graph/compiled_sequence.h"
#include "gtest/gtest.h"
#include "ops/ops.h"

namespace gatefuse::testing {
namespace {

using ::testing::HasSubstr;

// LN(v; g, b) = (v - mean(v)) / sqrt(mean((v - mean(v))^2) + 1e-5) * g + b, over the
// features, written out in the ops the plan fuses.
VarOr LayerNorm(const VarOr& v, const Var& gain, const Var& shift) {
  const VarOr d = Sub(v, Mean(v, {1}, true));
  const VarOr var = Mean(Mul(d, d), {1}, true);
  return Add(Mul(Div(d, Sqrt(AddScalar(var, 1e-5))), gain), shift);
}

std::vector<TestParam> Gains(const std::vector<std::string>& names, int64_t n) {
  std::vector<TestParam> p;
  for (const std::string& name : names) {
    const bool gain = name.back() == 'g';
    p.push_back({name, Shape{n}, gain ? 0.5 : -0.5, gain ? 1.5 : 0.5});
  }
  return p;
}

// shared/reference/README.md ln_lstm: z = LN(x W; lnx) + LN(h U; lnh) over the 4H
// gates, c' = LN(sigmoid(f) c + sigmoid(i) tanh(g); lnc), h' = sigmoid(o) tanh(c').
TestCell LnLstm(int64_t I, int64_t H) {
  TestCell c;
  c.name = "ln_lstm";
  c.input_size = I;
  c.states = {{"h", H}, {"c", H}};
  c.params = {{"W", Shape{I, 4 * H}, -1.0 / std::sqrt(I), 1.0 / std::sqrt(I)},
              {"U", Shape{H, 4 * H}, -1.0 / std::sqrt(H), 1.0 / std::sqrt(H)}};
  for (const TestParam& p : Gains({"lnx_g", "lnx_b", "lnh_g", "lnh_b"}, 4 * H)) {
    c.params.push_back(p);
  }
  for (const TestParam& p : Gains({"lnc_g", "lnc_b"}, H)) c.params.push_back(p);
  c.step = [](const Var& x, const Vars& s,
              const Vars& p) -> absl::StatusOr<std::vector<Var>> {
    const VarOr z = LayerNorm(MatMul(x, p.at("W")), p.at("lnx_g"), p.at("lnx_b")) +
                    LayerNorm(MatMul(s.at("h"), p.at("U")), p.at("lnh_g"), p.at("lnh_b"));
    GF_ASSIGN_OR_RETURN(std::vector<Var> g, Split(z, 4, 1));
    GF_ASSIGN_OR_RETURN(
        Var c2, LayerNorm(Sigmoid(g[1]) * s.at("c") + Sigmoid(g[0]) * Tanh(g[2]), p.at("lnc_g"),
                          p.at("lnc_b")));
    GF_ASSIGN_OR_RETURN(Var h2, Sigmoid(g[3]) * Tanh(c2));
    return std::vector<Var>{h2, c2};
  };
  return c;
}

// models/cells/ln_gru.cell: a = LN(x W), b = LN(h U) over the 3H gates; r, z from
// a + b; n = tanh(a_n + r b_n); h' = (1 - z) n + z h.
TestCell LnGru(int64_t I, int64_t H) {
  TestCell c;
  c.name = "ln_gru";
  c.input_size = I;
  c.states = {{"h", H}};
  c.params = {{"W", Shape{I, 3 * H}, -1.0 / std::sqrt(I), 1.0 / std::sqrt(I)},
              {"U", Shape{H, 3 * H}, -1.0 / std::sqrt(H), 1.0 / std::sqrt(H)}};
  for (const TestParam& p : Gains({"lnx_g", "lnx_b", "lnh_g", "lnh_b"}, 3 * H)) {
    c.params.push_back(p);
  }
  c.step = [](const Var& x, const Vars& s,
              const Vars& p) -> absl::StatusOr<std::vector<Var>> {
    GF_ASSIGN_OR_RETURN(std::vector<Var> a,
                        Split(LayerNorm(MatMul(x, p.at("W")), p.at("lnx_g"), p.at("lnx_b")), 3, 1));
    GF_ASSIGN_OR_RETURN(
        std::vector<Var> b,
        Split(LayerNorm(MatMul(s.at("h"), p.at("U")), p.at("lnh_g"), p.at("lnh_b")), 3, 1));
    const VarOr r = Sigmoid(a[0] + b[0]);
    const VarOr z = Sigmoid(a[1] + b[1]);
    const VarOr n = Tanh(a[2] + r * b[2]);
    GF_ASSIGN_OR_RETURN(Var h2, (1.0 - z) * n + z * s.at("h"));
    return std::vector<Var>{h2};
  };
  return c;
}

// A row sum s = sum(e) [B, 1] multiplying and shifting [B, H] values, a mean of the
// state, a division by a [B, 1] value, a [1] parameter inside a [B, 1] expression,
// and a GEMM whose left operand is a per-step value ((r h) @ Un).
TestCell RowSumCell(int64_t I, int64_t H) {
  TestCell c;
  c.name = "row_sum";
  c.input_size = I;
  c.states = {{"h", H}};
  const double wi = 1.0 / std::sqrt(I), wh = 1.0 / std::sqrt(H);
  c.params = {{"W", Shape{I, H}, -wi, wi},   {"U", Shape{H, H}, -wh, wh},
              {"b", Shape{H}},               {"Wr", Shape{I, H}, -wi, wi},
              {"Ur", Shape{H, H}, -wh, wh},  {"Un", Shape{H, H}, -wh, wh},
              {"p", Shape{1}, 0.5, 1.5}};
  c.step = [H](const Var& x, const Vars& s,
               const Vars& p) -> absl::StatusOr<std::vector<Var>> {
    const Var& h = s.at("h");
    const VarOr e = Tanh(MatMul(x, p.at("W")) + MatMul(h, p.at("U")) + p.at("b"));
    const VarOr sum = Sum(e, {1}, true);
    const VarOr r = Sigmoid(MatMul(x, p.at("Wr")) + MatMul(h, p.at("Ur")));
    const VarOr n = Tanh(MatMul(r * h, p.at("Un")) + sum * (1.0 / H));
    const VarOr m = Mean(h, {1}, true);
    GF_ASSIGN_OR_RETURN(
        Var h2, e * Sigmoid(sum * p.at("p") * (1.0 / H)) + n * (h - m) / (1.0 + Abs(m)));
    return std::vector<Var>{h2};
  };
  return c;
}

// Divisions and every elementwise function of the plan's lowerings, with a [B, 1]
// denominator from a mean.
TestCell FunctionsCell(int64_t I, int64_t H) {
  TestCell c;
  c.name = "functions";
  c.input_size = I;
  c.states = {{"h", H}};
  c.params = {{"W", Shape{I, 2 * H}}, {"U", Shape{H, 2 * H}, -0.5, 0.5}, {"b", Shape{2 * H}}};
  c.step = [H](const Var& x, const Vars& s,
               const Vars& p) -> absl::StatusOr<std::vector<Var>> {
    const Var& h = s.at("h");
    const VarOr z = MatMul(x, p.at("W")) + MatMul(h, p.at("U")) + p.at("b");
    const VarOr a = Slice(z, 1, 0, H), c2 = Slice(z, 1, H, 2 * H);
    const VarOr q1 = Tanh(a) / (1.0 + Softplus(c2));
    const VarOr q2 = h / Sqrt(a * a + 1.0);
    const VarOr q3 = Softsign(a) / (Abs(c2) + 0.5);
    const VarOr q4 = HardSigmoid(c2, 0.3, 0.4) * LeakyRelu(a, 0.1) + Elu(c2, 0.7) -
                     ThresholdedRelu(a, 0.2);
    const VarOr q5 = Clip(a, -0.4, 0.6) + Min(a, c2) - Max(h, c2) * 0.5 + Exp(-Relu(a)) +
                     Log(Sigmoid(c2) + 1.0);
    const VarOr den = Mean(q1 * q1, {1}, true) + 1.0;
    GF_ASSIGN_OR_RETURN(Var h2, (q1 + q2 + q3 + q4 * 0.5 + q5 * 0.3) / den);
    return std::vector<Var>{h2};
  };
  return c;
}

// concat(x, h) @ W (parts copied: the input and a state; x @ Wx the hoisted
// projection the plan needs to see placements); the concatenation of
// two gates' values (stored in place by their group) read by a GEMM and by
// slices; a state whose next value is a concatenation.
TestCell ConcatCell(int64_t I, int64_t H) {
  TestCell c;
  c.name = "concat";
  c.input_size = I;
  c.states = {{"h", H}, {"k", 2 * H}};
  const double w = 1.0 / std::sqrt(I + H), v = 1.0 / std::sqrt(2 * H);
  c.params = {{"W", Shape{I + H, 2 * H}, -w, w},
              {"Wx", Shape{I, 2 * H}, -w, w},
              {"b", Shape{2 * H}},
              {"V", Shape{2 * H, H}, -v, v}};
  c.step = [H](const Var& x, const Vars& s,
               const Vars& p) -> absl::StatusOr<std::vector<Var>> {
    const Var& h = s.at("h");
    const Var& k = s.at("k");
    const VarOr xz = MatMul(Concat({x, h}, 1), p.at("W")) + MatMul(x, p.at("Wx")) + p.at("b");
    const VarOr a = Slice(xz, 1, 0, H), c2 = Slice(xz, 1, H, 2 * H);
    const VarOr tc = Tanh(c2);
    const VarOr m = Concat({Sigmoid(a) * h, tc}, 1);
    GF_ASSIGN_OR_RETURN(Var k2, Concat({tc * 0.5, Sigmoid(a) * Slice(k, 1, 0, H)}, 1));
    GF_ASSIGN_OR_RETURN(Var h2, Tanh(MatMul(m, p.at("V"))) * 0.5 +
                                    Slice(m, 1, 0, H) * Slice(k, 1, H, 2 * H));
    return std::vector<Var>{h2, k2};
  };
  return c;
}

struct Size {
  int64_t T, B, I, H;
};

// Rows that end in a partial register (pointwise::RegisterFloats: 64, 128 or 256
// floats): H = 70, 33, 16, 110 and 4H = 280, 132, 64 (exactly one), 440; at
// B = 40, H = 110 the passes are split over the threads.
const Size kSizes[] = {{3, 1, 5, 70}, {4, 3, 12, 16}, {2, 2, 7, 33}, {2, 40, 9, 110}};

void ExpectCompiledMatchesTheTape(const TestCell& cell, const Size& z) {
  SCOPED_TRACE(absl::StrCat(cell.name, " T=", z.T, " B=", z.B, " I=", z.I, " H=", z.H));
  absl::StatusOr<Graph> traced = TraceTestCell(cell);
  ASSERT_TRUE(traced.ok()) << traced.status();
  const Graph placed = PlaceForTest(*traced);
  absl::StatusOr<SequencePath> path = ChooseSequencePath(placed, DType::kF32);
  ASSERT_TRUE(path.ok()) << path.status();
  ASSERT_EQ(path->ToString(), "compiled");
  absl::StatusOr<RunResult> ours = RunTestCell(cell, placed, z.T, z.B, 7);
  ASSERT_TRUE(ours.ok()) << ours.status();
  EXPECT_EQ(ours->path.ToString(), "compiled");
  EXPECT_EQ(ours->producer, "CompiledSequence");
  absl::StatusOr<RunResult> ref = RunTestCell(cell, *traced, z.T, z.B, 7);
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->path.kind, SequencePathKind::kOpByOp) << ref->path.ToString();
  std::string worst;
  const double err = MaxError(*ours, *ref, worst);
  EXPECT_LE(err, 1e-4) << "worst: " << worst;
  // The interpreter's exp is not std::exp: a zero error would mean the compiled
  // plan did not run.
  EXPECT_GT(err, 0);
}

TEST(CompiledReductionTest, LayerNormLstmMatchesTheTape) {
  for (const Size& z : kSizes) ExpectCompiledMatchesTheTape(LnLstm(z.I, z.H), z);
}

TEST(CompiledReductionTest, LayerNormGruMatchesTheTape) {
  for (const Size& z : kSizes) ExpectCompiledMatchesTheTape(LnGru(z.I, z.H), z);
}

TEST(CompiledReductionTest, RowSumsBroadcastOverTheRowAndMatchTheTape) {
  for (const Size& z : kSizes) ExpectCompiledMatchesTheTape(RowSumCell(z.I, z.H), z);
}

TEST(CompiledReductionTest, DivisionsAndEveryFunctionMatchTheTape) {
  for (const Size& z : kSizes) ExpectCompiledMatchesTheTape(FunctionsCell(z.I, z.H), z);
}

TEST(CompiledReductionTest, ConcatenationsMatchTheTape) {
  for (const Size& z : kSizes) ExpectCompiledMatchesTheTape(ConcatCell(z.I, z.H), z);
}

// The layer norms of an LN-LSTM step are two groups (the 4H gates, the H cell
// state), each three sweeps over a row forward and three backward: no pass over
// memory per op.
TEST(CompiledReductionTest, LayerNormLstmRunsAsTwoGroupsOfThreeSweeps) {
  absl::StatusOr<Graph> traced = TraceTestCell(LnLstm(8, 70));
  ASSERT_TRUE(traced.ok()) << traced.status();
  absl::StatusOr<std::shared_ptr<const compiled::Structure>> s =
      compiled::StructureOf(PlaceForTest(*traced));
  ASSERT_TRUE(s.ok()) << s.status();
  std::vector<int64_t> widths;
  for (const compiled::GroupDef& g : (*s)->groups) {
    ASSERT_FALSE(g.copy);
    widths.push_back(g.width);
    EXPECT_EQ(g.forward.sweeps.size(), 3u) << g.forward.ToString();
    EXPECT_EQ(g.backward.sweeps.size(), 3u) << g.backward.ToString();
    EXPECT_TRUE(g.forward.code.empty());
    EXPECT_LE(g.forward.scratch_slots, 2);
  }
  EXPECT_THAT(widths, ::testing::ElementsAre(4 * 70, 70));
  absl::StatusOr<std::string> explain = ExplainCompiledSequence(PlaceForTest(*traced));
  ASSERT_TRUE(explain.ok()) << explain.status();
  EXPECT_THAT(*explain, HasSubstr("3 forward / 3 backward sweeps over each row"));
}

// A GEMM output read by one op of one group gets its adjoint stored, not added
// (its buffer is not zeroed); one read in two sweeps (a layer norm's input: by the
// mean, then by v - m) keeps the accumulation.
TEST(CompiledReductionTest, GemmOutputsReadOnceHaveTheirAdjointsStored) {
  auto stored = [](const TestCell& cell) {
    absl::StatusOr<Graph> traced = TraceTestCell(cell);
    EXPECT_TRUE(traced.ok()) << traced.status();
    absl::StatusOr<std::shared_ptr<const compiled::Structure>> s =
        compiled::StructureOf(PlaceForTest(*traced));
    EXPECT_TRUE(s.ok()) << s.status();
    std::vector<bool> flags;
    for (const compiled::BufferDef& b : (*s)->buffers) {
      if (b.kind == compiled::BufferKind::kGemm || b.kind == compiled::BufferKind::kHoisted) {
        flags.push_back(b.stored_adjoint);
      }
    }
    return flags;
  };
  EXPECT_THAT(stored(RowSumCell(4, 6)), ::testing::Each(true));
  EXPECT_THAT(stored(RowSumCell(4, 6)), ::testing::SizeIs(5));
  EXPECT_THAT(stored(LnLstm(4, 6)), ::testing::ElementsAre(false, false));
}

// What the plan still does not take runs op by op, and the path names the node.
TEST(CompiledReductionTest, OtherReductionsRunOpByOpAndSayWhy) {
  struct Refused {
    const char* name;
    std::function<VarOr(const Var& h)> next;
    const char* reason;
  };
  const Refused cases[] = {
      {"batch_mean", [](const Var& h) { return h - Mean(h, {0}, true); }, "reduces axes {0}"},
      {"flat_sum",
       [](const Var& h) { return h * Reshape(Sum(h, {1}, false), Shape{-1, 1}); },
       "without keepdims"},
      {"softmax", [](const Var& h) { return Softmax(h, 1); }, "op Softmax"},
  };
  for (const Refused& r : cases) {
    SCOPED_TRACE(r.name);
    TestCell c;
    c.name = r.name;
    c.input_size = 3;
    c.states = {{"h", 5}};
    c.params = {{"W", Shape{3, 5}}};
    c.step = [&r](const Var& x, const Vars& s, const Vars& p) -> absl::StatusOr<std::vector<Var>> {
      GF_ASSIGN_OR_RETURN(Var a, Tanh(MatMul(x, p.at("W")) + s.at("h")));
      GF_ASSIGN_OR_RETURN(Var h2, r.next(a));
      return std::vector<Var>{h2};
    };
    absl::StatusOr<Graph> traced = TraceTestCell(c);
    ASSERT_TRUE(traced.ok()) << traced.status();
    const Graph placed = PlaceForTest(*traced);
    absl::StatusOr<SequencePath> path = ChooseSequencePath(placed, DType::kF32);
    ASSERT_TRUE(path.ok()) << path.status();
    EXPECT_EQ(path->kind, SequencePathKind::kOpByOp);
    EXPECT_THAT(path->ToString(), HasSubstr("op-by-op: cell "));
    EXPECT_THAT(path->ToString(), HasSubstr(r.reason));
    EXPECT_THAT(path->ToString(), HasSubstr("node %"));
    absl::StatusOr<RunResult> run = RunTestCell(c, placed, 2, 2, 3);
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_EQ(run->path.ToString(), path->ToString());
  }
}

}  // namespace
}  // namespace gatefuse::testing
