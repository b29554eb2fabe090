#include "passes/common_subexpression_elimination.h"

#include "passes/testing/pass_test_main.h"

namespace gatefuse {
namespace {

using testing::CountOp;
using testing::ParseOrDie;
using testing::RunPassAndCheck;

TEST(CommonSubexpressionEliminationTest, MergesCommutedOperands) {
  const Graph g = ParseOrDie(R"(
graph f
input a : f64[2,3]
input b : f64[2,3]
%0 = Mul(a, b) : f64[2,3]
%1 = Mul(b, a) : f64[2,3]
%2 = Add(%0, %1) : f64[2,3]
output y = %2
)");
  const Graph after = RunPassAndCheck<CommonSubexpressionElimination>(g, true);
  EXPECT_EQ(CountOp(after, "Mul"), 1);
  const NodeData& add = after.node(after.outputs()[0].value.node);
  EXPECT_EQ(add.inputs[0], add.inputs[1]);
}

TEST(CommonSubexpressionEliminationTest, KeepsNonCommutativeOrderAndAttributes) {
  const Graph g = ParseOrDie(R"(
graph f
input a : f64[2,4]
input b : f64[2,4]
%0 = Sub(a, b) : f64[2,4]
%1 = Sub(b, a) : f64[2,4]
%2 = Slice(%0) {axis=1, end=2, start=0} : f64[2,2]
%3 = Slice(%0) {axis=1, end=4, start=2} : f64[2,2]
%4 = Slice(%1) {axis=1, end=2, start=0} : f64[2,2]
%5 = AddN(%2, %3, %4) : f64[2,2]
output y = %5
)");
  const Graph after = RunPassAndCheck<CommonSubexpressionElimination>(g, false);
  EXPECT_EQ(CountOp(after, "Sub"), 2);
  EXPECT_EQ(CountOp(after, "Slice"), 3);
}

TEST(CommonSubexpressionEliminationTest, MergesEqualConstantsAndChains) {
  const Graph g = ParseOrDie(R"(
graph f
input x : f64[3]
%0 = Constant [1.0, 2.0, 3.0] : f64[3]
%1 = Constant [1.0, 2.0, 3.0] : f64[3]
%2 = Constant [1.0, 2.0, 4.0] : f64[3]
%3 = Mul(x, %0) : f64[3]
%4 = Mul(x, %1) : f64[3]
%5 = Tanh(%3) : f64[3]
%6 = Tanh(%4) : f64[3]
%7 = Mul(%5, %2) : f64[3]
%8 = AddN(%6, %7) : f64[3]
output y = %8
)");
  const Graph after = RunPassAndCheck<CommonSubexpressionElimination>(g, true);
  EXPECT_EQ(CountOp(after, kConstantOp), 2);
  EXPECT_EQ(CountOp(after, "Tanh"), 1);
}

}  // namespace
}  // namespace gatefuse
