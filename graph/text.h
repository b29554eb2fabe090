// The text form of a Graph, for people and for tests, and Graphviz DOT export.
//
//   graph lstm_step
//   input x : f32[2,4]
//   state h : f32[2,6]
//   param W : f32[4,6]
//   param g : f32[6] {init=1.0}
//   %0 = MatMul(x, W) {transpose_a=0, transpose_b=0} : f32[2,6] @hoisted
//   %1 = Constant [0.5, 2] : f32[2]
//   %2 = Mul(%0, %1) : f32[2,6]
//   output h = %2
//
// Inputs are declared first, by role (with their attributes, such as a param's
// initial value, after the type); other nodes are numbered %0, %1, ... in a
// stable topological order; %k.i is output i of a multi-output node; "@invariant"
// and "@hoisted" give a node's placement. Floats print with 17 significant digits
// and always with a '.', 'e', "inf" or "nan", so parse(print(g)) prints the same
// text again, exactly.
#ifndef GATEFUSE_GRAPH_TEXT_H_
#define GATEFUSE_GRAPH_TEXT_H_

#include <string>

#include "absl/status/statusor.h"
#include "graph/graph.h"

namespace gatefuse {

std::string PrintGraph(const Graph& g);

// InvalidArgument with "line N:" and what was expected. The result is verified.
absl::StatusOr<Graph> ParseGraph(const std::string& text);

// How the text form names node `id`: "%4", or an input's name.
std::string NodeLabel(const Graph& g, NodeId id);

// Graphviz DOT: one box per node (op, shapes), inputs as ellipses by role,
// outputs as double octagons; hoisted nodes shaded.
std::string ToDot(const Graph& g);

}  // namespace gatefuse

#endif  // GATEFUSE_GRAPH_TEXT_H_
