#include "passes/constant_folding.h"

#include "passes/testing/pass_test_main.h"

namespace gatefuse {
namespace {

using testing::CountOp;
using testing::ParseOrDie;
using testing::RunPassAndCheck;

TEST(ConstantFoldingTest, FoldsChainsOfConstants) {
  const Graph g = ParseOrDie(R"(
graph f
param w : f64[2]
%0 = Constant [2.0] : f64[]
%1 = Exp(%0) : f64[]
%2 = MulScalar(%1) {value=0.5} : f64[]
%3 = Mul(w, %2) : f64[2]
output y = %3
)");
  const Graph after = RunPassAndCheck<ConstantFolding>(g, true);
  EXPECT_EQ(CountOp(after, "Exp"), 0);
  EXPECT_EQ(CountOp(after, "MulScalar"), 0);
  EXPECT_EQ(CountOp(after, "Mul"), 1);  // reads a parameter: stays
  const NodeData& mul = after.node(after.outputs()[0].value.node);
  const NodeData& folded = after.node(mul.inputs[1].node);
  ASSERT_EQ(folded.op, kConstantOp);
  EXPECT_DOUBLE_EQ(folded.value.At(0), 0.5 * std::exp(2.0));
}

TEST(ConstantFoldingTest, LeavesNonConstantNodes) {
  const Graph g = ParseOrDie(R"(
graph f
input x : f64[2]
%0 = Tanh(x) : f64[2]
output y = %0
)");
  RunPassAndCheck<ConstantFolding>(g, false);
}

}  // namespace
}  // namespace gatefuse
