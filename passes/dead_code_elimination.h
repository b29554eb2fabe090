// DeadCodeElimination: removes every node no graph output depends on. Inputs stay
// (they are the graph's signature).
//
//   %0 = Tanh(x)        output y = %1        =>   %0 = Exp(x)
//   %1 = Exp(x)                                   output y = %0
#ifndef GATEFUSE_PASSES_DEAD_CODE_ELIMINATION_H_
#define GATEFUSE_PASSES_DEAD_CODE_ELIMINATION_H_

#include "passes/pass.h"

namespace gatefuse {

class DeadCodeElimination : public Pass {
 public:
  std::string name() const override { return "dce"; }
  absl::StatusOr<bool> Run(Graph& g) override;
};

}  // namespace gatefuse

#endif  // GATEFUSE_PASSES_DEAD_CODE_ELIMINATION_H_
