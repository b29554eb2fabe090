// A cell's step traced into a Graph: the per-step input x, the states, the
// parameters as inputs (a param with CellParam::init carries it as the float
// attribute kParamInitAttr); one output per state (its next value).
#ifndef GATEFUSE_MODELS_CELLS_CELL_GRAPH_H_
#define GATEFUSE_MODELS_CELLS_CELL_GRAPH_H_

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "models/cells/cell.h"

namespace gatefuse {

// The batch size the step is traced at; executors re-infer shapes, so the graph
// runs at any batch size.
inline constexpr int64_t kTraceBatch = 2;

absl::StatusOr<Graph> TraceCell(const Cell& cell, DType dtype = DType::kF32,
                                int64_t batch = kTraceBatch);

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_CELLS_CELL_GRAPH_H_
