// Test support for the compiled plan's cell tests (graph/compiled_*_test.cc): a
// cell step written in C++ with the ops, traced into a cell graph, placed as the
// hoist-time-loop pass places it (parameter-only nodes @invariant, the input
// projection x @ W @hoisted), and run two ways on the same inputs: the placed
// graph (the compiled plan) and the traced graph unplaced (op by op on the tape,
// the reference). The comparison covers y, the final states and the gradients of
// x, of every initial state and of every parameter.
#ifndef GATEFUSE_GRAPH_COMPILED_CELLS_TESTING_H_
#define GATEFUSE_GRAPH_COMPILED_CELLS_TESTING_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tape.h"
#include "graph/executor.h"
#include "graph/graph.h"

namespace gatefuse::testing {

using Vars = std::map<std::string, Var>;

struct TestParam {
  std::string name;
  Shape shape;
  double lo = -1, hi = 1;  // initial values, uniform in [lo, hi)
};

struct TestCell {
  std::string name;
  int64_t input_size = 0;
  std::vector<std::pair<std::string, int64_t>> states;  // name, width; states[0] is y
  std::vector<TestParam> params;
  // The next states (in the order of `states`) from x [B, I], the states and params.
  std::function<absl::StatusOr<std::vector<Var>>(const Var& x, const Vars& states,
                                                 const Vars& params)>
      step;
};

// The traced step, unplaced.
absl::StatusOr<Graph> TraceTestCell(const TestCell& cell);
// `g` with the placements of the hoist-time-loop pass's simplest cases: a node
// that depends on neither the input nor a state is @invariant, a MatMul of the
// input by such a value is @hoisted.
Graph PlaceForTest(Graph g);

struct RunResult {
  SequencePath path;
  std::string producer;  // the op of the tape node that made y
  std::vector<std::pair<std::string, Tensor>> tensors;  // y, final states, then gradients
};

// Runs `g` over T steps of batch B with inputs drawn from `seed`; the loss is a
// fixed random weighting of y and the final states.
absl::StatusOr<RunResult> RunTestCell(const TestCell& cell, const Graph& g, int64_t T,
                                      int64_t B, uint64_t seed);

// The largest CompareTensors error over the tensors of `ours` against `ref`;
// `worst` names the tensor and its worst element.
double MaxError(const RunResult& ours, const RunResult& ref, std::string& worst);

}  // namespace gatefuse::testing

#endif  // GATEFUSE_GRAPH_COMPILED_CELLS_TESTING_H_
