// A recognised cell in f32 runs its whole sequence as one FusedSequence op (one
// oneDNN primitive forward and backward), and matches the unfused equations on
// the tape: values and gradients, 1e-4 relative.
#include "gtest/gtest.h"
#include "graph/executor.h"
#include "graph/sequence_compare.h"
#include "models/cells/cell.h"
#include "models/cells/cell_graph.h"
#include "passes/recognize_cell.h"
#include "passes/standard_pipeline.h"

namespace gatefuse {
namespace {

TEST(FusedPathTest, RecognisedCellsRunAsOneSequenceOp) {
  // The builtin cell, by its canonical name or an old one, and the kind it fuses to
  // (always the canonical name).
  const std::map<std::string, std::string> kinds = {
      {"lstm", "lstm"},         {"peephole", "peephole"},   {"cifg", "cifg"},
      {"gru", "gru"},           {"gru_lbr", "gru_lbr"},     {"rnn_tanh", "rnn_tanh"},
      {"rnn_relu", "rnn_relu"}, {"peephole_lstm", "peephole"}, {"cifg_lstm", "cifg"}};
  for (const auto& [builtin, kind] : kinds) {
    SCOPED_TRACE(builtin);
    absl::StatusOr<Cell> cell = BuiltinCell(builtin, 7, 5);
    ASSERT_TRUE(cell.ok()) << cell.status();
    EXPECT_EQ(cell->kind, kind);
    absl::StatusOr<Graph> traced = TraceCell(*cell);
    ASSERT_TRUE(traced.ok()) << traced.status();
    Graph compiled = *traced;
    Pipeline p({.verify = true});
    AddStandardPasses(p);
    ASSERT_TRUE(p.Run(compiled).ok());
    ASSERT_EQ(FusionKind(compiled), kind);

    const int64_t T = 6, B = 3;
    Var x = Var::Leaf(Tensor::Uniform({T, B, 7}, DType::kF32, 1, -1, 1), true);
    std::map<std::string, Var> states, params;
    for (const std::string& s : cell->states) {
      states[s] = Var::Leaf(Tensor::Uniform({B, 5}, DType::kF32, 2, -1, 1), true);
    }
    for (const auto& [name, v] : InitParams(*cell, DType::kF32, 3)) params[name] = v;
    absl::StatusOr<GraphSequenceResult> r = RunGraphSequence(compiled, x, states, params);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_NE(r->y.producer(), nullptr);
    EXPECT_EQ(r->y.producer()->op->name(), "FusedSequence");
    EXPECT_EQ(r->path.kind, SequencePathKind::kFused);
    EXPECT_EQ(r->path.ToString(), "fused " + kind);

    absl::StatusOr<SequenceComparison> cmp =
        CompareCellGraphs(compiled, *traced, {.T = 8, .B = 3, .dtype = DType::kF32});
    ASSERT_TRUE(cmp.ok()) << cmp.status();
    EXPECT_LE(cmp->max_rel_err, 1e-4) << "worst: " << cmp->worst;
    EXPECT_GT(cmp->max_rel_err, 0) << "f32 oneDNN and the tape should differ by rounding";
  }
}

}  // namespace
}  // namespace gatefuse
