// The compiled custom-cell path: mgu (which nothing recognises) and every builtin
// kind compiled with recognition disabled run their whole f32 sequence as one
// CompiledSequence tape node, and match the cell's equations run step by step on
// the tape (models/cell.h RunSequence): outputs and the gradients of x, of the
// initial states and of every parameter, 1e-4 relative, on random shapes.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <random>

#include "absl/strings/str_cat.h"
#include "core/compare.h"
#include "core/status.h"
#include "gtest/gtest.h"
#include "graph/compiled_sequence.h"
#include "graph/executor.h"
#include "graph/sequence_compare.h"
#include "models/cells/cell.h"
#include "models/cells/cell_graph.h"
#include "models/cells/cell_language.h"
#include "ops/ops.h"
#include "passes/recognize_cell.h"
#include "passes/standard_pipeline.h"

namespace gatefuse {
namespace {

absl::StatusOr<Graph> Compile(const Cell& cell, bool recognize) {
  GF_ASSIGN_OR_RETURN(Graph g, TraceCell(cell));
  Pipeline p({.verify = true});
  AddStandardPasses(p, {.recognize = recognize});
  GF_RETURN_IF_ERROR(p.Run(g).status());
  return g.Compact();
}

struct Outcome {
  std::vector<std::pair<std::string, Tensor>> tensors;  // outputs, then gradients
  std::string producer;
  SequencePath path;  // how RunGraphSequence ran it (RunCompiled only)
};

struct Inputs {
  Var x;
  std::vector<Var> states;
  ParamMap params;
  std::vector<Tensor> weights;  // loss = sum_k <weights_k, output_k>
};

Inputs MakeInputs(const Cell& cell, int64_t T, int64_t B, uint64_t seed) {
  Inputs in;
  in.x = Var::Leaf(Tensor::Uniform({T, B, cell.input_size}, DType::kF32, seed, -1, 1), true);
  for (size_t k = 0; k < cell.states.size(); ++k) {
    in.states.push_back(
        Var::Leaf(Tensor::Uniform({B, cell.hidden_size}, DType::kF32, seed + 1 + k, -1, 1), true));
  }
  in.params = InitParams(cell, DType::kF32, seed + 10);
  in.weights.push_back(Tensor::Uniform({T, B, cell.hidden_size}, DType::kF32, seed + 20, -1, 1));
  for (size_t k = 0; k < cell.states.size(); ++k) {
    in.weights.push_back(
        Tensor::Uniform({B, cell.hidden_size}, DType::kF32, seed + 21 + k, -1, 1));
  }
  return in;
}

absl::StatusOr<Outcome> Finish(const Inputs& in, const std::vector<Var>& outs,
                               const Cell& cell, std::string producer) {
  VarOr loss = Var::Constant(Tensor::Zeros({}, DType::kF32));
  for (size_t k = 0; k < outs.size(); ++k) loss = loss + Sum(outs[k] * Var::Constant(in.weights[k]));
  GF_ASSIGN_OR_RETURN(Var l, loss);
  std::vector<Var> wrt = {in.x};
  std::vector<std::string> names = {"d_x"};
  for (size_t k = 0; k < in.states.size(); ++k) {
    wrt.push_back(in.states[k]);
    names.push_back("d_" + cell.states[k] + "0");
  }
  for (const auto& [name, v] : in.params) {
    wrt.push_back(v);
    names.push_back("d_" + name);
  }
  GF_ASSIGN_OR_RETURN(std::vector<Var> grads,
                      Gradients({l}, {Tensor::Full({}, DType::kF32, 1.0)}, wrt));
  Outcome o;
  o.producer = std::move(producer);
  o.tensors.push_back({"y", outs[0].value()});
  for (size_t k = 1; k < outs.size(); ++k) o.tensors.push_back({cell.states[k - 1] + "T", outs[k].value()});
  for (size_t k = 0; k < grads.size(); ++k) {
    const Tensor g =
        grads[k].defined() ? grads[k].value() : Tensor::Zeros(wrt[k].shape(), DType::kF32);
    o.tensors.push_back({names[k], g});
  }
  return o;
}

absl::StatusOr<Outcome> RunCompiled(const Graph& g, const Cell& cell, const Inputs& in) {
  std::map<std::string, Var> states;
  for (size_t k = 0; k < cell.states.size(); ++k) states[cell.states[k]] = in.states[k];
  std::map<std::string, Var> params(in.params.begin(), in.params.end());
  GF_ASSIGN_OR_RETURN(GraphSequenceResult r, RunGraphSequence(g, in.x, states, params));
  std::vector<Var> outs = {r.y};
  for (const std::string& s : cell.states) outs.push_back(r.final_states.at(s));
  const std::string producer = r.y.producer() ? r.y.producer()->op->name() : "";
  for (const Var& v : outs) {
    if (r.path.kind != SequencePathKind::kOpByOp && v.producer() != r.y.producer()) {
      return absl::InternalError("outputs of different nodes");
    }
  }
  GF_ASSIGN_OR_RETURN(Outcome o, Finish(in, outs, cell, producer));
  o.path = r.path;
  return o;
}

absl::StatusOr<Outcome> RunTape(const Cell& cell, const Inputs& in) {
  GF_ASSIGN_OR_RETURN(SequenceResult r, RunSequence(cell, in.x, in.states, in.params));
  std::vector<Var> outs = {r.y};
  outs.insert(outs.end(), r.final_states.begin(), r.final_states.end());
  return Finish(in, outs, cell, "");
}

// Max relative error over all tensors (core/compare.h); `worst` names the tensor
// and its worst element. An infinite error (NaN, Inf) is never replaced.
double Compare(const Outcome& a, const Outcome& b, std::string& worst) {
  double max_err = 0;
  for (size_t k = 0; k < a.tensors.size(); ++k) {
    const TensorComparison c = CompareTensors(a.tensors[k].second, b.tensors[k].second);
    if (k == 0 || c.error > max_err) {
      max_err = c.error;
      worst = absl::StrCat(a.tensors[k].first, " ", c.Describe(a.tensors[k].second.shape()));
    }
  }
  return max_err;
}

// A cell of a builtin kind or a .cell file at sizes I, H.
using MakeCellFn = std::function<absl::StatusOr<Cell>(int64_t I, int64_t H)>;

void CheckCell(const std::string& name, const MakeCellFn& make, bool recognize, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const int64_t I = pick(1, 70), H = pick(1, 140), T = pick(1, 9), B = pick(1, 7);
  SCOPED_TRACE(absl::StrCat(name, " I=", I, " H=", H, " T=", T, " B=", B));
  absl::StatusOr<Cell> cell = make(I, H);
  ASSERT_TRUE(cell.ok()) << cell.status();
  absl::StatusOr<Graph> g = Compile(*cell, recognize);
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(FusionKind(*g), "custom");
  ASSERT_TRUE(CanCompileSequence(*g).ok()) << CanCompileSequence(*g);
  const Inputs in = MakeInputs(*cell, T, B, seed);
  absl::StatusOr<Outcome> compiled = RunCompiled(*g, *cell, in);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  EXPECT_EQ(compiled->producer, "CompiledSequence");
  EXPECT_EQ(compiled->path.ToString(), "compiled");
  absl::StatusOr<Outcome> tape = RunTape(*cell, in);
  ASSERT_TRUE(tape.ok()) << tape.status();
  std::string worst;
  const double err = Compare(*compiled, *tape, worst);
  EXPECT_LE(err, 1e-4) << "worst: " << worst;
  // The interpreter's exp differs from std::exp in the last bits: a zero error
  // would mean the compiled path did not run.
  EXPECT_GT(err, 0);
}

void CheckKind(const std::string& kind, bool recognize, uint64_t seed) {
  CheckCell(kind, [&](int64_t I, int64_t H) { return BuiltinCell(kind, I, H); }, recognize, seed);
}

TEST(CustomPathTest, MguMatchesTheTape) {
  for (uint64_t seed = 1; seed <= 4; ++seed) CheckKind("mgu", /*recognize=*/true, seed);
}

TEST(CustomPathTest, EveryBuiltinForcedCustomMatchesTheTape) {
  uint64_t seed = 100;
  for (const std::string& kind : BuiltinCellKinds()) {
    for (int rep = 0; rep < 2; ++rep) CheckKind(kind, /*recognize=*/false, ++seed);
  }
}

// Every cell file gatefuse ships, compiled without recognition, runs on the
// compiled plan and matches its equations on the tape.
TEST(CustomPathTest, EveryCellFileForcedCustomMatchesTheTape) {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator("models/cells")) {
    if (entry.path().extension() == ".cell") files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 10u);  // the eight builtin kinds' files, ln_lstm, ln_gru, ...
  uint64_t seed = 200;
  for (const std::string& file : files) {
    absl::StatusOr<CellSource> src = ReadCellFile(file);
    ASSERT_TRUE(src.ok()) << src.status();
    const MakeCellFn make = [&](int64_t I, int64_t H) -> absl::StatusOr<Cell> {
      GF_ASSIGN_OR_RETURN(Graph g, CompileCell(*src, {{"I", I}, {"H", H}}));
      return CellFromGraph(g);
    };
    for (int rep = 0; rep < 2; ++rep) CheckCell(file, make, /*recognize=*/false, ++seed);
  }
}

TEST(CustomPathTest, LargerShapesSpanSeveralChunks) {
  absl::StatusOr<Cell> cell = BuiltinCell("lstm", 96, 200);
  ASSERT_TRUE(cell.ok());
  absl::StatusOr<Graph> g = Compile(*cell, false);
  ASSERT_TRUE(g.ok());
  const Inputs in = MakeInputs(*cell, 5, 96, 7);
  absl::StatusOr<Outcome> compiled = RunCompiled(*g, *cell, in);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  absl::StatusOr<Outcome> tape = RunTape(*cell, in);
  ASSERT_TRUE(tape.ok());
  std::string worst;
  EXPECT_LE(Compare(*compiled, *tape, worst), 1e-4) << worst;
}

// CompareCellGraphs runs the unplaced traced graph op by op: the reference.
TEST(CustomPathTest, CompareCellGraphsAgainstTheTracedGraph) {
  for (const std::string& kind : BuiltinCellKinds()) {
    SCOPED_TRACE(kind);
    absl::StatusOr<Cell> cell = BuiltinCell(kind, 11, 13);
    ASSERT_TRUE(cell.ok());
    absl::StatusOr<Graph> traced = TraceCell(*cell);
    ASSERT_TRUE(traced.ok());
    EXPECT_FALSE(CanCompileSequence(*traced).ok());
    absl::StatusOr<Graph> g = Compile(*cell, false);
    ASSERT_TRUE(g.ok());
    absl::StatusOr<SequenceComparison> c =
        CompareCellGraphs(*g, *traced, {.T = 7, .B = 4, .dtype = DType::kF32, .seed = 3});
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_LE(c->max_rel_err, 1e-4) << c->worst;
    EXPECT_GT(c->max_rel_err, 0);
  }
}

// A cell of every pointwise op the plan compiles, with constants, scalars, a
// merged GEMM split in two and a second state: compiled vs op by op on the tape.
TEST(CustomPathTest, ExoticCellMatchesTheTape) {
  const std::string text = R"(cell exotic
input x[I]
state h[H] c[H]
param W[I,2*H] U[H,2*H] b[2*H] p[H]
a, z = split(x @ W + h @ U + b, 2)
g = exp(-relu(a)) * 0.5 + 1
n = log(sigmoid(z) + 1) * g - 2 * c
next c = tanh(n) * p + c * 0.25
next h = (1 - sigmoid(a)) * h + n * sigmoid(-z) - relu(n - h) * 0.1
)";
  absl::StatusOr<CellSource> src = ParseCellSource(text, "exotic.cell");
  ASSERT_TRUE(src.ok()) << src.status();
  for (const auto& [I, H] : std::vector<std::pair<int64_t, int64_t>>{{3, 5}, {17, 70}}) {
    SCOPED_TRACE(absl::StrCat("I=", I, " H=", H));
    absl::StatusOr<Graph> traced = CompileCell(*src, {{"I", I}, {"H", H}});
    ASSERT_TRUE(traced.ok()) << traced.status();
    Graph g = *traced;
    Pipeline p({.verify = true});
    AddStandardPasses(p);
    ASSERT_TRUE(p.Run(g).ok());
    ASSERT_EQ(FusionKind(g), "custom");
    ASSERT_TRUE(CanCompileSequence(g).ok()) << CanCompileSequence(g);
    absl::StatusOr<SequenceComparison> c =
        CompareCellGraphs(g, *traced, {.T = 6, .B = 3, .dtype = DType::kF32, .seed = 9});
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_LE(c->max_rel_err, 1e-4) << c->worst;
    EXPECT_GT(c->max_rel_err, 0);
  }
}

// Div (not in the .cell language) through a Cell written with ops.
TEST(CustomPathTest, DivisionMatchesTheTape) {
  Cell cell;
  cell.kind = "div_cell";
  cell.input_size = 5;
  cell.hidden_size = 9;
  cell.states = {"h"};
  cell.params = {{"W", Shape{5, 9}}, {"U", Shape{9, 9}}, {"b", Shape{9}}};
  cell.step = [](const Var& x, const std::vector<Var>& s,
                 const ParamMap& p) -> absl::StatusOr<std::vector<Var>> {
    GF_ASSIGN_OR_RETURN(Var h, Tanh(MatMul(x, p.at("W"))) / (Sigmoid(MatMul(s[0], p.at("U"))) +
                                                           p.at("b") * p.at("b") + 1.0) +
                                   s[0] * 0.5);
    return std::vector<Var>{h};
  };
  absl::StatusOr<Graph> g = Compile(cell, true);
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_TRUE(CanCompileSequence(*g).ok()) << CanCompileSequence(*g);
  const Inputs in = MakeInputs(cell, 4, 3, 11);
  absl::StatusOr<Outcome> compiled = RunCompiled(*g, cell, in);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  EXPECT_EQ(compiled->producer, "CompiledSequence");
  absl::StatusOr<Outcome> tape = RunTape(cell, in);
  ASSERT_TRUE(tape.ok()) << tape.status();
  std::string worst;
  const double err = Compare(*compiled, *tape, worst);
  EXPECT_LE(err, 1e-4) << worst;
  EXPECT_GT(err, 0);
}

// mgu at I=4, H=6 compiled, with inputs for T=3, B=2.
struct SmallMgu {
  Graph graph;
  Inputs in;
  std::map<std::string, Var> params;
};

SmallMgu MakeSmallMgu() {
  const Cell cell = BuiltinCell("mgu", 4, 6).value();
  SmallMgu m{Compile(cell, true).value(), MakeInputs(cell, 3, 2, 5), {}};
  m.params = std::map<std::string, Var>(m.in.params.begin(), m.in.params.end());
  return m;
}

TEST(CustomPathTest, OneTapeNodeWhoseGradientHasNoGradient) {
  const SmallMgu m = MakeSmallMgu();
  const Graph* g = &m.graph;
  const Inputs& in = m.in;
  std::map<std::string, Var> params = m.params;
  absl::StatusOr<GraphSequenceResult> r = RunGraphSequence(*g, in.x, {{"h", in.states[0]}}, params);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_NE(r->y.producer(), nullptr);
  EXPECT_EQ(r->y.producer()->op->name(), "CompiledSequence");
  // Every input of the one node: x, h0, and the parameters or their concatenations.
  EXPECT_EQ(r->y.producer()->inputs.size(), 2u + 5u);
  absl::StatusOr<Var> loss = Sum(r->y);
  ASSERT_TRUE(loss.ok());
  absl::StatusOr<std::vector<Var>> grads =
      Gradients({*loss}, {Tensor::Full({}, DType::kF32, 1.0)}, {in.x}, {.create_graph = true});
  ASSERT_TRUE(grads.ok()) << grads.status();
  ASSERT_NE((*grads)[0].producer(), nullptr);
  EXPECT_EQ((*grads)[0].producer()->op->name(), "CompiledSequenceGrad");
  absl::StatusOr<Var> second = Sum((*grads)[0]);
  ASSERT_TRUE(second.ok());
  absl::Status s = Backward(*second);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("CompiledSequenceGrad"), std::string::npos) << s;
}

TEST(CustomPathTest, F64StaysOnTheGenericPath) {
  absl::StatusOr<Cell> cell = BuiltinCell("mgu", 4, 6);
  ASSERT_TRUE(cell.ok());
  absl::StatusOr<Graph> traced = TraceCell(*cell, DType::kF64);
  ASSERT_TRUE(traced.ok());
  Graph g = *traced;
  Pipeline p({.verify = true});
  AddStandardPasses(p);
  ASSERT_TRUE(p.Run(g).ok());
  Var x = Var::Leaf(Tensor::Uniform({3, 2, 4}, DType::kF64, 1, -1, 1), true);
  Var h = Var::Leaf(Tensor::Uniform({2, 6}, DType::kF64, 2, -1, 1), true);
  std::map<std::string, Var> params;
  for (const auto& [name, v] : InitParams(*cell, DType::kF64, 3)) params[name] = v;
  absl::StatusOr<GraphSequenceResult> r = RunGraphSequence(g, x, {{"h", h}}, params);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(r->y.producer()->op->name(), "CompiledSequence");
  EXPECT_EQ(r->path.kind, SequencePathKind::kOpByOp);
  EXPECT_NE(r->path.ToString().find("op-by-op: f64"), std::string::npos) << r->path.ToString();
}

// A cell with an op the compiled plan does not take (a Softmax over the features
// inside the step) runs op by op, and its path names the op; its values are the
// tape's own.
TEST(CustomPathTest, UnsupportedOpRunsOpByOpAndSaysWhich) {
  Cell cell;
  cell.kind = "softmax_cell";
  cell.input_size = 4;
  cell.hidden_size = 6;
  cell.states = {"h"};
  cell.params = {{"W", Shape{4, 6}}, {"U", Shape{6, 6}}};
  cell.step = [](const Var& x, const std::vector<Var>& s,
                 const ParamMap& p) -> absl::StatusOr<std::vector<Var>> {
    GF_ASSIGN_OR_RETURN(Var h, Softmax(MatMul(x, p.at("W")) + MatMul(s[0], p.at("U")), -1));
    return std::vector<Var>{h};
  };
  absl::StatusOr<Graph> g = Compile(cell, true);
  ASSERT_TRUE(g.ok()) << g.status();
  absl::StatusOr<SequencePath> path = ChooseSequencePath(*g, DType::kF32);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(path->kind, SequencePathKind::kOpByOp);
  EXPECT_EQ(path->ToString().rfind("op-by-op: ", 0), 0u) << path->ToString();
  EXPECT_NE(path->reason.find("Softmax"), std::string::npos) << path->reason;
  const Inputs in = MakeInputs(cell, 4, 3, 13);
  absl::StatusOr<Outcome> ran = RunCompiled(*g, cell, in);
  ASSERT_TRUE(ran.ok()) << ran.status();
  EXPECT_EQ(ran->path.ToString(), path->ToString());
  absl::StatusOr<Outcome> tape = RunTape(cell, in);
  ASSERT_TRUE(tape.ok()) << tape.status();
  std::string worst;
  EXPECT_LE(Compare(*ran, *tape, worst), 1e-6) << worst;
}

TEST(CustomPathTest, BadInputsNameWhatWasWrong) {
  const SmallMgu m = MakeSmallMgu();
  const Graph* g = &m.graph;
  const Inputs& in = m.in;
  std::map<std::string, Var> params = m.params;
  Var bad_h = Var::Leaf(Tensor::Zeros({2, 5}, DType::kF32), true);
  absl::StatusOr<GraphSequenceResult> r = RunGraphSequence(*g, in.x, {{"h", bad_h}}, params);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("state h"), std::string::npos) << r.status();
  params["Un"] = Var::Leaf(Tensor::Zeros({6, 5}, DType::kF32), true);
  r = RunGraphSequence(*g, in.x, {{"h", in.states[0]}}, params);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("param Un"), std::string::npos) << r.status();
}

TEST(CustomPathTest, GemmsAndExplanation) {
  absl::StatusOr<Cell> cell = BuiltinCell("lstm", 8, 16);
  ASSERT_TRUE(cell.ok());
  absl::StatusOr<Graph> g = Compile(*cell, false);
  ASSERT_TRUE(g.ok());
  absl::StatusOr<std::vector<PlanGemm>> fwd = CompiledSequenceGemms(*g, 10, 4, false);
  ASSERT_TRUE(fwd.ok()) << fwd.status();
  ASSERT_EQ(fwd->size(), 2u);  // the hoisted input projection, the recurrent GEMM
  const PlanGemm& in = (*fwd)[0].what.find("hoisted") != std::string::npos ? (*fwd)[0] : (*fwd)[1];
  const PlanGemm& rec = &in == &(*fwd)[0] ? (*fwd)[1] : (*fwd)[0];
  EXPECT_NE(in.what.find("hoisted"), std::string::npos) << in.what;
  EXPECT_EQ(in.m, 40);
  EXPECT_EQ(in.k, 8);
  EXPECT_EQ(in.n, 64);
  EXPECT_EQ(in.count, 1);
  EXPECT_NE(rec.what.find("recurrent"), std::string::npos) << rec.what;
  EXPECT_EQ(rec.m, 4);
  EXPECT_EQ(rec.k, 16);
  EXPECT_EQ(rec.n, 64);
  EXPECT_EQ(rec.count, 10);
  absl::StatusOr<std::vector<PlanGemm>> train = CompiledSequenceGemms(*g, 10, 4, true);
  ASSERT_TRUE(train.ok());
  EXPECT_EQ(train->size(), 6u);
  absl::StatusOr<std::string> text = ExplainCompiledSequence(*g);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_NE(text->find("[T*B, 8] x [8, 64]"), std::string::npos) << *text;
  EXPECT_NE(text->find("[B, 16] x [16, 64]"), std::string::npos) << *text;
  EXPECT_NE(text->find("Sigmoid"), std::string::npos) << *text;

  absl::StatusOr<Graph> recognised = Compile(*cell, true);
  ASSERT_TRUE(recognised.ok());
  absl::Status s = CanCompileSequence(*recognised);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("FusedCell"), std::string::npos) << s;
}

}  // namespace
}  // namespace gatefuse
