// ConstantFolding: a node whose inputs are all constants is evaluated once, here,
// and replaced by the constants it computes.
//
//   %0 = Constant [2] : f32[]   %1 = Exp(%0)   =>   %1 = Constant [7.3890562] : f32[]
#ifndef GATEFUSE_PASSES_CONSTANT_FOLDING_H_
#define GATEFUSE_PASSES_CONSTANT_FOLDING_H_

#include "passes/pass.h"

namespace gatefuse {

class ConstantFolding : public Pass {
 public:
  std::string name() const override { return "constant-folding"; }
  absl::StatusOr<bool> Run(Graph& g) override;
};

}  // namespace gatefuse

#endif  // GATEFUSE_PASSES_CONSTANT_FOLDING_H_
