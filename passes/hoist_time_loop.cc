#include "passes/hoist_time_loop.h"

#include <set>

#include "core/status.h"
#include "core/shape.h"

namespace gatefuse {
namespace {

// Ops whose every output row depends only on the same row of the row-batched
// operands (given the conditions checked in RowLocal).
const std::set<std::string>& ElementwiseOps() {
  static const auto* ops = new std::set<std::string>{
      "Add", "AddN", "Sub", "Mul", "Div", "Neg", "AddScalar", "MulScalar", "RSubScalar",
      "Sigmoid", "Tanh", "Relu", "Step", "Exp", "Log"};
  return *ops;
}

// Whether node `id` can run on [T*B, ...] rows at once, given which of its inputs
// are time-batched (the others being invariant).
bool RowLocal(const Graph& g, NodeId id, const std::vector<Placement>& placement) {
  const NodeData& d = g.node(id);
  const int rank = d.outputs[0].shape.rank();
  if (rank < 1 || d.outputs.size() != 1) return false;
  auto batched = [&](const ValueRef& v) {
    const NodeData& in = g.node(v.node);
    return in.op == kInputOp ? in.role == InputRole::kInput
                             : placement[v.node] == Placement::kTimeBatched;
  };
  if (ElementwiseOps().count(d.op)) {
    for (const ValueRef& v : d.inputs) {
      const Shape& s = g.spec(v).shape;
      // Batched operands carry the batch axis; invariant ones must broadcast along it.
      if (batched(v) ? s.rank() != rank : (s.rank() == rank && s[0] != 1)) return false;
    }
    return true;
  }
  if (d.op == "MatMul") {
    return batched(d.inputs[0]) && !batched(d.inputs[1]) &&
           *d.attrs.GetInt("MatMul", "transpose_a") == 0;
  }
  if (d.op == "Slice" || d.op == "Concat" || d.op == "Softmax" || d.op == "LogSoftmax") {
    const int64_t axis = *d.attrs.GetInt(d.op, "axis");
    auto a = NormalizeAxis(axis, rank, d.op);
    if (!a.ok() || *a == 0) return false;
    for (const ValueRef& v : d.inputs) {
      if (!batched(v)) return false;
    }
    return true;
  }
  return false;
}

// For each node: whether it depends on a state, and on the per-step input.
struct Dependence {
  std::vector<bool> on_state, on_input;
};

Dependence Dependences(const Graph& g, const std::vector<NodeId>& order) {
  Dependence dep{std::vector<bool>(g.num_node_slots(), false),
                 std::vector<bool>(g.num_node_slots(), false)};
  for (NodeId id : order) {
    const NodeData& d = g.node(id);
    if (d.op == kInputOp) {
      dep.on_state[id] = d.role == InputRole::kState;
      dep.on_input[id] = d.role == InputRole::kInput;
    }
    for (const ValueRef& v : d.inputs) {
      dep.on_state[id] = dep.on_state[id] || dep.on_state[v.node];
      dep.on_input[id] = dep.on_input[id] || dep.on_input[v.node];
    }
  }
  return dep;
}

// Splits AddN nodes whose state-free terms (two or more, one reading the input)
// can be summed before the loop.
absl::StatusOr<bool> SplitMixedSums(Graph& g) {
  GF_ASSIGN_OR_RETURN(std::vector<NodeId> order, g.TopologicalOrder());
  const Dependence dep = Dependences(g, order);
  bool changed = false;
  for (NodeId id : order) {
    const NodeData& d = g.node(id);
    if (d.op != "AddN" || !dep.on_state[id]) continue;
    std::vector<ValueRef> free, rest;
    bool reads_input = false;
    for (const ValueRef& v : d.inputs) {
      (dep.on_state[v.node] ? rest : free).push_back(v);
      reads_input = reads_input || (!dep.on_state[v.node] && dep.on_input[v.node]);
    }
    if (free.size() < 2 || !reads_input) continue;
    GF_ASSIGN_OR_RETURN(NodeId part, g.AddNode("AddN", free));
    rest.push_back({part, 0});
    g.SetInputs(id, std::move(rest));
    changed = true;
  }
  return changed;
}

}  // namespace

absl::StatusOr<bool> HoistTimeLoop::Run(Graph& g) {
  bool is_cell = false;
  for (NodeId id : g.Inputs()) is_cell = is_cell || g.node(id).role == InputRole::kInput;
  if (!is_cell) return false;
  GF_ASSIGN_OR_RETURN(bool changed, SplitMixedSums(g));
  GF_ASSIGN_OR_RETURN(std::vector<NodeId> order, g.TopologicalOrder());
  const Dependence dep = Dependences(g, order);
  std::vector<Placement> placement(g.num_node_slots(), Placement::kStep);
  for (NodeId id : order) {
    const NodeData& d = g.node(id);
    if (d.op == kInputOp) continue;
    const bool on_state = dep.on_state[id], on_input = dep.on_input[id];
    Placement p = Placement::kStep;
    if (d.op != kConstantOp && !on_state) {
      if (!on_input) {
        p = Placement::kInvariant;
      } else if (RowLocal(g, id, placement)) {
        p = Placement::kTimeBatched;
      }
    }
    placement[id] = p;
    if (d.placement != p) {
      g.mutable_node(id).placement = p;
      changed = true;
    }
  }
  return changed;
}

}  // namespace gatefuse
