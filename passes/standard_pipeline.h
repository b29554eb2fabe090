// The pipeline every cell graph goes through:
//   canonicalize, constant-folding, cse, dce, gemm-merge, cse, dce, hoist-time-loop.
#ifndef GATEFUSE_PASSES_STANDARD_PIPELINE_H_
#define GATEFUSE_PASSES_STANDARD_PIPELINE_H_

#include "passes/pass.h"

namespace gatefuse {

void AddStandardPasses(Pipeline& pipeline);

}  // namespace gatefuse

#endif  // GATEFUSE_PASSES_STANDARD_PIPELINE_H_
