// Tracing: the ops recorded on the tape between declared inputs and outputs,
// turned into a Graph.
//
//   Var x = Var::Leaf(..., /*requires_grad=*/true), W = ...;
//   VarOr y = Tanh(MatMul(x, W));
//   Graph g = TraceGraph("f", {{"x", InputRole::kInput, x}, {"W", InputRole::kParam, W}},
//                        {{"y", *y}}).value();   // %0 = MatMul(x, W); %1 = Tanh(%0)
//
// Leaves reached that are not declared inputs become Constant nodes. Every declared
// input must require a gradient, or the ops on it were never recorded.
#ifndef GATEFUSE_GRAPH_TRACE_H_
#define GATEFUSE_GRAPH_TRACE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tape.h"
#include "graph/graph.h"

namespace gatefuse {

struct TracedInput {
  std::string name;
  InputRole role;
  Var var;
};

struct TracedOutput {
  std::string name;
  Var var;
};

absl::StatusOr<Graph> TraceGraph(const std::string& name, const std::vector<TracedInput>& inputs,
                                 const std::vector<TracedOutput>& outputs);

}  // namespace gatefuse

#endif  // GATEFUSE_GRAPH_TRACE_H_
