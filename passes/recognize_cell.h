// Cell recognition: finds LSTM, peephole LSTM, CIFG LSTM, GRU (reset before the
// recurrent product), GRU linear-before-reset and vanilla RNNs (tanh, relu) in a
// cell graph's raw equations and replaces them by one FusedCell op (ops/fused_cell.h)
// that records which value plays which role for which gate.
//
// It expects the canonical form (Canonicalize, DistributeSlices, CSE and DCE
// first: RecognitionPipeline in compile.h), then compares the normal forms of the
// next states (passes/normal_form.h: polynomials over matmuls, parameters, states
// and functions, with the sigmoid, tanh and exp identities) with each kind's
// equations, so what matches is what is equal as algebra: operand and gate order,
// names, merged or split matmuls, concat(x, h) @ W, products expanded or factored
// (n + z*h - z*n, c - i*c + i*g), 1 - sigmoid(a) or sigmoid(-a), sigmoid as
// 1/(1+exp(-a)), tanh as 2*sigmoid(2a) - 1 or through exp, a gate's new cell
// written out again, biases absent, split or numbers, a weight written as two
// matmuls of one operand (x@W1 + x@W2 is x@(W1+W2), scaled terms scale the role).
//
// A near miss (another activation, an extra term, a peephole on the wrong state, a
// missing gate, a coupled forget gate of another pre-activation, one weight in two
// gates) is refused; ExplainRecognition says where each candidate failed and, for
// an equation that is a kind's plus something, names the extra term.
#ifndef GATEFUSE_PASSES_RECOGNIZE_CELL_H_
#define GATEFUSE_PASSES_RECOGNIZE_CELL_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "passes/pass.h"

namespace gatefuse {

// scale * value, one term of a role's value.
struct RoleTerm {
  ValueRef value;
  double scale = 1;
};

struct RoleBinding {
  std::string role;                // "W_i", "b_f", "p_o", "bh_n", ...
  std::vector<RoleTerm> terms;     // summed
  double constant = 0;             // added to every element (a bias written as a number)
};

struct CellMatch {
  std::string kind;                // canonical, a kind of ops/cell_kinds.h with a fused kernel
  std::vector<RoleBinding> roles;
};

struct CandidateReport {
  std::string kind;
  bool matched = false;
  std::string detail;  // the roles, or the first point where matching failed
};

// Every candidate kind (the cell kind table's kinds with a fused kernel, in table
// order) with its verdict.
std::vector<CandidateReport> ExplainRecognition(const Graph& g);
// The first kind that matches, if any.
std::optional<CellMatch> MatchCell(const Graph& g);

// Replaces a recognised cell by a FusedCell node; unchanged if nothing matches.
class RecognizeCell : public Pass {
 public:
  std::string name() const override { return "recognize"; }
  absl::StatusOr<bool> Run(Graph& g) override;
};

// The canonical kind of the FusedCell node in g, or "custom" if there is none.
std::string FusionKind(const Graph& g);

}  // namespace gatefuse

#endif  // GATEFUSE_PASSES_RECOGNIZE_CELL_H_
