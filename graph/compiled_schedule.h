// The schedule and memory layout of a compiled sequence plan (graph/compiled_plan.h),
// worked out once per cell graph: the level of a step each GEMM and each fused
// pointwise group runs at, and where every value of the step lives: a column
// range of a [T, B, n] buffer, a boundary value computed before the sequence, or
// a register of a pointwise group. A register value another group or a GEMM reads
// is materialized (given a buffer of its own, or the state history it feeds).
//
//   %2 = Slice(%1 = MatMul(h, U), 0:H); %6 = AddN(%2, %5); %14 = Sigmoid(%6)
//     => level 1: GEMM h @ U into buffer "%1"; %2 is a view of it (no copy);
//        group (level 1, width H): %6, %14 in registers
//
// A group holds the nodes of one level and one *home width* n: the [B, n] values,
// the feature-axis reductions of [B, n] values (Sum/Mean, axes {1}, keepdims:
// [B, 1]), and the [B, 1] values computed from those, which broadcast over the
// row inside the group (a layer norm is one group). A Concat along the features
// is a buffer its parts are stored into by their groups (no copy), or copied into
// when a part already lives elsewhere (x, a state, a GEMM output).
//
//   %7 = Mean(%1); %8 = Sub(%1, %7); ...; %12 = Div(%8, %11)     (%1 = h @ U, [B, 4H])
//     => group (level 1, home width 4H): all of them; %7 and every reduction saved
//        ([T, B, 1], for the backward)
//
// A value read by a group of another level or home width waits a level, as a slice
// of a pointwise value does. graph/compiled_codegen.h then writes each group's
// bytecode from this layout.
// Internal to the compiled sequence (graph/compiled_*.cc).
#ifndef GATEFUSE_GRAPH_COMPILED_SCHEDULE_H_
#define GATEFUSE_GRAPH_COMPILED_SCHEDULE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "graph/compiled_plan.h"
#include "graph/graph.h"

namespace gatefuse::compiled {

// Where the plan finds a graph value.
struct Slot {
  enum Kind { kNone, kRegion, kBoundary, kRegister } kind = kNone;
  Region region;          // kRegion, and a kRegister that is materialized
  bool materialized = false;
  int group = -1;
  int level = 0;
  bool pointwise = false;  // written by a pointwise group: readers by view wait a level
};

// A plan while it is built: the structure so far and every node's slot. The code
// generator reads it and may still materialize values (new buffers, never groups).
struct Layout {
  explicit Layout(const Graph& g) : graph(g) {}

  // Gives register value `id` a [T, B, n] buffer of its own (no-op if it has one).
  void Materialize(NodeId id);
  // InvalidArgument "cell <name>: no compiled plan: <why>".
  absl::Status Unsupported(const std::string& why) const;

  const Graph& graph;
  Structure s;
  std::vector<Slot> slots;            // by node id
  std::map<NodeId, int> boundary_of;  // node -> index in s.boundary
};

// Whether `op` is one of the reductions a group can hold (Sum, Mean); whether a
// node of it reduces the features of a [B, n] value to [B, 1] is checked when the
// plan is laid out.
bool IsRowReduction(const std::string& op);

}  // namespace gatefuse::compiled

#endif  // GATEFUSE_GRAPH_COMPILED_SCHEDULE_H_
