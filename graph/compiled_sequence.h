// The compiled sequence plan of a custom cell: a cell graph that recognition did
// not turn into a FusedCell, run over a whole f32 sequence as ONE tape node
// ("CompiledSequence", gradient "CompiledSequenceGrad").
//
//   h = h0; for t: h = ApplyGraph(mgu, x[t], h)        // ~15 tape nodes per step
//   y, hT = CompiledSequence(x, h0, params)             // 1 node, same values
//
// The plan, derived from the graph after the standard passes:
//  - @hoisted MatMuls of the input (the merged input projection) run as one
//    [T*B, I] x [I, N] GEMM before the loop;
//  - each step runs its state-dependent MatMuls (merged by gemm-merge) as one
//    oneDNN GEMM each, ordered by level (a GEMM reading a gate, as mgu's
//    (f*h) @ Un, is a second level), and every elementwise op of a level as one
//    pass over memory (graph/compiled_pointwise.h); slices are views, @hoisted
//    elementwise ops (x@W + b) are fused into the step's pass;
//  - feature-axis sums and means ([B, n] -> [B, 1]) and the [B, 1] values made
//    from them join that pass, which then sweeps each row a few times while it
//    is in cache (a layer norm: three sweeps, forward and backward;
//    graph/compiled_sweeps.h); a Concat along the features is a buffer its parts
//    are stored into (or copied into, when a part already lives elsewhere);
//  - each per-step GEMM reads its weight from a copy placed where oneDNN's
//    kernel for that shape runs fastest (graph/compiled_gemm_placement.h);
//  - backward is derived from the same graph: each pointwise group recomputes its
//    values in registers from the saved group inputs and runs their adjoints;
//    BPTT over T; each recurrent weight gradient is one GEMM over all T*B rows
//    after the loop, as are the input-projection weight gradient and dx.
// Only values read across groups (GEMM outputs, gates read by a later GEMM or
// group, the states) and the row sums are kept, one [T, B, n] block each; the
// backward loads a kept value rather than recomputing it, and stores (not adds)
// the adjoint of a GEMM output that one group reads, which it then need not zero.
//
// @invariant nodes (weight concatenations) run on the tape before the op, so their
// gradients flow through the ordinary rules. Plans are cached per (graph, T, B)
// and are immutable once made: forward and backward are reentrant, so threads
// running one cell at once share a plan (each call has its own operand array,
// arena and adjoint scratch; the GEMMs bind their memory per thread; a lock is held
// only to look a plan up or to check the backward scratch out and in).
#ifndef GATEFUSE_GRAPH_COMPILED_SEQUENCE_H_
#define GATEFUSE_GRAPH_COMPILED_SEQUENCE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tape.h"
#include "graph/executor.h"
#include "graph/graph.h"

namespace gatefuse {

// One GEMM shape the plan runs: c[m, n] = a[m, k] b[k, n], `count` times per sequence.
struct PlanGemm {
  std::string what;
  int64_t m, k, n;
  int64_t count;
};

// The GEMMs a compiled plan of `cell` runs over a sequence of T steps of batch B:
// the forward ones, and with `training` also the backward ones (recurrent dX per
// step, every weight gradient, dx). InvalidArgument saying why if `cell` has no
// compiled plan (a recognised FusedCell, an op the plan does not support, ...).
absl::StatusOr<std::vector<PlanGemm>> CompiledSequenceGemms(const Graph& cell, int64_t T,
                                                            int64_t B, bool training);

// Whether `cell` (after the standard passes) has a compiled plan; the reason if not.
absl::Status CanCompileSequence(const Graph& cell);

// For `gatefuse compile --explain`: the GEMMs (shapes with T and B symbolic), the
// fused pointwise groups with their ops, and the memory per step and batch row
// kept by the plan versus the op-by-op path.
absl::StatusOr<std::string> ExplainCompiledSequence(const Graph& cell);

// Runs `cell` over x [T, B, I] as one CompiledSequence tape node when x is f32 and
// the cell has a compiled plan; std::nullopt otherwise (the caller runs it step by
// step). Errors name the cell and the offending input.
absl::StatusOr<std::optional<GraphSequenceResult>> RunCompiledSequence(
    const Graph& cell, const Var& x, const std::map<std::string, Var>& initial_states,
    const std::map<std::string, Var>& params);

}  // namespace gatefuse

#endif  // GATEFUSE_GRAPH_COMPILED_SEQUENCE_H_
