#include "passes/standard_pipeline.h"

#include "passes/canonicalize.h"
#include "passes/common_subexpression_elimination.h"
#include "passes/constant_folding.h"
#include "passes/dead_code_elimination.h"
#include "passes/gemm_merge.h"
#include "passes/hoist_time_loop.h"

namespace gatefuse {

void AddStandardPasses(Pipeline& pipeline) {
  pipeline.AddPass<Canonicalize>();
  pipeline.AddPass<ConstantFolding>();
  pipeline.AddPass<CommonSubexpressionElimination>();
  pipeline.AddPass<DeadCodeElimination>();
  pipeline.AddPass<GemmMerge>();
  // Merged GEMMs of different steps of an unrolled graph share their weights.
  pipeline.AddPass<CommonSubexpressionElimination>();
  pipeline.AddPass<DeadCodeElimination>();
  pipeline.AddPass<HoistTimeLoop>();
}

}  // namespace gatefuse
