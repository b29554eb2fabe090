// One direction of a recurrent layer over a batch of sequences of different
// lengths: the one place that turns padded batches into runs of a compiled cell.
//
// Padding says where a sequence's real steps sit among the T:
//   kPre   the last lengths[b] steps (gatefuse's own batches, models/data/batching.h)
//   kPost  the first lengths[b] steps (ONNX's sequence_lens)
// Either way the result for each sequence is the one it would get alone, unpadded:
// its real steps run from its initial state (forward: first to last; reverse: last
// to first), its outputs sit at its real steps and are zero at padded ones, and its
// final states are those after its last run step (its initial states if it has no
// real step).
//
//   GF_ASSIGN_OR_RETURN(DirectionResult r, RunCellDirection(
//       {.cell = compiled, .states = {"h", "c"}, .params = params, .hidden_size = H},
//       x, {.lengths = {5, 2, 3}, .padding = Padding::kPost, .reverse = true}));
//   // r.y [T, B, H]; r.final_states[0] is h after each sequence's last run step
#ifndef GATEFUSE_MODELS_NN_SEQUENCE_RUNNER_H_
#define GATEFUSE_MODELS_NN_SEQUENCE_RUNNER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tape.h"
#include "graph/graph.h"

namespace gatefuse {

enum class Padding { kPre, kPost };

// A compiled cell graph (graph/executor.h's cell graph) and what runs it.
struct CellRun {
  const Graph& cell;
  const std::vector<std::string>& states;  // declaration order; states[0] is the output
  const std::map<std::string, Var>& params;
  int64_t hidden_size = 0;
};

struct DirectionOptions {
  std::vector<int64_t> lengths;  // [B] in [0, T]; empty when every sequence has T steps
  Padding padding = Padding::kPre;
  bool reverse = false;
  // One [B, H] Var per state, in the cell's order; empty means zero states.
  std::vector<Var> initial_states;
};

struct DirectionResult {
  Var y;                          // [T, B, H], zero at padded steps
  std::vector<Var> final_states;  // [B, H] each, in the cell's state order
};

// x [T, B, F]. The lengths and initial states are checked (InvalidArgument naming
// the bad one); each run is one graph/executor.h RunGraphSequence call, so a fused
// cell runs one oneDNN primitive per run. Everything is recorded on the tape.
absl::StatusOr<DirectionResult> RunCellDirection(const CellRun& run, const Var& x,
                                                 const DirectionOptions& options);

// Rows of `table` [R, F] picked by `index`, reshaped to `shape`: a gather whose
// gradient is a scatter-add (Embedding on the rows).
VarOr GatherRows(const VarOr& table, std::vector<int64_t> index, const Shape& shape);

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_NN_SEQUENCE_RUNNER_H_
