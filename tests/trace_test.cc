// Tests of tracing (graph/trace.h): recorded ops become nodes in source order,
// undeclared leaves become constants, misuse is reported, and a traced cell
// computes what the cell computes, gradients included.
#include "graph/trace.h"

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "graph/executor.h"
#include "graph/text.h"
#include "core/compare_testing.h"
#include "gtest/gtest.h"
#include "models/cells/cell.h"
#include "models/cells/cell_graph.h"
#include "ops/ops.h"
#include "ops/testing/gradient_check.h"

namespace gatefuse {
namespace {

using ::gatefuse::testing::RandomF64;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

Var Leaf(const Shape& shape, uint64_t salt, bool requires_grad = true) {
  return Var::Leaf(RandomF64(shape, salt), requires_grad);
}

Var Ok(VarOr v) {
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *std::move(v) : Var();
}

std::vector<std::string> NonInputOps(const Graph& g) {
  std::vector<std::string> ops;
  const std::vector<NodeId> order = g.StableOrder().value();
  for (NodeId id : order) {
    if (g.node(id).op != kInputOp) ops.push_back(g.node(id).op);
  }
  return ops;
}

// |a - b| <= tol elementwise, same shape.

TEST(TraceTest, RecordedOpsBecomeNodesInSourceOrder) {
  const Var x = Leaf({2, 3}, 1);
  const Var w = Leaf({3, 4}, 2);
  const Var a = Ok(Exp(x));
  const Var b = Ok(Tanh(x));
  const Var unused = Ok(Sigmoid(x));  // not reached from an output: not traced
  const Var c = Ok(b - a);
  const Var d = Ok(MatMul(c, w));
  ASSERT_NE(unused.producer(), nullptr);  // recorded on the tape all the same
  absl::StatusOr<Graph> g = TraceGraph(
      "f", {{"x", InputRole::kInput, x}, {"W", InputRole::kParam, w}},
      {{"y", d}, {"x_again", x}, {"b", b}});
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(PrintGraph(*g),
            "graph f\n"
            "input x : f64[2,3]\n"
            "param W : f64[3,4]\n"
            "%0 = Exp(x) : f64[2,3]\n"
            "%1 = Tanh(x) : f64[2,3]\n"
            "%2 = Sub(%1, %0) : f64[2,3]\n"
            "%3 = MatMul(%2, W) {transpose_a=0, transpose_b=0} : f64[2,4]\n"
            "output y = %3\n"
            "output x_again = x\n"
            "output b = %1\n");
  // Node ids follow the source too, not just the printed numbers.
  std::vector<std::string> by_id;
  for (NodeId id = 0; id < g->num_node_slots(); ++id) by_id.push_back(g->node(id).op);
  EXPECT_THAT(by_id, ElementsAre("Input", "Input", "Exp", "Tanh", "Sub", "MatMul"));
  EXPECT_EQ(g->node(g->FindInput("W")).role, InputRole::kParam);
}

TEST(TraceTest, OnlyTheOpsBetweenInputsAndOutputsAreTraced) {
  // Ops before the declared inputs (w2 = w * 2 is the declared input) are not in
  // the graph; ops after them are.
  const Var w = Leaf({3}, 3);
  const Var w2 = Ok(w * 2.0);
  const Var y = Ok(Tanh(w2) + 1.5);
  absl::StatusOr<Graph> g = TraceGraph("f", {{"w2", InputRole::kParam, w2}}, {{"y", y}});
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(PrintGraph(*g),
            "graph f\n"
            "param w2 : f64[3]\n"
            "%0 = Tanh(w2) : f64[3]\n"
            "%1 = AddScalar(%0) {value=1.5} : f64[3]\n"
            "output y = %1\n");
}

TEST(TraceTest, UndeclaredLeavesBecomeConstants) {
  const Var x = Leaf({2, 3}, 4);
  const Var w = Leaf({3, 3}, 5);
  const Var bias = Leaf({3}, 6, /*requires_grad=*/false);
  const Var scale = Leaf({3}, 7, /*requires_grad=*/true);  // undeclared, though it has a grad
  const Var y = Ok((MatMul(x, w) + bias) * scale + bias);
  absl::StatusOr<Graph> g = TraceGraph("f", {{"x", InputRole::kInput, x}}, {{"y", y}});
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_THAT(NonInputOps(*g),
              ElementsAre("Constant", "MatMul", "Constant", "Add", "Constant", "Mul", "Add"));
  // One Constant per distinct leaf, holding its value; `bias` is used twice.
  std::vector<NodeId> constants;
  for (NodeId id = 0; id < g->num_node_slots(); ++id) {
    if (g->node(id).op == kConstantOp) constants.push_back(id);
  }
  ASSERT_EQ(constants.size(), 3u);
  EXPECT_EQ(g->node(constants[0]).value.ToVector(), w.value().ToVector());
  EXPECT_EQ(g->node(constants[1]).value.ToVector(), bias.value().ToVector());
  EXPECT_EQ(g->node(constants[2]).value.ToVector(), scale.value().ToVector());
  EXPECT_EQ(g->NumUses({constants[1], 0}), 2);
  EXPECT_EQ(g->node(constants[0]).outputs[0], (TensorSpec{Shape{3, 3}, DType::kF64}));

  // The graph computes y from x alone.
  absl::StatusOr<std::vector<Tensor>> out = ExecuteGraph(*g, {{"x", x.value()}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(TensorsClose((*out)[0], y.value(), 0, "y"));
}

TEST(TraceTest, InputsMustRequireGradients) {
  const Var x = Leaf({2}, 8, /*requires_grad=*/false);
  const Var y = Ok(Tanh(x));
  absl::StatusOr<Graph> g = TraceGraph("f", {{"x", InputRole::kInput, x}}, {{"y", y}});
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(g.status().message(), HasSubstr("trace: input x does not require a gradient"));

  const Var z = Leaf({2}, 9);
  g = TraceGraph("f", {{"z", InputRole::kInput, z}, {"z2", InputRole::kParam, z}},
                 {{"y", Ok(Exp(z))}});
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(g.status().message(), HasSubstr("trace: input z2 is declared twice"));

  g = TraceGraph("f", {{"u", InputRole::kInput, Var()}}, {{"y", z}});
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(g.status().message(), HasSubstr("trace: input u is undefined"));

  g = TraceGraph("f", {{"z", InputRole::kInput, z}}, {{"y", Var()}});
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(g.status().message(), HasSubstr("trace: output y is undefined"));
}

TEST(TraceTest, TracingAfterBackwardReleasedTheTapeFails) {
  const Var x = Leaf({3}, 10);
  const Var y = Ok(Tanh(Exp(x)));
  ASSERT_TRUE(Backward(Ok(Sum(y))).ok());
  absl::StatusOr<Graph> g = TraceGraph("f", {{"x", InputRole::kInput, x}}, {{"y", y}});
  EXPECT_EQ(g.status().code(), absl::StatusCode::kFailedPrecondition) << g.status();
  EXPECT_THAT(g.status().message(), HasSubstr("was released by a Backward"));

  // With retain_graph the tape is still there to trace.
  const Var x2 = Leaf({3}, 11);
  const Var y2 = Ok(Tanh(Exp(x2)));
  ASSERT_TRUE(Backward(Ok(Sum(y2)), BackwardOptions{/*retain_graph=*/true}).ok());
  g = TraceGraph("f", {{"x", InputRole::kInput, x2}}, {{"y", y2}});
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_THAT(NonInputOps(*g), ElementsAre("Exp", "Tanh"));
}

// Random f64 values for a cell's x [B, I], states [B, H] and parameters, as leaves
// that require gradients.
struct CellInputs {
  Var x;
  std::vector<Var> states;
  ParamMap params;
  std::map<std::string, Var> by_name;
  std::vector<Var> all;  // x, states, params in the cell's order
};

CellInputs RandomCellInputs(const Cell& cell, int64_t batch) {
  CellInputs in;
  uint64_t salt = 100;
  in.x = Leaf({batch, cell.input_size}, salt++);
  in.by_name["x"] = in.x;
  in.all.push_back(in.x);
  for (const std::string& s : cell.states) {
    in.states.push_back(Leaf({batch, cell.hidden_size}, salt++));
    in.by_name[s] = in.states.back();
    in.all.push_back(in.states.back());
  }
  for (const CellParam& p : cell.params) {
    in.params[p.name] = Leaf(p.shape, salt++);
    in.by_name[p.name] = in.params[p.name];
    in.all.push_back(in.params[p.name]);
  }
  return in;
}

TEST(TraceTest, EveryBuiltinCellTracesToItsStep) {
  const int64_t B = 3, I = 4, H = 5;
  for (const std::string& kind : BuiltinCellKinds()) {
    SCOPED_TRACE(kind);
    absl::StatusOr<Cell> cell = BuiltinCell(kind, I, H);
    ASSERT_TRUE(cell.ok()) << cell.status();
    absl::StatusOr<Graph> g = TraceCell(*cell, DType::kF64, B);
    ASSERT_TRUE(g.ok()) << g.status();
    // Inputs in declaration order with their roles.
    std::vector<NodeId> inputs = g->Inputs();
    ASSERT_EQ(inputs.size(), 1 + cell->states.size() + cell->params.size());
    EXPECT_EQ(g->node(inputs[0]).name, "x");
    EXPECT_EQ(g->node(inputs[0]).role, InputRole::kInput);
    for (size_t k = 0; k < cell->states.size(); ++k) {
      EXPECT_EQ(g->node(inputs[1 + k]).name, cell->states[k]);
      EXPECT_EQ(g->node(inputs[1 + k]).role, InputRole::kState);
    }
    for (size_t k = 0; k < cell->params.size(); ++k) {
      const NodeData& d = g->node(inputs[1 + cell->states.size() + k]);
      EXPECT_EQ(d.name, cell->params[k].name);
      EXPECT_EQ(d.role, InputRole::kParam);
      EXPECT_EQ(d.outputs[0].shape, cell->params[k].shape);
    }

    const CellInputs in = RandomCellInputs(*cell, B);
    absl::StatusOr<std::vector<Var>> from_graph = ApplyGraph(*g, in.by_name);
    ASSERT_TRUE(from_graph.ok()) << from_graph.status();
    absl::StatusOr<std::vector<Var>> from_step = cell->step(in.x, in.states, in.params);
    ASSERT_TRUE(from_step.ok()) << from_step.status();
    ASSERT_EQ(from_graph->size(), cell->states.size());
    ASSERT_EQ(from_step->size(), cell->states.size());
    std::vector<Tensor> seeds;
    for (size_t k = 0; k < cell->states.size(); ++k) {
      EXPECT_TRUE(TensorsClose((*from_graph)[k].value(), (*from_step)[k].value(), 1e-12,
                  "next " + cell->states[k]));
      seeds.push_back(RandomF64({B, H}, 500 + k));
    }

    absl::StatusOr<std::vector<Var>> grad_graph = Gradients(*from_graph, seeds, in.all);
    ASSERT_TRUE(grad_graph.ok()) << grad_graph.status();
    absl::StatusOr<std::vector<Var>> grad_step = Gradients(*from_step, seeds, in.all);
    ASSERT_TRUE(grad_step.ok()) << grad_step.status();
    ASSERT_EQ(grad_graph->size(), in.all.size());
    for (size_t k = 0; k < in.all.size(); ++k) {
      const std::string name = g->node(inputs[k]).name;
      ASSERT_TRUE((*grad_step)[k].defined()) << name;
      ASSERT_TRUE((*grad_graph)[k].defined()) << "d/d" << name << " missing from the graph";
      EXPECT_TRUE(TensorsClose((*grad_graph)[k].value(), (*grad_step)[k].value(), 1e-12, "d/d" + name));
    }
  }
}

TEST(TraceTest, TracedLstmGradientsMatchFiniteDifferences) {
  const int64_t B = 2;
  absl::StatusOr<Cell> cell = BuiltinCell("lstm", 3, 2);
  ASSERT_TRUE(cell.ok());
  absl::StatusOr<Graph> g = TraceCell(*cell, DType::kF64, B);
  ASSERT_TRUE(g.ok()) << g.status();
  std::vector<std::string> names;
  std::vector<Tensor> values;
  for (NodeId id : g->Inputs()) {
    names.push_back(g->node(id).name);
    values.push_back(RandomF64(g->node(id).outputs[0].shape, 700 + id));
  }
  auto f = [&](const std::vector<Var>& xs) -> VarOr {
    std::map<std::string, Var> inputs;
    for (size_t k = 0; k < xs.size(); ++k) inputs[names[k]] = xs[k];
    absl::StatusOr<std::vector<Var>> out = ApplyGraph(*g, inputs);
    if (!out.ok()) return out.status();
    return Concat({Reshape((*out)[0], {-1}), Reshape((*out)[1], {-1})}, 0);
  };
  const absl::Status s = testing::CheckGradients(f, values);
  EXPECT_TRUE(s.ok()) << s;
}

}  // namespace
}  // namespace gatefuse
