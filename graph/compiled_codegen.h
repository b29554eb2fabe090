// The code generator of a compiled sequence plan: each fused pointwise group of a
// layout (graph/compiled_schedule.h) becomes a forward program (its ops in
// registers, storing the materialized values) and a backward program (the
// forward recomputed, then every op's adjoint in reverse order), both for the
// interpreter of graph/compiled_pointwise.h; a group with feature-axis
// reductions sweeps each row a few times (graph/compiled_sweeps.h). What an
// elementwise op emits comes from the op's own lowering (OpDef::lowering,
// ops/pointwise_lowering.h), the one its tape gradient rule is read from; there
// is no table of ops here. A reduction (Sum, Mean) is a row sum, 1 or 1/n times.
// A Concat part's copy group is load, store (backward: load, acc_store).
//
//   %3 = Mul(%1, %2)   (Mul: forward mul; da += g b, db += g a)
//     forward:  r0 = load %1; r1 = load %2; r2 = mul r0 r1; store %3 <- r2
//     backward: ...recompute...; r3 = load d%3; r4 = 0; r5 = 0;
//               acc_mul r4 += r3 * r1; acc_mul r5 += r3 * r0; acc_store d%1 += r4; ...
// Internal to the compiled sequence (graph/compiled_*.cc) and its tests.
#ifndef GATEFUSE_GRAPH_COMPILED_CODEGEN_H_
#define GATEFUSE_GRAPH_COMPILED_CODEGEN_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "graph/compiled_plan.h"
#include "graph/compiled_pointwise.h"
#include "graph/compiled_schedule.h"
#include "ops/pointwise_lowering.h"

namespace gatefuse::compiled {

// The lowering of `op` if the plan can fuse it (an elementwise op), else null.
const pointwise::Lowering* LoweringOf(const std::string& op);

// Writes group.forward, group.backward and their operands; may materialize
// values of `layout` and add accumulators. InvalidArgument (Layout::Unsupported)
// if a program needs more than pointwise::kMaxRegisters registers.
absl::Status EmitGroup(Layout& layout, GroupDef& group);

// After every group is emitted: a buffer (a GEMM output, a kept value) whose
// adjoint columns are each written once per step (by one acc_store of one group,
// no GEMM accumulating into it) gets those acc_stores turned into stores and
// BufferDef::stored_adjoint, so the backward does not zero it first.
void StoreSoleAdjoints(Structure& s);

// The immediates of one node: s its Lowering::scalar_attr, t its scalar_attr2
// (0 where the lowering names none).
struct Immediates {
  float s = 0, t = 0;
};

// The immediates of node `d` lowered as `l` (its scalar attributes, as f32).
absl::StatusOr<Immediates> ImmediatesOf(const NodeData& d, const pointwise::Lowering& l);

// One op lowered as `l` on registers `in` with immediates `imm`: appends its
// forward instructions to `p` and returns the register of its output.
int EmitForward(const pointwise::Lowering& l, const std::vector<int>& in, Immediates imm,
                pointwise::Program& p);
// Appends the adjoint instructions of that op: dx[k] += ... from the output's
// adjoint gy, its output y and its inputs x.
void EmitAdjoint(const pointwise::Lowering& l, int gy, int y, const std::vector<int>& x,
                 const std::vector<int>& dx, Immediates imm, pointwise::Program& p);
// The same into one block `code` of a program with `num_registers` registers.
int EmitForward(const pointwise::Lowering& l, const std::vector<int>& in, Immediates imm,
                int& num_registers, std::vector<pointwise::Instr>& code);
void EmitAdjoint(const pointwise::Lowering& l, int gy, int y, const std::vector<int>& x,
                 const std::vector<int>& dx, Immediates imm, std::vector<pointwise::Instr>& code);

}  // namespace gatefuse::compiled

#endif  // GATEFUSE_GRAPH_COMPILED_CODEGEN_H_
