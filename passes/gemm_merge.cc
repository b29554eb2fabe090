#include "passes/gemm_merge.h"

#include <map>
#include <tuple>

#include "core/status.h"

namespace gatefuse {

std::vector<bool> ParameterOnly(const Graph& g, const std::vector<NodeId>& topo_order) {
  std::vector<bool> only(g.num_node_slots(), false);
  for (NodeId id : topo_order) {
    const NodeData& d = g.node(id);
    if (d.op == kInputOp) {
      only[id] = d.role == InputRole::kParam;
    } else {
      bool all = true;
      for (const ValueRef& v : d.inputs) all = all && only[v.node];
      only[id] = all;
    }
  }
  return only;
}

absl::StatusOr<bool> GemmMerge::Run(Graph& g) {
  // Stable order: merged weights keep the order in which the matmuls were written.
  GF_ASSIGN_OR_RETURN(std::vector<NodeId> order, g.StableOrder());
  const std::vector<bool> param_only = ParameterOnly(g, order);
  // (lhs, transpose_a, transpose_b) -> members in topological order
  using Key = std::tuple<ValueRef, int64_t, int64_t>;
  std::map<Key, std::vector<NodeId>> groups;
  std::vector<Key> group_order;
  for (NodeId id : order) {
    const NodeData& d = g.node(id);
    if (d.op != "MatMul") continue;
    const ValueRef lhs = d.inputs[0], rhs = d.inputs[1];
    if (param_only[lhs.node] || !param_only[rhs.node]) continue;
    const Key key{lhs, *d.attrs.GetInt("MatMul", "transpose_a"),
                  *d.attrs.GetInt("MatMul", "transpose_b")};
    auto& members = groups[key];
    if (members.empty()) group_order.push_back(key);
    members.push_back(id);
  }
  bool changed = false;
  for (const Key& key : group_order) {
    const std::vector<NodeId>& members = groups[key];
    if (members.size() < 2) continue;
    const auto& [lhs, ta, tb] = key;
    std::vector<ValueRef> weights;
    for (NodeId m : members) weights.push_back(g.node(m).inputs[1]);
    GF_ASSIGN_OR_RETURN(NodeId cat, g.AddNode("Concat", weights, {{"axis", tb ? int64_t{0} : int64_t{1}}}));
    GF_ASSIGN_OR_RETURN(NodeId mm, g.AddNode("MatMul", {lhs, {cat, 0}},
                                             {{"transpose_a", ta}, {"transpose_b", tb}}));
    int64_t offset = 0;
    for (NodeId m : members) {
      const int64_t n = g.node(m).outputs[0].shape[1];
      GF_ASSIGN_OR_RETURN(NodeId slice,
                          g.AddNode("Slice", {{mm, 0}},
                                    {{"axis", int64_t{1}}, {"start", offset}, {"end", offset + n}}));
      g.ReplaceAllUses({m, 0}, {slice, 0});
      g.RemoveNode(m);
      offset += n;
    }
    changed = true;
  }
  return changed;
}

}  // namespace gatefuse
