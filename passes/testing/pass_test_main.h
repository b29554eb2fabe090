// Shared pieces of the pass tests: parse a graph written in a raw string, run a
// pass on a copy, and check the function did not change.
#ifndef GATEFUSE_PASSES_TESTING_PASS_TEST_MAIN_H_
#define GATEFUSE_PASSES_TESTING_PASS_TEST_MAIN_H_

#include <string>

#include "gtest/gtest.h"
#include "graph/text.h"
#include "graph/verifier.h"
#include "passes/pass.h"
#include "passes/testing/equivalence.h"

namespace gatefuse::testing {

inline Graph ParseOrDie(const std::string& text) {
  absl::StatusOr<Graph> g = ParseGraph(text);
  EXPECT_TRUE(g.ok()) << g.status();
  return g.ok() ? *std::move(g) : Graph();
}

// Runs `pass` on a copy of `before`; checks the result verifies and computes the
// same function, and that the pass reported `expect_changed`. Returns the result
// compacted.
template <typename P>
Graph RunPassAndCheck(const Graph& before, bool expect_changed) {
  Graph after = before;
  P pass;
  absl::StatusOr<bool> changed = pass.Run(after);
  EXPECT_TRUE(changed.ok()) << changed.status();
  if (!changed.ok()) return after;
  EXPECT_EQ(*changed, expect_changed) << PrintGraph(after.Compact());
  absl::Status v = Verify(after);
  EXPECT_TRUE(v.ok()) << v;
  absl::Status same = CheckSameFunction(before, after);
  EXPECT_TRUE(same.ok()) << same << "\n" << PrintGraph(after.Compact());
  return after.Compact();
}

// Number of live nodes running `op`.
inline int CountOp(const Graph& g, const std::string& op) {
  int n = 0;
  for (NodeId id = 0; id < g.num_node_slots(); ++id) n += !g.node(id).dead && g.node(id).op == op;
  return n;
}

}  // namespace gatefuse::testing

#endif  // GATEFUSE_PASSES_TESTING_PASS_TEST_MAIN_H_
