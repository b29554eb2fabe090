// Tests of the executor (graph/executor.h): one-shot runs with and without the
// tape, batch sizes other than the traced one, whole sequences of every builtin
// cell against the models' own RunSequence (values and gradients), placements,
// and the errors of a graph that is not a cell.
#include "graph/executor.h"

#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
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
using ::testing::ContainsRegex;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

Var Leaf(const Shape& shape, uint64_t salt) { return Var::Leaf(RandomF64(shape, salt), true); }


Graph TracedCell(const std::string& kind, int64_t I, int64_t H, int64_t batch = kTraceBatch) {
  absl::StatusOr<Cell> cell = BuiltinCell(kind, I, H);
  EXPECT_TRUE(cell.ok()) << cell.status();
  absl::StatusOr<Graph> g = TraceCell(*cell, DType::kF64, batch);
  EXPECT_TRUE(g.ok()) << g.status();
  return g.ok() ? *std::move(g) : Graph();
}

// Random leaves for every input of `g`, at batch B where the input has a batch.
std::map<std::string, Var> RandomInputs(const Graph& g, int64_t B, uint64_t salt = 1) {
  std::map<std::string, Var> in;
  for (NodeId id : g.Inputs()) {
    const NodeData& d = g.node(id);
    Shape shape = d.outputs[0].shape;
    if (d.role != InputRole::kParam) shape[0] = B;
    in[d.name] = Leaf(shape, salt++);
  }
  return in;
}

TEST(ExecutorTest, ExecuteGraphEqualsApplyGraph) {
  const Graph g = TracedCell("lstm", 3, 4);
  const std::map<std::string, Var> vars = RandomInputs(g, 2);
  std::map<std::string, Tensor> tensors;
  for (const auto& [name, v] : vars) tensors[name] = v.value();
  absl::StatusOr<std::vector<Var>> applied = ApplyGraph(g, vars);
  ASSERT_TRUE(applied.ok()) << applied.status();
  absl::StatusOr<std::vector<Tensor>> executed = ExecuteGraph(g, tensors);
  ASSERT_TRUE(executed.ok()) << executed.status();
  ASSERT_EQ(applied->size(), 2u);
  ASSERT_EQ(executed->size(), 2u);
  for (size_t k = 0; k < 2; ++k) {
    EXPECT_TRUE(TensorsClose((*executed)[k], (*applied)[k].value(), 0, g.outputs()[k].name));
    // ApplyGraph records on the tape; its outputs have producers.
    EXPECT_NE((*applied)[k].producer(), nullptr);
  }
}

TEST(ExecutorTest, HandWrittenGraphGivesTheExpectedNumbers) {
  absl::StatusOr<Graph> g = ParseGraph(
      "graph f\n"
      "input x : f64[2]\n"
      "%0 = Constant [0.5, -2.0] : f64[2]\n"
      "%1 = Mul(x, %0) : f64[2]\n"
      "%2 = AddScalar(%1) {value=1.0} : f64[2]\n"
      "output y = %2\n"
      "output k = %0\n"
      "output x = x\n");
  ASSERT_TRUE(g.ok()) << g.status();
  absl::StatusOr<std::vector<Tensor>> out =
      ExecuteGraph(*g, {{"x", Tensor::FromValues({2}, {4, 3}, DType::kF64).value()}});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 3u);
  EXPECT_THAT((*out)[0].ToVector(), ElementsAre(3, -5));
  EXPECT_THAT((*out)[1].ToVector(), ElementsAre(0.5, -2));
  EXPECT_THAT((*out)[2].ToVector(), ElementsAre(4, 3));
}

TEST(ExecutorTest, MissingOrBadInputsAreNamed) {
  const Graph g = TracedCell("lstm", 3, 4);
  std::map<std::string, Var> vars = RandomInputs(g, 2);
  vars.erase("Uf");
  absl::StatusOr<std::vector<Var>> applied = ApplyGraph(g, vars);
  EXPECT_EQ(applied.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(applied.status().message(), HasSubstr("graph lstm: no value given for input Uf"));

  std::map<std::string, Tensor> tensors;
  for (const auto& [name, v] : vars) {
    if (name != "h") tensors[name] = v.value();
  }
  tensors["Uf"] = RandomF64({4, 4}, 9);
  absl::StatusOr<std::vector<Tensor>> executed = ExecuteGraph(g, tensors);
  EXPECT_EQ(executed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(executed.status().message(), HasSubstr("no value given for input h"));

  // A wrong shape is reported by the node that cannot take it.
  tensors["h"] = RandomF64({2, 4}, 10);
  tensors["x"] = RandomF64({2, 5}, 11);
  executed = ExecuteGraph(g, tensors);
  EXPECT_EQ(executed.status().code(), absl::StatusCode::kInvalidArgument);
  // Whichever x@W the executor reaches first.
  EXPECT_THAT(std::string(executed.status().message()),
              ContainsRegex("^graph lstm: node %[0-9]+: MatMul: inner dimensions differ"));
  EXPECT_THAT(executed.status().message(), HasSubstr("f64[2,5]"));
}

TEST(ExecutorTest, AGraphTracedAtOneBatchRunsAtAnother) {
  absl::StatusOr<Cell> cell = BuiltinCell("gru", 3, 4);
  ASSERT_TRUE(cell.ok());
  absl::StatusOr<Graph> g = TraceCell(*cell, DType::kF64, 2);
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(g->node(g->FindInput("x")).outputs[0].shape, Shape({2, 3}));
  const std::map<std::string, Var> in = RandomInputs(*g, 5);
  std::map<std::string, Tensor> tensors;
  for (const auto& [name, v] : in) tensors[name] = v.value();
  absl::StatusOr<std::vector<Tensor>> out = ExecuteGraph(*g, tensors);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].shape(), Shape({5, 4}));

  ParamMap params;
  for (const CellParam& p : cell->params) params[p.name] = in.at(p.name);
  absl::StatusOr<std::vector<Var>> want = cell->step(in.at("x"), {in.at("h")}, params);
  ASSERT_TRUE(want.ok()) << want.status();
  EXPECT_TRUE(TensorsClose((*out)[0], (*want)[0].value(), 1e-12, "h'"));
}

// The sequence inputs of one run: x [T, B, I], initial states and parameters.
struct SequenceInputs {
  Var x;
  std::vector<Var> initial;
  std::map<std::string, Var> initial_by_name;
  ParamMap params;
  std::vector<Var> all;  // x, the initial states, the parameters
};

SequenceInputs RandomSequenceInputs(const Cell& cell, int64_t T, int64_t B) {
  SequenceInputs in;
  uint64_t salt = 31;
  in.x = Leaf({T, B, cell.input_size}, salt++);
  in.all.push_back(in.x);
  for (const std::string& s : cell.states) {
    in.initial.push_back(Leaf({B, cell.hidden_size}, salt++));
    in.initial_by_name[s] = in.initial.back();
    in.all.push_back(in.initial.back());
  }
  for (const CellParam& p : cell.params) {
    in.params[p.name] = Leaf(p.shape, salt++);
    in.all.push_back(in.params[p.name]);
  }
  return in;
}

// RunGraphSequence on `g` equals RunSequence on `cell`: y, final states, and the
// gradients of a random weighting of them with respect to every input.
void ExpectSameSequence(const Cell& cell, const Graph& g, int64_t T, int64_t B) {
  const SequenceInputs in = RandomSequenceInputs(cell, T, B);
  absl::StatusOr<SequenceResult> want = RunSequence(cell, in.x, in.initial, in.params);
  ASSERT_TRUE(want.ok()) << want.status();
  absl::StatusOr<GraphSequenceResult> got =
      RunGraphSequence(g, in.x, in.initial_by_name, in.params);
  ASSERT_TRUE(got.ok()) << got.status();

  EXPECT_TRUE(TensorsClose(got->y.value(), want->y.value(), 1e-12, "y"));
  EXPECT_EQ(got->y.shape(), Shape({T, B, cell.hidden_size}));
  ASSERT_EQ(got->final_states.size(), cell.states.size());
  std::vector<Var> roots_got = {got->y}, roots_want = {want->y};
  std::vector<Tensor> seeds = {RandomF64({T, B, cell.hidden_size}, 900)};
  for (size_t k = 0; k < cell.states.size(); ++k) {
    ASSERT_TRUE(got->final_states.count(cell.states[k])) << cell.states[k];
    const Var& s = got->final_states.at(cell.states[k]);
    EXPECT_TRUE(TensorsClose(s.value(), want->final_states[k].value(), 1e-12, "final " + cell.states[k]));
    roots_got.push_back(s);
    roots_want.push_back(want->final_states[k]);
    seeds.push_back(RandomF64({B, cell.hidden_size}, 901 + k));
  }

  absl::StatusOr<std::vector<Var>> grad_got = Gradients(roots_got, seeds, in.all);
  ASSERT_TRUE(grad_got.ok()) << grad_got.status();
  absl::StatusOr<std::vector<Var>> grad_want = Gradients(roots_want, seeds, in.all);
  ASSERT_TRUE(grad_want.ok()) << grad_want.status();
  std::vector<std::string> names = {"x"};
  names.insert(names.end(), cell.states.begin(), cell.states.end());
  for (const CellParam& p : cell.params) names.push_back(p.name);
  for (size_t k = 0; k < in.all.size(); ++k) {
    ASSERT_TRUE((*grad_want)[k].defined()) << names[k];
    ASSERT_TRUE((*grad_got)[k].defined()) << "no gradient for " << names[k];
    EXPECT_TRUE(TensorsClose((*grad_got)[k].value(), (*grad_want)[k].value(), 1e-10, "d/d" + names[k]));
  }
}

TEST(ExecutorTest, EveryBuiltinCellSequenceMatchesTheModel) {
  for (const std::string& kind : BuiltinCellKinds()) {
    SCOPED_TRACE(kind);
    absl::StatusOr<Cell> cell = BuiltinCell(kind, 3, 4);
    ASSERT_TRUE(cell.ok()) << cell.status();
    // Traced at batch 2, run at batch 3.
    absl::StatusOr<Graph> g = TraceCell(*cell, DType::kF64);
    ASSERT_TRUE(g.ok()) << g.status();
    ExpectSameSequence(*cell, *g, /*T=*/4, /*B=*/3);
  }
}

TEST(ExecutorTest, OneStepSequenceMatchesTheModel) {
  absl::StatusOr<Cell> cell = BuiltinCell("peephole", 2, 3);
  ASSERT_TRUE(cell.ok());
  absl::StatusOr<Graph> g = TraceCell(*cell, DType::kF64);
  ASSERT_TRUE(g.ok()) << g.status();
  ExpectSameSequence(*cell, *g, /*T=*/1, /*B=*/1);
}

TEST(ExecutorTest, HoistedInputProjectionsGiveTheSameSequence) {
  // One x@W per gate: lstm i f g o; gru r z n.
  for (const auto& [kind, gates] : std::map<std::string, int>{{"lstm", 4}, {"gru", 3}}) {
    SCOPED_TRACE(kind);
    absl::StatusOr<Cell> cell = BuiltinCell(kind, 3, 4);
    ASSERT_TRUE(cell.ok());
    absl::StatusOr<Graph> g = TraceCell(*cell, DType::kF64);
    ASSERT_TRUE(g.ok()) << g.status();
    const NodeId x = g->FindInput("x");
    int hoisted = 0;
    for (NodeId id = 0; id < g->num_node_slots(); ++id) {
      const NodeData& d = g->node(id);
      if (d.op == "MatMul" && d.inputs[0].node == x) {
        g->mutable_node(id).placement = Placement::kTimeBatched;
        ++hoisted;
      }
    }
    EXPECT_EQ(hoisted, gates);
    ExpectSameSequence(*cell, *g, /*T=*/4, /*B=*/3);
  }
}

// h' = tanh(x@W + 2*b + h@U): the input projection hoisted, 2*b invariant, and a
// hoisted node that reads another hoisted node and an invariant one.
constexpr char kPlacedCell[] =
    "graph placed\n"
    "input x : f64[2,3]\n"
    "state h : f64[2,4]\n"
    "param W : f64[3,4]\n"
    "param U : f64[4,4]\n"
    "param b : f64[4]\n"
    "%0 = MatMul(x, W) {transpose_a=0, transpose_b=0} : f64[2,4]%P0\n"
    "%1 = MulScalar(b) {value=2.0} : f64[4]%P1\n"
    "%2 = Add(%0, %1) : f64[2,4]%P2\n"
    "%3 = MatMul(h, U) {transpose_a=0, transpose_b=0} : f64[2,4]\n"
    "%4 = Add(%2, %3) : f64[2,4]\n"
    "%5 = Tanh(%4) : f64[2,4]\n"
    "output h = %5\n";

std::string Placed(const std::string& p0, const std::string& p1, const std::string& p2) {
  std::string text = kPlacedCell;
  text.replace(text.find("%P0"), 3, p0);
  text.replace(text.find("%P1"), 3, p1);
  text.replace(text.find("%P2"), 3, p2);
  return text;
}

TEST(ExecutorTest, PlacementsDoNotChangeTheNumbers) {
  const int64_t T = 5, B = 3;
  const Var x = Leaf({T, B, 3}, 1), h0 = Leaf({B, 4}, 2);
  const ParamMap params = {{"W", Leaf({3, 4}, 3)}, {"U", Leaf({4, 4}, 4)}, {"b", Leaf({4}, 5)}};
  const std::vector<Var> wrt = {x, h0, params.at("W"), params.at("U"), params.at("b")};
  const Tensor seed = RandomF64({T, B, 4}, 6);

  // The same recurrence on the tape, step by step.
  Var h = h0;
  std::vector<VarOr> ys;
  for (int64_t t = 0; t < T; ++t) {
    VarOr xt = Reshape(Slice(x, 0, t, t + 1), {B, 3});
    absl::StatusOr<Var> next = Tanh(MatMul(xt, params.at("W")) + params.at("b") * 2.0 +
                                    MatMul(h, params.at("U")));
    ASSERT_TRUE(next.ok()) << next.status();
    h = *next;
    ys.push_back(Reshape(h, {1, B, 4}));
  }
  absl::StatusOr<Var> want_y = Concat(ys, 0);
  ASSERT_TRUE(want_y.ok());
  absl::StatusOr<std::vector<Var>> want_grad = Gradients({*want_y}, {seed}, wrt);
  ASSERT_TRUE(want_grad.ok()) << want_grad.status();

  std::vector<Graph> graphs;
  for (const std::string& text : {Placed("", "", ""), Placed(" @hoisted", "", ""),
                                  Placed("", " @invariant", ""),
                                  Placed(" @hoisted", " @invariant", " @hoisted")}) {
    absl::StatusOr<Graph> g = ParseGraph(text);
    ASSERT_TRUE(g.ok()) << g.status() << "\n" << text;
    graphs.push_back(*std::move(g));
  }
  // The same placements set by hand on the unplaced graph.
  Graph by_hand = graphs[0];
  for (NodeId id = 0; id < by_hand.num_node_slots(); ++id) {
    const NodeData& d = by_hand.node(id);
    if (d.op == "MatMul" && d.inputs[0].node == by_hand.FindInput("x")) {
      by_hand.mutable_node(id).placement = Placement::kTimeBatched;
    } else if (d.op == "MulScalar") {
      by_hand.mutable_node(id).placement = Placement::kInvariant;
    }
  }
  EXPECT_EQ(PrintGraph(by_hand), Placed(" @hoisted", " @invariant", ""));
  graphs.push_back(by_hand);

  for (const Graph& g : graphs) {
    SCOPED_TRACE(PrintGraph(g));
    absl::StatusOr<GraphSequenceResult> r = RunGraphSequence(g, x, {{"h", h0}}, params);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(TensorsClose(r->y.value(), want_y->value(), 1e-12, "y"));
    EXPECT_TRUE(TensorsClose(r->final_states.at("h").value(), h.value(), 1e-12, "final h"));
    absl::StatusOr<std::vector<Var>> grad = Gradients({r->y}, {seed}, wrt);
    ASSERT_TRUE(grad.ok()) << grad.status();
    for (size_t k = 0; k < wrt.size(); ++k) {
      ASSERT_TRUE((*grad)[k].defined()) << k;
      EXPECT_TRUE(TensorsClose((*grad)[k].value(), (*want_grad)[k].value(), 1e-10,
                  "gradient " + std::to_string(k)));
    }
  }
}

TEST(ExecutorTest, PlacementsThatReadPerStepValuesAreRejected) {
  const std::string head = "graph g\ninput x : f64[2,3]\nstate h : f64[2,3]\n";
  const struct {
    std::string nodes, error;
  } cases[] = {
      // Run once before the loop, this would see the initial state only.
      {"%0 = Tanh(h) : f64[2,3] @invariant\n%1 = Add(x, %0) : f64[2,3]\noutput h = %1\n",
       "graph g: node %0 (Tanh) is @invariant but reads h, which changes from step to step"},
      // Before the loop there is no value of %0 yet.
      {"%0 = Tanh(h) : f64[2,3]\n%1 = Add(x, %0) : f64[2,3] @hoisted\noutput h = %1\n",
       "graph g: node %1 (Add) is @hoisted but reads %0, which changes from step to step"},
      {"%0 = Tanh(x) : f64[2,3] @invariant\n%1 = Add(h, %0) : f64[2,3]\noutput h = %1\n",
       "graph g: node %0 (Tanh) is @invariant but reads x, which changes from step to step"},
      {"%0 = Tanh(x) : f64[2,3] @hoisted\n%1 = Exp(%0) : f64[2,3] @invariant\n"
       "%2 = Add(h, %1) : f64[2,3]\noutput h = %2\n",
       "graph g: node %1 (Exp) is @invariant but reads %0, which changes from step to step"},
  };
  const Var x = Leaf({3, 2, 3}, 1), h0 = Leaf({2, 3}, 2);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.nodes);
    absl::StatusOr<Graph> g = ParseGraph(head + c.nodes);
    ASSERT_TRUE(g.ok()) << g.status();
    absl::StatusOr<GraphSequenceResult> r = RunGraphSequence(*g, x, {{"h", h0}}, {});
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
    EXPECT_THAT(r.status().message(), HasSubstr(c.error));
  }
}

Graph SignatureGraph(const std::string& decls, const std::string& outputs) {
  absl::StatusOr<Graph> g = ParseGraph("graph cellish\n" + decls + outputs);
  EXPECT_TRUE(g.ok()) << g.status();
  return g.ok() ? *std::move(g) : Graph();
}

TEST(ExecutorTest, CellSignature) {
  const Graph lstm = TracedCell("lstm", 3, 4);
  absl::StatusOr<CellSignature> sig = GetCellSignature(lstm);
  ASSERT_TRUE(sig.ok()) << sig.status();
  EXPECT_EQ(sig->input, "x");
  EXPECT_THAT(sig->states, ElementsAre("h", "c"));
  absl::StatusOr<Cell> cell = BuiltinCell("lstm", 3, 4);
  std::vector<std::string> params;
  for (const CellParam& p : cell->params) params.push_back(p.name);
  EXPECT_EQ(sig->params, params);

  const std::string ok_outputs = "%0 = Tanh(h) : f64[2,4]\noutput h = %0\n";
  sig = GetCellSignature(
      SignatureGraph("state h : f64[2,4]\nparam W : f64[3,4]\n", ok_outputs));
  EXPECT_EQ(sig.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(sig.status().message(), HasSubstr("cell cellish: no per-step input"));

  sig = GetCellSignature(SignatureGraph(
      "input x : f64[2,3]\ninput u : f64[2,3]\nstate h : f64[2,4]\n", ok_outputs));
  EXPECT_EQ(sig.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(sig.status().message(),
              HasSubstr("cell cellish: more than one per-step input (x, u)"));

  sig = GetCellSignature(SignatureGraph(
      "input x : f64[2,3]\nstate h : f64[2,4]\nstate c : f64[2,4]\n", ok_outputs));
  EXPECT_EQ(sig.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(sig.status().message(), HasSubstr("cell cellish: state c has no next value"));

  sig = GetCellSignature(SignatureGraph("input x : f64[2,3]\n", "output y = x\n"));
  EXPECT_EQ(sig.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(sig.status().message(), HasSubstr("cell cellish: no state"));
}

TEST(ExecutorTest, SequenceErrors) {
  const Graph g = TracedCell("lstm", 3, 4);
  absl::StatusOr<Cell> cell = BuiltinCell("lstm", 3, 4);
  ASSERT_TRUE(cell.ok());
  const SequenceInputs in = RandomSequenceInputs(*cell, 2, 2);

  const Var empty = Var::Leaf(Tensor::Zeros({0, 2, 3}, DType::kF64), true);
  absl::StatusOr<GraphSequenceResult> r =
      RunGraphSequence(g, empty, in.initial_by_name, in.params);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("cell lstm: empty sequence"));

  const Var flat = Leaf({2, 3}, 5);
  r = RunGraphSequence(g, flat, in.initial_by_name, in.params);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("cell lstm: input must be [T, B, I], got [2,3]"));

  std::map<std::string, Var> no_c = in.initial_by_name;
  no_c.erase("c");
  r = RunGraphSequence(g, in.x, no_c, in.params);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("cell lstm: no initial value for state c"));

  ParamMap no_bo = in.params;
  no_bo.erase("bo");
  r = RunGraphSequence(g, in.x, in.initial_by_name, no_bo);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("no value given for input bo"));

  // Not a cell at all.
  r = RunGraphSequence(SignatureGraph("state h : f64[2,4]\n", "output h = h\n"), in.x,
                       in.initial_by_name, in.params);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("no per-step input"));
}

}  // namespace
}  // namespace gatefuse
