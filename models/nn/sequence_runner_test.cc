// RunCellDirection: for both paddings and both directions, with initial states
// given, a padded batch gives each sequence what it gets alone — outputs at its
// real steps (zero elsewhere), final states, and the gradients of its input and
// initial states — on the fused path (f32) and op by op (f64).
#include "models/nn/sequence_runner.h"

#include "core/compare_testing.h"
#include "graph/executor.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "models/cells/cell.h"
#include "models/cells/cell_graph.h"
#include "ops/ops.h"
#include "passes/pass.h"
#include "passes/standard_pipeline.h"

namespace gatefuse {
namespace {

struct Case {
  Padding padding;
  bool reverse;
  DType dtype;
};

// Lengths with an empty sequence, and lengths without one, where the last segment
// (reverse, post-padded: the first step) has every sequence in it.
class SequenceRunnerTest : public testing::TestWithParam<Case> {
 protected:
  void BatchEqualsEachSequenceAlone(const std::vector<int64_t>& len);
};

TEST_P(SequenceRunnerTest, BatchEqualsEachSequenceAlone) {
  BatchEqualsEachSequenceAlone({5, 1, 0, 3, 3});
  BatchEqualsEachSequenceAlone({5, 2, 1});
}

void SequenceRunnerTest::BatchEqualsEachSequenceAlone(const std::vector<int64_t>& len) {
  SCOPED_TRACE(absl::StrCat("lengths ", absl::StrJoin(len, " ")));
  const Case c = GetParam();
  const int64_t T = 5, I = 3, H = 4;
  const int64_t B = len.size();
  const double tol = c.dtype == DType::kF64 ? 1e-12 : 1e-5;
  absl::StatusOr<Cell> cell = BuiltinCell("lstm", I, H);
  ASSERT_TRUE(cell.ok());
  absl::StatusOr<Graph> g = TraceCell(*cell, c.dtype);
  ASSERT_TRUE(g.ok());
  Pipeline pipeline;
  AddStandardPasses(pipeline);
  ASSERT_TRUE(pipeline.Run(*g).ok());
  absl::StatusOr<SequencePath> path = ChooseSequencePath(*g, c.dtype);
  ASSERT_TRUE(path.ok());
  EXPECT_EQ(path->kind, c.dtype == DType::kF32 ? SequencePathKind::kFused : SequencePathKind::kOpByOp)
      << path->ToString();
  const ParamMap params = InitParams(*cell, c.dtype, 3);
  const CellRun run{.cell = *g, .states = cell->states, .params = params, .hidden_size = H};

  const Tensor x = Tensor::Uniform({T, B, I}, c.dtype, 1, -1, 1);
  const Tensor h0 = Tensor::Uniform({B, H}, c.dtype, 2, -1, 1);
  const Tensor c0 = Tensor::Uniform({B, H}, c.dtype, 3, -1, 1);
  const Tensor wy = Tensor::Uniform({T, B, H}, c.dtype, 4, -1, 1);
  const Tensor wh = Tensor::Uniform({B, H}, c.dtype, 5, -1, 1);
  const Tensor wc = Tensor::Uniform({B, H}, c.dtype, 6, -1, 1);
  Var xv = Var::Leaf(x, true), hv = Var::Leaf(h0, true), cv = Var::Leaf(c0, true);
  absl::StatusOr<DirectionResult> batch = RunCellDirection(
      run, xv, {.lengths = len, .padding = c.padding, .reverse = c.reverse,
                .initial_states = {hv, cv}});
  ASSERT_TRUE(batch.ok()) << batch.status();
  VarOr loss = Sum(batch->y * Var::Constant(wy)) + Sum(batch->final_states[0] * Var::Constant(wh)) +
               Sum(batch->final_states[1] * Var::Constant(wc));
  ASSERT_TRUE(loss.ok() && Backward(*loss).ok());

  for (int64_t b = 0; b < B; ++b) {
    SCOPED_TRACE(absl::StrCat("sequence ", b, " of length ", len[b]));
    const int64_t L = len[b];
    const int64_t first = c.padding == Padding::kPost ? 0 : T - L;  // its real steps
    const Tensor y = batch->y.value().Slice(1, b, b + 1)->Contiguous();
    Tensor want_y = Tensor::Zeros({T, 1, H}, c.dtype);
    Tensor want_h = h0.Slice(0, b, b + 1)->Contiguous(), want_c = c0.Slice(0, b, b + 1)->Contiguous();
    Tensor gx = Tensor::Zeros({T, 1, I}, c.dtype);
    Tensor gh = wh.Slice(0, b, b + 1)->Contiguous(), gc = wc.Slice(0, b, b + 1)->Contiguous();
    if (L > 0) {
      Var xb = Var::Leaf(x.Slice(0, first, first + L)->Slice(1, b, b + 1)->Contiguous(), true);
      Var hb = Var::Leaf(want_h, true), cb = Var::Leaf(want_c, true);
      absl::StatusOr<DirectionResult> alone =
          RunCellDirection(run, xb, {.reverse = c.reverse, .initial_states = {hb, cb}});
      ASSERT_TRUE(alone.ok()) << alone.status();
      const Tensor wyb = wy.Slice(0, first, first + L)->Slice(1, b, b + 1)->Contiguous();
      VarOr l = Sum(alone->y * Var::Constant(wyb)) + Sum(alone->final_states[0] * Var::Constant(gh)) +
                Sum(alone->final_states[1] * Var::Constant(gc));
      ASSERT_TRUE(l.ok() && Backward(*l).ok());
      // Place the alone run's outputs and input gradient at the sequence's steps.
      NoGradGuard no_grad;
      Var placed_y = *Concat({Var::Constant(Tensor::Zeros({first, 1, H}, c.dtype)), alone->y,
                              Var::Constant(Tensor::Zeros({T - first - L, 1, H}, c.dtype))},
                             0);
      want_y = placed_y.value();
      Var placed_gx = *Concat({Var::Constant(Tensor::Zeros({first, 1, I}, c.dtype)),
                               Var::Constant(xb.grad()),
                               Var::Constant(Tensor::Zeros({T - first - L, 1, I}, c.dtype))},
                              0);
      gx = placed_gx.value();
      want_h = alone->final_states[0].value();
      want_c = alone->final_states[1].value();
      gh = hb.grad();
      gc = cb.grad();
    }
    EXPECT_TRUE(TensorsClose(y, want_y, tol, "y"));
    EXPECT_TRUE(TensorsClose(batch->final_states[0].value().Slice(0, b, b + 1)->Contiguous(),
                             want_h, tol, "final h"));
    EXPECT_TRUE(TensorsClose(batch->final_states[1].value().Slice(0, b, b + 1)->Contiguous(),
                             want_c, tol, "final c"));
    EXPECT_TRUE(TensorsClose(xv.grad().Slice(1, b, b + 1)->Contiguous(), gx, tol, "dx"));
    EXPECT_TRUE(TensorsClose(hv.grad().Slice(0, b, b + 1)->Contiguous(), gh, tol, "dh0"));
    EXPECT_TRUE(TensorsClose(cv.grad().Slice(0, b, b + 1)->Contiguous(), gc, tol, "dc0"));
  }
}

INSTANTIATE_TEST_SUITE_P(
    PaddingsAndDirections, SequenceRunnerTest,
    testing::Values(Case{Padding::kPre, false, DType::kF32}, Case{Padding::kPre, true, DType::kF32},
                    Case{Padding::kPost, false, DType::kF32}, Case{Padding::kPost, true, DType::kF32},
                    Case{Padding::kPre, false, DType::kF64}, Case{Padding::kPre, true, DType::kF64},
                    Case{Padding::kPost, false, DType::kF64}, Case{Padding::kPost, true, DType::kF64}));

TEST(SequenceRunnerTest, BadLengthsAndStatesAreRefused) {
  absl::StatusOr<Cell> cell = BuiltinCell("gru", 2, 3);
  absl::StatusOr<Graph> g = TraceCell(*cell, DType::kF32);
  const ParamMap params = InitParams(*cell, DType::kF32, 3);
  const CellRun run{.cell = *g, .states = cell->states, .params = params, .hidden_size = 3};
  const Var x = Var::Constant(Tensor::Zeros({4, 2, 2}, DType::kF32));
  EXPECT_EQ(RunCellDirection(run, x, {.lengths = {4, 5}}).status().message(),
            "recurrent direction: lengths[1] = 5 is outside [0, T=4]");
  EXPECT_EQ(RunCellDirection(run, x, {.lengths = {4}}).status().message(),
            "recurrent direction: 1 lengths for a batch of 2");
  EXPECT_EQ(RunCellDirection(run, x, {.initial_states = {Var::Constant(
                                          Tensor::Zeros({2, 4}, DType::kF32))}})
                .status()
                .message(),
            "recurrent direction: initial state 'h' must be f32[2, 3], got f32[2,4]");
}

}  // namespace
}  // namespace gatefuse
