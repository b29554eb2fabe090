#include "passes/dead_code_elimination.h"

namespace gatefuse {

absl::StatusOr<bool> DeadCodeElimination::Run(Graph& g) {
  const std::vector<bool> live = g.LiveFromOutputs();
  bool changed = false;
  for (NodeId id = 0; id < g.num_node_slots(); ++id) {
    const NodeData& d = g.node(id);
    if (d.dead || live[id] || d.op == kInputOp) continue;
    g.RemoveNode(id);
    changed = true;
  }
  return changed;
}

}  // namespace gatefuse
