// GemmMerge: matmuls that share their left operand become one matmul on the
// weights concatenated along the output axis, followed by one slice per original.
//
//   %0 = MatMul(x, Wi)   %1 = MatMul(x, Wf)
//     =>  %2 = Concat(Wi, Wf) {axis=1}   %3 = MatMul(x, %2)
//         %0' = Slice(%3) {axis=1, start=0, end=H}   %1' = Slice(%3) {axis=1, start=H, end=2H}
//
// Only right operands computed from parameters and constants alone are merged (so
// the concatenation is loop-invariant and the rewrite cannot create a cycle), and
// only when the left operand is not itself parameter-only.
#ifndef GATEFUSE_PASSES_GEMM_MERGE_H_
#define GATEFUSE_PASSES_GEMM_MERGE_H_

#include "passes/pass.h"

namespace gatefuse {

class GemmMerge : public Pass {
 public:
  std::string name() const override { return "gemm-merge"; }
  absl::StatusOr<bool> Run(Graph& g) override;
};

// For each node: true if it is computed from parameters and constants only.
std::vector<bool> ParameterOnly(const Graph& g, const std::vector<NodeId>& topo_order);

}  // namespace gatefuse

#endif  // GATEFUSE_PASSES_GEMM_MERGE_H_
