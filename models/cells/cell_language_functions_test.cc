// The .cell constructs real cells need beyond the basic ones: `/`, min and max,
// mean and sum over the feature axis, layer_norm, and parameter initialisers
// (cell_language.h). How each compiles, its values on the tape against numbers
// worked out by hand, f64 finite-difference gradients of cells using them, the
// initial values through every form a cell graph takes, and the errors.
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "gmock/gmock.h"
#include "graph/executor.h"
#include "graph/graph.pb.h"
#include "graph/serialize.h"
#include "graph/text.h"
#include "gtest/gtest.h"
#include "models/cells/cell.h"
#include "models/cells/cell_graph.h"
#include "models/cells/cell_language.h"
#include "models/cells/cell_language_testing.h"
#include "ops/ops.h"
#include "ops/testing/gradient_check.h"

namespace gatefuse {
namespace {

using cell_testing::CompileText;
using cell_testing::ExpectError;
using cell_testing::ParseError;
using cell_testing::Render;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

// I = 3, H = 5 (CompileText's sizes): x [2,3], h [2,5], B [5], W [5,5].
constexpr char kSmall[] = "cell t\ninput x[I]\nstate h[H]\nparam W[H,H] B[H]\n";
// Lines 1-4; x and h both [2,5].
constexpr char kHeader[] = "cell t\ninput x[H]\nstate h[H]\nparam W[H,H] B[H] G[H]\n";

// How `next h = <expr>` compiles.
std::string Compiled(const std::string& expr) {
  absl::StatusOr<Graph> g = CompileText(absl::StrCat(kHeader, "next h = ", expr, "\n"));
  if (!g.ok()) return std::string(g.status().message());
  return Render(*g, g->outputs()[0].value);
}

// ---------------------------------------------------------------- how it compiles

TEST(CellLanguageFunctionsTest, DivisionIsAProductLevelOperator) {
  EXPECT_EQ(Compiled("x / h"), "Div(x,h)");
  EXPECT_EQ(Compiled("x + h / B"), "Add(x,Div(h,B))");
  EXPECT_EQ(Compiled("x / h / B"), "Div(Div(x,h),B)");  // left-associative
  EXPECT_EQ(Compiled("x / h * B"), "Mul(Div(x,h),B)");
  EXPECT_EQ(Compiled("x * h / B"), "Div(Mul(x,h),B)");
  EXPECT_EQ(Compiled("x @ W / 2"), "MulScalar{0.5}(MatMul(x,W))");
  // With numbers: t / s scales by 1/s, s / t divides a scalar constant, s / s folds.
  EXPECT_EQ(Compiled("x / 4"), "MulScalar{0.25}(x)");
  EXPECT_EQ(Compiled("2 / x"), "Div(#2,x)");
  EXPECT_EQ(Compiled("x * (6 / 4)"), "MulScalar{1.5}(x)");
  EXPECT_EQ(Compiled("1 / 2 / 4 * x"), "MulScalar{0.125}(x)");
}

TEST(CellLanguageFunctionsTest, MinMaxAndTheActivationsOfNumbersAndTensors) {
  EXPECT_EQ(Compiled("min(x, h)"), "Min(x,h)");
  EXPECT_EQ(Compiled("max(x @ W, B)"), "Max(MatMul(x,W),B)");
  EXPECT_EQ(Compiled("max(x, 0)"), "Max(x,#0)");
  EXPECT_EQ(Compiled("min(-1, h)"), "Min(#-1,h)");
  EXPECT_EQ(Compiled("x * max(2, 3) * min(2, -3)"), "MulScalar{-3}(MulScalar{3}(x))");
  // The whole list of functions real cells use compiles (the activations' own
  // tests are in cell_language_test.cc).
  EXPECT_EQ(Compiled("sqrt(abs(x)) + softplus(h)"), "Add(Sqrt(Abs(x)),Softplus(h))");
  EXPECT_EQ(Compiled("clip(x, -1, 1) * softsign(h)"), "Mul(Clip{hi=1,lo=-1}(x),Softsign(h))");
  EXPECT_EQ(Compiled("hard_sigmoid(x, 0.2, 0.5) - leaky_relu(h, 0.1) + elu(x, 1)"),
            "Add(Sub(HardSigmoid{alpha=0.2,beta=0.5}(x),LeakyRelu{alpha=0.1}(h)),Elu{alpha=1}(x))");
}

TEST(CellLanguageFunctionsTest, ReductionsKeepAFeatureAxisOfOne) {
  EXPECT_EQ(Compiled("x - mean(x)"), "Sub(x,Mean{[1],1}(x))");
  EXPECT_EQ(Compiled("h / sum(abs(h))"), "Div(h,Sum{[1],1}(Abs(h)))");
  EXPECT_EQ(Compiled("max(x, mean(h))"), "Max(x,Mean{[1],1}(h))");
  EXPECT_EQ(Compiled("h * (mean(x) + 1)"), "Mul(h,AddScalar{1}(Mean{[1],1}(x)))");
  // A value computed from reductions alone is [B, 1] too, and broadcasts back.
  absl::StatusOr<Graph> g = CompileText(
      absl::StrCat(kHeader, "m = mean(x) * 2 - sum(h)\nnext h = x + m\n"));
  ASSERT_TRUE(g.ok()) << g.status();
  const ValueRef out = g->outputs()[0].value;
  const ValueRef m = g->node(out.node).inputs[1];
  EXPECT_EQ(g->spec(m).shape, (Shape{2, 1}));
  EXPECT_EQ(g->spec(out).shape, (Shape{2, 5}));
}

TEST(CellLanguageFunctionsTest, LayerNormExpandsIntoPrimitiveOps) {
  absl::StatusOr<Graph> g = CompileText(absl::StrCat(kHeader, "next h = layer_norm(x, G, B)\n"));
  ASSERT_TRUE(g.ok()) << g.status();
  const std::string d = "Sub(x,Mean{[1],1}(x))";
  EXPECT_EQ(Render(*g, g->outputs()[0].value),
            absl::StrCat("Add(Mul(Div(", d, ",Sqrt(AddScalar{1e-05}(Mean{[1],1}(Mul(", d, ",", d,
                         "))))),G),B)"));
  // Exactly these nodes, each once: the passes and the compiled plan see primitives.
  std::vector<std::string> ops;
  for (NodeId id = 0; id < g->num_node_slots(); ++id) {
    if (g->node(id).op != kInputOp) ops.push_back(g->node(id).op);
  }
  EXPECT_THAT(ops, ElementsAre("Mean", "Sub", "Mul", "Mean", "AddScalar", "Sqrt", "Div", "Mul",
                               "Add"));
}

// ---------------------------------------------------------------- values on the tape

// The next h of `expr` for x, h [2, 4] and params G, B [4], in f64.
std::vector<double> Step(const std::string& expr, const std::vector<double>& x,
                         const std::vector<double>& h, const std::vector<double>& gain = {},
                         const std::vector<double>& shift = {}) {
  absl::StatusOr<Graph> g = CompileText(
      absl::StrCat("cell t\ninput x[H]\nstate h[H]\nparam G[H] B[H]\nnext h = ", expr, "\n"),
      {{"H", 4}}, DType::kF64);
  EXPECT_TRUE(g.ok()) << g.status();
  if (!g.ok()) return {};
  auto t = [](const Shape& s, std::vector<double> v) {
    if (v.empty()) v.assign(s.num_elements(), 0);
    return *Tensor::FromValues(s, v, DType::kF64);
  };
  absl::StatusOr<std::vector<Tensor>> out = ExecuteGraph(
      *g, {{"x", t({2, 4}, x)}, {"h", t({2, 4}, h)}, {"G", t({4}, gain)}, {"B", t({4}, shift)}});
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? (*out)[0].ToVector() : std::vector<double>{};
}

const std::vector<double> kX = {1, 2, 3, 4, -1, 0, 2, 7};
const std::vector<double> kH = {2, -4, 0.5, 8, 1, 1, -2, 0.25};

TEST(CellLanguageFunctionsTest, DivisionMinAndMaxValues) {
  EXPECT_THAT(Step("x / h", kX, kH), ElementsAre(0.5, -0.5, 6, 0.5, -1, 0, -1, 28));
  EXPECT_THAT(Step("x / 4 + 2 / h", kX, kH),
              ElementsAre(1.25, 0, 4.75, 1.25, 1.75, 2, -0.5, 9.75));
  EXPECT_THAT(Step("min(x, h)", kX, kH), ElementsAre(1, -4, 0.5, 4, -1, 0, -2, 0.25));
  EXPECT_THAT(Step("max(x, h)", kX, kH), ElementsAre(2, 2, 3, 8, 1, 1, 2, 7));
  EXPECT_THAT(Step("max(x, 1.5) - min(2, h)", kX, kH),
              ElementsAre(-0.5, 6, 2.5, 2, 0.5, 0.5, 4, 6.75));
}

TEST(CellLanguageFunctionsTest, MeanAndSumBroadcastBackOverTheFeatures) {
  // Rows of x: mean 2.5 and 2, sum 10 and 8; of h: sum 6.5 and 0.25.
  EXPECT_THAT(Step("x - mean(x)", kX, kH), ElementsAre(-1.5, -0.5, 0.5, 1.5, -3, -2, 0, 5));
  EXPECT_THAT(Step("x / sum(x) + sum(h) * 0 * h", kX, kH),
              ElementsAre(0.1, 0.2, 0.3, 0.4, -0.125, 0, 0.25, 0.875));
  EXPECT_THAT(Step("min(x, mean(x)) + max(sum(h), h) - sum(h)", kX, kH),
              ElementsAre(1, 2, 2.5, 4, -0.25, 0.75, 2, 2));
}

TEST(CellLanguageFunctionsTest, LayerNormValues) {
  const std::vector<double> gain = {1, 2, 1, 0.5}, shift = {0, 1, 0, -1};
  // Row 1 of x: mean 2.5, deviations -1.5 -0.5 0.5 1.5, variance 1.25.
  // Row 2: mean 2, deviations -3 -2 0 5, variance (9 + 4 + 0 + 25) / 4 = 9.5.
  const double s1 = std::sqrt(1.25 + 1e-5), s2 = std::sqrt(9.5 + 1e-5);
  const std::vector<double> want = {-1.5 / s1,      -0.5 / s1 * 2 + 1, 0.5 / s1, 1.5 / s1 * 0.5 - 1,
                                    -3 / s2,        -2 / s2 * 2 + 1,   0.0,      5 / s2 * 0.5 - 1};
  const std::vector<double> got = Step("layer_norm(x, G, B)", kX, kH, gain, shift);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-14) << i;
  // The same as written out with mean, /, sqrt.
  const std::vector<double> spelled =
      Step("(x - mean(x)) / sqrt(mean((x - mean(x)) * (x - mean(x))) + 1e-5) * G + B", kX, kH,
           gain, shift);
  EXPECT_THAT(spelled, ElementsAreArray(got));
}

// ---------------------------------------------------------------- gradients

// A cell in .cell text (I = 3, H = 4) run over 3 steps at batch 2 on the tape:
// its gradients with respect to x, the initial states and every param agree with
// central differences in f64.
void ExpectSequenceGradientsMatch(const std::string& text) {
  const int64_t T = 3, B = 2, I = 3, H = 4;
  absl::StatusOr<Graph> g = CompileText(text, {{"I", I}, {"H", H}}, DType::kF64);
  ASSERT_TRUE(g.ok()) << g.status();
  absl::StatusOr<Cell> cell = CellFromGraph(*g);
  ASSERT_TRUE(cell.ok()) << cell.status();
  std::vector<Tensor> inputs = {testing::RandomF64({T, B, I}, 1)};
  for (size_t s = 0; s < cell->states.size(); ++s) inputs.push_back(testing::RandomF64({B, H}, 2 + s));
  const size_t first_param = inputs.size();
  for (const CellParam& p : cell->params) {
    inputs.push_back(testing::RandomF64(p.shape, inputs.size() + 10, -0.9, 0.9));
  }
  auto f = [&](const std::vector<Var>& xs) -> VarOr {
    std::vector<Var> initial(xs.begin() + 1, xs.begin() + first_param);
    ParamMap params;
    for (size_t k = 0; k < cell->params.size(); ++k) params[cell->params[k].name] = xs[first_param + k];
    absl::StatusOr<SequenceResult> r = RunSequence(*cell, xs[0], initial, params);
    if (!r.ok()) return r.status();
    VarOr out = r->y;
    for (size_t k = 1; k < r->final_states.size(); ++k) out = Concat({Reshape(out, {-1}),
                                                                      Reshape(r->final_states[k], {-1})}, 0);
    return out;
  };
  const absl::Status s = testing::CheckGradients(f, inputs);
  EXPECT_TRUE(s.ok()) << s;
}

TEST(CellLanguageFunctionsGradientTest, DivisionAndReductions) {
  ExpectSequenceGradientsMatch(
      "cell div_mean\ninput x[I]\nstate h[H]\nparam W[I,H] U[H,H] b[H]\n"
      "z = x @ W + h @ U\n"
      "next h = tanh(z / (1.5 + abs(h)) + mean(h) * b - sum(z) / 3 + 0.5 / (2 + sigmoid(z)))\n");
}

TEST(CellLanguageFunctionsGradientTest, MinAndMax) {
  ExpectSequenceGradientsMatch(
      "cell minmax\ninput x[I]\nstate h[H] c[H]\nparam W[I,H] U[H,H] b[H]\n"
      "z = x @ W + h @ U\n"
      "next c = min(tanh(z), c) + max(b, 0.1) * max(0, mean(z))\n"
      "next h = max(z, h) / 2 - min(-0.3, sum(c) * c)\n");
}

TEST(CellLanguageFunctionsGradientTest, LayerNorm) {
  ExpectSequenceGradientsMatch(
      "cell ln\ninput x[I]\nstate h[H]\nparam W[I,2*H] U[H,H] g[2*H] s[2*H] g2[H] s2[H]\n"
      "a, b = split(layer_norm(x @ W, g, s), 2)\n"
      "next h = layer_norm(tanh(a) * sigmoid(b) + h @ U, g2, s2)\n");
}

TEST(CellLanguageFunctionsGradientTest, TheLayerNormalisedCellFiles) {
  for (const char* kind : {"ln_lstm", "ln_gru"}) {
    SCOPED_TRACE(kind);
    absl::StatusOr<CellSource> src = ReadCellFile(absl::StrCat("models/cells/", kind, ".cell"));
    ASSERT_TRUE(src.ok()) << src.status();
    EXPECT_EQ(src->name, kind);
    ExpectSequenceGradientsMatch(src->text);
  }
}

// ---------------------------------------------------------------- initialisers

const char kInitText[] =
    "cell t\ninput x[I]\nstate h[H]\nparam W[I,H] g[4*H] = 1 s[H] = -0.5\nparam b[H] = 0\n"
    "next h = tanh(x @ W + s + b)\n";

double InitAttr(const Graph& g, const std::string& param) {
  const NodeData& d = g.node(g.FindInput(param));
  absl::StatusOr<double> v = d.attrs.GetFloat("param", kParamInitAttr);
  EXPECT_TRUE(v.ok()) << param << ": " << v.status();
  return v.ok() ? *v : NAN;
}

TEST(CellLanguageInitTest, InitialValuesReachTheSourceTheGraphAndTheCell) {
  absl::StatusOr<CellSource> src = ParseCellSource(kInitText, "t.cell");
  ASSERT_TRUE(src.ok()) << src.status();
  ASSERT_EQ(src->params.size(), 4u);
  EXPECT_FALSE(src->params[0].init.has_value());
  EXPECT_EQ(src->params[1].init, 1.0);
  EXPECT_EQ(src->params[2].init, -0.5);
  EXPECT_EQ(src->params[3].init, 0.0);

  absl::StatusOr<Graph> g = CompileCell(*src, {{"I", 3}, {"H", 5}});
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_FALSE(g->node(g->FindInput("W")).attrs.Has(kParamInitAttr));
  EXPECT_EQ(InitAttr(*g, "g"), 1.0);
  EXPECT_EQ(InitAttr(*g, "s"), -0.5);
  EXPECT_EQ(InitAttr(*g, "b"), 0.0);

  absl::StatusOr<Cell> cell = CellFromGraph(*g);
  ASSERT_TRUE(cell.ok()) << cell.status();
  ASSERT_EQ(cell->params.size(), 4u);
  EXPECT_FALSE(cell->params[0].init.has_value());
  EXPECT_EQ(cell->params[1].init, 1.0);
  EXPECT_EQ(cell->params[2].init, -0.5);
  EXPECT_EQ(cell->params[3].init, 0.0);

  const ParamMap params = InitParams(*cell, DType::kF64, 3);
  EXPECT_THAT(params.at("g").value().ToVector(), ::testing::Each(1.0));
  EXPECT_EQ(params.at("g").shape(), (Shape{20}));
  EXPECT_THAT(params.at("s").value().ToVector(), ::testing::Each(-0.5));
  EXPECT_THAT(params.at("b").value().ToVector(), ::testing::Each(0.0));
  EXPECT_TRUE(params.at("g").requires_grad());
  // W keeps the uniform default, the very values it has without the initialisers.
  Cell plain = *cell;
  for (CellParam& p : plain.params) p.init.reset();
  const ParamMap uniform = InitParams(plain, DType::kF64, 3);
  EXPECT_EQ(params.at("W").value().ToVector(), uniform.at("W").value().ToVector());
  const double bound = 1 / std::sqrt(5.0);
  for (double v : uniform.at("g").value().ToVector()) EXPECT_LE(std::abs(v), bound);
}

TEST(CellLanguageInitTest, InitialValuesSurviveProtobufAndTextRoundTrips) {
  absl::StatusOr<Graph> g = CompileText(kInitText);
  ASSERT_TRUE(g.ok()) << g.status();
  // Protobuf, through its bytes.
  absl::StatusOr<GraphProto> proto = ToProto(*g);
  ASSERT_TRUE(proto.ok()) << proto.status();
  GraphProto parsed;
  ASSERT_TRUE(parsed.ParseFromString(proto->SerializeAsString()));
  absl::StatusOr<Graph> back = FromProto(parsed);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(InitAttr(*back, "g"), 1.0);
  EXPECT_EQ(InitAttr(*back, "s"), -0.5);
  EXPECT_FALSE(back->node(back->FindInput("W")).attrs.Has(kParamInitAttr));
  absl::StatusOr<Cell> cell = CellFromGraph(*back);
  ASSERT_TRUE(cell.ok()) << cell.status();
  EXPECT_EQ(cell->params[1].init, 1.0);
  EXPECT_THAT(InitParams(*cell, DType::kF32, 1).at("s").value().ToVector(),
              ::testing::Each(-0.5));
  // The text form prints the attribute after the type and reads it back.
  const std::string text = PrintGraph(*g);
  EXPECT_TRUE(absl::StrContains(text, "param g : f32[20] {init=1.0}\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "param s : f32[5] {init=-0.5}\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "param W : f32[3,5]\n")) << text;
  absl::StatusOr<Graph> reread = ParseGraph(text);
  ASSERT_TRUE(reread.ok()) << reread.status();
  EXPECT_EQ(InitAttr(*reread, "g"), 1.0);
  EXPECT_EQ(PrintGraph(*reread), text);
}

// A cell written in C++ sets CellParam::init; tracing records it the same way.
TEST(CellLanguageInitTest, TraceCellRecordsTheInitialValuesOfACppCell) {
  Cell cell;
  cell.kind = "scaled_rnn";
  cell.input_size = 3;
  cell.hidden_size = 4;
  cell.states = {"h"};
  cell.params = {{"W", {3, 4}, std::nullopt}, {"g", {4}, 1.0}, {"s", {4}, -2.0}};
  cell.step = [](const Var& x, const std::vector<Var>& states,
                 const ParamMap& p) -> absl::StatusOr<std::vector<Var>> {
    GF_ASSIGN_OR_RETURN(Var h, Tanh(MatMul(x, p.at("W")) * p.at("g") + p.at("s") + states[0]));
    return std::vector<Var>{h};
  };
  absl::StatusOr<Graph> g = TraceCell(cell, DType::kF64);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_FALSE(g->node(g->FindInput("W")).attrs.Has(kParamInitAttr));
  EXPECT_EQ(InitAttr(*g, "g"), 1.0);
  EXPECT_EQ(InitAttr(*g, "s"), -2.0);
  absl::StatusOr<Cell> again = CellFromGraph(*g);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->params[2].init, -2.0);
}

// ---------------------------------------------------------------- errors

TEST(CellLanguageFunctionsErrorTest, Division) {
  ExpectError(CompileText(absl::StrCat(kSmall, "next h = h / 0\n")).status(), "5:12",
              {"division of a tensor by the number 0"});
  ExpectError(CompileText(absl::StrCat(kSmall, "next h = h * (1 / (2 - 2))\n")).status(), "5:17",
              {"division of a number by 0"});
  ExpectError(CompileText(absl::StrCat(kSmall, "next h = h / x\n")).status(), "5:12",
              {"Div", "[2,5] and [2,3]"});
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = h / / h\n")), "5:14",
              {"expected an expression", "'/'"});
  ExpectError(CompileText(absl::StrCat(kSmall, "next h = 1 / 4\n")).status(), "5:12",
              {"the next value of h is the number 0.25"});
}

TEST(CellLanguageFunctionsErrorTest, MinAndMaxArity) {
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = min(h)\n")), "5:10",
              {"min takes 2 arguments, got 1: min(a, b)"});
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = h + max(h, h, h)\n")), "5:14",
              {"max takes 2 arguments, got 3: max(a, b)"});
  ExpectError(CompileText(absl::StrCat(kSmall, "next h = max(h, x)\n")).status(), "5:10",
              {"Max", "[2,5] and [2,3]"});
  ExpectError(CompileText(absl::StrCat(kSmall, "next h = min(1, 2)\n")).status(), "5:10",
              {"the next value of h is the number 1"});
}

TEST(CellLanguageFunctionsErrorTest, Reductions) {
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = h - mean(h, 1)\n")), "5:14",
              {"mean takes 1 argument, got 2: mean(e)"});
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = sum() + h\n")), "5:10",
              {"sum takes 1 argument, got 0: sum(e)"});
  // A [B, 1] value, reduced again: at the outer call, through other ops too.
  ExpectError(CompileText(absl::StrCat(kSmall, "next h = h - mean(sum(h))\n")).status(), "5:14",
              {"mean(e): e is f32[2,1], already one value per example"});
  ExpectError(
      CompileText(absl::StrCat(kSmall, "m = mean(h)\nnext h = h * sum(tanh(m) * 2 + m)\n")).status(),
      "6:14", {"sum(e): e is f32[2,1]", "reducing it again"});
  ExpectError(CompileText(absl::StrCat(kSmall, "next h = h * mean(2)\n")).status(), "5:14",
              {"mean(e): e must be a tensor, got the number 2"});
  ExpectError(CompileText(absl::StrCat(kSmall, "next h = h * sum(B)\n")).status(), "5:14",
              {"sum(e) works on the feature axis of a [B, n] value; e is f32[5]"});
  ExpectError(CompileText(absl::StrCat(kSmall, "next h = mean(h)\n")).status(), "5:10",
              {"next h has shape f32[2,1] but state h is f32[2,5]"});
  // Not [B, 1]: reducing h - mean(h) is fine.
  EXPECT_TRUE(CompileText(absl::StrCat(kSmall, "next h = h * sum(h - mean(h))\n")).ok());
}

TEST(CellLanguageFunctionsErrorTest, LayerNorm) {
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = layer_norm(h, B)\n")), "5:10",
              {"layer_norm takes 3 arguments, got 2: layer_norm(e, gain, shift)"});
  ExpectError(CompileText(absl::StrCat(kSmall, "next h = layer_norm(h, W, B)\n")).status(), "5:10",
              {"layer_norm(e, gain, shift): gain is f32[5,5] but e is f32[2,5]",
               "gain must be [5]"});
  ExpectError(CompileText(absl::StrCat(kSmall, "next h = h + layer_norm(x, B, B)\n")).status(),
              "5:14", {"gain is f32[5] but e is f32[2,3]", "must be [3]"});
  ExpectError(CompileText(absl::StrCat(kSmall, "next h = layer_norm(h, B, 0)\n")).status(), "5:10",
              {"shift must be a [5] tensor (one value per feature), got the number 0"});
  ExpectError(CompileText(absl::StrCat(kSmall, "next h = layer_norm(1, B, B)\n")).status(), "5:10",
              {"layer_norm(e, gain, shift): e must be a tensor, got the number 1"});
  ExpectError(
      CompileText(absl::StrCat(kSmall, "next h = h * layer_norm(mean(h), B, B)\n")).status(),
      "5:14", {"already one value per example"});
}

TEST(CellLanguageFunctionsErrorTest, Initialisers) {
  ExpectError(ParseError("cell t\ninput x[I]\nstate h[H]\nparam g[H] = h\nnext h = h\n"), "4:14",
              {"the initial value of g must be a number (like 1, 0 or -0.5), got 'h'"});
  ExpectError(ParseError("cell t\ninput x[I]\nstate h[H]\nparam g[H] = 1 + 2\nnext h = h\n"),
              "4:16", {"the initial value of g is one number, not an expression", "'+'"});
  ExpectError(ParseError("cell t\ninput x[I]\nstate h[H]\nparam g[H] =\nnext h = h\n"), "4:13",
              {"must be a number", "got the end of the line"});
  ExpectError(ParseError("cell t\ninput x[I]\nstate h[H]\nparam g[H] = - -1\nnext h = h\n"),
              "4:14", {"the initial value of g must be a number", "got '-'"});
  ExpectError(ParseError("cell t\ninput x[I]\nstate h[H] = 0\nnext h = h\n"), "3:12",
              {"state h takes no initial value; only a param does"});
  ExpectError(ParseError("cell t\ninput x[I] = 1\nstate h[H]\nnext h = h\n"), "2:12",
              {"input x takes no initial value"});
  ExpectError(ParseError("cell t\ninput x[I]\nstate h[H]\nparam g[H] = 1e999\nnext h = h\n"),
              "4:14", {"out of range"});
  // A CellSource built in code is checked too.
  absl::StatusOr<CellSource> src = ParseCellSource(kInitText, "t.cell");
  ASSERT_TRUE(src.ok()) << src.status();
  src->states[0].init = 0.0;
  src->states[0].init_location = {3, 12};
  ExpectError(CompileCell(*src, {{"I", 3}, {"H", 5}}).status(), "3:12",
              {"h takes no initial value"});
}

TEST(CellLanguageFunctionsErrorTest, TheNewFunctionNamesAreReserved) {
  for (const char* name : {"min", "max", "mean", "sum", "layer_norm"}) {
    SCOPED_TRACE(name);
    ExpectError(ParseError(absl::StrCat(kSmall, name, " = h\nnext h = h\n")), "5:1",
                {absl::StrCat("'", name, "' is a reserved word")});
    ExpectError(ParseError(absl::StrCat("cell t\ninput x[I]\nstate h[H]\nparam ", name,
                                        "[H]\nnext h = h\n")),
                "4:7", {"reserved word"});
  }
  ExpectError(ParseError(absl::StrCat(kSmall, "next h = norm(h)\n")), "5:10",
              {"unknown function 'norm'", "min, max, mean, sum, layer_norm"});
}

}  // namespace
}  // namespace gatefuse
