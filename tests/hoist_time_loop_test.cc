#include "passes/hoist_time_loop.h"

#include "models/cells/cell.h"
#include "models/cells/cell_graph.h"
#include "passes/standard_pipeline.h"
#include "passes/testing/pass_test_main.h"

namespace gatefuse {
namespace {

using testing::ParseOrDie;

constexpr char kCell[] = R"(
graph f
input x : f64[2,3]
state h : f64[2,4]
param W : f64[3,4]
param U : f64[4,4]
param b : f64[4]
param s : f64[4]
%0 = MatMul(x, W) {transpose_a=0, transpose_b=0} : f64[2,4]
%1 = MatMul(h, U) {transpose_a=0, transpose_b=0} : f64[2,4]
%2 = AddN(%0, %1, b) : f64[2,4]
%3 = Tanh(%2) : f64[2,4]
%4 = Tanh(s) : f64[4]
%5 = Mul(%3, %4) : f64[2,4]
%6 = Reshape(x) {shape=[-1]} : f64[6]
%7 = Sum(%6) {axes=[], keepdims=0} : f64[]
%8 = Mul(%5, %7) : f64[2,4]
output h = %8
)";

Placement PlacementOfOp(const Graph& g, const std::string& op, int nth = 0) {
  for (NodeId id = 0; id < g.num_node_slots(); ++id) {
    if (!g.node(id).dead && g.node(id).op == op && nth-- == 0) return g.node(id).placement;
  }
  ADD_FAILURE() << "no " << op;
  return Placement::kStep;
}

TEST(HoistTimeLoopTest, MarksInvariantAndTimeBatchedValues) {
  const Graph before = ParseOrDie(kCell);
  Graph after = before;
  absl::StatusOr<bool> changed = HoistTimeLoop().Run(after);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_TRUE(*changed);
  ASSERT_TRUE(Verify(after).ok());
  after = after.Compact();
  EXPECT_EQ(PlacementOfOp(after, "MatMul", 0), Placement::kTimeBatched);  // x @ W
  EXPECT_EQ(PlacementOfOp(after, "MatMul", 1), Placement::kStep);         // h @ U
  EXPECT_EQ(PlacementOfOp(after, "Tanh", 0), Placement::kInvariant);      // tanh(s)
  EXPECT_EQ(PlacementOfOp(after, "Reshape"), Placement::kStep);           // mixes rows
  // The state-free part of the sum, x @ W + b, is split out and hoisted.
  int hoisted_sums = 0;
  for (NodeId id = 0; id < after.num_node_slots(); ++id) {
    const NodeData& d = after.node(id);
    if (d.op == "AddN" && d.placement == Placement::kTimeBatched) {
      ++hoisted_sums;
      EXPECT_EQ(d.inputs.size(), 2u);
    }
  }
  EXPECT_EQ(hoisted_sums, 1);
  absl::Status same = testing::CheckSameSequence(before, after, 4, 3);
  EXPECT_TRUE(same.ok()) << same << PrintGraph(after);
  // Marking again changes nothing.
  EXPECT_FALSE(*HoistTimeLoop().Run(after));
}

TEST(HoistTimeLoopTest, LeavesGraphsWithoutAPerStepInput) {
  Graph g = ParseOrDie(R"(
graph f
param W : f64[3,4]
%0 = Tanh(W) : f64[3,4]
output y = %0
)");
  absl::StatusOr<bool> changed = HoistTimeLoop().Run(g);
  ASSERT_TRUE(changed.ok());
  EXPECT_FALSE(*changed);
}

// Every builtin cell down the custom path: the input projection is one
// hoisted GEMM, and the sequence computes the same values and gradients.
TEST(HoistTimeLoopTest, EveryBuiltinCellHoistsItsInputProjection) {
  for (const std::string& kind : BuiltinCellKinds()) {
    SCOPED_TRACE(kind);
    absl::StatusOr<Cell> cell = BuiltinCell(kind, 3, 5);
    ASSERT_TRUE(cell.ok());
    absl::StatusOr<Graph> traced = TraceCell(*cell, DType::kF64);
    ASSERT_TRUE(traced.ok()) << traced.status();
    Graph compiled = *traced;
    Pipeline pipeline({.verify = true});
    AddStandardPasses(pipeline, {.recognize = false});  // the custom path
    ASSERT_TRUE(pipeline.Run(compiled).ok());
    compiled = compiled.Compact();
    int hoisted_matmuls = 0, step_matmuls = 0;
    for (NodeId id = 0; id < compiled.num_node_slots(); ++id) {
      const NodeData& d = compiled.node(id);
      if (d.op != "MatMul") continue;
      (d.placement == Placement::kTimeBatched ? hoisted_matmuls : step_matmuls)++;
      if (d.placement == Placement::kTimeBatched) {
        // [B, I] x [I, G*H]: every gate's input weights in one GEMM.
        const int64_t gates = static_cast<int64_t>(BuiltinCellGates(kind)->size());
        EXPECT_EQ(compiled.spec(d.inputs[1]).shape, Shape({3, gates * 5}));
      }
    }
    EXPECT_EQ(hoisted_matmuls, 1);
    EXPECT_GE(step_matmuls, 1);
    absl::Status same = testing::CheckSameSequence(*traced, compiled, 4, 3);
    EXPECT_TRUE(same.ok()) << same << PrintGraph(compiled);
  }
}

}  // namespace
}  // namespace gatefuse
