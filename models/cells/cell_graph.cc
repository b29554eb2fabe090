#include "models/cells/cell_graph.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status.h"
#include "graph/trace.h"

namespace gatefuse {

absl::StatusOr<Graph> TraceCell(const Cell& cell, DType dtype, int64_t batch) {
  std::vector<TracedInput> inputs;
  const Var x = Var::Leaf(Tensor::Zeros({batch, cell.input_size}, dtype), true, "x");
  inputs.push_back({"x", InputRole::kInput, x});
  std::vector<Var> states;
  for (const std::string& s : cell.states) {
    states.push_back(Var::Leaf(Tensor::Zeros({batch, cell.hidden_size}, dtype), true, s));
    inputs.push_back({s, InputRole::kState, states.back()});
  }
  ParamMap params;
  for (const CellParam& p : cell.params) {
    params[p.name] = Var::Leaf(Tensor::Zeros(p.shape, dtype), true, p.name);
    inputs.push_back({p.name, InputRole::kParam, params[p.name]});
  }
  if (!cell.step) {
    return absl::InvalidArgumentError(absl::StrCat("cell ", cell.kind, ": has no step function"));
  }
  GF_ASSIGN_OR_RETURN(std::vector<Var> next, cell.step(x, states, params));
  if (next.size() != cell.states.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cell ", cell.kind, ": the step returned ", next.size(), " states, the cell has ",
                     cell.states.size(), " (", absl::StrJoin(cell.states, ", "), ")"));
  }
  for (size_t k = 0; k < next.size(); ++k) {
    const Shape want{batch, cell.hidden_size};
    if (!next[k].defined() || next[k].shape() != want || next[k].dtype() != dtype) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cell ", cell.kind, ": the step's new ", cell.states[k], " is ",
          next[k].defined() ? absl::StrCat(DTypeName(next[k].dtype()), next[k].shape().ToString())
                            : std::string("undefined"),
          ", expected ", DTypeName(dtype), want.ToString()));
    }
  }
  std::vector<TracedOutput> outputs;
  for (size_t k = 0; k < cell.states.size(); ++k) outputs.push_back({cell.states[k], next[k]});
  GF_ASSIGN_OR_RETURN(Graph g, TraceGraph(cell.kind, inputs, outputs));
  for (const CellParam& p : cell.params) {
    const NodeId id = g.FindInput(p.name);
    if (p.init && id >= 0) g.mutable_node(id).attrs.Set(kParamInitAttr, *p.init);
  }
  return g;
}

}  // namespace gatefuse
