#include "graph/graph.h"

#include <queue>

#include <boost/graph/breadth_first_search.hpp>
#include <boost/graph/reverse_graph.hpp>
#include <boost/graph/topological_sort.hpp>

#include "absl/strings/str_cat.h"
#include "core/status.h"

namespace gatefuse {

absl::string_view RoleName(InputRole role) {
  switch (role) {
    case InputRole::kInput: return "input";
    case InputRole::kState: return "state";
    case InputRole::kParam: return "param";
  }
  return "?";
}

absl::StatusOr<InputRole> ParseRole(absl::string_view name) {
  if (name == "input") return InputRole::kInput;
  if (name == "state") return InputRole::kState;
  if (name == "param") return InputRole::kParam;
  return absl::InvalidArgumentError(absl::StrCat("unknown input role '", name, "'"));
}

absl::string_view PlacementName(Placement p) {
  switch (p) {
    case Placement::kStep: return "";
    case Placement::kInvariant: return "invariant";
    case Placement::kTimeBatched: return "hoisted";
  }
  return "?";
}

NodeId Graph::AddInput(const std::string& name, InputRole role, const TensorSpec& spec) {
  NodeData d;
  d.op = kInputOp;
  d.name = name;
  d.role = role;
  d.outputs = {spec};
  return AddNodeUnchecked(std::move(d));
}

NodeId Graph::AddConstant(Tensor value) {
  NodeData d;
  d.op = kConstantOp;
  d.outputs = {{value.shape(), value.dtype()}};
  d.value = value.Contiguous();
  return AddNodeUnchecked(std::move(d));
}

absl::StatusOr<NodeId> Graph::AddNode(const std::string& op, const std::vector<ValueRef>& inputs,
                                      Attrs attrs) {
  absl::StatusOr<const OpDef*> found = OpRegistry::Global().Find(op);
  // An unknown op is bad input to the graph, like a bad shape (the registry says NotFound).
  if (!found.ok()) return absl::InvalidArgumentError(found.status().message());
  const OpDef* def = *found;
  std::vector<TensorSpec> in;
  for (const ValueRef& v : inputs) {
    if (v.node < 0 || v.node >= num_node_slots() || nodes_[v.node].dead ||
        v.index < 0 || v.index >= static_cast<int>(nodes_[v.node].outputs.size())) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": input refers to no value"));
    }
    in.push_back(spec(v));
  }
  GF_ASSIGN_OR_RETURN(std::vector<TensorSpec> out, InferOutputs(*def, in, attrs));
  NodeData d;
  d.op = op;
  d.attrs = std::move(attrs);
  d.inputs = inputs;
  d.outputs = std::move(out);
  return AddNodeUnchecked(std::move(d));
}

NodeId Graph::AddNodeUnchecked(NodeData data) {
  const NodeId id = static_cast<NodeId>(nodes_.size());
  nodes_.push_back(std::move(data));
  boost::add_vertex(edges_);
  AddEdges(id);
  return id;
}

void Graph::AddEdges(NodeId id) {
  for (const ValueRef& in : nodes_[id].inputs) {
    // A dangling reference gets no edge; Verify reports it. Repeats are ignored.
    if (in.node >= 0 && in.node < num_node_slots()) boost::add_edge(in.node, id, edges_);
  }
}

void Graph::RemoveInEdges(NodeId id) {
  boost::clear_in_edges(id, edges_);
}

int Graph::num_live_nodes() const {
  int n = 0;
  for (const NodeData& d : nodes_) n += !d.dead;
  return n;
}

std::vector<NodeId> Graph::Inputs() const {
  std::vector<NodeId> ids;
  for (NodeId i = 0; i < num_node_slots(); ++i) {
    if (!nodes_[i].dead && nodes_[i].op == kInputOp) ids.push_back(i);
  }
  return ids;
}

NodeId Graph::FindInput(const std::string& name) const {
  for (NodeId i : Inputs()) {
    if (nodes_[i].name == name) return i;
  }
  return -1;
}

std::vector<std::pair<NodeId, int>> Graph::Uses(NodeId id) const {
  std::vector<std::pair<NodeId, int>> uses;
  for (auto [e, end] = boost::out_edges(id, edges_); e != end; ++e) {
    const NodeId consumer = static_cast<NodeId>(boost::target(*e, edges_));
    const auto& inputs = nodes_[consumer].inputs;
    for (int slot = 0; slot < static_cast<int>(inputs.size()); ++slot) {
      if (inputs[slot].node == id) uses.push_back({consumer, slot});
    }
  }
  return uses;
}

int Graph::NumUses(ValueRef v) const {
  int n = 0;
  for (const auto& [consumer, slot] : Uses(v.node)) n += nodes_[consumer].inputs[slot] == v;
  for (const GraphOutput& o : outputs_) n += o.value == v;
  return n;
}

void Graph::ReplaceAllUses(ValueRef from, ValueRef to) {
  if (from == to) return;
  std::vector<NodeId> consumers;
  for (const auto& [consumer, slot] : Uses(from.node)) {
    if (nodes_[consumer].inputs[slot] == from &&
        (consumers.empty() || consumers.back() != consumer)) {
      consumers.push_back(consumer);
    }
  }
  for (NodeId consumer : consumers) {
    std::vector<ValueRef> inputs = nodes_[consumer].inputs;
    for (ValueRef& v : inputs) {
      if (v == from) v = to;
    }
    SetInputs(consumer, std::move(inputs));
  }
  for (GraphOutput& o : outputs_) {
    if (o.value == from) o.value = to;
  }
}

void Graph::SetInput(NodeId consumer, int slot, ValueRef to) {
  std::vector<ValueRef> inputs = nodes_[consumer].inputs;
  inputs[slot] = to;
  SetInputs(consumer, std::move(inputs));
}

void Graph::SetInputs(NodeId consumer, std::vector<ValueRef> inputs) {
  RemoveInEdges(consumer);
  nodes_[consumer].inputs = std::move(inputs);
  AddEdges(consumer);
}

void Graph::RemoveNode(NodeId id) {
  boost::clear_vertex(id, edges_);
  nodes_[id].dead = true;
  nodes_[id].inputs.clear();
  nodes_[id].value = Tensor();
}

absl::StatusOr<std::vector<NodeId>> Graph::TopologicalOrder() const {
  std::vector<BoostGraph::vertex_descriptor> reversed;
  try {
    boost::topological_sort(edges_, std::back_inserter(reversed));
  } catch (const boost::not_a_dag&) {
    // Name a node on a cycle: one that stays unsorted by Kahn's algorithm.
    auto stable = StableOrder();
    return stable.status();
  }
  std::vector<NodeId> order;
  for (auto it = reversed.rbegin(); it != reversed.rend(); ++it) {
    if (!nodes_[*it].dead) order.push_back(static_cast<NodeId>(*it));
  }
  return order;
}

std::vector<NodeId> Graph::KahnOrder(NodeId& on_cycle) const {
  const int n = num_node_slots();
  std::vector<int> pending(n, 0);
  for (NodeId i = 0; i < n; ++i) pending[i] = static_cast<int>(boost::in_degree(i, edges_));
  std::priority_queue<NodeId, std::vector<NodeId>, std::greater<NodeId>> ready;
  for (NodeId i = 0; i < n; ++i) {
    if (pending[i] == 0) ready.push(i);
  }
  std::vector<NodeId> order;
  while (!ready.empty()) {
    const NodeId i = ready.top();
    ready.pop();
    if (!nodes_[i].dead) order.push_back(i);
    for (auto [e, end] = boost::out_edges(i, edges_); e != end; ++e) {
      const NodeId t = static_cast<NodeId>(boost::target(*e, edges_));
      if (--pending[t] == 0) ready.push(t);
    }
  }
  // The unsorted nodes are those on a cycle and those downstream of one. Each has an
  // unsorted producer, so walking back through unsorted producers from any of them
  // comes round to a node already seen, which is on a cycle.
  on_cycle = -1;
  NodeId i = 0;
  while (i < n && pending[i] == 0) ++i;
  if (i == n) return order;
  std::vector<bool> seen(n, false);
  while (!seen[i]) {
    seen[i] = true;
    for (auto [e, end] = boost::in_edges(i, edges_); e != end; ++e) {
      const NodeId s = static_cast<NodeId>(boost::source(*e, edges_));
      if (pending[s] > 0) {
        i = s;
        break;
      }
    }
  }
  on_cycle = i;
  return order;
}

absl::StatusOr<std::vector<NodeId>> Graph::StableOrder() const {
  NodeId on_cycle;
  std::vector<NodeId> order = KahnOrder(on_cycle);
  if (on_cycle >= 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "graph ", name_, " has a cycle through node %", on_cycle, " (", nodes_[on_cycle].op, ")"));
  }
  return order;
}

NodeId Graph::NodeOnCycle() const {
  NodeId on_cycle;
  KahnOrder(on_cycle);
  return on_cycle;
}

std::vector<bool> Graph::LiveFromOutputs() const {
  const int n = num_node_slots();
  std::vector<bool> live(n, false);
  if (outputs_.empty() || n == 0) return live;
  // BFS over reversed edges from every output's node: add a virtual start by
  // running one search per distinct output node with a shared color map.
  using Reversed = boost::reverse_graph<BoostGraph>;
  Reversed rev(edges_);
  std::vector<boost::default_color_type> color(n, boost::white_color);
  auto color_map = boost::make_iterator_property_map(color.begin(),
                                                     boost::get(boost::vertex_index, rev));
  for (const GraphOutput& o : outputs_) {
    if (o.value.node < 0 || o.value.node >= n || color[o.value.node] != boost::white_color) continue;
    boost::breadth_first_visit(rev, o.value.node, boost::color_map(color_map));
  }
  for (NodeId i = 0; i < n; ++i) live[i] = color[i] != boost::white_color && !nodes_[i].dead;
  return live;
}

Graph Graph::Compact() const {
  Graph out(name_);
  auto order = StableOrder();
  std::vector<NodeId> ids;
  if (order.ok()) {
    ids = *order;
  } else {  // a cyclic graph keeps its ids' order; Verify reports the cycle
    for (NodeId i = 0; i < num_node_slots(); ++i) {
      if (!nodes_[i].dead) ids.push_back(i);
    }
  }
  std::vector<NodeId> renumber(num_node_slots(), -1);
  for (size_t k = 0; k < ids.size(); ++k) renumber[ids[k]] = static_cast<NodeId>(k);
  auto map = [&](ValueRef v) {
    return ValueRef{v.node >= 0 && v.node < num_node_slots() ? renumber[v.node] : -1, v.index};
  };
  // Add nodes without edges first, then wire them (inputs may point forward in a cycle).
  for (NodeId id : ids) {
    NodeData d = nodes_[id];
    for (ValueRef& v : d.inputs) v = map(v);
    out.nodes_.push_back(std::move(d));
    boost::add_vertex(out.edges_);
  }
  for (NodeId i = 0; i < out.num_node_slots(); ++i) out.AddEdges(i);
  for (const GraphOutput& o : outputs_) out.outputs_.push_back({o.name, map(o.value)});
  return out;
}

}  // namespace gatefuse
