// Graph: the compiler's IR. Nodes apply registered ops to values; a value is one
// output of one node (ValueRef). Graph inputs are "Input" nodes with a role (the
// per-step input, a recurrent state, a parameter); "Constant" nodes hold a tensor.
// Named outputs close the graph: for a cell, one per state (its next value).
//
//   input x f32[2,4]                        graph lstm_like
//   state h f32[2,6]                        %0 = MatMul(x, W) {...} : f32[2,6]
//   param W f32[4,6]                        %1 = Tanh(%0) : f32[2,6]
//                                           output h = %1
//
// The data edges live in a boost::adjacency_list (bidirectional, one edge per
// producer-consumer pair), so Boost.Graph's algorithms give topological order,
// reachability and cycle detection; each node also keeps its ordered input list.
// Removed nodes are marked dead and skipped; Compact() renumbers.
#ifndef GATEFUSE_GRAPH_GRAPH_H_
#define GATEFUSE_GRAPH_GRAPH_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include <boost/graph/adjacency_list.hpp>

#include "absl/status/statusor.h"
#include "core/attrs.h"
#include "core/tensor.h"
#include "ops/registry.h"

namespace gatefuse {

using NodeId = int32_t;

struct ValueRef {
  NodeId node = -1;
  int index = 0;
  bool operator==(const ValueRef& o) const { return node == o.node && index == o.index; }
  bool operator!=(const ValueRef& o) const { return !(*this == o); }
  bool operator<(const ValueRef& o) const {
    return node != o.node ? node < o.node : index < o.index;
  }
};

enum class InputRole { kInput, kState, kParam };
absl::string_view RoleName(InputRole role);  // "input", "state", "param"
absl::StatusOr<InputRole> ParseRole(absl::string_view name);

// Where a node runs in a sequence: every step, once before the loop (it depends on
// parameters and constants only), or once for all steps at once before the loop
// (it depends on the per-step input, not on the state: batched over [T*B, ...]).
enum class Placement { kStep, kInvariant, kTimeBatched };
absl::string_view PlacementName(Placement p);  // "", "invariant", "hoisted"

inline constexpr char kInputOp[] = "Input";
inline constexpr char kConstantOp[] = "Constant";

struct NodeData {
  std::string op;
  Attrs attrs;
  std::vector<ValueRef> inputs;
  std::vector<TensorSpec> outputs;
  std::string name;                 // Input nodes: the input's name
  InputRole role = InputRole::kInput;  // Input nodes
  Tensor value;                     // Constant nodes
  Placement placement = Placement::kStep;
  bool dead = false;
};

struct GraphOutput {
  std::string name;
  ValueRef value;
};

class Graph {
 public:
  explicit Graph(std::string name = "graph") : name_(std::move(name)) {}

  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }

  // ---- building ----
  NodeId AddInput(const std::string& name, InputRole role, const TensorSpec& spec);
  NodeId AddConstant(Tensor value);
  // Applies a registered op; its shape function checks the inputs and gives the
  // outputs' specs. InvalidArgument naming the op otherwise.
  absl::StatusOr<NodeId> AddNode(const std::string& op, const std::vector<ValueRef>& inputs,
                                 Attrs attrs = {});
  // For the parser and passes that know the specs already (checked by Verify).
  NodeId AddNodeUnchecked(NodeData data);
  void AddOutput(const std::string& name, ValueRef value) { outputs_.push_back({name, value}); }

  // ---- reading ----
  // Number of node slots, dead ones included; valid ids are [0, num_node_slots()).
  int num_node_slots() const { return static_cast<int>(nodes_.size()); }
  int num_live_nodes() const;
  const NodeData& node(NodeId id) const { return nodes_[id]; }
  NodeData& mutable_node(NodeId id) { return nodes_[id]; }
  const TensorSpec& spec(ValueRef v) const { return nodes_[v.node].outputs[v.index]; }
  const std::vector<GraphOutput>& outputs() const { return outputs_; }
  std::vector<GraphOutput>& mutable_outputs() { return outputs_; }
  // Live Input nodes in id order; and one by name (-1 if none).
  std::vector<NodeId> Inputs() const;
  NodeId FindInput(const std::string& name) const;

  // Consumers of a node's outputs: (consumer, input slot), one entry per use.
  std::vector<std::pair<NodeId, int>> Uses(NodeId id) const;
  // Uses of one value, including graph outputs (as consumer -1, slot = output index).
  int NumUses(ValueRef v) const;

  // ---- rewriting ----
  // Points every use of `from` (node inputs and graph outputs) at `to`.
  void ReplaceAllUses(ValueRef from, ValueRef to);
  // Changes input `slot` of `consumer`.
  void SetInput(NodeId consumer, int slot, ValueRef to);
  void SetInputs(NodeId consumer, std::vector<ValueRef> inputs);
  // Marks a node dead and drops its edges; its outputs must have no uses left.
  void RemoveNode(NodeId id);
  // A copy without dead nodes, renumbered in a stable topological order.
  Graph Compact() const;

  // ---- order ----
  // Live nodes in topological order (Boost.Graph); FailedPrecondition naming a node
  // on a cycle if there is one.
  absl::StatusOr<std::vector<NodeId>> TopologicalOrder() const;
  // The topological order that keeps ids ascending wherever the edges allow
  // (Kahn's algorithm, smallest id first): printing uses it, so the text form of
  // a parsed graph comes back in the order it was written.
  absl::StatusOr<std::vector<NodeId>> StableOrder() const;
  // A live node on a cycle, or -1 if the graph is acyclic.
  NodeId NodeOnCycle() const;
  // Nodes from which some graph output is reachable (Boost.Graph BFS on the reversed edges).
  std::vector<bool> LiveFromOutputs() const;

 private:
  // One edge per (producer, consumer) pair, however many of the consumer's input
  // slots read the producer; slots come from the consumer's input list. Unique
  // edges can live in hash sets, so removing one edge of a value used T times
  // (a weight in an unrolled graph) costs O(1), not O(T).
  using BoostGraph = boost::adjacency_list<boost::hash_setS, boost::vecS, boost::bidirectionalS>;
  void AddEdges(NodeId id);
  void RemoveInEdges(NodeId id);
  // Kahn's algorithm, smallest ready id first: the live nodes it sorts, and in
  // `on_cycle` a node on a cycle (-1 if it sorts them all).
  std::vector<NodeId> KahnOrder(NodeId& on_cycle) const;

  std::string name_;
  // A deque: adding a node never moves the others, so a NodeData& held across
  // AddNode stays valid.
  std::deque<NodeData> nodes_;
  std::vector<GraphOutput> outputs_;
  BoostGraph edges_;
};

}  // namespace gatefuse

#endif  // GATEFUSE_GRAPH_GRAPH_H_
