#include "passes/common_subexpression_elimination.h"

#include <algorithm>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "passes/graph_util.h"

namespace gatefuse {
namespace {

// Equal keys <=> same computation on the same values.
std::string Key(const Graph& g, NodeId id) {
  const NodeData& d = g.node(id);
  std::string key = absl::StrCat(d.op, "|", d.attrs.ToString(), "|",
                                 static_cast<int>(d.placement), "|");
  if (d.op == kConstantOp) {
    absl::StrAppend(&key, d.outputs[0].ToString(), "|");
    const Tensor& v = d.value;
    key.append(static_cast<const char*>(v.raw_data()), v.num_elements() * SizeOf(v.dtype()));
    return key;
  }
  std::vector<ValueRef> in = d.inputs;
  if (IsCommutative(d.op)) std::sort(in.begin(), in.end());
  for (const ValueRef& v : in) absl::StrAppend(&key, v.node, ".", v.index, ",");
  return key;
}

}  // namespace

absl::StatusOr<bool> CommonSubexpressionElimination::Run(Graph& g) {
  GF_ASSIGN_OR_RETURN(std::vector<NodeId> order, g.TopologicalOrder());
  std::unordered_map<std::string, NodeId> seen;
  bool changed = false;
  for (NodeId id : order) {
    if (g.node(id).op == kInputOp) continue;
    auto [it, inserted] = seen.emplace(Key(g, id), id);
    if (inserted) continue;
    for (int k = 0; k < static_cast<int>(g.node(id).outputs.size()); ++k) {
      g.ReplaceAllUses({id, k}, {it->second, k});
    }
    g.RemoveNode(id);
    changed = true;
  }
  return changed;
}

}  // namespace gatefuse
