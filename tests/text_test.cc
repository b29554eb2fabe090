// Tests of the text form (graph/text.h): printing, exact round trips through the
// parser, parse errors with their line, and DOT export.
#include "graph/text.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/cells/cell.h"
#include "models/cells/cell_graph.h"

namespace gatefuse {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TensorSpec F64(Shape shape) { return {std::move(shape), DType::kF64}; }

Graph Parse(const std::string& text) {
  absl::StatusOr<Graph> g = ParseGraph(text);
  EXPECT_TRUE(g.ok()) << g.status() << "\n" << text;
  return g.ok() ? *std::move(g) : Graph("parse_failed");
}

// print(parse(print(g))) == print(g); returns the parsed graph.
Graph ExpectRoundTrip(const Graph& g) {
  const std::string text = PrintGraph(g);
  Graph parsed = Parse(text);
  EXPECT_EQ(PrintGraph(parsed), text);
  return parsed;
}

uint64_t Bits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

int Count(const std::string& text, const std::string& part) {
  int n = 0;
  for (size_t pos = text.find(part); pos != std::string::npos; pos = text.find(part, pos + 1)) ++n;
  return n;
}

// The node of `g` that prints as %k.
const NodeData& Numbered(const Graph& g, int k) {
  const std::string label = absl::StrCat("%", k);
  for (NodeId id = 0; id < g.num_node_slots(); ++id) {
    if (!g.node(id).dead && NodeLabel(g, id) == label) return g.node(id);
  }
  ADD_FAILURE() << "no node " << label;
  static const NodeData none;
  return none;
}

TEST(TextTest, PrintsATracedCell) {
  absl::StatusOr<Cell> cell = BuiltinCell("rnn_tanh", 3, 5);
  ASSERT_TRUE(cell.ok()) << cell.status();
  absl::StatusOr<Graph> g = TraceCell(*cell);
  ASSERT_TRUE(g.ok()) << g.status();
  // C++ leaves the order of the two operands of `x@W + h@U` unspecified, and the
  // trace follows the order the ops ran in; either is a correct trace.
  const std::string xw = "MatMul(x, W) {transpose_a=0, transpose_b=0} : f32[2,5]\n";
  const std::string hu = "MatMul(h, U) {transpose_a=0, transpose_b=0} : f32[2,5]\n";
  const bool xw_first = g->node(g->num_node_slots() - 5).inputs[0].node == g->FindInput("x");
  EXPECT_EQ(PrintGraph(*g),
            "graph rnn_tanh\n"
            "input x : f32[2,3]\n"
            "state h : f32[2,5]\n"
            "param W : f32[3,5]\n"
            "param U : f32[5,5]\n"
            "param b : f32[5]\n"
            "%0 = " + (xw_first ? xw : hu) +
            "%1 = " + (xw_first ? hu : xw) +
            (xw_first ? "%2 = Add(%0, %1) : f32[2,5]\n" : "%2 = Add(%1, %0) : f32[2,5]\n") +
            "%3 = Add(%2, b) : f32[2,5]\n"
            "%4 = Tanh(%3) : f32[2,5]\n"
            "output h = %4\n");

  absl::StatusOr<Graph> lstm = TraceCell(*BuiltinCell("lstm", 4, 6));
  ASSERT_TRUE(lstm.ok()) << lstm.status();
  const std::string text = PrintGraph(*lstm);
  EXPECT_THAT(text, StartsWith("graph lstm\ninput x : f32[2,4]\nstate h : f32[2,6]\n"
                               "state c : f32[2,6]\nparam "));
  EXPECT_THAT(text, HasSubstr("param Wi : f32[4,6]\n"));
  EXPECT_THAT(text, HasSubstr("param Uo : f32[6,6]\n"));
  EXPECT_THAT(text, HasSubstr("param bg : f32[6]\n"));
  EXPECT_THAT(text, HasSubstr(" = MatMul(x, Wi) {transpose_a=0, transpose_b=0} : f32[2,6]\n"));
  EXPECT_THAT(text, HasSubstr(" = MatMul(h, Uo) {transpose_a=0, transpose_b=0} : f32[2,6]\n"));
  // Four gates of two MatMuls, two Adds and an activation; c' = f*c + i*g; h' = o*tanh(c').
  EXPECT_EQ(Count(text, " = MatMul("), 8);
  EXPECT_EQ(Count(text, " = Add("), 9);
  EXPECT_EQ(Count(text, " = Sigmoid("), 3);
  EXPECT_EQ(Count(text, " = Tanh("), 2);
  EXPECT_EQ(Count(text, " = Mul("), 3);
  EXPECT_THAT(text, HasSubstr(", c) : f32[2,6]\n"));  // f * c
  EXPECT_THAT(text, ::testing::EndsWith(
                        "output c = " + NodeLabel(*lstm, lstm->outputs()[1].value.node) + "\n"));
  EXPECT_THAT(text, HasSubstr("\noutput h = %"));
  // One line per live node and output, plus the header.
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'),
            1 + lstm->num_live_nodes() + static_cast<int>(lstm->outputs().size()));
}

TEST(TextTest, NodeLabelIsTheNameOrThePrintedNumber) {
  Graph g;
  const NodeId x = g.AddInput("x", InputRole::kInput, F64({3}));
  const NodeId a = g.AddNode("Tanh", {{x, 0}}).value();
  const NodeId w = g.AddInput("w", InputRole::kParam, F64({3}));
  const NodeId b = g.AddNode("Exp", {{w, 0}}).value();
  const NodeId c = g.AddNode("Mul", {{a, 0}, {b, 0}}).value();
  g.SetInput(a, 0, {b, 0});  // a now comes after b
  EXPECT_EQ(NodeLabel(g, x), "x");
  EXPECT_EQ(NodeLabel(g, w), "w");
  EXPECT_EQ(NodeLabel(g, b), "%0");
  EXPECT_EQ(NodeLabel(g, a), "%1");
  EXPECT_EQ(NodeLabel(g, c), "%2");
  g.AddOutput("y", {c, 0});
  EXPECT_EQ(PrintGraph(g),
            "graph graph\n"
            "input x : f64[3]\n"
            "param w : f64[3]\n"
            "%0 = Exp(w) : f64[3]\n"
            "%1 = Tanh(%0) : f64[3]\n"
            "%2 = Mul(%1, %0) : f64[3]\n"
            "output y = %2\n");
}

TEST(TextTest, EveryBuiltinCellRoundTripsExactly) {
  for (const std::string& kind : BuiltinCellKinds()) {
    SCOPED_TRACE(kind);
    absl::StatusOr<Cell> cell = BuiltinCell(kind, 3, 4);
    ASSERT_TRUE(cell.ok()) << cell.status();
    for (DType dtype : {DType::kF32, DType::kF64}) {
      absl::StatusOr<Graph> g = TraceCell(*cell, dtype);
      ASSERT_TRUE(g.ok()) << g.status();
      const Graph parsed = ExpectRoundTrip(*g);
      EXPECT_EQ(parsed.name(), kind);
      EXPECT_EQ(parsed.num_live_nodes(), g->num_live_nodes());
      ASSERT_EQ(parsed.outputs().size(), cell->states.size());
      for (size_t k = 0; k < cell->states.size(); ++k) {
        EXPECT_EQ(parsed.outputs()[k].name, cell->states[k]);
      }
      for (NodeId id : parsed.Inputs()) {
        const NodeId orig = g->FindInput(parsed.node(id).name);
        ASSERT_GE(orig, 0);
        EXPECT_EQ(parsed.node(id).role, g->node(orig).role);
        EXPECT_EQ(parsed.node(id).outputs, g->node(orig).outputs);
      }
    }
  }
}

TEST(TextTest, ConstantsKeepEveryBitAndTheirFloatness) {
  const std::vector<double> values = {0.1, 1e-30, -0.0, 3, -2.5e300, 1.0 / 3,
                                      std::numeric_limits<double>::infinity(),
                                      -std::numeric_limits<double>::infinity(),
                                      std::numeric_limits<double>::denorm_min()};
  const int64_t n = static_cast<int64_t>(values.size());
  Graph g("consts");
  const NodeId x = g.AddInput("x", InputRole::kInput, F64({2, n}));
  const NodeId c = g.AddConstant(Tensor::FromValues({n}, values, DType::kF64).value());
  const NodeId f = g.AddConstant(
      Tensor::FromValues({2, 2}, {0.1, -0.0, 3, 1e-30}, DType::kF32).value());
  const NodeId s = g.AddConstant(Tensor::Scalar(7, DType::kF64));
  const NodeId y = g.AddNode("Add", {{x, 0}, {c, 0}}).value();
  const NodeId z = g.AddNode("Mul", {{y, 0}, {s, 0}}).value();
  g.AddOutput("z", {z, 0});
  g.AddOutput("f", {f, 0});

  const std::string text = PrintGraph(g);
  EXPECT_THAT(text, HasSubstr("%0 = Constant [0.10000000000000001, "));
  EXPECT_THAT(text, HasSubstr(", -0.0, 3.0, "));
  EXPECT_THAT(text, HasSubstr("inf, -inf, "));
  EXPECT_THAT(text, HasSubstr("] : f64[9]\n"));
  EXPECT_THAT(text, HasSubstr(" = Constant [7.0] : f64[]\n"));
  EXPECT_THAT(text, HasSubstr(" : f32[2,2]\n"));

  const Graph parsed = ExpectRoundTrip(g);
  std::vector<const NodeData*> constants;
  for (NodeId id = 0; id < parsed.num_node_slots(); ++id) {
    if (parsed.node(id).op == kConstantOp) constants.push_back(&parsed.node(id));
  }
  ASSERT_EQ(constants.size(), 3u);
  // Printed in stable order: the f64 vector, the f32 matrix, the scalar.
  ASSERT_EQ(constants[0]->value.dtype(), DType::kF64);
  const std::vector<double> back = constants[0]->value.ToVector();
  ASSERT_EQ(back.size(), values.size());
  for (size_t k = 0; k < values.size(); ++k) {
    EXPECT_EQ(Bits(back[k]), Bits(values[k])) << k << ": " << back[k] << " vs " << values[k];
  }
  ASSERT_EQ(constants[1]->value.dtype(), DType::kF32);
  EXPECT_EQ(constants[1]->value.shape(), Shape({2, 2}));
  const std::vector<double> want_f32 = g.node(f).value.ToVector();
  const std::vector<double> back_f32 = constants[1]->value.ToVector();
  ASSERT_EQ(back_f32.size(), 4u);
  for (size_t k = 0; k < 4; ++k) EXPECT_EQ(Bits(back_f32[k]), Bits(want_f32[k])) << k;
  EXPECT_EQ(constants[2]->value.shape(), Shape({}));
  EXPECT_EQ(constants[2]->value.ToVector(), std::vector<double>{7});
}

TEST(TextTest, NanConstantsRoundTrip) {
  Graph g("nan");
  const NodeId c = g.AddConstant(
      Tensor::FromValues({2}, {std::numeric_limits<double>::quiet_NaN(), 1}, DType::kF64)
          .value());
  g.AddOutput("c", {c, 0});
  const Graph parsed = ExpectRoundTrip(g);
  const std::vector<double> back = Numbered(parsed, 0).value.ToVector();
  ASSERT_EQ(back.size(), 2u);
  EXPECT_TRUE(std::isnan(back[0]));
  EXPECT_EQ(back[1], 1);
}

TEST(TextTest, AttributesRoundTripWithTheirTypes) {
  Graph g("attrs");
  const NodeId x = g.AddInput("x", InputRole::kInput, F64({2, 3}));
  const NodeId l = g.AddInput("labels", InputRole::kInput, {Shape{2}, DType::kI64});
  const NodeId a = g.AddNode("AddScalar", {{x, 0}}, Attrs{{"value", 0.1}}).value();
  const NodeId m = g.AddNode("MulScalar", {{a, 0}}, Attrs{{"value", 3.0}}).value();
  const NodeId r = g.AddNode("RSubScalar", {{m, 0}}, Attrs{{"value", -0.0}}).value();
  const NodeId tiny = g.AddNode("AddScalar", {{r, 0}}, Attrs{{"value", 1e-30}}).value();
  const NodeId t = g.AddNode("Transpose", {{tiny, 0}},
                             Attrs{{"perm", std::vector<int64_t>{1, 0}}}).value();
  const NodeId rs = g.AddNode("Reshape", {{t, 0}},
                              Attrs{{"shape", std::vector<int64_t>{-1, 2}}}).value();
  const NodeId sum = g.AddNode("Sum", {{rs, 0}},
                               Attrs{{"axes", std::vector<int64_t>{}}, {"keepdims", int64_t{0}}})
                         .value();
  const NodeId cat = g.AddNode("Concat", {{x, 0}, {x, 0}}, Attrs{{"axis", int64_t{-1}}}).value();
  const NodeId oh = g.AddNode("OneHot", {{l, 0}},
                              Attrs{{"depth", int64_t{4}}, {"dtype", std::string("f64")}})
                        .value();
  g.AddOutput("sum", {sum, 0});
  g.AddOutput("cat", {cat, 0});
  g.AddOutput("oh", {oh, 0});

  const std::string text = PrintGraph(g);
  EXPECT_THAT(text, HasSubstr("%0 = AddScalar(x) {value=0.10000000000000001} : f64[2,3]\n"));
  EXPECT_THAT(text, HasSubstr("%1 = MulScalar(%0) {value=3.0} : f64[2,3]\n"));
  EXPECT_THAT(text, HasSubstr("%2 = RSubScalar(%1) {value=-0.0} : f64[2,3]\n"));
  EXPECT_THAT(text, HasSubstr("%4 = Transpose(%3) {perm=[1,0]} : f64[3,2]\n"));
  EXPECT_THAT(text, HasSubstr("%5 = Reshape(%4) {shape=[-1,2]} : f64[3,2]\n"));
  EXPECT_THAT(text, HasSubstr("%6 = Sum(%5) {axes=[], keepdims=0} : f64[]\n"));
  EXPECT_THAT(text, HasSubstr("%7 = Concat(x, x) {axis=-1} : f64[2,6]\n"));
  EXPECT_THAT(text, HasSubstr("%8 = OneHot(labels) {depth=4, dtype=\"f64\"} : f64[2,4]\n"));

  const Graph parsed = ExpectRoundTrip(g);
  auto attr = [&](int k, const std::string& name) -> AttrValue {
    const NodeData& d = Numbered(parsed, k);
    auto it = d.attrs.values().find(name);
    EXPECT_NE(it, d.attrs.values().end()) << "%" << k << " has no " << name;
    return it == d.attrs.values().end() ? AttrValue() : it->second;
  };
  for (auto [k, want] : std::vector<std::pair<int, double>>{{0, 0.1}, {1, 3.0}, {2, -0.0},
                                                            {3, 1e-30}}) {
    const AttrValue v = attr(k, "value");
    ASSERT_TRUE(std::holds_alternative<double>(v)) << "%" << k << " value is not a float";
    EXPECT_EQ(Bits(std::get<double>(v)), Bits(want)) << "%" << k;
  }
  EXPECT_EQ(std::get<std::vector<int64_t>>(attr(4, "perm")), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(std::get<std::vector<int64_t>>(attr(5, "shape")), (std::vector<int64_t>{-1, 2}));
  EXPECT_TRUE(std::get<std::vector<int64_t>>(attr(6, "axes")).empty());
  EXPECT_EQ(std::get<int64_t>(attr(6, "keepdims")), 0);
  EXPECT_EQ(std::get<int64_t>(attr(7, "axis")), -1);
  EXPECT_EQ(std::get<std::string>(attr(8, "dtype")), "f64");
  // Every attribute set equals the original's.
  for (NodeId id = 0; id < g.num_node_slots(); ++id) {
    if (g.node(id).op == kInputOp) continue;
    EXPECT_TRUE(Numbered(parsed, std::stoi(NodeLabel(g, id).substr(1))).attrs == g.node(id).attrs)
        << NodeLabel(g, id);
  }
}

TEST(TextTest, PlacementsRoundTrip) {
  const std::string text =
      "graph placed\n"
      "input x : f64[2,3]\n"
      "state h : f64[2,4]\n"
      "param W : f64[3,4]\n"
      "param b : f64[4]\n"
      "%0 = MatMul(x, W) {transpose_a=0, transpose_b=0} : f64[2,4] @hoisted\n"
      "%1 = MulScalar(b) {value=2.0} : f64[4] @invariant\n"
      "%2 = Add(%0, %1) : f64[2,4] @hoisted\n"
      "%3 = Add(%2, h) : f64[2,4]\n"
      "%4 = Tanh(%3) : f64[2,4]\n"
      "output h = %4\n";
  const Graph g = Parse(text);
  EXPECT_EQ(PrintGraph(g), text);
  EXPECT_EQ(Numbered(g, 0).placement, Placement::kTimeBatched);
  EXPECT_EQ(Numbered(g, 1).placement, Placement::kInvariant);
  EXPECT_EQ(Numbered(g, 2).placement, Placement::kTimeBatched);
  EXPECT_EQ(Numbered(g, 3).placement, Placement::kStep);
  ExpectRoundTrip(g);

  // Set by hand on a traced graph.
  absl::StatusOr<Graph> lstm = TraceCell(*BuiltinCell("lstm", 2, 3), DType::kF64);
  ASSERT_TRUE(lstm.ok());
  int hoisted = 0;
  for (NodeId id = 0; id < lstm->num_node_slots(); ++id) {
    const NodeData& d = lstm->node(id);
    if (d.op == "MatMul" && d.inputs[0].node == lstm->FindInput("x")) {
      lstm->mutable_node(id).placement = Placement::kTimeBatched;
      ++hoisted;
    }
  }
  EXPECT_EQ(hoisted, 4);
  const std::string printed = PrintGraph(*lstm);
  EXPECT_THAT(printed, HasSubstr(" = MatMul(x, Wi) {transpose_a=0, transpose_b=0} : f64[2,3] "
                                 "@hoisted\n"));
  EXPECT_THAT(printed, HasSubstr(" = MatMul(h, Ui) {transpose_a=0, transpose_b=0} : f64[2,3]\n"));
  const Graph parsed = ExpectRoundTrip(*lstm);
  int parsed_hoisted = 0;
  for (NodeId id = 0; id < parsed.num_node_slots(); ++id) {
    parsed_hoisted += parsed.node(id).placement == Placement::kTimeBatched;
  }
  EXPECT_EQ(parsed_hoisted, 4);
}

TEST(TextTest, CommentsAndBlankLinesAreSkipped) {
  const Graph g = Parse(
      "# a comment first\n"
      "\n"
      "graph g   # trailing comment\n"
      "  input x : f64[2]\n"
      "\n"
      "%0 = Tanh(x) : f64[2]  # tanh\n"
      "output y = %0\n");
  EXPECT_EQ(PrintGraph(g), "graph g\ninput x : f64[2]\n%0 = Tanh(x) : f64[2]\noutput y = %0\n");
}

// The parse error of `text`, which must fail with InvalidArgument.
std::string ParseError(const std::string& text) {
  absl::StatusOr<Graph> g = ParseGraph(text);
  EXPECT_FALSE(g.ok()) << "parsed:\n" << text;
  if (g.ok()) return "";
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument) << g.status();
  return std::string(g.status().message());
}

TEST(TextTest, ParseErrorsNameTheLine) {
  const std::string head = "graph g\ninput x : f32[2]\n";  // lines 1 and 2

  // Missing header.
  EXPECT_THAT(ParseError("input x : f32[2]\n"), StartsWith("line 1: expected 'graph <name>'"));
  EXPECT_THAT(ParseError(""), StartsWith("line 1: expected 'graph <name>'"));
  EXPECT_THAT(ParseError("# only a comment\n\n"), StartsWith("line 1: expected 'graph <name>'"));
  EXPECT_THAT(ParseError("# c\n\n%0 = Tanh(x) : f32[2]\n"),
              StartsWith("line 3: expected 'graph <name>'"));
  EXPECT_THAT(ParseError("graph\n"), StartsWith("line 1: expected 'graph <name>'"));
  EXPECT_THAT(ParseError("graph a b\n"), StartsWith("line 1: expected 'graph <name>'"));

  // Unknown values.
  EXPECT_THAT(ParseError(head + "%0 = Tanh(y) : f32[2]\n"),
              StartsWith("line 3: unknown value 'y'"));
  EXPECT_THAT(ParseError(head + "%0 = Tanh(x) : f32[2]\noutput y = %1\n"),
              StartsWith("line 4: unknown value '%1'"));
  EXPECT_THAT(ParseError(head + "%0 = Tanh(x) : f32[2]\n%1 = Exp(%0.1) : f32[2]\n"),
              StartsWith("line 4: '%0' has no output 1"));

  // Defined twice.
  EXPECT_THAT(ParseError(head + "param x : f32[3]\n"), StartsWith("line 3: 'x' is defined twice"));
  EXPECT_THAT(ParseError(head + "%0 = Tanh(x) : f32[2]\n%0 = Exp(x) : f32[2]\n"),
              StartsWith("line 4: '%0' is defined twice"));
  EXPECT_THAT(ParseError(head + "output y = x\noutput y = x\n"),
              StartsWith("line 4: output 'y' is defined twice"));

  // Bad types.
  EXPECT_THAT(ParseError("graph g\ninput x : q32[2]\n"),
              StartsWith("line 2: expected a type such as f32[2,3], got 'q32'"));
  EXPECT_THAT(ParseError("graph g\ninput x : f32[2,a]\n"),
              StartsWith("line 2: bad dimension 'a'"));
  EXPECT_THAT(ParseError("graph g\ninput x : f32[-1]\n"),
              StartsWith("line 2: bad dimension '-1'"));
  EXPECT_THAT(ParseError("graph g\ninput x : f32 2\n"), StartsWith("line 2: expected '['"));
  EXPECT_THAT(ParseError(head + "%0 = Tanh(x) : f32[2\n"), StartsWith("line 3: "));
  EXPECT_THAT(ParseError("graph g\nvariable x : f32[2]\n"),
              StartsWith("line 2: expected 'input', 'state', 'param', 'output' or '%N = ...', "
                         "got 'variable'"));

  // Ops the verifier rejects: unknown, or a declared shape the op does not give.
  const std::string unknown = ParseError(head + "%0 = Frobnicate(x) : f32[2]\n");
  EXPECT_THAT(unknown, StartsWith("line 3: "));
  EXPECT_THAT(unknown, HasSubstr("node %0 (Frobnicate): unknown op 'Frobnicate'"));
  const std::string shape = ParseError(head + "%0 = Tanh(x) : f32[2]\n%1 = Exp(%0) : f32[3]\n");
  EXPECT_THAT(shape, StartsWith("line 4: "));
  EXPECT_THAT(shape, HasSubstr("node %1 (Exp): declared f32[3] but the op gives f32[2]"));
  const std::string attr = ParseError(head + "%0 = AddScalar(x) {value=1} : f32[2]\n");
  EXPECT_THAT(attr, StartsWith("line 3: "));
  EXPECT_THAT(attr, HasSubstr("attribute 'value' must be of type float"));

  // Garbage at the end of a line.
  EXPECT_THAT(ParseError(head + "%0 = Tanh(x) : f32[2] extra\n"),
              StartsWith("line 3: unexpected text at the end of the node"));
  EXPECT_THAT(ParseError("graph g\ninput x : f32[2] extra\n"),
              StartsWith("line 2: unexpected text after the type"));
  EXPECT_THAT(ParseError(head + "output y = x x\n"),
              StartsWith("line 3: unexpected text after the output"));

  // Placements.
  EXPECT_THAT(ParseError(head + "%0 = Tanh(x) : f32[2] @gpu\n"),
              StartsWith("line 3: unknown placement '@gpu'"));

  // Constants.
  EXPECT_THAT(ParseError(head + "%0 = Constant [1, 2] : f32[3]\n"), StartsWith("line 3: "));
  EXPECT_THAT(ParseError(head + "%0 = Constant [1, zz] : f32[2]\n"),
              StartsWith("line 3: bad number 'zz'"));
}

TEST(TextTest, DotHasANodeLinePerNodeAndTheEdges) {
  absl::StatusOr<Graph> g = TraceCell(*BuiltinCell("gru", 3, 4));
  ASSERT_TRUE(g.ok()) << g.status();
  const NodeId x = g->FindInput("x");
  NodeId hoisted = -1;
  for (NodeId id = 0; id < g->num_node_slots() && hoisted < 0; ++id) {
    if (g->node(id).op == "MatMul" && g->node(id).inputs[0].node == x) hoisted = id;
  }
  ASSERT_GE(hoisted, 0);
  g->mutable_node(hoisted).placement = Placement::kTimeBatched;

  const std::string dot = ToDot(*g);
  EXPECT_THAT(dot, StartsWith("digraph \"gru\" {\n"));
  EXPECT_THAT(dot, ::testing::EndsWith("}\n"));
  int edges = 0;
  for (NodeId id = 0; id < g->num_node_slots(); ++id) {
    EXPECT_THAT(dot, HasSubstr(absl::StrCat("  n", id, " [label=\""))) << id;
    for (const ValueRef& v : g->node(id).inputs) {
      EXPECT_THAT(dot, HasSubstr(absl::StrCat("  n", v.node, " -> n", id, ";\n")));
      ++edges;
    }
  }
  EXPECT_EQ(Count(dot, " -> "), edges + static_cast<int>(g->outputs().size()));
  EXPECT_EQ(Count(dot, " [label="), g->num_live_nodes() + static_cast<int>(g->outputs().size()));
  EXPECT_THAT(dot, HasSubstr(absl::StrCat("  n", x, " [label=\"input x\\nf32[2,3]\", "
                                          "shape=ellipse];\n")));
  EXPECT_THAT(dot, HasSubstr("[label=\"state h\\nf32[2,4]\", shape=ellipse]"));
  EXPECT_THAT(dot, HasSubstr("[label=\"param Wr\\nf32[3,4]\", shape=ellipse]"));
  EXPECT_THAT(dot, HasSubstr(absl::StrCat("  n", hoisted, " [label=\"", NodeLabel(*g, hoisted),
                                          " MatMul\\nf32[2,4]\\n@hoisted\", shape=box, "
                                          "style=filled, fillcolor=lightgrey];\n")));
  EXPECT_THAT(dot, HasSubstr("out0 [label=\"output h\", shape=doubleoctagon];\n"));
  EXPECT_THAT(dot, HasSubstr(absl::StrCat("  n", g->outputs()[0].value.node, " -> out0;\n")));
}

}  // namespace
}  // namespace gatefuse
