#include "passes/constant_folding.h"

#include "core/status.h"

namespace gatefuse {

absl::StatusOr<bool> ConstantFolding::Run(Graph& g) {
  GF_ASSIGN_OR_RETURN(std::vector<NodeId> order, g.TopologicalOrder());
  bool changed = false;
  for (NodeId id : order) {
    const NodeData& d = g.node(id);
    if (d.op == kInputOp || d.op == kConstantOp || d.inputs.empty()) continue;
    std::vector<Tensor> in;
    for (const ValueRef& v : d.inputs) {
      if (g.node(v.node).op != kConstantOp) break;
      in.push_back(g.node(v.node).value);
    }
    if (in.size() != d.inputs.size()) continue;
    GF_ASSIGN_OR_RETURN(const OpDef* def, OpRegistry::Global().Find(d.op));
    GF_ASSIGN_OR_RETURN(std::vector<Tensor> out, RunOp(*def, in, d.attrs));
    for (int k = 0; k < static_cast<int>(out.size()); ++k) {
      g.ReplaceAllUses({id, k}, {g.AddConstant(out[k]), 0});
    }
    g.RemoveNode(id);
    changed = true;
  }
  return changed;
}

}  // namespace gatefuse
