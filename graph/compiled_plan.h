// The structure of a compiled sequence plan (graph/compiled_sequence.h), built
// once per cell graph and independent of T and B: where every value of a step
// lives (a [T, B, n] buffer region, a value computed before the sequence, or a
// register of a fused pointwise group), the GEMMs by level, and each pointwise
// group's forward and backward bytecode (graph/compiled_pointwise.h).
//
//   %6 = AddN(%2, %12); %14 = Sigmoid(%6)   (%2 a slice of the step GEMM h @ U)
//     => GEMM level 1: Z = h @ U; group level 1: r0 = load Z[:, 0:H]; ...; store
//
// StructureOf builds it in two parts: the schedule and memory layout
// (graph/compiled_schedule.cc), then the bytecode (graph/compiled_codegen.cc,
// graph/compiled_sweeps.cc).
// Internal to the compiled sequence (graph/compiled_*.cc) and its tests.
#ifndef GATEFUSE_GRAPH_COMPILED_PLAN_H_
#define GATEFUSE_GRAPH_COMPILED_PLAN_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tensor.h"
#include "graph/compiled_pointwise.h"
#include "graph/executor.h"
#include "graph/graph.h"

namespace gatefuse::compiled {

// A [blocks, B, cols] f32 array: blocks = T, or T + 1 for a state's history
// (block t holds the state before step t).
enum class BufferKind { kInput, kState, kHoisted, kGemm, kValue };
// `stored_adjoint`: every column of the buffer's adjoint is written by exactly one
// store per step before anything reads it (a GEMM output or a kept value read by
// one op), so the backward neither zeroes it nor accumulates into it.
struct BufferDef {
  BufferKind kind;
  std::string label;
  int64_t cols;
  bool stored_adjoint = false;
};

// Columns [col, col + width) of block t + dt of a buffer.
struct Region {
  int buffer = -1;
  int dt = 0;
  int64_t col = 0;
  int64_t width = 0;
};

// A value computed before the op (a parameter, an @invariant node, a constant):
// an input of the CompiledSequence node.
struct BoundaryDef {
  ValueRef value;
  std::string label;
  Shape shape;
  bool constant = false;
};

struct GemmDef {
  NodeId node;
  bool hoisted;
  int level;
  Region lhs;
  int weight;         // boundary index
  bool transpose_b;
  int64_t K, N;
  int out_buffer;
};

// An operand of a pointwise program, resolved per step. `column_broadcast`: a
// [B, 1] region read against wider rows (one value per row, pointwise::Operand
// col_stride 0).
struct OperandDef {
  enum Kind { kRegion, kAdjoint, kBroadcast, kAccumulator } kind;
  Region region;
  int boundary = -1;
  int accumulator = -1;
  bool column_broadcast = false;
  bool operator==(const OperandDef& o) const {
    return kind == o.kind && region.buffer == o.region.buffer && region.dt == o.region.dt &&
           region.col == o.region.col && region.width == o.region.width &&
           boundary == o.boundary && accumulator == o.accumulator &&
           column_broadcast == o.column_broadcast;
  }
};

// A part of a Concat the plan copies into the concatenation's columns (a part
// computed by a pointwise group is stored there by its group instead).
struct CopyDef {
  NodeId concat = -1;
  ValueRef part;
  Region from, to;
};

// A fused pointwise group: the elementwise ops and feature-axis reductions of one
// level and row width (graph/compiled_codegen.h), or one Concat part's copy.
struct GroupDef {
  int level = 0;
  int64_t width = 0;
  std::vector<NodeId> nodes;
  pointwise::Program forward, backward;
  std::vector<OperandDef> forward_operands, backward_operands;
  std::optional<CopyDef> copy;
};

// The adjoints of a broadcast boundary value over the rows, one [width] row per
// thread of the pointwise passes (pointwise::Operand::thread_stride), summed after
// the loop.
struct AccumulatorDef {
  int boundary;
  int64_t width;
};

// Scratch of the backward pass, one slot per structure (shared by its plans, one
// per (T, B), so that many sequence lengths do not keep many arenas): a backward
// takes the buffers under `mu`, computes without the lock and gives them back; a
// concurrent backward that finds them taken makes its own, and the larger is kept.
struct Workspace {
  std::mutex mu;
  Tensor adjoint;                  // the adjoint arena, as large as the largest plan's
  std::vector<Tensor> transposed;  // per GEMM: room for op(W)^T [N, K], placed (see backward)
};

struct Structure {
  std::shared_ptr<Workspace> workspace = std::make_shared<Workspace>();
  std::string name;
  CellSignature sig;
  int64_t I = 0;
  std::vector<int64_t> state_width;
  std::vector<int> state_buffer;
  std::vector<BufferDef> buffers;  // buffers[0] is x
  std::vector<BoundaryDef> boundary;
  std::vector<GemmDef> gemms;
  std::vector<GroupDef> groups;
  std::vector<AccumulatorDef> accumulators;
  std::vector<NodeId> invariant_nodes;  // run on the tape first, in order
  int max_level = 0;
  int64_t op_by_op_floats = 0;  // per step and batch row
};

// The structure of `cell` (cached by its text form `text`), or InvalidArgument
// saying why it has none.
absl::StatusOr<std::shared_ptr<const Structure>> StructureOf(const Graph& cell,
                                                             const std::string& text);
absl::StatusOr<std::shared_ptr<const Structure>> StructureOf(const Graph& cell);

}  // namespace gatefuse::compiled

#endif  // GATEFUSE_GRAPH_COMPILED_PLAN_H_
