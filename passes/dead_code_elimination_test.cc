#include "passes/dead_code_elimination.h"

#include "passes/testing/pass_test_main.h"

namespace gatefuse {
namespace {

using testing::CountOp;
using testing::ParseOrDie;
using testing::RunPassAndCheck;

TEST(DeadCodeEliminationTest, RemovesWhatNoOutputReads) {
  const Graph g = ParseOrDie(R"(
graph f
input x : f64[2,3]
param unused : f64[3]
%0 = Tanh(x) : f64[2,3]
%1 = Exp(x) : f64[2,3]
%2 = Sigmoid(%0) : f64[2,3]
output y = %1
)");
  const Graph after = RunPassAndCheck<DeadCodeElimination>(g, true);
  EXPECT_EQ(CountOp(after, "Tanh"), 0);
  EXPECT_EQ(CountOp(after, "Sigmoid"), 0);
  EXPECT_EQ(CountOp(after, "Exp"), 1);
  EXPECT_EQ(CountOp(after, kInputOp), 2);  // inputs are the signature: kept
}

TEST(DeadCodeEliminationTest, UnchangedWhenAllIsLive) {
  const Graph g = ParseOrDie(R"(
graph f
input x : f64[2,3]
%0 = Tanh(x) : f64[2,3]
%1 = Exp(%0) : f64[2,3]
output y = %1
output z = %0
)");
  RunPassAndCheck<DeadCodeElimination>(g, false);
}

}  // namespace
}  // namespace gatefuse
