// Running a Graph.
//
// ApplyGraph runs every node as the op it names on Vars, so the run is recorded on
// the tape and a graph is differentiable like any op. ExecuteGraph does the same
// on plain tensors with no tape. RunGraphSequence runs a cell graph over a whole
// sequence, threading the states from step to step and honouring placements:
// @invariant nodes run once before the loop, @hoisted nodes run once for all T
// steps on the input reshaped to [T*B, ...] and are sliced per step.
//
// One place decides how a cell graph runs over a sequence (ChooseSequencePath), and
// every run reports it:
//   fused <kind>     a recognised cell (one FusedCell per step) in f32: one
//                    FusedSequence op, one oneDNN RNN primitive forward and backward
//   compiled         any other f32 cell the compiled plan takes: one CompiledSequence
//                    op (graph/compiled_sequence.h)
//   op-by-op: <why>  everything else runs on the tape node by node, and says why
//                    (f64, the reference the other paths are checked against; an op
//                    the plan does not support, named with its node)
//
// Shapes are inferred again from the actual inputs, so a graph traced at one batch
// size runs at any other.
#ifndef GATEFUSE_GRAPH_EXECUTOR_H_
#define GATEFUSE_GRAPH_EXECUTOR_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tape.h"
#include "graph/graph.h"

namespace gatefuse {

// Graph outputs in the graph's order; `inputs` by input name (all required).
absl::StatusOr<std::vector<Var>> ApplyGraph(const Graph& g,
                                            const std::map<std::string, Var>& inputs);
absl::StatusOr<std::vector<Tensor>> ExecuteGraph(const Graph& g,
                                                 const std::map<std::string, Tensor>& inputs);

// A cell graph: one "input" (x_t [B, I]), states [B, H] each with an output of the
// same name (its next value), parameters. The sequence output is the first
// declared state after every step.
enum class SequencePathKind { kFused, kCompiled, kOpByOp };

struct SequencePath {
  SequencePathKind kind = SequencePathKind::kOpByOp;
  std::string fused_kind;  // kFused: the FusedCell kind ("lstm", "gru", ...)
  std::string reason;      // kOpByOp: why neither fused path takes the cell
  // "fused lstm", "compiled", "op-by-op: <reason>": what `path: ...` lines print.
  std::string ToString() const;
};

struct GraphSequenceResult {
  Var y;                                  // [T, B, H]
  std::map<std::string, Var> final_states;
  SequencePath path;                      // how the sequence ran
};

// How RunGraphSequence runs `cell` on inputs of `dtype`; an error only if `cell` is
// not a cell graph or its placements are inconsistent.
absl::StatusOr<SequencePath> ChooseSequencePath(const Graph& cell, DType dtype);
absl::StatusOr<GraphSequenceResult> RunGraphSequence(
    const Graph& cell, const Var& x, const std::map<std::string, Var>& initial_states,
    const std::map<std::string, Var>& params);

// The names of a cell graph's per-step input, states (declaration order) and
// parameters; InvalidArgument if it is not a cell graph.
struct CellSignature {
  std::string input;
  std::vector<std::string> states;
  std::vector<std::string> params;
};
absl::StatusOr<CellSignature> GetCellSignature(const Graph& cell);

}  // namespace gatefuse

#endif  // GATEFUSE_GRAPH_EXECUTOR_H_
