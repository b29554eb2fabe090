// Where the compiled plan puts the weight of a GEMM it runs every step.
//
// oneDNN 2.6's f32 GEMM on AVX2 reads a weight whose address is on the 32-byte
// grid in place and packs any other one first; at the plan's per-step shapes
// (a batch of rows against a [K, N] weight) packing is markedly faster, at others
// it is not (measured here, c = a b with a [64, 512], b [512, 2048]: 70 GFLOP/s
// in place, 134 packed; [16, 256] x [256, 1024]: 71 in place, 49 packed). So
// the choice is measured, once per GEMM shape and process: the plan reads the
// weight of each per-step GEMM from a copy at the offset that ran faster.
//
//   float* w = ...;                       // 64-byte aligned, [K, N]
//   int64_t off = *WeightOffset(gemm);    // 0 or 4 floats
//   copy w to buffer + off; gemm.Run(a, buffer + off, c) every step
//
// The offset changes only which of oneDNN's kernels runs, so the plan's results
// match those of the other placement to rounding.
// Internal to the compiled sequence (graph/compiled_*.cc).
#ifndef GATEFUSE_GRAPH_COMPILED_GEMM_PLACEMENT_H_
#define GATEFUSE_GRAPH_COMPILED_GEMM_PLACEMENT_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "ops/onednn.h"

namespace gatefuse::compiled {

// Floats past a 64-byte boundary to place the b operand of `gemm` at: 0, or 4
// if that ran faster when timed (a few runs of each on scratch data, the first
// time this shape is asked about).
absl::StatusOr<int64_t> WeightOffset(const onednn::MatMulPrimitive& gemm);

// The most WeightOffset returns: a copy of a weight of n floats takes n + this.
inline constexpr int64_t kMaxWeightOffset = 4;

}  // namespace gatefuse::compiled

#endif  // GATEFUSE_GRAPH_COMPILED_GEMM_PLACEMENT_H_
