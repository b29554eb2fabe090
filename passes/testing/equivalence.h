// Test helpers: two graphs compute the same function (forward values and the
// gradients with respect to every input) on random f64 inputs.
#ifndef GATEFUSE_PASSES_TESTING_EQUIVALENCE_H_
#define GATEFUSE_PASSES_TESTING_EQUIVALENCE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "graph/graph.h"

namespace gatefuse::testing {

// One call of each graph with the same inputs (by name, specs from `before`).
absl::Status CheckSameFunction(const Graph& before, const Graph& after, double tol = 1e-12);

// Cell graphs run over a sequence by RunGraphSequence (which honours placements),
// T steps at batch B.
absl::Status CheckSameSequence(const Graph& before, const Graph& after, int64_t T = 3,
                               int64_t B = 2, double tol = 1e-12);

}  // namespace gatefuse::testing

#endif  // GATEFUSE_PASSES_TESTING_EQUIVALENCE_H_
