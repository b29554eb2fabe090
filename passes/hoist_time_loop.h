// HoistTimeLoop: in a cell graph, marks what need not run inside the recurrence.
//   @invariant: computed from parameters and constants alone (say, the concatenated
//               weights of a merged GEMM): once per sequence.
//   @hoisted:   computed from the per-step input and parameters, not from a state,
//               by ops that treat batch rows independently: once for all T steps,
//               on the input reshaped to [T*B, I]. The input projection x @ W of a
//               cell becomes one [T*B, I] x [I, G*H] GEMM.
// A sum that mixes state-free and state-dependent terms is split first, so that
// its state-free part (x@W + b, say) is hoisted as one value:
//   AddN(x@W, h@U, b)  ->  AddN(AddN(x@W, b) @hoisted, h@U)
// A graph without a per-step input is left unchanged.
#ifndef GATEFUSE_PASSES_HOIST_TIME_LOOP_H_
#define GATEFUSE_PASSES_HOIST_TIME_LOOP_H_

#include "passes/pass.h"

namespace gatefuse {

class HoistTimeLoop : public Pass {
 public:
  std::string name() const override { return "hoist-time-loop"; }
  absl::StatusOr<bool> Run(Graph& g) override;
};

}  // namespace gatefuse

#endif  // GATEFUSE_PASSES_HOIST_TIME_LOOP_H_
