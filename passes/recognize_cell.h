// Cell recognition: finds LSTM, peephole LSTM, CIFG LSTM, GRU (reset before the
// recurrent product), GRU linear-before-reset and vanilla RNNs (tanh, relu) in a
// cell graph's raw equations and replaces them by one FusedCell op (ops/fused_cell.h)
// that records which value plays which role for which gate.
//
// It expects the canonical form: Canonicalize, DistributeSlices, CSE and DCE first
// (RecognitionPipeline in compile.h). So spelling does not matter: operand order,
// gate order, names, a merged matmul with split, concat(x, h) @ W, 1 - sigmoid(a)
// or sigmoid(-a), biases absent or in several terms, p * c or c * p.
//
// A near miss (one activation changed, a peephole on the wrong state, a missing
// gate, a coupled forget gate of another pre-activation, one weight in two gates)
// is refused; ExplainRecognition says where each candidate failed.
#ifndef GATEFUSE_PASSES_RECOGNIZE_CELL_H_
#define GATEFUSE_PASSES_RECOGNIZE_CELL_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "passes/pass.h"

namespace gatefuse {

struct RoleBinding {
  std::string role;                // "W_i", "b_f", "p_o", "bh_n", ...
  std::vector<ValueRef> terms;     // summed; one for weights
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
