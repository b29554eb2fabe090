// libFuzzer target for the .cell front end: lexer, parser, checks and compiler
// (built and run by `tools/fuzz.sh cell_language` with clang's
// -fsanitize=fuzzer,address,undefined; tests:cell_language_fuzz_corpus_test runs
// the regression corpus through it in the normal build).
//
// The input is .cell text. Its first line may bind sizes, as a comment the
// language itself ignores, so every input stays a valid .cell file:
//
//   # sizes: I=2 H=4 batch=1 f64        (any symbol; unbound ones are 3)
//
// Values are clamped to [-1, 8] (batch: [-1, 4]) so that non-positive sizes
// reach the compiler's checks and no cell gets large.
//
// Beyond "no crash, no leak, no UB", the oracle is what cell_language.h promises:
// an error is InvalidArgument "fuzz.cell:LINE:COL: ..." with a line inside the
// file, and never an internal error; a graph that compiles verifies, has one
// output per state of the state's shape, runs one step on random inputs (plain
// tensors) with outputs of the shapes it declares, and, when it is a Cell, runs
// one step on the tape and back.
//
// With GATEFUSE_FUZZ_WRITE_SEEDS=DIR set, the binary writes the seeds below into
// DIR and exits; the script adds the builtin models/cells/*.cell files and the
// regression corpus tests/fuzz_corpus/cell_language/.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "core/tape.h"
#include "core/tensor.h"
#include "graph/executor.h"
#include "graph/graph.h"
#include "graph/verifier.h"
#include "models/cells/cell.h"
#include "models/cells/cell_language.h"
#include "ops/ops.h"

namespace {

using namespace gatefuse;

constexpr char kFile[] = "fuzz.cell";
constexpr int64_t kDefaultSize = 3;
// Above this many elements over all values of the graph the step is not run:
// literal sizes may be up to 2^31 and the point is the front end, not memory.
constexpr int64_t kMaxRunElements = int64_t{1} << 16;
constexpr int64_t kMaxGraphElements = int64_t{1} << 40;

void Require(bool ok) {
  if (!ok) __builtin_trap();
}

struct Settings {
  std::map<std::string, int64_t> sizes;
  int64_t batch = 2;
  DType dtype = DType::kF32;
};

Settings ReadSettings(absl::string_view text) {
  Settings s;
  absl::string_view line = text.substr(0, text.find('\n'));
  if (!absl::ConsumePrefix(&line, "# sizes:")) return s;
  for (absl::string_view word : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
    if (word == "f64") {
      s.dtype = DType::kF64;
      continue;
    }
    const std::vector<absl::string_view> kv = absl::StrSplit(word, absl::MaxSplits('=', 1));
    int64_t v = 0;
    if (kv.size() != 2 || !absl::SimpleAtoi(kv[1], &v)) continue;
    if (kv[0] == "batch") {
      s.batch = std::clamp<int64_t>(v, -1, 4);
    } else {
      s.sizes[std::string(kv[0])] = std::clamp<int64_t>(v, -1, 8);
    }
  }
  return s;
}

// "fuzz.cell:LINE:COL: what" with 1 <= LINE <= the file's lines (+1: the end).
void RequireLocatedError(const absl::Status& status, absl::string_view text) {
  Require(status.code() == absl::StatusCode::kInvalidArgument);
  absl::string_view m = status.message();
  Require(absl::ConsumePrefix(&m, absl::StrCat(kFile, ":")));
  const std::vector<absl::string_view> parts = absl::StrSplit(m, absl::MaxSplits(':', 2));
  int line = 0, column = 0;
  Require(parts.size() == 3 && absl::SimpleAtoi(parts[0], &line) &&
          absl::SimpleAtoi(parts[1], &column));
  const int64_t lines = std::count(text.begin(), text.end(), '\n') + 1;
  Require(line >= 1 && line <= lines && column >= 1);
  Require(!absl::StrContains(m, "internal error"));
}

// What CompileCell promises of every value of its graph (cell_language.h).
bool WithinElementBound(const Shape& shape) {
  int64_t n = 1;
  for (int i = 0; i < shape.rank(); ++i) {
    if (shape[i] < 1 || shape[i] > kMaxGraphElements / n) return false;
    n *= shape[i];
  }
  return true;
}

// Elements over all node outputs, saturating at kMaxRunElements + 1.
int64_t TotalElements(const Graph& g) {
  int64_t total = 0;
  for (int id = 0; id < g.num_node_slots(); ++id) {
    for (const TensorSpec& spec : g.node(id).outputs) {
      int64_t n = 1;
      for (int i = 0; i < spec.shape.rank(); ++i) {
        if (spec.shape[i] > kMaxRunElements) return kMaxRunElements + 1;
        n *= spec.shape[i];
        if (n > kMaxRunElements) return kMaxRunElements + 1;
      }
      total += n;
      if (total > kMaxRunElements) return kMaxRunElements + 1;
    }
  }
  return total;
}

// One step on plain tensors: the outputs have the shapes the graph declares.
void RunStep(const Graph& g, DType dtype) {
  std::map<std::string, Tensor> inputs;
  uint64_t seed = 1;
  for (NodeId id : g.Inputs()) {
    const NodeData& d = g.node(id);
    inputs[d.name] = Tensor::Uniform(d.outputs[0].shape, dtype, seed++, -1, 1);
  }
  absl::StatusOr<std::vector<Tensor>> outs = ExecuteGraph(g, inputs);
  Require(outs.ok() && outs->size() == g.outputs().size());
  for (size_t k = 0; k < outs->size(); ++k) {
    Require((*outs)[k].shape() == g.spec(g.outputs()[k].value).shape);
  }
}

// One step on the tape, then back to every leaf.
void RunTapeStep(const Graph& g, DType dtype, int64_t batch) {
  absl::StatusOr<Cell> cell = CellFromGraph(g);
  if (!cell.ok()) {
    Require(cell.status().code() == absl::StatusCode::kInvalidArgument);
    return;
  }
  const ParamMap params = InitParams(*cell, dtype, 1);
  const Var x = Var::Leaf(Tensor::Uniform({batch, cell->input_size}, dtype, 2, -1, 1), true);
  std::vector<Var> states;
  for (size_t k = 0; k < cell->states.size(); ++k) {
    states.push_back(
        Var::Leaf(Tensor::Uniform({batch, cell->hidden_size}, dtype, 3 + k, -1, 1), true));
  }
  absl::StatusOr<std::vector<Var>> next = cell->step(x, states, params);
  Require(next.ok() && next->size() == states.size());
  VarOr loss = Sum((*next)[0]);
  for (size_t k = 1; k < next->size(); ++k) loss = loss + Sum((*next)[k]);
  Require(loss.ok());
  Require(Backward(*loss).ok());
  Require(!x.grad().defined() || x.grad().shape() == x.shape());
}

void FuzzOne(const std::string& text) {
  const Settings settings = ReadSettings(text);
  absl::StatusOr<CellSource> src = ParseCellSource(text, kFile);
  if (!src.ok()) {
    RequireLocatedError(src.status(), text);
    return;
  }
  Require(!src->name.empty() && !src->states.empty() && src->text == text);
  std::map<std::string, int64_t> sizes;
  for (const std::string& symbol : SizeSymbols(*src)) {
    auto it = settings.sizes.find(symbol);
    sizes[symbol] = it == settings.sizes.end() ? kDefaultSize : it->second;
  }
  absl::StatusOr<Graph> graph = CompileCell(*src, sizes, settings.dtype, settings.batch);
  if (!graph.ok()) {
    RequireLocatedError(graph.status(), text);
    return;
  }
  Require(graph->name() == src->name && Verify(*graph).ok());
  Require(graph->outputs().size() == src->states.size());
  for (size_t k = 0; k < src->states.size(); ++k) {
    const GraphOutput& out = graph->outputs()[k];
    Require(out.name == src->states[k].name);
    Require(graph->spec(out.value) == graph->node(graph->FindInput(out.name)).outputs[0]);
  }
  for (int id = 0; id < graph->num_node_slots(); ++id) {
    for (const TensorSpec& spec : graph->node(id).outputs) Require(WithinElementBound(spec.shape));
  }
  if (TotalElements(*graph) > kMaxRunElements) return;
  RunStep(*graph, settings.dtype);
  RunTapeStep(*graph, settings.dtype, settings.batch);
}

// Each a small cell that reaches a different part of the language, or one error.
constexpr const char* kSeeds[] = {
    // split of a merged projection, products in sizes, f64
    "# sizes: I=2 H=2 f64\n"
    "cell cifg_split\ninput x[I]\nstate h[H] c[H]\n"
    "param W[I,3*H] U[H,3*H] b[3*H]\n"
    "f, g, o = split(x @ W + h @ U + b, 3)\n"
    "next c = sigmoid(f) * c + (1 - sigmoid(f)) * tanh(g)\n"
    "next h = sigmoid(o) * tanh(c)\n",
    // concat and a sum in a size
    "cell concat_rnn\ninput x[I]\nstate h[H]\nparam W[I+H,H] b[H]\n"
    "next h = relu(concat(x, h) @ W + b)\n",
    // numbers folded, unary minus, scalar ops on each side
    "# sizes: I=1 H=4 batch=1\n"
    "cell numbers\ninput x[I]\nstate h[H]\nparam W[I,H]\n"
    "a = -(2 * 3 - -1.5e-1)\n"
    "next h = exp(-h) * a + 0.5 - (x @ W) * log(2) - 1\n",
    // states of two sizes: a graph, not a Cell
    "cell two_sizes\ninput x[I]\nstate h[H] c[2*H]\nparam W[I,H] V[I,2*H]\n"
    "next h = tanh(x @ W + h)\nnext c = c * sigmoid(x @ V)\n",
    // a scalar and a rank-3 param broadcasting
    "# sizes: I=2 H=2\n"
    "cell shapes\ninput x[I]\nstate h[H]\nparam s[] W[I,H] T[2,1,H]\n"
    "next h = tanh((x @ W) * s + h * T + T)\n",
    // the activations with their number arguments, and one folded
    "# sizes: I=2 H=3\n"
    "cell acts\ninput x[I]\nstate h[H]\nparam W[I,H]\n"
    "z = x @ W + h * clip(2, -1, 1)\n"
    "a = hard_sigmoid(z, 0.2, 0.5) * softsign(z) + elu(z, 1e-1) - leaky_relu(-z, 0.01)\n"
    "next h = thresholded_relu(a, -1) + softplus(a) * abs(h) - sqrt(a * a + 1)\n",
    // division, min and max, reductions over the features, layer norm, initialisers
    "# sizes: I=2 H=3 f64\n"
    "cell ln\ninput x[I]\nstate h[H] c[H]\nparam W[I,2*H] g[2*H] = 1 s[2*H] = -0.5 e[H] = 0\n"
    "a, b = split(layer_norm(x @ W, g, s), 2)\n"
    "next c = min(a, c) / (1 + abs(b)) - max(0.5, mean(h)) * sum(c) / 2\n"
    "next h = layer_norm(tanh(a) * h, e, e) + 2 / (3 + sigmoid(b))\n",
    // errors the checks name
    "cell cycle\ninput x[I]\nstate h[H]\na = b + 1\nb = a * 2\nnext h = h + a\n",
    "cell bad_split\ninput x[I]\nstate h[H]\na, b = split(h, 3)\nnext h = a\n",
    "cell shape_error\ninput x[I]\nstate h[H]\nparam W[H,I]\nnext h = x @ W\n",
    "# sizes: I=0\ncell zero\ninput x[I]\nstate h[H]\nnext h = h\n",
};

void WriteSeeds(const std::string& dir) {
  int n = 0;
  for (const char* seed : kSeeds) {
    std::ofstream(absl::StrCat(dir, "/seed", n++, ".cell"), std::ios::binary) << seed;
  }
  std::printf("wrote %d seeds to %s\n", n, dir.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("GATEFUSE_FUZZ_WRITE_SEEDS")) {
    WriteSeeds(dir);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzOne(std::string(reinterpret_cast<const char*>(data), size));
  return 0;
}
