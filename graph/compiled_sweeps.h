// The programs of one fused pointwise group (graph/compiled_plan.h GroupDef) as
// sweeps over each row (graph/compiled_pointwise.h Program::sweeps).
//
// A group's values are rows of its width n ("vector" values) and [B, 1] values
// ("scalars": a feature-axis Sum or Mean of a row, what is computed from such
// sums, a [B, 1] operand), which broadcast over the row: a scalar lives in a
// register whose lanes all hold it. A sum is known only after a whole pass over
// its row, so the nodes fall into phases: a reduction's phase is its input's plus
// one, any other node's the highest of its inputs'. Sweep p computes phase p.
//
// Forward, sweep p: the row block finishes the sums of phase p (kRowSum of the
// lane accumulators) and computes the other phase-p scalars; the chunks compute
// the vector nodes of sweep p and accumulate the sums of phase p + 1 (kRowAcc, the
// valid lanes only). A vector node runs in the first sweep that reads it (its
// phase if a sum reads it, else the earliest sweep of its readers), so it is
// computed once; a later sweep that reads it again reloads it: from its buffer if
// the plan keeps one, else from the thread's row scratch (kSpill, kReload), which
// stays in L1 while the row is swept. Every sum is saved ([T, B, 1]).
//
//   y = (v - m) / sqrt(mean((v - m)^2) + eps) * g + b,  m = mean(v):
//     sweep 0  chunks: load v; row_acc A += v
//     sweep 1  row: m = row_sum(A) / n, store m
//              chunks: d = v - m, spill d; row_acc A' += d * d
//     sweep 2  row: var = row_sum(A') / n, store var; s = sqrt(var + eps)
//              chunks: reload d; y = d / s * g + b; store y
//
// Backward: the saved sums are loaded and the scalars recomputed once per row;
// then the sweeps run in reverse. The chunks of sweep p run the adjoint rules of
// the vector nodes of sweep p on their forward values (loaded from the plan's
// buffers, recomputed, or reloaded from the row scratch where an earlier backward
// sweep computed them); a contribution to a vector value of an earlier sweep is
// summed in the row scratch until that sweep runs; one to a scalar is a row sum
// (accumulated lane by lane, kRowAcc), finished in the row block after the
// chunks, where the scalars of phase p then run their own rules. So a sum's
// adjoint is known before the sweep of its input: d v += d m / n. The layer norm
// above runs its backward in three sweeps too:
//     sweep 2  chunks: d = v - m (spill); dy -> dd (spill), acc d s
//     row: ds; dvar = ds / (2 s)     sweep 1  chunks: reload d, dd; dd += 2 d dvar / n; acc dm
//     row: dm                        sweep 0  chunks: dv = dd + dm / n
// A group without sums or [B, 1] values is one sweep with no row block: its
// programs are Program::code, one pass over the row, as before sums existed.
// Internal to the compiled sequence (graph/compiled_*.cc).
#ifndef GATEFUSE_GRAPH_COMPILED_SWEEPS_H_
#define GATEFUSE_GRAPH_COMPILED_SWEEPS_H_

#include "absl/status/status.h"
#include "graph/compiled_plan.h"
#include "graph/compiled_schedule.h"

namespace gatefuse::compiled {

// Writes group.forward, group.backward and their operands (and the group's
// boundary accumulators into the layout's structure).
absl::Status EmitSweeps(Layout& layout, GroupDef& group);

}  // namespace gatefuse::compiled

#endif  // GATEFUSE_GRAPH_COMPILED_SWEEPS_H_
