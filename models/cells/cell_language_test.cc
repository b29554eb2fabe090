#include "models/cells/cell_language.h"

#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "graph/executor.h"
#include "graph/text.h"
#include "models/cells/cell.h"
#include "models/cells/cell_graph.h"
#include "models/cells/cell_language_testing.h"
#include "passes/graph_util.h"
#include "passes/pass.h"
#include "passes/standard_pipeline.h"
#include "passes/testing/equivalence.h"

namespace gatefuse {
namespace {

const std::map<std::string, int64_t> kSizes = {{"I", 3}, {"H", 5}};

using cell_testing::CompileText;
using cell_testing::ExpectError;
using cell_testing::ParseError;
using cell_testing::Render;

std::string CellPath(const std::string& kind) { return "models/cells/" + kind + ".cell"; }

Graph Optimize(Graph g) {
  PipelineOptions options;
  options.verify = true;
  Pipeline pipeline(options);
  AddStandardPasses(pipeline);
  absl::StatusOr<bool> changed = pipeline.Run(g);
  EXPECT_TRUE(changed.ok()) << changed.status();
  return g.Compact();
}

std::vector<uint64_t> OutputHashes(const Graph& g) {
  absl::StatusOr<std::vector<NodeId>> order = g.TopologicalOrder();
  EXPECT_TRUE(order.ok()) << order.status();
  if (!order.ok()) return {};
  const std::vector<uint64_t> hashes = StructuralHashes(g, *order);
  std::vector<uint64_t> out;
  for (const GraphOutput& o : g.outputs()) out.push_back(ValueHash(hashes, o.value));
  return out;
}

// ---------------------------------------------------------------- builtin cells

class BuiltinCellFileTest : public ::testing::TestWithParam<std::string> {};

TEST_P(BuiltinCellFileTest, MatchesTheCellWrittenInCpp) {
  const std::string kind = GetParam();
  absl::StatusOr<CellSource> src = ReadCellFile(CellPath(kind));
  ASSERT_TRUE(src.ok()) << src.status();
  EXPECT_EQ(src->name, kind);
  EXPECT_EQ(SizeSymbols(*src), (std::set<std::string>{"H", "I"}));
  absl::StatusOr<Graph> compiled = CompileCell(*src, kSizes, DType::kF64);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  EXPECT_EQ(compiled->name(), kind);

  absl::StatusOr<Cell> builtin = BuiltinCell(kind, 3, 5);
  ASSERT_TRUE(builtin.ok()) << builtin.status();
  absl::StatusOr<Graph> traced = TraceCell(*builtin, DType::kF64);
  ASSERT_TRUE(traced.ok()) << traced.status();

  // Same inputs (names, roles, shapes, order).
  ASSERT_EQ(compiled->Inputs().size(), traced->Inputs().size());
  for (size_t k = 0; k < traced->Inputs().size(); ++k) {
    const NodeData& a = traced->node(traced->Inputs()[k]);
    const NodeData& b = compiled->node(compiled->Inputs()[k]);
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.role, b.role) << a.name;
    EXPECT_EQ(a.outputs[0], b.outputs[0]) << a.name;
  }

  // (a) The same graph once canonicalised.
  const Graph opt_traced = Optimize(*traced);
  const Graph opt_compiled = Optimize(*compiled);
  EXPECT_EQ(opt_traced.num_live_nodes(), opt_compiled.num_live_nodes())
      << PrintGraph(opt_traced) << "\n" << PrintGraph(opt_compiled);
  EXPECT_EQ(OutputHashes(opt_traced), OutputHashes(opt_compiled))
      << PrintGraph(opt_traced) << "\n" << PrintGraph(opt_compiled);

  // (b) The same numbers and gradients over a sequence, before and after the passes.
  absl::Status same = testing::CheckSameSequence(*traced, *compiled);
  EXPECT_TRUE(same.ok()) << same;
  same = testing::CheckSameSequence(*traced, opt_compiled);
  EXPECT_TRUE(same.ok()) << same;

  // (c) As a Cell: same metadata, and RunSequence gives the builtin's numbers.
  absl::StatusOr<Cell> cell = CellFromGraph(*compiled);
  ASSERT_TRUE(cell.ok()) << cell.status();
  EXPECT_EQ(cell->kind, kind);
  EXPECT_EQ(cell->input_size, 3);
  EXPECT_EQ(cell->hidden_size, 5);
  EXPECT_EQ(cell->states, builtin->states);
  ASSERT_EQ(cell->params.size(), builtin->params.size());
  for (size_t k = 0; k < builtin->params.size(); ++k) {
    EXPECT_EQ(cell->params[k].name, builtin->params[k].name);
    EXPECT_EQ(cell->params[k].shape, builtin->params[k].shape) << builtin->params[k].name;
    EXPECT_EQ(cell->params[k].init, builtin->params[k].init) << builtin->params[k].name;
  }
  const ParamMap params = InitParams(*builtin, DType::kF64, 7);
  const Var x = Var::Leaf(Tensor::Uniform({4, 2, 3}, DType::kF64, 11, -1, 1));
  std::vector<Var> initial;
  for (size_t k = 0; k < builtin->states.size(); ++k) {
    initial.push_back(Var::Leaf(Tensor::Uniform({2, 5}, DType::kF64, 20 + k, -1, 1)));
  }
  absl::StatusOr<SequenceResult> want = RunSequence(*builtin, x, initial, params);
  absl::StatusOr<SequenceResult> got = RunSequence(*cell, x, initial, params);
  ASSERT_TRUE(want.ok()) << want.status();
  ASSERT_TRUE(got.ok()) << got.status();
  auto expect_near = [](const Var& a, const Var& b, const std::string& what) {
    ASSERT_EQ(a.shape(), b.shape()) << what;
    const std::vector<double> va = a.value().ToVector(), vb = b.value().ToVector();
    for (size_t i = 0; i < va.size(); ++i) EXPECT_NEAR(va[i], vb[i], 1e-12) << what << " " << i;
  };
  expect_near(got->y, want->y, "y");
  ASSERT_EQ(got->final_states.size(), want->final_states.size());
  for (size_t k = 0; k < want->final_states.size(); ++k) {
    expect_near(got->final_states[k], want->final_states[k], builtin->states[k]);
  }
}

INSTANTIATE_TEST_SUITE_P(AllKinds, BuiltinCellFileTest, ::testing::ValuesIn(BuiltinCellKinds()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

TEST(CellLanguageTest, DesignExampleCompilesToThePeepholeLstm) {
  const std::string text = R"(# peephole LSTM
cell peephole_lstm
input x[I]
state h[H] c[H]
param Wi[I,H] Wf[I,H] Wg[I,H] Wo[I,H] Ui[H,H] Uf[H,H] Ug[H,H] Uo[H,H]
param bi[H] bf[H] bg[H] bo[H] pi[H] pf[H] po[H]
i = sigmoid(x @ Wi + h @ Ui + pi * c + bi)
f = sigmoid(x @ Wf + h @ Uf + pf * c + bf)
g = tanh(x @ Wg + h @ Ug + bg)
c2 = f * c + i * g
o = sigmoid(x @ Wo + h @ Uo + po * c2 + bo)
next c = c2
next h = o * tanh(c2)
)";
  absl::StatusOr<CellSource> src = ParseCellSource(text, "design.cell");
  ASSERT_TRUE(src.ok()) << src.status();
  EXPECT_EQ(src->name, "peephole_lstm");
  EXPECT_EQ(src->input.name, "x");
  ASSERT_EQ(src->states.size(), 2u);
  EXPECT_EQ(src->states[0].name, "h");
  EXPECT_EQ(src->params.size(), 15u);
  EXPECT_EQ(src->statements.size(), 7u);
  EXPECT_EQ(src->text, text);
  absl::StatusOr<Graph> g = CompileCell(*src, kSizes, DType::kF64);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->name(), "peephole_lstm");
  ASSERT_EQ(g->outputs().size(), 2u);
  EXPECT_EQ(g->outputs()[0].name, "h");  // declaration order, not `next` order
  EXPECT_EQ(g->outputs()[1].name, "c");
  absl::StatusOr<Graph> traced = TraceCell(*BuiltinCell("peephole", 3, 5), DType::kF64);
  ASSERT_TRUE(traced.ok());
  absl::Status same = testing::CheckSameSequence(*traced, *g);
  EXPECT_TRUE(same.ok()) << same;
}

TEST(CellLanguageTest, ShapesOfInputsStatesAndParams) {
  absl::StatusOr<Graph> g = CompileText(R"(cell t
input x[2*I]
state h[H] c[H]
param W[2*I,4*H] U[H, 4 * H] b[4*H] s[] k[2*I*H]
z = x @ W + h @ U + b
i, f, o, u = split(z, 4)
next h = i * s + o
next c = f + o * u + c
)");
  ASSERT_TRUE(g.ok()) << g.status();
  auto shape_of = [&](const std::string& name) {
    const NodeId id = g->FindInput(name);
    return id < 0 ? Shape{-1} : g->node(id).outputs[0].shape;
  };
  EXPECT_EQ(shape_of("x"), (Shape{2, 6}));
  EXPECT_EQ(shape_of("h"), (Shape{2, 5}));
  EXPECT_EQ(shape_of("W"), (Shape{6, 20}));
  EXPECT_EQ(shape_of("U"), (Shape{5, 20}));
  EXPECT_EQ(shape_of("s"), Shape{});
  EXPECT_EQ(shape_of("k"), (Shape{30}));
  EXPECT_EQ(g->node(g->FindInput("x")).role, InputRole::kInput);
  EXPECT_EQ(g->node(g->FindInput("c")).role, InputRole::kState);
  EXPECT_EQ(g->node(g->FindInput("b")).role, InputRole::kParam);
  EXPECT_EQ(g->node(g->FindInput("x")).outputs[0].dtype, DType::kF32);
  absl::StatusOr<CellSource> src = ParseCellSource(R"(cell t
input x[2*I]
state h[H]
param A[I,4*H] B[K]
next h = h
)",
                                                   "t.cell");
  ASSERT_TRUE(src.ok()) << src.status();
  EXPECT_EQ(SizeSymbols(*src), (std::set<std::string>{"H", "I", "K"}));
  // Another batch and dtype.
  absl::StatusOr<Graph> g64 = CompileCell(*src, {{"I", 3}, {"H", 5}, {"K", 1}}, DType::kF64, 7);
  ASSERT_TRUE(g64.ok()) << g64.status();
  EXPECT_EQ(g64->node(g64->FindInput("h")).outputs[0], (TensorSpec{Shape{7, 5}, DType::kF64}));
}

// ---------------------------------------------------------------- operators and literals

constexpr char kHeader[] = "cell t\ninput x[H]\nstate h[H]\nparam W[H,H] B[H] W2[2*H,H] V[H,2*H]\n";

// How `next h = <expr>` compiles.
std::string Compiled(const std::string& expr) {
  absl::StatusOr<Graph> g = CompileText(absl::StrCat(kHeader, "next h = ", expr, "\n"));
  if (!g.ok()) return std::string(g.status().message());
  return Render(*g, g->outputs()[0].value);
}

TEST(CellLanguageTest, Precedence) {
  EXPECT_EQ(Compiled("x @ W * 2"), "MulScalar{2}(MatMul(x,W))");
  EXPECT_EQ(Compiled("-x @ W"), "MatMul(Neg(x),W)");
  EXPECT_EQ(Compiled("-(x @ W)"), "Neg(MatMul(x,W))");
  EXPECT_EQ(Compiled("x * h @ W"), "Mul(x,MatMul(h,W))");
  EXPECT_EQ(Compiled("x + h * B"), "Add(x,Mul(h,B))");
  EXPECT_EQ(Compiled("(x + h) * B"), "Mul(Add(x,h),B)");
  EXPECT_EQ(Compiled("x - h - B"), "Sub(Sub(x,h),B)");
  EXPECT_EQ(Compiled("x - (h - B)"), "Sub(x,Sub(h,B))");
  EXPECT_EQ(Compiled("x * h * B"), "Mul(Mul(x,h),B)");
  EXPECT_EQ(Compiled("x @ W @ W"), "MatMul(MatMul(x,W),W)");
  EXPECT_EQ(Compiled("x @ W + h @ W + B"), "Add(Add(MatMul(x,W),MatMul(h,W)),B)");
  EXPECT_EQ(Compiled("- -x"), "Neg(Neg(x))");
  EXPECT_EQ(Compiled("x - -h"), "Sub(x,Neg(h))");
}

TEST(CellLanguageTest, FunctionsConcatAndSplit) {
  EXPECT_EQ(Compiled("sigmoid(x) + tanh(h)"), "Add(Sigmoid(x),Tanh(h))");
  EXPECT_EQ(Compiled("relu(exp(log(x)))"), "Relu(Exp(Log(x)))");
  EXPECT_EQ(Compiled("concat(x, h) @ W2"), "MatMul(Concat{-1}(x,h),W2)");
  EXPECT_EQ(Compiled("concat(x) * 1"), "MulScalar{1}(Concat{-1}(x))");
  absl::StatusOr<Graph> g =
      CompileText(absl::StrCat(kHeader, "a, b = split(x @ V, 2)\nnext h = a * b\n"));
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(Render(*g, g->outputs()[0].value),
            "Mul(Slice{1:0:5}(MatMul(x,V)),Slice{1:5:10}(MatMul(x,V)))");
  // One split node feeds both slices: the matmul is computed once.
  int matmuls = 0;
  for (NodeId id = 0; id < g->num_node_slots(); ++id) matmuls += g->node(id).op == "MatMul";
  EXPECT_EQ(matmuls, 1);
}

TEST(CellLanguageTest, ActivationFunctionsAndTheirScalars) {
  EXPECT_EQ(Compiled("leaky_relu(x, 0.01)"), "LeakyRelu{alpha=0.01}(x)");
  EXPECT_EQ(Compiled("thresholded_relu(x, 1)"), "ThresholdedRelu{alpha=1}(x)");
  EXPECT_EQ(Compiled("elu(x @ W, 1.5)"), "Elu{alpha=1.5}(MatMul(x,W))");
  EXPECT_EQ(Compiled("softsign(x) + softplus(h)"), "Add(Softsign(x),Softplus(h))");
  EXPECT_EQ(Compiled("hard_sigmoid(x, 0.2, 0.5)"), "HardSigmoid{alpha=0.2,beta=0.5}(x)");
  EXPECT_EQ(Compiled("clip(x, -3, 3)"), "Clip{hi=3,lo=-3}(x)");
  EXPECT_EQ(Compiled("abs(x - h)"), "Abs(Sub(x,h))");
  EXPECT_EQ(Compiled("sqrt(x * x + 1e-5)"), "Sqrt(AddScalar{1e-05}(Mul(x,x)))");
  // Scalars: exponents, a leading minus, parentheses around the number.
  EXPECT_EQ(Compiled("clip(h, -1e-3, 2.5E+1)"), "Clip{hi=25,lo=-0.001}(h)");
  EXPECT_EQ(Compiled("clip(h, (-2), -(1))"), "Clip{hi=-1,lo=-2}(h)");
  // A function of a number folds, through the op's own kernel.
  EXPECT_EQ(Compiled("x * softplus(0)"), "MulScalar{0.693147}(x)");
  EXPECT_EQ(Compiled("x * clip(5, -3, 3)"), "MulScalar{3}(x)");
  EXPECT_EQ(Compiled("x + hard_sigmoid(1, 0.2, 0.5)"), "AddScalar{0.7}(x)");
  EXPECT_EQ(Compiled("x * leaky_relu(-2, 0.5) * elu(0 - 1, 2)"),
            absl::StrCat("MulScalar{", absl::StrFormat("%g", 2 * std::expm1(-1.0)),
                         "}(MulScalar{-1}(x))"));
  EXPECT_EQ(Compiled("x * thresholded_relu(2, 1) * softsign(-3) * abs(-2) * sqrt(16)"),
            "MulScalar{4}(MulScalar{2}(MulScalar{-0.75}(MulScalar{2}(x))))");
  absl::StatusOr<Graph> g = CompileText(absl::StrCat(kHeader, "next h = clip(x, -3, 3)\n"));
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_TRUE(absl::StrContains(PrintGraph(*g), "Clip(x) {hi=3.0, lo=-3.0}")) << PrintGraph(*g);
}

TEST(CellLanguageTest, LiteralsBecomeScalarOps) {
  EXPECT_EQ(Compiled("x + 1"), "AddScalar{1}(x)");
  EXPECT_EQ(Compiled("1 + x"), "AddScalar{1}(x)");
  EXPECT_EQ(Compiled("x - 1"), "AddScalar{-1}(x)");
  EXPECT_EQ(Compiled("1 - x"), "RSubScalar{1}(x)");
  EXPECT_EQ(Compiled("2 * x"), "MulScalar{2}(x)");
  EXPECT_EQ(Compiled("x * 2"), "MulScalar{2}(x)");
  EXPECT_EQ(Compiled("0.5 * x"), "MulScalar{0.5}(x)");
  EXPECT_EQ(Compiled("1e-3 * x"), "MulScalar{0.001}(x)");
  EXPECT_EQ(Compiled("x * 2.5E+2"), "MulScalar{250}(x)");
  EXPECT_EQ(Compiled("-2 * x"), "MulScalar{-2}(x)");
  EXPECT_EQ(Compiled("x * -2"), "MulScalar{-2}(x)");
  // Literal op literal folds.
  EXPECT_EQ(Compiled("(1 + 2) * x"), "MulScalar{3}(x)");
  EXPECT_EQ(Compiled("2 * 3 - x"), "RSubScalar{6}(x)");
  EXPECT_EQ(Compiled("x + 1 - 3"), "AddScalar{-3}(AddScalar{1}(x))");  // left to right
  EXPECT_EQ(Compiled("x * (1 - 0.25)"), "MulScalar{0.75}(x)");
  EXPECT_EQ(Compiled("(1 - h) * x + h * B"), "Add(Mul(RSubScalar{1}(h),x),Mul(h,B))");
  // The printed graph shows the attribute.
  absl::StatusOr<Graph> g = CompileText(absl::StrCat(kHeader, "next h = 1 - x\n"));
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_TRUE(absl::StrContains(PrintGraph(*g), "RSubScalar(x) {value=1")) << PrintGraph(*g);
}

// ---------------------------------------------------------------- errors

// Lines 1-4: cell t / input x[I] / state h[H] / param W[H,H] B[I]
constexpr char kSmall[] = "cell t\ninput x[I]\nstate h[H]\nparam W[H,H] B[I]\n";

TEST(CellLanguageErrorTest, ExpectedCloseParen) {
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = tanh(x @ W\n")), "5:20",
              {"expected ')'", "end of the line"});
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = (h + h")), "5:16", {"expected ')'"});
}

TEST(CellLanguageErrorTest, ExpectedAnExpression) {
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = h +\n")), "5:13",
              {"expected an expression"});
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = * h\n")), "5:10",
              {"expected an expression", "'*'"});
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = h h\n")), "5:12",
              {"expected an operator or the end of the line", "'h'"});
  ExpectError(ParseError(absl::StrCat(kSmall, "next h h\n")), "5:8", {"expected '='"});
}

TEST(CellLanguageErrorTest, UnknownFunction) {
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = swish(h)\n")), "5:10",
              {"unknown function 'swish'", "sigmoid", "clip", "hard_sigmoid"});
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = tanh + h\n")), "5:15",
              {"expected '(' after the function tanh"});
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = tanh(h, h)\n")), "5:10",
              {"tanh takes 1 argument, got 2"});
}

TEST(CellLanguageErrorTest, ActivationArityAndScalars) {
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = clip(h, 1)\n")), "5:10",
              {"clip takes 3 arguments, got 2: clip(e, lo, hi)"});
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = leaky_relu(h)\n")), "5:10",
              {"leaky_relu takes 2 arguments, got 1: leaky_relu(e, alpha)"});
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = hard_sigmoid(h, 0.2, 0.5, 1)\n")),
              "5:10", {"hard_sigmoid takes 3 arguments, got 4: hard_sigmoid(e, alpha, beta)"});
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = elu(h, 1, 2)\n")), "5:10",
              {"elu takes 2 arguments, got 3"});
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = thresholded_relu()\n")), "5:10",
              {"thresholded_relu takes 2 arguments, got 0"});
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = softplus(h, 1)\n")), "5:10",
              {"softplus takes 1 argument, got 2"});
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = h * sqrt()\n")), "5:14",
              {"sqrt takes 1 argument, got 0"});
  // A scalar is a number literal, pointed at where it starts.
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = clip(h, -3, h)\n")), "5:22",
              {"clip(e, lo, hi): hi must be a number", "got the name 'h'"});
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = elu(h, 1 - 0.5)\n")), "5:17",
              {"elu(e, alpha): alpha must be a number (like 0.5, -3 or 1e-3), got an expression"});
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = leaky_relu(h, tanh(h))\n")), "5:24",
              {"alpha must be a number", "got a call of tanh"});
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = hard_sigmoid(h, - -1, 0.5)\n")), "5:26",
              {"hard_sigmoid(e, alpha, beta): alpha must be a number"});
  ExpectError(ParseError(absl::StrCat(kSmall, "a = 2\nnext h = clip(h, a, 3)\n")), "6:18",
              {"lo must be a number", "the name 'a'"});
  // The function names are reserved; a number outside an op's domain does not fold.
  ExpectError(ParseError(absl::StrCat(kSmall, "clip = h\nnext h = h\n")), "5:1",
              {"'clip' is a reserved word"});
  ExpectError(CompileText(absl::StrCat(kSmall, "next h = h * sqrt(-1)\n")).status(), "5:14",
              {"not finite"});
  ExpectError(CompileText(absl::StrCat(kSmall, "next h = clip(1, 0, 2) + 1\n")).status(), "5:24",
              {"the next value of h is the number 2"});
}

TEST(CellLanguageErrorTest, UnknownName) {
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = tanh(q)\n")), "5:15", {"unknown name 'q'"});
}

TEST(CellLanguageErrorTest, UnexpectedCharacterAndBadNumbers) {
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = h ^ 2\n")), "5:12",
              {"unexpected character '^'"});
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = h * 1.2.3\n")), "5:14",
              {"malformed number '1.2.3'"});
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = h * 1e999\n")), "5:14", {"out of range"});
  ExpectError(ParseError("cell t\ninput x[0]\n"), "2:9", {"positive integer"});
  ExpectError(ParseError("cell t\ninput x[I-1]\n"), "2:10", {"expected ']'"});
}

TEST(CellLanguageErrorTest, ShapeMismatchNamesBothShapes) {
  // h [2,6] + B [5], at the '+'.
  ExpectError(CompileText(absl::StrCat(kSmall, "next h = h + B\n"), {{"I", 5}, {"H", 6}}).status(),
              "5:12", {"Add", "[2,6] and [5]"});
  // x [2,3] @ W [5,5].
  ExpectError(CompileText(absl::StrCat(kSmall, "next h = tanh(x @ W)\n")).status(), "5:17",
              {"MatMul", "[2,3]", "[5,5]"});
  // A next value of another shape than its state.
  ExpectError(CompileText(absl::StrCat(kSmall, "next h = x\n")).status(), "5:10",
              {"next h has shape f32[2,3] but state h is f32[2,5]"});
  ExpectError(CompileText(absl::StrCat(kSmall, "next h = concat(h, x)\n")).status(), "5:10",
              {"next h has shape f32[2,8]"});
}

TEST(CellLanguageErrorTest, StateNeverGivenANextValue) {
  ExpectError(ParseError("cell t\ninput x[I]\nstate h[H] c[H]\nnext h = h\n"), "3:12",
              {"state c is never given a next value"});
}

TEST(CellLanguageErrorTest, NameAssignedTwice) {
  ExpectError(ParseError(absl::StrCat(kSmall, "a = h + 1\na = h * 2\nnext h = a\n")), "6:1",
              {"a is assigned twice; first at 5:1"});
  ExpectError(ParseError(absl::StrCat(kSmall, "a, a = split(h, 2)\nnext h = a\n")), "5:4",
              {"a is assigned twice"});
}

TEST(CellLanguageErrorTest, AssigningADeclaredOrReservedName) {
  ExpectError(ParseError(absl::StrCat(kSmall, "h = h + 1\nnext h = h\n")), "5:1",
              {"h is a state", "next h = ..."});
  ExpectError(ParseError(absl::StrCat(kSmall, "W = h\nnext h = h\n")), "5:1",
              {"W is a param", "cannot be assigned"});
  ExpectError(ParseError(absl::StrCat(kSmall, "tanh = h\nnext h = h\n")), "5:1",
              {"'tanh' is a reserved word"});
}

TEST(CellLanguageErrorTest, NextForAnUnknownStateOrTwice) {
  ExpectError(ParseError(absl::StrCat(kSmall, "next q = h\nnext h = h\n")), "5:6",
              {"next q", "q is not a declared state"});
  ExpectError(ParseError(absl::StrCat(kSmall, "next W = h\nnext h = h\n")), "5:6",
              {"W is a param, not a state"});
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = h\nnext h = h * 2\n")), "6:1",
              {"next h is given twice; first at 5:1"});
}

TEST(CellLanguageErrorTest, CycleAndUseBeforeAssignment) {
  ExpectError(ParseError(absl::StrCat(kSmall, "a = b + 1\nb = a * 2\nnext h = a\n")), "5:5",
              {"cycle: a -> b -> a", "before its assignment at 6:1"});
  ExpectError(ParseError(absl::StrCat(kSmall, "a = b + 1\nb = c * 2\nc = tanh(a)\nnext h = a\n")),
              "5:5", {"cycle: a -> b -> c -> a"});
  ExpectError(ParseError(absl::StrCat(kSmall, "a = a + 1\nnext h = a\n")), "5:5",
              {"cycle: a -> a"});
  ExpectError(ParseError(absl::StrCat(kSmall, "a = b + 1\nb = h * 2\nnext h = a\n")), "5:5",
              {"b is used before it is assigned (at 6:1)"});
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = a\na = h\n")), "5:10",
              {"a is used before it is assigned"});
}

TEST(CellLanguageErrorTest, UnboundSizeSymbol) {
  absl::StatusOr<CellSource> src = ParseCellSource(kSmall + std::string("next h = h\n"), "t.cell");
  ASSERT_TRUE(src.ok()) << src.status();
  ExpectError(CompileCell(*src, {{"I", 3}}).status(), "3:9",
              {"size symbol H is not bound; pass --size H=<n>"});
  ExpectError(CompileCell(*src, {{"I", 3}, {"H", 0}}).status(), "3:9",
              {"size symbol H must be positive"});
  ExpectError(CompileCell(*src, kSizes, DType::kF32, 0).status(), "1:6", {"batch"});
}

TEST(CellLanguageErrorTest, SplitCountMismatchAndIndivisibleSplit) {
  ExpectError(ParseError(absl::StrCat(kSmall, "a, b = split(h, 3)\nnext h = a\n")), "5:8",
              {"split(..., 3) gives 3 parts but 2 names are assigned"});
  ExpectError(ParseError(absl::StrCat(kSmall, "a, b = h\nnext h = a\n")), "5:1",
              {"must be split(expr, 2)"});
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = split(h, 1)\n")), "5:10",
              {"split(...) must be the whole right side"});
  ExpectError(ParseError(absl::StrCat(kSmall, "a, b = split(h, 1.5)\nnext h = a\n")), "5:17",
              {"split's count must be a positive integer"});
  // h is [2,5]: 5 features do not split in 3.
  ExpectError(
      CompileText(absl::StrCat(kSmall, "a, b, c = split(h, 3)\nnext h = a\n")).status(),
      "5:11", {"feature size 5 of f32[2,5] does not divide into 3 equal parts"});
}

TEST(CellLanguageErrorTest, MissingCellInputOrStateLine) {
  ExpectError(ParseError("input x[I]\nstate h[H]\nnext h = h\n"), "1:1",
              {"expected `cell NAME`"});
  ExpectError(ParseError(""), "1:1", {"expected `cell NAME`"});
  ExpectError(ParseError("# nothing here\n"), "2:1", {"expected `cell NAME`"});
  ExpectError(ParseError("cell t\nstate h[H]\nnext h = h\n"), "1:6",
              {"cell t has no `input` line"});
  ExpectError(ParseError("cell t\ninput x[I]\n"), "1:6", {"cell t has no `state` line"});
  ExpectError(ParseError("cell\ninput x[I]\n"), "1:5", {"expected the cell's name"});
  ExpectError(ParseError("cell t\ncell u\n"), "2:1", {"one cell"});
}

TEST(CellLanguageErrorTest, NameDeclaredTwice) {
  ExpectError(ParseError("cell t\ninput x[I]\nstate h[H]\nparam h[H]\nnext h = h\n"), "4:7",
              {"h is declared twice", "a state at 3:7", "a param"});
  ExpectError(ParseError("cell t\ninput x[I] y[I]\nstate h[H]\nnext h = h\n"), "2:12",
              {"exactly one input"});
  ExpectError(ParseError("cell t\ninput x[I]\nstate h[H] h[H]\nnext h = h\n"), "3:12",
              {"h is declared twice"});
  ExpectError(ParseError("cell t\ninput x[I, H]\nstate h[H]\nnext h = h\n"), "2:7",
              {"exactly one size"});
}

TEST(CellLanguageErrorTest, NumbersWhereTensorsAreNeeded) {
  ExpectError(CompileText(absl::StrCat(kSmall, "next h = 2 @ W\n")).status(), "5:12",
              {"'@' needs a tensor on each side", "left side is the number 2"});
  ExpectError(CompileText(absl::StrCat(kSmall, "next h = h @ 0.5\n")).status(), "5:12",
              {"right side is the number 0.5"});
  ExpectError(CompileText(absl::StrCat(kSmall, "next h = 1 + 2\n")).status(), "5:12",
              {"the next value of h is the number 3"});
  ExpectError(CompileText(absl::StrCat(kSmall, "a = 1\nnext h = h\n")).status(), "5:5",
              {"the value of a is the number 1"});
  ExpectError(CompileText(absl::StrCat(kSmall, "next h = concat(h, 1)\n")).status(), "5:20",
              {"concat needs tensors"});
  ExpectError(CompileText(absl::StrCat(kSmall, "next h = h * log(0)\n")).status(), "5:14",
              {"not finite"});
}

TEST(CellLanguageErrorTest, HugeExpressionsAreErrorsNotCrashes) {
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = ", std::string(5000, '('), "h",
                                      std::string(5000, ')'), "\n")),
              "5:110", {"nested too deeply"});
  std::string sum = "h";
  for (int i = 0; i < 5000; ++i) sum += " + h";
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = ", sum, "\n")), "5:8012",
              {"expression too long"});
  ExpectError(ParseError("cell t\ninput x[99999999999999999999]\n"), "2:9", {"positive integer"});
  ExpectError(ParseError(absl::StrCat(kSmall, std::string(1 << 20, '\n'))), "1:1",
              {"the source is 1048623 bytes", "at most 1048576"});
  absl::StatusOr<CellSource> src =
      ParseCellSource("cell t\ninput x[I]\nstate h[H]\nparam W[H*H*H]\nnext h = h\n", "t.cell");
  ASSERT_TRUE(src.ok()) << src.status();
  ExpectError(CompileCell(*src, {{"I", 1}, {"H", 1 << 20}}).status(), "4:9", {"too large"});
  // A chain of 2000 '*' overflowed the recursive compiler's stack under ASan
  // (fuzz corpus 5f1e9add...): 256 levels compile; at 300 operators the 44th is
  // the first more than 256 levels below the last.
  std::string chain = "h";
  for (int i = 0; i < 256; ++i) chain += "*h";
  EXPECT_TRUE(CompileText(absl::StrCat(kSmall, "next h = ", chain, "\n")).ok());
  for (int i = 0; i < 44; ++i) chain += "*h";
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = ", chain, "\n")), "5:97",
              {"expression too deep", "split it into several assignments"});
  // A value nothing uses is still computed when the cell runs (fuzz corpus
  // 6fae0f18...): A*B would be 2^42 floats.
  ExpectError(CompileText("cell t\ninput x[I]\nstate h[H]\nparam A[2097152,1] B[1,2097152]\n"
                          "z = A * B\nnext h = h\n").status(),
              "5:7", {"Mul gives f32[2097152,2097152]", "more than 1099511627776 elements"});
  ExpectError(CompileText("cell t\ninput x[I]\nstate h[H]\nparam W[1048576,1048577]\n"
                          "next h = h\n").status(),
              "4:7", {"W is f32[1048576,1048577]", "more than 1099511627776 elements"});
}

TEST(CellLanguageTest, ReadCellFileNotFound) {
  absl::StatusOr<CellSource> src = ReadCellFile("models/cells/no_such_cell.cell");
  EXPECT_EQ(src.status().code(), absl::StatusCode::kNotFound) << src.status();
  EXPECT_TRUE(absl::StrContains(src.status().message(), "no_such_cell.cell"));
}

TEST(CellLanguageTest, CellFromGraphNeedsStatesOfOneSize) {
  absl::StatusOr<Graph> g = CompileText(
      "cell t\ninput x[I]\nstate h[H] c[2*H]\nnext h = h\nnext c = c\n");
  ASSERT_TRUE(g.ok()) << g.status();
  absl::StatusOr<Cell> cell = CellFromGraph(*g);
  EXPECT_EQ(cell.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(cell.status().message(), "one size")) << cell.status();
}

}  // namespace
}  // namespace gatefuse
