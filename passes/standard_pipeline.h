// The pipeline every cell graph goes through:
//   canonicalize, distribute-slices, canonicalize, constant-folding, cse, dce,
//   recognize (unless disabled), gemm-merge, cse, dce, hoist-time-loop.
// A recognised cell leaves one FusedCell node (and its role values, computed from
// parameters); any other cell gets merged GEMMs and a hoisted input projection.
#ifndef GATEFUSE_PASSES_STANDARD_PIPELINE_H_
#define GATEFUSE_PASSES_STANDARD_PIPELINE_H_

#include "passes/pass.h"

namespace gatefuse {

struct StandardPassOptions {
  bool recognize = true;
};

void AddStandardPasses(Pipeline& pipeline, StandardPassOptions options = {});

// The passes before recognition (canonicalize ... dce): the form recognition and
// ExplainRecognition expect.
void AddCanonicalPasses(Pipeline& pipeline);

}  // namespace gatefuse

#endif  // GATEFUSE_PASSES_STANDARD_PIPELINE_H_
