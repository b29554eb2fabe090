// DistributeSlices: pushes feature-axis slices and concatenations down to the
// weights, so that a cell written with one merged matmul becomes per-gate matmuls
// on slices of the weight (what recognition matches):
//
//   Slice(AddN(a, b), s:e)      ->  AddN(Slice(a, s:e), Slice(b, s:e))   (broadcast terms kept)
//   Slice(MatMul(x, W), s:e)    ->  MatMul(x, Slice(W, s:e))             (columns of W)
//   Slice(act(z), s:e)          ->  act(Slice(z, s:e))                   (elementwise act)
//   MatMul(Concat(x, h), W)     ->  AddN(MatMul(x, W[:I]), MatMul(h, W[I:]))
//
// A node is rewritten only when every use of it is such a slice, so nothing is
// computed twice. The inverse of GemmMerge, for the recognition pipeline.
#ifndef GATEFUSE_PASSES_DISTRIBUTE_SLICES_H_
#define GATEFUSE_PASSES_DISTRIBUTE_SLICES_H_

#include "passes/pass.h"

namespace gatefuse {

class DistributeSlices : public Pass {
 public:
  std::string name() const override { return "distribute-slices"; }
  absl::StatusOr<bool> Run(Graph& g) override;
};

}  // namespace gatefuse

#endif  // GATEFUSE_PASSES_DISTRIBUTE_SLICES_H_
