#include "passes/canonicalize.h"

#include "passes/common_subexpression_elimination.h"
#include "passes/dead_code_elimination.h"
#include "passes/graph_util.h"
#include "passes/testing/pass_test_main.h"

namespace gatefuse {
namespace {

using testing::CountOp;
using testing::ParseOrDie;
using testing::RunPassAndCheck;

const NodeData& OutputNode(const Graph& g, int k = 0) {
  return g.node(g.outputs()[k].value.node);
}

TEST(CanonicalizeTest, FlattensAddChainsIntoOneAddN) {
  const Graph g = ParseOrDie(R"(
graph f
input a : f64[2,3]
input b : f64[2,3]
input c : f64[3]
%0 = Add(a, b) : f64[2,3]
%1 = Sub(%0, c) : f64[2,3]
%2 = Add(%1, a) : f64[2,3]
output y = %2
)");
  const Graph after = RunPassAndCheck<Canonicalize>(g, true);
  EXPECT_EQ(CountOp(after, "Add"), 0);
  EXPECT_EQ(CountOp(after, "Sub"), 0);
  EXPECT_EQ(CountOp(after, "AddN"), 1);
  EXPECT_EQ(OutputNode(after).op, "AddN");
  EXPECT_EQ(OutputNode(after).inputs.size(), 4u);  // a, b, -c, a
}

TEST(CanonicalizeTest, KeepsASharedInnerSum) {
  const Graph g = ParseOrDie(R"(
graph f
input a : f64[2]
input b : f64[2]
input c : f64[2]
%0 = Add(a, b) : f64[2]
%1 = Add(%0, c) : f64[2]
%2 = Tanh(%0) : f64[2]
%3 = Mul(%1, %2) : f64[2]
output y = %3
)");
  const Graph after = RunPassAndCheck<Canonicalize>(g, true);
  EXPECT_EQ(CountOp(after, "AddN"), 2);  // a+b is used twice: not spliced
}

TEST(CanonicalizeTest, OneMinusSigmoidBecomesSigmoidOfNegation) {
  const Graph g = ParseOrDie(R"(
graph f
input a : f64[2,3]
%0 = Sigmoid(a) : f64[2,3]
%1 = RSubScalar(%0) {value=1.0} : f64[2,3]
%2 = Mul(%0, %1) : f64[2,3]
output y = %2
)");
  const Graph after = RunPassAndCheck<Canonicalize>(g, true);
  const NodeData& mul = OutputNode(after);
  // One of the factors is sigmoid(-a), the other still sigmoid(a).
  int negated = 0;
  for (const ValueRef& v : mul.inputs) {
    const NodeData& s = after.node(v.node);
    ASSERT_EQ(s.op, "Sigmoid");
    negated += after.node(s.inputs[0].node).op == "Neg";
  }
  EXPECT_EQ(negated, 1);
  EXPECT_EQ(CountOp(after, "RSubScalar"), 0);
}

TEST(CanonicalizeTest, NegatedPlusOneIsOneMinus) {
  // -sigmoid(a) + 1 == 1 - sigmoid(a) == sigmoid(-a)
  const Graph g = ParseOrDie(R"(
graph f
input a : f64[4]
%0 = Sigmoid(a) : f64[4]
%1 = Neg(%0) : f64[4]
%2 = AddScalar(%1) {value=1.0} : f64[4]
output y = %2
)");
  const Graph after = RunPassAndCheck<Canonicalize>(g, true);
  ASSERT_EQ(OutputNode(after).op, "Sigmoid");
  EXPECT_EQ(after.node(OutputNode(after).inputs[0].node).op, "Neg");
}

TEST(CanonicalizeTest, RemovesIdentities) {
  const Graph g = ParseOrDie(R"(
graph f
input a : f64[2,3]
%0 = Neg(a) : f64[2,3]
%1 = Neg(%0) : f64[2,3]
%2 = MulScalar(%1) {value=1.0} : f64[2,3]
%3 = AddScalar(%2) {value=0.0} : f64[2,3]
%4 = Constant [1.0, 1.0, 1.0] : f64[3]
%5 = Mul(%3, %4) : f64[2,3]
%6 = Tanh(%5) : f64[2,3]
output y = %6
)");
  const Graph after = RunPassAndCheck<Canonicalize>(g, true);
  const NodeData& tanh = OutputNode(after);
  ASSERT_EQ(tanh.op, "Tanh");
  EXPECT_EQ(after.node(tanh.inputs[0].node).op, kInputOp);  // tanh(a)
}

TEST(CanonicalizeTest, KeepsAOneThatBroadcasts) {
  // x * ones[2,3] with x [3] is a broadcast, not an identity.
  const Graph g = ParseOrDie(R"(
graph f
input x : f64[3]
%0 = Constant [1.0, 1.0, 1.0, 1.0, 1.0, 1.0] : f64[2,3]
%1 = Mul(x, %0) : f64[2,3]
output y = %1
)");
  const Graph after = RunPassAndCheck<Canonicalize>(g, false);
  EXPECT_EQ(CountOp(after, "Mul"), 1);
}

TEST(CanonicalizeTest, ScalarConstantsBecomeScalarForms) {
  const Graph g = ParseOrDie(R"(
graph f
input x : f64[2,3]
%0 = Constant [-1.0] : f64[]
%1 = Mul(%0, x) : f64[2,3]
%2 = Constant [0.5] : f64[]
%3 = Mul(%1, %2) : f64[2,3]
output y = %3
)");
  const Graph after = RunPassAndCheck<Canonicalize>(g, true);
  EXPECT_EQ(OutputNode(after).op, "MulScalar");
  EXPECT_EQ(after.node(OutputNode(after).inputs[0].node).op, "Neg");
}

// The same cell written two ways (operand order, gate order, subtraction) becomes
// one graph after canonicalisation and CSE.
TEST(CanonicalizeTest, SpellingsConverge) {
  const Graph one = ParseOrDie(R"(
graph f
input x : f64[2,3]
state h : f64[2,4]
param W : f64[3,4]
param U : f64[3,4]
param b : f64[4]
%0 = MatMul(x, W) {transpose_a=0, transpose_b=0} : f64[2,4]
%1 = Add(%0, b) : f64[2,4]
%2 = Sigmoid(%1) : f64[2,4]
%3 = RSubScalar(%2) {value=1.0} : f64[2,4]
%4 = Mul(%3, h) : f64[2,4]
%5 = Mul(%2, %0) : f64[2,4]
%6 = Add(%4, %5) : f64[2,4]
output h = %6
)");
  const Graph two = ParseOrDie(R"(
graph f
input x : f64[2,3]
state h : f64[2,4]
param W : f64[3,4]
param U : f64[3,4]
param b : f64[4]
%0 = MatMul(x, W) {transpose_a=0, transpose_b=0} : f64[2,4]
%1 = Add(b, %0) : f64[2,4]
%2 = Sigmoid(%1) : f64[2,4]
%3 = Mul(%0, %2) : f64[2,4]
%4 = Neg(%1) : f64[2,4]
%5 = Sigmoid(%4) : f64[2,4]
%6 = Mul(h, %5) : f64[2,4]
%7 = Add(%3, %6) : f64[2,4]
output h = %7
)");
  // Structurally identical: same node count, same structural hash of the output.
  auto canonical = [](const Graph& g) {
    Graph c = g;
    EXPECT_TRUE(Canonicalize().Run(c).ok());
    EXPECT_TRUE(CommonSubexpressionElimination().Run(c).ok());
    EXPECT_TRUE(DeadCodeElimination().Run(c).ok());
    c = c.Compact();
    const std::vector<uint64_t> h = StructuralHashes(c, *c.TopologicalOrder());
    return std::make_pair(c.num_live_nodes(), ValueHash(h, c.outputs()[0].value));
  };
  EXPECT_EQ(canonical(one), canonical(two));
  // And a different cell does not collide.
  Graph three = one;
  three.mutable_node(three.outputs()[0].value.node).op = "Sub";
  EXPECT_NE(canonical(one), canonical(three));
}

TEST(CanonicalizeTest, CanonicalGraphIsAFixedPoint) {
  const Graph g = ParseOrDie(R"(
graph f
input a : f64[2]
input b : f64[2]
%0 = Add(b, a) : f64[2]
%1 = Mul(%0, a) : f64[2]
output y = %1
)");
  const Graph once = RunPassAndCheck<Canonicalize>(g, true);
  RunPassAndCheck<Canonicalize>(once, false);
}

}  // namespace
}  // namespace gatefuse
