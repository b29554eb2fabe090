// Verify: the invariants every pass must keep. Errors name the node as the text
// form prints it ("node %4 (MatMul): ...").
//   - every input refers to a live node and one of its outputs (no dangling edge);
//   - Input nodes have a unique name and no inputs; Constants match their value;
//   - every other node is a registered op whose shape function, run on the input
//     specs and attributes, accepts them and gives exactly the node's outputs
//     (types, shapes, arity, attributes);
//   - every graph output refers to a live value; output names are unique;
//   - the graph is acyclic.
#ifndef GATEFUSE_GRAPH_VERIFIER_H_
#define GATEFUSE_GRAPH_VERIFIER_H_

#include "absl/status/status.h"
#include "graph/graph.h"

namespace gatefuse {

absl::Status Verify(const Graph& g);

// The invariants of one live node alone (all of the above but unique input names,
// the graph outputs and cycles): for the parser, which reports them by line.
absl::Status VerifyNode(const Graph& g, NodeId id);

}  // namespace gatefuse

#endif  // GATEFUSE_GRAPH_VERIFIER_H_
