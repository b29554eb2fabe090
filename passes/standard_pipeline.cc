#include "passes/standard_pipeline.h"

#include "passes/canonicalize.h"
#include "passes/common_subexpression_elimination.h"
#include "passes/constant_folding.h"
#include "passes/dead_code_elimination.h"
#include "passes/distribute_slices.h"
#include "passes/gemm_merge.h"
#include "passes/hoist_time_loop.h"
#include "passes/recognize_cell.h"

namespace gatefuse {

void AddCanonicalPasses(Pipeline& pipeline) {
  pipeline.AddPass<Canonicalize>();
  pipeline.AddPass<DistributeSlices>();
  pipeline.AddPass<Canonicalize>();
  pipeline.AddPass<ConstantFolding>();
  pipeline.AddPass<CommonSubexpressionElimination>();
  pipeline.AddPass<DeadCodeElimination>();
}

void AddStandardPasses(Pipeline& pipeline, StandardPassOptions options) {
  AddCanonicalPasses(pipeline);
  if (options.recognize) pipeline.AddPass<RecognizeCell>();
  pipeline.AddPass<GemmMerge>();
  // Merged GEMMs of different steps of an unrolled graph share their weights.
  pipeline.AddPass<CommonSubexpressionElimination>();
  pipeline.AddPass<DeadCodeElimination>();
  pipeline.AddPass<HoistTimeLoop>();
}

}  // namespace gatefuse
