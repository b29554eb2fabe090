// CommonSubexpressionElimination: nodes that apply the same op with the same
// attributes to the same values (in any order, for commutative ops), and constants
// with equal values, are merged into the first of them.
//
//   %0 = Mul(a, b)   %1 = Mul(b, a)   %2 = Add(%0, %1)   =>   %0 = Mul(a, b)
//                                                             %2 = Add(%0, %0)
#ifndef GATEFUSE_PASSES_COMMON_SUBEXPRESSION_ELIMINATION_H_
#define GATEFUSE_PASSES_COMMON_SUBEXPRESSION_ELIMINATION_H_

#include "passes/pass.h"

namespace gatefuse {

class CommonSubexpressionElimination : public Pass {
 public:
  std::string name() const override { return "cse"; }
  absl::StatusOr<bool> Run(Graph& g) override;
};

}  // namespace gatefuse

#endif  // GATEFUSE_PASSES_COMMON_SUBEXPRESSION_ELIMINATION_H_
