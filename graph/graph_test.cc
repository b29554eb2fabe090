// Tests of the Graph IR (graph/graph.h): building with shape inference, uses,
// rewiring, removal, the two topological orders, cycles, liveness and Compact.
#include "graph/graph.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "graph/executor.h"
#include "graph/verifier.h"
#include "gtest/gtest.h"

namespace gatefuse {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

TensorSpec F64(Shape shape) { return {std::move(shape), DType::kF64}; }

Attrs MatMulAttrs() { return Attrs{{"transpose_a", int64_t{0}}, {"transpose_b", int64_t{0}}}; }

NodeId Add(Graph& g, const std::string& op, const std::vector<ValueRef>& inputs,
           Attrs attrs = {}) {
  absl::StatusOr<NodeId> id = g.AddNode(op, inputs, std::move(attrs));
  EXPECT_TRUE(id.ok()) << id.status();
  return id.ok() ? *id : -1;
}

// Position of every node in `order`, by id.
std::map<NodeId, size_t> Positions(const std::vector<NodeId>& order) {
  std::map<NodeId, size_t> pos;
  for (size_t k = 0; k < order.size(); ++k) pos[order[k]] = k;
  return pos;
}

// Every live node appears once in `order`, after the producers of its inputs.
void ExpectRespectsEdges(const Graph& g, const std::vector<NodeId>& order) {
  EXPECT_EQ(static_cast<int>(order.size()), g.num_live_nodes());
  const std::map<NodeId, size_t> pos = Positions(order);
  EXPECT_EQ(pos.size(), order.size()) << "an id appears twice";
  for (NodeId id : order) {
    EXPECT_FALSE(g.node(id).dead) << "dead node " << id << " in the order";
    for (const ValueRef& v : g.node(id).inputs) {
      ASSERT_TRUE(pos.count(v.node)) << "input " << v.node << " of " << id << " missing";
      EXPECT_LT(pos.at(v.node), pos.at(id)) << v.node << " -> " << id;
    }
  }
}

TEST(GraphTest, AddInputConstantAndNodeGiveSpecs) {
  Graph g("f");
  EXPECT_EQ(g.name(), "f");
  const NodeId x = g.AddInput("x", InputRole::kInput, F64({2, 3}));
  const NodeId h = g.AddInput("h", InputRole::kState, F64({2, 4}));
  const NodeId w = g.AddInput("W", InputRole::kParam, F64({3, 4}));
  const NodeId c = g.AddConstant(Tensor::FromValues({4}, {1, 2, 3, 4}, DType::kF64).value());
  const NodeId mm = Add(g, "MatMul", {{x, 0}, {w, 0}}, MatMulAttrs());
  const NodeId sum = Add(g, "Add", {{mm, 0}, {h, 0}});
  const NodeId bias = Add(g, "Add", {{sum, 0}, {c, 0}});  // broadcasts [4] over [2,4]
  const NodeId t = Add(g, "Tanh", {{bias, 0}});

  EXPECT_EQ(g.node(x).op, kInputOp);
  EXPECT_EQ(g.node(x).name, "x");
  EXPECT_EQ(g.node(h).role, InputRole::kState);
  EXPECT_EQ(g.node(w).role, InputRole::kParam);
  EXPECT_EQ(g.node(c).op, kConstantOp);
  EXPECT_EQ(g.spec({c, 0}), F64({4}));
  EXPECT_THAT(g.node(c).value.ToVector(), ElementsAre(1, 2, 3, 4));
  EXPECT_EQ(g.node(mm).op, "MatMul");
  EXPECT_EQ(g.spec({mm, 0}), F64({2, 4}));
  EXPECT_EQ(g.spec({bias, 0}), F64({2, 4}));
  EXPECT_EQ(g.spec({t, 0}), F64({2, 4}));
  EXPECT_EQ(g.node(mm).inputs, (std::vector<ValueRef>{{x, 0}, {w, 0}}));
  EXPECT_TRUE(g.node(mm).attrs == MatMulAttrs());
  EXPECT_EQ(g.node(t).placement, Placement::kStep);

  // The shape function decides the output, not the first input: MatMul gives [M,N].
  const NodeId tw = Add(g, "MatMul", {{w, 0}, {w, 0}},
                        Attrs{{"transpose_a", int64_t{1}}, {"transpose_b", int64_t{0}}});
  EXPECT_EQ(g.spec({tw, 0}), F64({4, 4}));

  EXPECT_EQ(g.num_node_slots(), 9);
  EXPECT_EQ(g.num_live_nodes(), 9);
  EXPECT_THAT(g.Inputs(), ElementsAre(x, h, w));
  EXPECT_EQ(g.FindInput("W"), w);
  EXPECT_EQ(g.FindInput("nope"), -1);
  g.AddOutput("h", {t, 0});
  ASSERT_EQ(g.outputs().size(), 1u);
  EXPECT_EQ(g.outputs()[0].name, "h");
  EXPECT_EQ(g.outputs()[0].value, (ValueRef{t, 0}));
  EXPECT_TRUE(Verify(g).ok()) << Verify(g);
}

TEST(GraphTest, AddNodeRejectsBadOpsAndShapesNamingTheOp) {
  Graph g;
  const NodeId x = g.AddInput("x", InputRole::kInput, F64({2, 3}));
  const NodeId y = g.AddInput("y", InputRole::kInput, F64({2, 5}));
  const NodeId i = g.AddInput("i", InputRole::kInput, {Shape{2}, DType::kI64});
  const NodeId w = g.AddInput("w", InputRole::kParam, F64({3, 4}));

  absl::StatusOr<NodeId> unknown = g.AddNode("Frobnicate", {{x, 0}});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument) << unknown.status();
  EXPECT_THAT(unknown.status().message(), HasSubstr("Frobnicate"));

  absl::StatusOr<NodeId> mm = g.AddNode("MatMul", {{x, 0}, {y, 0}}, MatMulAttrs());
  EXPECT_EQ(mm.status().code(), absl::StatusCode::kInvalidArgument) << mm.status();
  EXPECT_THAT(mm.status().message(), HasSubstr("MatMul"));
  EXPECT_THAT(mm.status().message(), HasSubstr("f64[2,3]"));

  absl::StatusOr<NodeId> add = g.AddNode("Add", {{x, 0}, {y, 0}});
  EXPECT_EQ(add.status().code(), absl::StatusCode::kInvalidArgument) << add.status();
  EXPECT_THAT(add.status().message(), HasSubstr("Add"));

  absl::StatusOr<NodeId> arity = g.AddNode("Tanh", {{x, 0}, {x, 0}});
  EXPECT_EQ(arity.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(arity.status().message(), HasSubstr("Tanh: expects 1 inputs, got 2"));

  absl::StatusOr<NodeId> dtype = g.AddNode("Tanh", {{i, 0}});
  EXPECT_EQ(dtype.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(dtype.status().message(), HasSubstr("Tanh"));

  absl::StatusOr<NodeId> attr = g.AddNode("MatMul", {{x, 0}, {w, 0}});
  EXPECT_EQ(attr.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(attr.status().message(), HasSubstr("MatMul: missing attribute 'transpose_a'"));

  for (ValueRef bad : {ValueRef{42, 0}, ValueRef{-1, 0}, ValueRef{x, 1}, ValueRef{x, -1}}) {
    absl::StatusOr<NodeId> dangling = g.AddNode("Tanh", {bad});
    EXPECT_EQ(dangling.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(dangling.status().message(), HasSubstr("Tanh: input refers to no value"));
  }

  // A failed AddNode leaves the graph as it was.
  EXPECT_EQ(g.num_node_slots(), 4);
  for (NodeId id : {x, y, i, w}) EXPECT_TRUE(g.Uses(id).empty());

  // Input of a removed node is no value either.
  const NodeId t = Add(g, "Tanh", {{x, 0}});
  g.RemoveNode(t);
  EXPECT_EQ(g.AddNode("Tanh", {{t, 0}}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(GraphTest, UsesCountEverySlotAndGraphOutputs) {
  Graph g;
  const NodeId x = g.AddInput("x", InputRole::kInput, F64({2, 3}));
  const NodeId t = Add(g, "Tanh", {{x, 0}});
  const NodeId sq = Add(g, "Mul", {{t, 0}, {t, 0}});  // one node, two uses
  const NodeId s = Add(g, "Sigmoid", {{x, 0}});
  const NodeId sum = Add(g, "Add", {{s, 0}, {sq, 0}});

  EXPECT_THAT(g.Uses(t), UnorderedElementsAre(Pair(sq, 0), Pair(sq, 1)));
  EXPECT_EQ(g.NumUses({t, 0}), 2);
  EXPECT_THAT(g.Uses(x), UnorderedElementsAre(Pair(t, 0), Pair(s, 0)));
  EXPECT_EQ(g.NumUses({x, 0}), 2);
  EXPECT_THAT(g.Uses(sq), ElementsAre(Pair(sum, 1)));
  EXPECT_TRUE(g.Uses(sum).empty());
  EXPECT_EQ(g.NumUses({sum, 0}), 0);

  // Graph outputs count as uses but are not node uses.
  g.AddOutput("y", {sum, 0});
  g.AddOutput("t", {t, 0});
  g.AddOutput("t_again", {t, 0});
  EXPECT_TRUE(g.Uses(sum).empty());
  EXPECT_EQ(g.NumUses({sum, 0}), 1);
  EXPECT_EQ(g.NumUses({t, 0}), 4);
  // Another output index of the same node is another value.
  EXPECT_EQ(g.NumUses({t, 1}), 0);
}

TEST(GraphTest, ReplaceAllUsesRewiresInputsAndOutputs) {
  Graph g;
  const NodeId x = g.AddInput("x", InputRole::kInput, F64({2, 3}));
  const NodeId t = Add(g, "Tanh", {{x, 0}});
  const NodeId sq = Add(g, "Mul", {{t, 0}, {t, 0}});
  const NodeId e = Add(g, "Exp", {{t, 0}});
  const NodeId s = Add(g, "Sigmoid", {{x, 0}});
  g.AddOutput("sq", {sq, 0});
  g.AddOutput("t", {t, 0});
  g.AddOutput("e", {e, 0});

  g.ReplaceAllUses({t, 0}, {s, 0});
  EXPECT_EQ(g.node(sq).inputs, (std::vector<ValueRef>{{s, 0}, {s, 0}}));
  EXPECT_EQ(g.node(e).inputs, (std::vector<ValueRef>{{s, 0}}));
  EXPECT_EQ(g.outputs()[1].value, (ValueRef{s, 0}));
  EXPECT_EQ(g.outputs()[0].value, (ValueRef{sq, 0}));
  EXPECT_TRUE(g.Uses(t).empty());
  EXPECT_EQ(g.NumUses({t, 0}), 0);
  EXPECT_THAT(g.Uses(s), UnorderedElementsAre(Pair(sq, 0), Pair(sq, 1), Pair(e, 0)));
  EXPECT_EQ(g.NumUses({s, 0}), 4);

  // t is unused now and can go; the graph stays valid.
  g.RemoveNode(t);
  EXPECT_TRUE(Verify(g).ok()) << Verify(g);
  EXPECT_THAT(g.Uses(x), ElementsAre(Pair(s, 0)));

  // Replacing a value by itself changes nothing.
  g.ReplaceAllUses({s, 0}, {s, 0});
  EXPECT_EQ(g.NumUses({s, 0}), 4);
}

TEST(GraphTest, SetInputMovesOneEdge) {
  Graph g;
  const NodeId x = g.AddInput("x", InputRole::kInput, F64({3}));
  const NodeId a = Add(g, "Tanh", {{x, 0}});
  const NodeId b = Add(g, "Exp", {{x, 0}});
  const NodeId m = Add(g, "Mul", {{a, 0}, {a, 0}});
  g.SetInput(m, 1, {b, 0});
  EXPECT_EQ(g.node(m).inputs, (std::vector<ValueRef>{{a, 0}, {b, 0}}));
  EXPECT_THAT(g.Uses(a), ElementsAre(Pair(m, 0)));
  EXPECT_THAT(g.Uses(b), ElementsAre(Pair(m, 1)));
  g.SetInputs(m, {{b, 0}, {x, 0}});
  EXPECT_TRUE(g.Uses(a).empty());
  EXPECT_THAT(g.Uses(b), ElementsAre(Pair(m, 0)));
  EXPECT_THAT(g.Uses(x), UnorderedElementsAre(Pair(a, 0), Pair(b, 0), Pair(m, 1)));
}

TEST(GraphTest, RemoveNodeMarksDeadAndDropsEdges) {
  Graph g;
  const NodeId x = g.AddInput("x", InputRole::kInput, F64({3}));
  const NodeId unused = g.AddInput("unused", InputRole::kParam, F64({3}));
  const NodeId a = Add(g, "Tanh", {{x, 0}});
  const NodeId b = Add(g, "Exp", {{a, 0}});
  g.AddOutput("a", {a, 0});

  g.RemoveNode(b);
  EXPECT_TRUE(g.node(b).dead);
  EXPECT_TRUE(g.node(b).inputs.empty());
  EXPECT_TRUE(g.Uses(a).empty());
  EXPECT_EQ(g.num_node_slots(), 4);
  EXPECT_EQ(g.num_live_nodes(), 3);

  g.RemoveNode(unused);
  EXPECT_THAT(g.Inputs(), ElementsAre(x));
  EXPECT_EQ(g.FindInput("unused"), -1);

  absl::StatusOr<std::vector<NodeId>> topo = g.TopologicalOrder();
  ASSERT_TRUE(topo.ok()) << topo.status();
  EXPECT_THAT(*topo, ElementsAre(x, a));
  absl::StatusOr<std::vector<NodeId>> stable = g.StableOrder();
  ASSERT_TRUE(stable.ok()) << stable.status();
  EXPECT_THAT(*stable, ElementsAre(x, a));
  EXPECT_TRUE(Verify(g).ok()) << Verify(g);

  // Removing a node that is still used leaves a dangling input, which Verify reports.
  g.RemoveNode(x);
  EXPECT_TRUE(g.Uses(x).empty());
  EXPECT_FALSE(Verify(g).ok());
}

TEST(GraphTest, OrdersRespectEdgesAndStableOrderKeepsIdsAscending) {
  Graph g;
  const NodeId x = g.AddInput("x", InputRole::kInput, F64({3}));  // 0
  const NodeId a = Add(g, "Tanh", {{x, 0}});                      // 1
  const NodeId b = Add(g, "Exp", {{x, 0}});                       // 2
  const NodeId c = Add(g, "Sigmoid", {{x, 0}});                   // 3
  const NodeId d = Add(g, "Add", {{a, 0}, {c, 0}});               // 4
  const NodeId w = g.AddInput("w", InputRole::kParam, F64({3}));  // 5
  const NodeId e = Add(g, "Mul", {{d, 0}, {w, 0}});               // 6

  // Without back references the stable order is just the ids.
  absl::StatusOr<std::vector<NodeId>> stable = g.StableOrder();
  ASSERT_TRUE(stable.ok()) << stable.status();
  EXPECT_THAT(*stable, ElementsAre(x, a, b, c, d, w, e));

  // Make a consume c and b consume e: now 1 after 3, and 2 after 6.
  g.SetInput(a, 0, {c, 0});
  g.SetInput(b, 0, {e, 0});
  absl::StatusOr<std::vector<NodeId>> topo = g.TopologicalOrder();
  ASSERT_TRUE(topo.ok()) << topo.status();
  ExpectRespectsEdges(g, *topo);
  stable = g.StableOrder();
  ASSERT_TRUE(stable.ok()) << stable.status();
  ExpectRespectsEdges(g, *stable);
  // Smallest ready id first: x, c, a, d, w, e, b.
  EXPECT_THAT(*stable, ElementsAre(x, c, a, d, w, e, b));
}

TEST(GraphTest, CycleIsAFailedPreconditionNamingANodeOnIt) {
  Graph g("loop");
  const NodeId x = g.AddInput("x", InputRole::kInput, F64({3}));  // 0
  const NodeId a = Add(g, "Tanh", {{x, 0}});                      // 1
  const NodeId b = Add(g, "Sigmoid", {{a, 0}});                   // 2
  const NodeId c = Add(g, "Exp", {{b, 0}});                       // 3
  g.AddOutput("y", {c, 0});
  // b = Sigmoid(c): b and c form a cycle; a is upstream of it, not on it.
  g.SetInput(b, 0, {c, 0});
  for (const auto& order : {g.TopologicalOrder(), g.StableOrder()}) {
    EXPECT_EQ(order.status().code(), absl::StatusCode::kFailedPrecondition) << order.status();
    EXPECT_THAT(order.status().message(), HasSubstr("graph loop has a cycle through node"));
    const std::string msg(order.status().message());
    EXPECT_TRUE(absl::StrContains(msg, "%2 (Sigmoid)") || absl::StrContains(msg, "%3 (Exp)"))
        << msg;
  }

  // A node downstream of a cycle is not on it: the message must not name it.
  Graph h("down");
  const NodeId hx = h.AddInput("x", InputRole::kInput, F64({3}));  // 0
  const NodeId p = Add(h, "Tanh", {{hx, 0}});                      // 1
  const NodeId q = Add(h, "Exp", {{hx, 0}});                       // 2
  const NodeId r = Add(h, "Sigmoid", {{q, 0}});                    // 3
  h.SetInput(p, 0, {r, 0});  // p is downstream of the cycle below, with a lower id
  h.SetInput(q, 0, {r, 0});  // q <-> r
  for (const auto& order : {h.TopologicalOrder(), h.StableOrder()}) {
    EXPECT_EQ(order.status().code(), absl::StatusCode::kFailedPrecondition) << order.status();
    const std::string msg(order.status().message());
    EXPECT_TRUE(absl::StrContains(msg, "%2 (Exp)") || absl::StrContains(msg, "%3 (Sigmoid)"))
        << msg;
    EXPECT_FALSE(absl::StrContains(msg, "(Tanh)")) << msg;
  }

  // A self loop is a cycle too.
  Graph s("self");
  const NodeId sx = s.AddInput("x", InputRole::kInput, F64({3}));
  const NodeId m = Add(s, "Mul", {{sx, 0}, {sx, 0}});
  s.SetInput(m, 1, {m, 0});
  EXPECT_EQ(s.TopologicalOrder().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.StableOrder().status().message(), HasSubstr("%1 (Mul)"));
}

TEST(GraphTest, LiveFromOutputsFollowsInputsBackwards) {
  Graph g;
  const NodeId x = g.AddInput("x", InputRole::kInput, F64({3}));
  const NodeId w = g.AddInput("w", InputRole::kParam, F64({3}));
  const NodeId a = Add(g, "Tanh", {{x, 0}});
  const NodeId b = Add(g, "Sigmoid", {{x, 0}});
  const NodeId c = Add(g, "Exp", {{b, 0}});
  const NodeId d = Add(g, "Mul", {{a, 0}, {a, 0}});
  const NodeId k = g.AddConstant(Tensor::Full({3}, DType::kF64, 2));
  const NodeId e = Add(g, "Add", {{d, 0}, {k, 0}});

  EXPECT_THAT(g.LiveFromOutputs(), ElementsAre(false, false, false, false, false, false, false,
                                               false));
  g.AddOutput("y", {e, 0});
  EXPECT_THAT(g.LiveFromOutputs(), ElementsAre(true, false, true, false, false, true, true, true));
  g.AddOutput("z", {c, 0});
  EXPECT_THAT(g.LiveFromOutputs(), ElementsAre(true, false, true, true, true, true, true, true));
  // An output that is an input itself.
  g.AddOutput("w", {w, 0});
  EXPECT_TRUE(g.LiveFromOutputs()[w]);
}

TEST(GraphTest, CompactDropsDeadNodesAndKeepsTheComputation) {
  Graph g("f");
  const NodeId x = g.AddInput("x", InputRole::kInput, F64({2, 3}));
  const NodeId w = g.AddInput("W", InputRole::kParam, F64({3, 3}));
  const NodeId junk1 = Add(g, "Exp", {{x, 0}});
  const NodeId mm = Add(g, "MatMul", {{x, 0}, {w, 0}}, MatMulAttrs());
  const NodeId t = Add(g, "Tanh", {{mm, 0}});
  const NodeId junk2 = Add(g, "Log", {{junk1, 0}});
  const NodeId s = Add(g, "Sigmoid", {{x, 0}});
  const NodeId out = Add(g, "Mul", {{t, 0}, {s, 0}});
  g.AddOutput("y", {out, 0});
  g.AddOutput("s", {s, 0});
  // Make t consume a node with a higher id, so Compact has to reorder.
  const NodeId late = Add(g, "Relu", {{mm, 0}});
  g.SetInput(t, 0, {late, 0});
  g.mutable_node(mm).placement = Placement::kTimeBatched;
  g.RemoveNode(junk2);
  g.RemoveNode(junk1);
  ASSERT_TRUE(Verify(g).ok()) << Verify(g);

  const std::map<std::string, Tensor> inputs = {
      {"x", Tensor::Uniform({2, 3}, DType::kF64, 1, -1, 1)},
      {"W", Tensor::Uniform({3, 3}, DType::kF64, 2, -1, 1)}};
  absl::StatusOr<std::vector<Tensor>> before = ExecuteGraph(g, inputs);
  ASSERT_TRUE(before.ok()) << before.status();

  const Graph c = g.Compact();
  EXPECT_EQ(c.name(), "f");
  EXPECT_EQ(c.num_node_slots(), 7);
  EXPECT_EQ(c.num_live_nodes(), 7);
  ASSERT_TRUE(Verify(c).ok()) << Verify(c);
  // Renumbered in topological order: every input has a smaller id.
  for (NodeId id = 0; id < c.num_node_slots(); ++id) {
    EXPECT_FALSE(c.node(id).dead);
    for (const ValueRef& v : c.node(id).inputs) EXPECT_LT(v.node, id);
  }
  std::vector<std::string> ops;
  for (NodeId id = 0; id < c.num_node_slots(); ++id) ops.push_back(c.node(id).op);
  // Stable order: smallest ready id first, so Sigmoid (id 6) comes before Relu (id 8).
  EXPECT_THAT(ops, ElementsAre("Input", "Input", "MatMul", "Sigmoid", "Relu", "Tanh", "Mul"));
  EXPECT_EQ(c.node(2).placement, Placement::kTimeBatched);
  ASSERT_EQ(c.outputs().size(), 2u);
  EXPECT_EQ(c.outputs()[0].name, "y");
  EXPECT_EQ(c.outputs()[0].value, (ValueRef{6, 0}));
  EXPECT_EQ(c.outputs()[1].value, (ValueRef{3, 0}));
  EXPECT_EQ(c.node(5).inputs, (std::vector<ValueRef>{{4, 0}}));  // Tanh(Relu)
  EXPECT_EQ(c.FindInput("W"), 1);

  absl::StatusOr<std::vector<Tensor>> after = ExecuteGraph(c, inputs);
  ASSERT_TRUE(after.ok()) << after.status();
  ASSERT_EQ(after->size(), before->size());
  for (size_t k = 0; k < before->size(); ++k) {
    EXPECT_EQ((*after)[k].shape(), (*before)[k].shape());
    EXPECT_EQ((*after)[k].ToVector(), (*before)[k].ToVector());
  }
  // The copy is independent of the original.
  EXPECT_EQ(g.num_node_slots(), 9);
  EXPECT_TRUE(g.node(junk1).dead);
}

}  // namespace
}  // namespace gatefuse
