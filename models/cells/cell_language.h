// The .cell language: a recurrent cell written as its equations in a text file,
// parsed into a CellSource and compiled, once sizes are bound, to a cell Graph
// (the same graph TraceCell gives for a cell written in C++).
//
//   cell rnn_tanh                          graph rnn_tanh
//   input x[I]                             input x : f32[2,3]
//   state h[H]                  I=3, H=5   state h : f32[2,5]
//   param W[I,H] U[H,H] b[H]      ──▶      param W : f32[3,5]  (U, b likewise)
//   next h = tanh(x @ W + h @ U + b)       %0 = MatMul(x, W) ... %4 = Tanh(%3)
//                                          output h = %4
//
// Grammar (one statement per line; `#` starts a comment):
//   file      := 'cell' NAME  { decl | assign | next }
//   decl      := ('input' | 'state' | 'param') item {item}
//   item      := NAME '[' [size {',' size}] ']' ['=' ['-'] NUMBER]   (the initial value: params only)
//   size      := product {'+' product}        product := factor {'*' factor}
//   factor    := SYMBOL | INTEGER             (e.g. W[I+H, 4*H] for concat(x, h) @ W)
//   assign    := NAME {',' NAME} '=' expr     (several names: expr is split(e, n))
//   next      := 'next' STATE '=' expr
//   expr      := term {('+' | '-') term}      term   := mm {('*' | '/') mm}
//   mm        := unary {'@' unary}            unary  := '-' unary | primary
//   primary   := NUMBER | NAME | FUNC '(' expr {',' expr} ')' | '(' expr ')'
// A name must be assigned before it is used; state names always mean the state
// at the start of the step. Numbers combine with tensors as scalar ops
// (AddScalar, RSubScalar, MulScalar; t / s is MulScalar 1/s, s / t is Div of a
// scalar Constant by t) and with each other by folding, a function of a number
// included. The scalar arguments of leaky_relu(e, alpha), thresholded_relu(e,
// alpha), elu(e, alpha), hard_sigmoid(e, alpha, beta) and clip(e, lo, hi) are
// number literals, optionally negated (clip(z, -3, 3)): they become the op's
// attributes. min(a, b) and max(a, b) are elementwise and broadcast (a number
// argument is a scalar Constant); a tie gives the gradient to a.
//
// Over the feature axis: mean(e) and sum(e) of a [B, n] value are Mean / Sum with
// axes {1}, keepdims, so [B, 1], which broadcasts back against [B, n] in + - * /
// min max. A value computed from such results only is [B, 1] too, and reducing it
// again is an error. layer_norm(e, gain, shift), gain and shift [n], expands to
//   m = mean(e); d = e - m; y = d / sqrt(mean(d * d) + 1e-5) * gain + shift
// in primitive ops (Mean Sub Mul Mean AddScalar Sqrt Div Mul Add).
//
// `param g[4*H] = 1` gives every element of g the initial value 1 (the float
// attribute kParamInitAttr of g's node; CellParam::init); a param without one
// starts uniform (InitParams).
//
// Every error is InvalidArgument "FILE:LINE:COL: what was wrong / expected".
#ifndef GATEFUSE_MODELS_CELLS_CELL_LANGUAGE_H_
#define GATEFUSE_MODELS_CELLS_CELL_LANGUAGE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "models/cells/cell.h"
#include "models/cells/cell_graph.h"

namespace gatefuse {

// 1-based line and column (in bytes) of a token in the source text.
struct SourceLocation {
  int line = 1;
  int column = 1;
};

// One factor of a size: a size symbol ("H") or, if `symbol` is empty, `value`.
struct SizeFactor {
  std::string symbol;
  int64_t value = 1;
  SourceLocation location;
  bool starts_term = false;  // follows a '+': begins a new product to add
};

// A dimension: a sum of products of its factors ("4*H" is {4, H}; "I+H" is
// {I, +H}).
struct SizeExpr {
  std::vector<SizeFactor> factors;
  SourceLocation location;
};

enum class DeclKind { kInput, kState, kParam };

// `input x[I]`, `state h[H]`, `param W[I,4*H]`: inputs and states give their
// feature size only (the batch dimension is implicit), params their full shape.
struct Declaration {
  DeclKind kind = DeclKind::kParam;
  std::string name;
  std::vector<SizeExpr> shape;
  SourceLocation location;
  std::optional<double> init;     // params: `= 1`
  SourceLocation init_location;   // the initial value's first token
};

struct Expr {
  enum class Kind { kNumber, kName, kNeg, kBinary, kCall };
  Kind kind = Kind::kNumber;
  double number = 0;        // kNumber
  std::string name;         // kName: the value; kCall: the function
  char op = 0;              // kBinary: '@', '+', '-', '*' or '/'
  std::vector<Expr> args;   // kNeg: 1; kBinary: 2; kCall: the arguments
  SourceLocation location;  // the operator, the name, the function or the number
};

// `a = e`, `a, b = split(e, 2)` (targets: the assigned names) or `next h = e`
// (is_next; targets: the state).
struct Statement {
  bool is_next = false;
  std::vector<std::string> targets;
  std::vector<SourceLocation> target_locations;
  Expr value;
  SourceLocation location;
};

struct CellSource {
  std::string name;      // from `cell NAME`
  std::string filename;  // for error messages
  std::string text;      // the source as written (a saved model keeps it)
  SourceLocation name_location;
  Declaration input;
  std::vector<Declaration> states;  // declaration order; states[0] is the output
  std::vector<Declaration> params;  // declaration order
  std::vector<Statement> statements;
};

// Parses and checks everything that does not need sizes: syntax, names, that
// every name is assigned before use (a "cycle: a -> b -> a" if the later
// definition depends back), one `next` per state. A source has at most 1 MiB;
// an expression at most 2000 operations, 256 levels deep.
absl::StatusOr<CellSource> ParseCellSource(const std::string& text, const std::string& filename);
// NotFound if the file cannot be read; otherwise as ParseCellSource.
absl::StatusOr<CellSource> ReadCellFile(const std::string& path);

// Binds the size symbols (e.g. {"I": 32, "H": 64}) and builds the cell graph:
// Input x [batch, size] (role input), the states [batch, size], the params with
// their declared shapes, one output per state named after it. The graph is
// named after the cell and verified. Shape errors name both shapes and point at
// the operator. Every value of the graph, declared or computed, has at most 2^40
// elements (InvalidArgument at the declaration or the operator otherwise).
absl::StatusOr<Graph> CompileCell(const CellSource& src, const std::map<std::string, int64_t>& sizes,
                                  DType dtype = DType::kF32, int64_t batch = kTraceBatch);

// A Cell whose step runs `graph` with ApplyGraph (on the tape), so RunSequence
// and InitParams work on compiled cells. kind = the graph's name. The graph must
// be a cell graph whose input and states are [batch, n], the states of one size.
absl::StatusOr<Cell> CellFromGraph(const Graph& graph);

// The size symbols the declarations use, e.g. {"H", "I"}.
std::set<std::string> SizeSymbols(const CellSource& src);

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_CELLS_CELL_LANGUAGE_H_
