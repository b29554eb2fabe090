// A cell graph becomes a Cell (CellFromGraph, cell_language.h): its metadata from
// the graph's inputs and outputs, a param's initial value from its node's
// kParamInitAttr, and a step that runs the graph on the tape (ApplyGraph).
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "graph/executor.h"
#include "models/cells/cell_language.h"

namespace gatefuse {

absl::StatusOr<Cell> CellFromGraph(const Graph& graph) {
  GF_ASSIGN_OR_RETURN(CellSignature sig, GetCellSignature(graph));
  const std::string where = absl::StrCat("cell ", graph.name());
  auto spec_of = [&](const std::string& name) -> const TensorSpec& {
    return graph.node(graph.FindInput(name)).outputs[0];
  };
  const TensorSpec& x = spec_of(sig.input);
  if (x.shape.rank() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": input ", sig.input,
                                                   " must be [batch, n], got ", x.ToString()));
  }
  Cell cell;
  cell.kind = graph.name();
  cell.input_size = x.shape[1];
  cell.states = sig.states;
  std::vector<size_t> output_of_state;
  for (const std::string& s : sig.states) {
    const TensorSpec& spec = spec_of(s);
    if (spec.shape.rank() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": state ", s,
                                                     " must be [batch, n], got ", spec.ToString()));
    }
    if (s == sig.states[0]) {
      cell.hidden_size = spec.shape[1];
    } else if (spec.shape[1] != cell.hidden_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": a Cell's states have one size; ", s, " is ", spec.ToString(), " but ",
          sig.states[0], " is ", spec_of(sig.states[0]).ToString()));
    }
    const auto& outs = graph.outputs();
    size_t k = 0;
    while (k < outs.size() && outs[k].name != s) ++k;
    output_of_state.push_back(k);  // GetCellSignature checked there is one
  }
  for (const std::string& p : sig.params) {
    CellParam param{p, spec_of(p).shape, std::nullopt};
    const Attrs& attrs = graph.node(graph.FindInput(p)).attrs;
    if (attrs.Has(kParamInitAttr)) {
      absl::StatusOr<double> init = attrs.GetFloat(absl::StrCat(where, ": param ", p), kParamInitAttr);
      if (!init.ok()) return init.status();
      param.init = *init;
    }
    cell.params.push_back(std::move(param));
  }

  auto shared = std::make_shared<const Graph>(graph);
  cell.step = [shared, sig, output_of_state, where](
                  const Var& x, const std::vector<Var>& states,
                  const ParamMap& params) -> absl::StatusOr<std::vector<Var>> {
    if (states.size() != sig.states.size()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": needs ", sig.states.size(),
                                                     " states, got ", states.size()));
    }
    std::map<std::string, Var> inputs;
    inputs[sig.input] = x;
    for (size_t k = 0; k < states.size(); ++k) inputs[sig.states[k]] = states[k];
    for (const std::string& p : sig.params) {
      auto it = params.find(p);
      if (it == params.end()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": parameter ", p, " is missing"));
      }
      inputs[p] = it->second;
    }
    GF_ASSIGN_OR_RETURN(std::vector<Var> outs, ApplyGraph(*shared, inputs));
    std::vector<Var> next;
    for (size_t k : output_of_state) next.push_back(outs.at(k));
    return next;
  };
  return cell;
}

}  // namespace gatefuse
