#include "passes/gemm_merge.h"

#include "passes/testing/pass_test_main.h"

namespace gatefuse {
namespace {

using testing::CountOp;
using testing::ParseOrDie;
using testing::RunPassAndCheck;

TEST(GemmMergeTest, MergesMatmulsThatShareTheLeftOperand) {
  const Graph g = ParseOrDie(R"(
graph f
input x : f64[2,3]
param Wi : f64[3,4]
param Wf : f64[3,4]
param Wg : f64[3,5]
%0 = MatMul(x, Wi) {transpose_a=0, transpose_b=0} : f64[2,4]
%1 = MatMul(x, Wf) {transpose_a=0, transpose_b=0} : f64[2,4]
%2 = MatMul(x, Wg) {transpose_a=0, transpose_b=0} : f64[2,5]
%3 = Tanh(%0) : f64[2,4]
%4 = Mul(%3, %1) : f64[2,4]
%5 = Sigmoid(%2) : f64[2,5]
output a = %4
output b = %5
)");
  const Graph after = RunPassAndCheck<GemmMerge>(g, true);
  EXPECT_EQ(CountOp(after, "MatMul"), 1);
  EXPECT_EQ(CountOp(after, "Slice"), 3);
  NodeId cat = -1;
  for (NodeId id = 0; id < after.num_node_slots(); ++id) {
    if (after.node(id).op == "Concat") cat = id;
  }
  ASSERT_GE(cat, 0);
  // The weights in the order the matmuls were written, concatenated along N.
  const NodeData& c = after.node(cat);
  ASSERT_EQ(c.inputs.size(), 3u);
  EXPECT_EQ(after.node(c.inputs[0].node).name, "Wi");
  EXPECT_EQ(after.node(c.inputs[1].node).name, "Wf");
  EXPECT_EQ(after.node(c.inputs[2].node).name, "Wg");
  EXPECT_EQ(c.outputs[0].shape, Shape({3, 13}));
}

TEST(GemmMergeTest, TransposedWeightsConcatenateAlongRows) {
  const Graph g = ParseOrDie(R"(
graph f
input h : f64[2,3]
param U1 : f64[4,3]
param U2 : f64[4,3]
%0 = MatMul(h, U1) {transpose_a=0, transpose_b=1} : f64[2,4]
%1 = MatMul(h, U2) {transpose_a=0, transpose_b=1} : f64[2,4]
%2 = Mul(%0, %1) : f64[2,4]
output y = %2
)");
  const Graph after = RunPassAndCheck<GemmMerge>(g, true);
  EXPECT_EQ(CountOp(after, "MatMul"), 1);
}

TEST(GemmMergeTest, LeavesWhatItCannotMerge) {
  // Different left operands; a data-dependent right operand; a parameter-only left.
  const Graph g = ParseOrDie(R"(
graph f
input x : f64[3,3]
input z : f64[3,3]
param W : f64[3,3]
param V : f64[3,3]
%0 = MatMul(x, W) {transpose_a=0, transpose_b=0} : f64[3,3]
%1 = MatMul(z, W) {transpose_a=0, transpose_b=0} : f64[3,3]
%2 = MatMul(x, z) {transpose_a=0, transpose_b=0} : f64[3,3]
%3 = MatMul(W, V) {transpose_a=0, transpose_b=0} : f64[3,3]
%4 = MatMul(W, %3) {transpose_a=0, transpose_b=0} : f64[3,3]
%5 = MatMul(x, V) {transpose_a=0, transpose_b=1} : f64[3,3]
%6 = AddN(%0, %1, %2, %4, %5) : f64[3,3]
output y = %6
)");
  const Graph after = RunPassAndCheck<GemmMerge>(g, false);
  EXPECT_EQ(CountOp(after, "MatMul"), 6);
}

}  // namespace
}  // namespace gatefuse
