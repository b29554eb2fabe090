// Cells written in .cell text with the activations ONNX's RNN operators allow
// (and abs, sqrt): after the standard passes each runs its f32 sequence on the
// compiled path (graph/compiled_sequence.h) and matches the same cell run op by
// op on the tape, outputs and the gradients of x, the initial states and every
// parameter (graph/sequence_compare.h), over rows wider than one register chunk.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "graph/compiled_sequence.h"
#include "graph/executor.h"
#include "graph/sequence_compare.h"
#include "graph/text.h"
#include "models/cells/cell.h"
#include "models/cells/cell_language.h"
#include "passes/pass.h"
#include "passes/recognize_cell.h"
#include "passes/standard_pipeline.h"

namespace gatefuse {
namespace {

// H = 70: two register chunks (pointwise::kChunk = 64), the second partial.
const std::map<std::string, int64_t> kSizes = {{"I", 6}, {"H", 70}};

// A one-state cell whose next h is `expr` of the pre-activation z; the 0.25 keeps
// z of order one over the steps for random weights in [-1, 1).
std::string OneStateCell(const std::string& expr) {
  return absl::StrCat("cell act\ninput x[I]\nstate h[H]\nparam W[I,H] U[H,H] b[H]\n",
                      "z = (x @ W + h @ U + b) * 0.25\nnext h = ", expr, "\n");
}

absl::StatusOr<Graph> CompileText(const std::string& text) {
  absl::StatusOr<CellSource> src = ParseCellSource(text, "act.cell");
  if (!src.ok()) return src.status();
  return CompileCell(*src, kSizes, DType::kF32);
}

Graph Optimize(Graph g) {
  Pipeline pipeline({.verify = true});
  AddStandardPasses(pipeline);
  absl::StatusOr<bool> changed = pipeline.Run(g);
  EXPECT_TRUE(changed.ok()) << changed.status();
  return g.Compact();
}

// `text` compiles, is no recognised kind, runs compiled, and matches the tape.
void ExpectCompiledMatchesTheTape(const std::string& text) {
  absl::StatusOr<Graph> cell = CompileText(text);
  ASSERT_TRUE(cell.ok()) << cell.status();
  const Graph g = Optimize(*cell);
  EXPECT_EQ(FusionKind(g), "custom") << PrintGraph(g);
  ASSERT_TRUE(CanCompileSequence(g).ok()) << CanCompileSequence(g) << "\n" << PrintGraph(g);
  absl::StatusOr<SequencePath> path = ChooseSequencePath(g, DType::kF32);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(path->ToString(), "compiled");

  // The run itself takes the path: one CompiledSequence node.
  absl::StatusOr<CellSignature> sig = GetCellSignature(g);
  ASSERT_TRUE(sig.ok()) << sig.status();
  const int64_t T = 5, B = 3;
  std::map<std::string, Var> states, params;
  uint64_t seed = 40;
  for (const std::string& s : sig->states) {
    states[s] = Var::Leaf(Tensor::Uniform({B, kSizes.at("H")}, DType::kF32, ++seed, -1, 1), true);
  }
  for (const std::string& p : sig->params) {
    const Shape shape = g.node(g.FindInput(p)).outputs[0].shape;
    params[p] = Var::Leaf(Tensor::Uniform(shape, DType::kF32, ++seed, -1, 1), true);
  }
  const Var x = Var::Leaf(Tensor::Uniform({T, B, kSizes.at("I")}, DType::kF32, 1, -1, 1), true);
  absl::StatusOr<GraphSequenceResult> r = RunGraphSequence(g, x, states, params);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->path.ToString(), "compiled");
  ASSERT_NE(r->y.producer(), nullptr);
  EXPECT_EQ(r->y.producer()->op->name(), "CompiledSequence");

  // Against the cell as compiled from the text, unplaced, so run op by op.
  absl::StatusOr<SequencePath> reference = ChooseSequencePath(*cell, DType::kF32);
  ASSERT_TRUE(reference.ok()) << reference.status();
  EXPECT_EQ(reference->kind, SequencePathKind::kOpByOp) << reference->ToString();
  for (uint64_t s = 1; s <= 2; ++s) {
    absl::StatusOr<SequenceComparison> c =
        CompareCellGraphs(g, *cell, {.T = T, .B = B, .dtype = DType::kF32, .seed = s});
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_LE(c->max_rel_err, 1e-4) << "seed " << s << " worst: " << c->worst;
  }
}

struct Case {
  const char* function;
  const char* expr;
};

// Scalars chosen so that z (of order one) falls on both sides of every kink.
const Case kCases[] = {
    {"leaky_relu", "leaky_relu(z, 0.1)"},
    {"thresholded_relu", "thresholded_relu(z, 0.2)"},
    {"elu", "elu(z, 1.5)"},
    {"softsign", "softsign(z)"},
    {"softplus", "softplus(z) - 0.5"},
    {"hard_sigmoid", "hard_sigmoid(z, 2, 0.5)"},
    {"clip", "clip(z, -0.3, 0.3)"},
    {"abs", "abs(z) - 0.5"},
    {"sqrt", "sqrt(z * z + 1e-3) - 0.5"},
};

TEST(CellActivationsTest, EachFunctionRunsCompiledAndMatchesTheTape) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.function);
    ExpectCompiledMatchesTheTape(OneStateCell(c.expr));
  }
}

// An LSTM with ONNX's activation choice f = HardSigmoid, g = Softsign, h = Elu:
// the activations fuse into one group with the products and sums around them.
TEST(CellActivationsTest, AnOnnxStyleLstmRunsCompiledAndMatchesTheTape) {
  ExpectCompiledMatchesTheTape(
      "cell onnx_lstm\ninput x[I]\nstate h[H] c[H]\n"
      "param W[I,4*H] U[H,4*H] b[4*H]\n"
      "i, f, g, o = split((x @ W + h @ U + b) * 0.25, 4)\n"
      "c2 = hard_sigmoid(f, 0.2, 0.5) * c + hard_sigmoid(i, 0.2, 0.5) * softsign(g)\n"
      "next c = clip(c2, -3, 3)\n"
      "next h = hard_sigmoid(o, 0.2, 0.5) * elu(c2, 1) + leaky_relu(h, 0.01) * 0.1\n");
}

// The same cell with tanh and sigmoid is still recognised as an LSTM: the new
// functions do not disturb recognition of the builtin spellings.
TEST(CellActivationsTest, TheSameLstmWithSigmoidAndTanhIsStillRecognised) {
  absl::StatusOr<Graph> cell = CompileText(
      "cell lstm\ninput x[I]\nstate h[H] c[H]\nparam W[I,4*H] U[H,4*H] b[4*H]\n"
      "i, f, g, o = split(x @ W + h @ U + b, 4)\n"
      "c2 = sigmoid(f) * c + sigmoid(i) * tanh(g)\n"
      "next c = c2\nnext h = sigmoid(o) * tanh(c2)\n");
  ASSERT_TRUE(cell.ok()) << cell.status();
  EXPECT_EQ(FusionKind(Optimize(*cell)), "lstm");
}

}  // namespace
}  // namespace gatefuse
