#include "graph/executor.h"

#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/status.h"
#include "graph/compiled_sequence.h"
#include "graph/text.h"
#include "ops/fused_sequence.h"
#include "ops/ops.h"

namespace gatefuse {
namespace {

// Runs node `id` on the values of its inputs, recording on the tape.
absl::Status RunNode(const Graph& g, NodeId id, std::vector<std::vector<Var>>& values) {
  const NodeData& d = g.node(id);
  if (d.op == kConstantOp) {
    values[id] = {Var::Constant(d.value)};
    return absl::OkStatus();
  }
  std::vector<VarOr> in;
  for (const ValueRef& v : d.inputs) {
    if (static_cast<size_t>(v.index) >= values[v.node].size()) {
      return absl::InternalError(absl::StrCat("graph ", g.name(), ": node ", NodeLabel(g, id),
                                              " reads ", NodeLabel(g, v.node),
                                              ", which has not run (a placement error)"));
    }
    in.push_back(values[v.node][v.index]);
  }
  absl::StatusOr<std::vector<Var>> out = ApplyOp(d.op, in, d.attrs);
  if (!out.ok()) {
    return absl::Status(out.status().code(), absl::StrCat("graph ", g.name(), ": node ",
                                                          NodeLabel(g, id), ": ",
                                                          out.status().message()));
  }
  values[id] = *std::move(out);
  return absl::OkStatus();
}

absl::Status BindInputs(const Graph& g, const std::map<std::string, Var>& inputs,
                        std::vector<std::vector<Var>>& values) {
  for (NodeId id : g.Inputs()) {
    auto it = inputs.find(g.node(id).name);
    if (it == inputs.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("graph ", g.name(), ": no value given for input ", g.node(id).name));
    }
    values[id] = {it->second};
  }
  return absl::OkStatus();
}

// What a node placed before the loop reads must exist there, and be the same at
// every step: parameters, constants, @invariant nodes; for a @hoisted node also
// the per-step input and other @hoisted nodes (all steps at once).
absl::Status CheckPlacements(const Graph& g) {
  for (NodeId id = 0; id < g.num_node_slots(); ++id) {
    const NodeData& d = g.node(id);
    if (d.dead || d.op == kInputOp || d.placement == Placement::kStep) continue;
    const bool hoisted = d.placement == Placement::kTimeBatched;
    for (const ValueRef& v : d.inputs) {
      const NodeData& in = g.node(v.node);
      const bool before_loop =
          in.op == kInputOp
              ? in.role == InputRole::kParam || (hoisted && in.role == InputRole::kInput)
              : in.op == kConstantOp || in.placement == Placement::kInvariant ||
                    (hoisted && in.placement == Placement::kTimeBatched);
      if (!before_loop) {
        return absl::InvalidArgumentError(absl::StrCat(
            "graph ", g.name(), ": node ", NodeLabel(g, id), " (", d.op, ") is @",
            PlacementName(d.placement), " but reads ", NodeLabel(g, v.node),
            ", which changes from step to step"));
      }
    }
  }
  return absl::OkStatus();
}

// The FusedCell node of a recognised cell whose only per-step node is that one
// FusedCell, reading x, the states (in order) and values computed before the loop,
// and producing the next states; std::nullopt for any other graph.
std::optional<NodeId> SoleFusedCell(const Graph& cell, const CellSignature& sig) {
  NodeId fused = -1;
  for (NodeId id = 0; id < cell.num_node_slots(); ++id) {
    const NodeData& d = cell.node(id);
    if (d.dead || d.op == kInputOp || d.op == kConstantOp || d.placement != Placement::kStep) {
      continue;
    }
    if (d.op != "FusedCell" || fused >= 0) return std::nullopt;
    fused = id;
  }
  if (fused < 0) return std::nullopt;
  const NodeData& d = cell.node(fused);
  const size_t n = sig.states.size();
  if (d.inputs.size() < 1 + n || d.inputs[0] != ValueRef{cell.FindInput(sig.input), 0}) {
    return std::nullopt;
  }
  std::map<std::string, ValueRef> next;
  for (const GraphOutput& o : cell.outputs()) next[o.name] = o.value;
  for (size_t k = 0; k < n; ++k) {
    if (d.inputs[1 + k] != ValueRef{cell.FindInput(sig.states[k]), 0} ||
        next.at(sig.states[k]) != ValueRef{fused, static_cast<int>(k)}) {
      return std::nullopt;
    }
  }
  for (size_t k = 1 + n; k < d.inputs.size(); ++k) {
    const NodeData& in = cell.node(d.inputs[k].node);
    const bool before_loop = in.op == kInputOp ? in.role == InputRole::kParam
                                               : in.placement != Placement::kStep;
    if (!before_loop) return std::nullopt;
  }
  return fused;
}

// Runs the FusedCell `fused` over the whole sequence as one FusedSequence call: the
// whole sequence in one oneDNN primitive, forward and backward.
absl::StatusOr<GraphSequenceResult> RunAsFusedSequence(
    const Graph& cell, NodeId fused, const CellSignature& sig, const Var& x,
    const std::map<std::string, Var>& step_inputs, const std::vector<std::vector<Var>>& before) {
  const NodeData& d = cell.node(fused);
  const std::string kind = *d.attrs.GetString("FusedCell", "kind");
  const size_t n = sig.states.size();
  std::vector<Var> initial;
  for (size_t k = 0; k < n; ++k) initial.push_back(step_inputs.at(sig.states[k]));
  std::vector<Var> role_values;
  for (size_t k = 1 + n; k < d.inputs.size(); ++k) {
    const ValueRef v = d.inputs[k];
    role_values.push_back(before[v.node][v.index]);
  }
  const std::vector<std::string> roles =
      absl::StrSplit(*d.attrs.GetString("FusedCell", "roles"), ',', absl::SkipEmpty());
  GF_ASSIGN_OR_RETURN(std::vector<Var> out, FusedSequence(kind, x, initial, roles, role_values));
  GraphSequenceResult result;
  result.y = out[0];
  for (size_t k = 0; k < n; ++k) result.final_states[sig.states[k]] = out[1 + k];
  result.path.kind = SequencePathKind::kFused;
  result.path.fused_kind = kind;
  return result;
}

}  // namespace

absl::StatusOr<std::vector<Var>> ApplyGraph(const Graph& g,
                                            const std::map<std::string, Var>& inputs) {
  GF_ASSIGN_OR_RETURN(std::vector<NodeId> order, g.TopologicalOrder());
  std::vector<std::vector<Var>> values(g.num_node_slots());
  GF_RETURN_IF_ERROR(BindInputs(g, inputs, values));
  for (NodeId id : order) {
    if (g.node(id).op != kInputOp) GF_RETURN_IF_ERROR(RunNode(g, id, values));
  }
  std::vector<Var> out;
  for (const GraphOutput& o : g.outputs()) out.push_back(values[o.value.node][o.value.index]);
  return out;
}

absl::StatusOr<std::vector<Tensor>> ExecuteGraph(const Graph& g,
                                                 const std::map<std::string, Tensor>& inputs) {
  NoGradGuard no_grad;
  std::map<std::string, Var> vars;
  for (const auto& [name, t] : inputs) vars[name] = Var::Constant(t);
  GF_ASSIGN_OR_RETURN(std::vector<Var> out, ApplyGraph(g, vars));
  std::vector<Tensor> tensors;
  for (const Var& v : out) tensors.push_back(v.value());
  return tensors;
}

absl::StatusOr<CellSignature> GetCellSignature(const Graph& cell) {
  CellSignature sig;
  std::set<std::string> outputs;
  for (const GraphOutput& o : cell.outputs()) outputs.insert(o.name);
  for (NodeId id : cell.Inputs()) {
    const NodeData& d = cell.node(id);
    switch (d.role) {
      case InputRole::kInput:
        if (!sig.input.empty()) {
          return absl::InvalidArgumentError(absl::StrCat("cell ", cell.name(),
                                                         ": more than one per-step input (",
                                                         sig.input, ", ", d.name, ")"));
        }
        sig.input = d.name;
        break;
      case InputRole::kState:
        if (!outputs.count(d.name)) {
          return absl::InvalidArgumentError(
              absl::StrCat("cell ", cell.name(), ": state ", d.name, " has no next value"));
        }
        sig.states.push_back(d.name);
        break;
      case InputRole::kParam:
        sig.params.push_back(d.name);
        break;
    }
  }
  if (sig.input.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("cell ", cell.name(), ": no per-step input"));
  }
  if (sig.states.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("cell ", cell.name(), ": no state"));
  }
  return sig;
}

std::string SequencePath::ToString() const {
  switch (kind) {
    case SequencePathKind::kFused:
      return absl::StrCat("fused ", fused_kind);
    case SequencePathKind::kCompiled:
      return "compiled";
    case SequencePathKind::kOpByOp:
      break;
  }
  return absl::StrCat("op-by-op: ", reason);
}

absl::StatusOr<SequencePath> ChooseSequencePath(const Graph& cell, DType dtype) {
  GF_ASSIGN_OR_RETURN(CellSignature sig, GetCellSignature(cell));
  GF_RETURN_IF_ERROR(CheckPlacements(cell));
  SequencePath path;
  if (dtype != DType::kF32) {
    path.reason = absl::StrCat(DTypeName(dtype),
                               " (the fused and compiled paths run f32; op by op is the "
                               "reference they are checked against)");
    return path;
  }
  if (std::optional<NodeId> fused = SoleFusedCell(cell, sig)) {
    path.kind = SequencePathKind::kFused;
    path.fused_kind = *cell.node(*fused).attrs.GetString("FusedCell", "kind");
    return path;
  }
  const absl::Status compilable = CanCompileSequence(cell);
  if (compilable.ok()) {
    path.kind = SequencePathKind::kCompiled;
    return path;
  }
  path.reason = std::string(compilable.message());
  return path;
}

absl::StatusOr<GraphSequenceResult> RunGraphSequence(
    const Graph& cell, const Var& x, const std::map<std::string, Var>& initial_states,
    const std::map<std::string, Var>& params) {
  GF_ASSIGN_OR_RETURN(CellSignature sig, GetCellSignature(cell));
  if (x.shape().rank() != 3) {
    return absl::InvalidArgumentError(absl::StrCat("cell ", cell.name(), ": input must be [T, B, I], got ",
                                                   x.shape().ToString()));
  }
  const int64_t T = x.shape()[0], B = x.shape()[1], I = x.shape()[2];
  if (T == 0) return absl::InvalidArgumentError(absl::StrCat("cell ", cell.name(), ": empty sequence"));
  GF_ASSIGN_OR_RETURN(std::vector<NodeId> order, cell.TopologicalOrder());
  GF_ASSIGN_OR_RETURN(SequencePath path, ChooseSequencePath(cell, x.dtype()));
  if (path.kind == SequencePathKind::kCompiled) {
    GF_ASSIGN_OR_RETURN(std::optional<GraphSequenceResult> compiled,
                        RunCompiledSequence(cell, x, initial_states, params));
    if (!compiled) {
      return absl::InternalError(absl::StrCat("cell ", cell.name(),
                                              ": the compiled plan was chosen but did not run"));
    }
    compiled->path = path;
    return *std::move(compiled);
  }

  std::map<std::string, Var> step_inputs = params;
  for (const std::string& s : sig.states) {
    auto it = initial_states.find(s);
    if (it == initial_states.end()) {
      return absl::InvalidArgumentError(absl::StrCat("cell ", cell.name(), ": no initial value for state ", s));
    }
    step_inputs[s] = it->second;
  }

  // Values before the loop: inputs, constants (a @hoisted node may read one),
  // @invariant nodes, and @hoisted nodes over all steps.
  std::vector<std::vector<Var>> before(cell.num_node_slots());
  {
    std::map<std::string, Var> all = step_inputs;
    GF_ASSIGN_OR_RETURN(all[sig.input], Reshape(x, Shape{T * B, I}));
    GF_RETURN_IF_ERROR(BindInputs(cell, all, before));
  }
  for (NodeId id : order) {
    const NodeData& d = cell.node(id);
    if (d.op == kConstantOp || (d.op != kInputOp && d.placement != Placement::kStep)) {
      GF_RETURN_IF_ERROR(RunNode(cell, id, before));
    }
  }

  if (path.kind == SequencePathKind::kFused) {
    return RunAsFusedSequence(cell, *SoleFusedCell(cell, sig), sig, x, step_inputs, before);
  }
  std::map<std::string, ValueRef> next;
  for (const GraphOutput& o : cell.outputs()) next[o.name] = o.value;
  std::vector<VarOr> ys;
  for (int64_t t = 0; t < T; ++t) {
    std::vector<std::vector<Var>> values(cell.num_node_slots());
    std::map<std::string, Var> bound = step_inputs;
    GF_ASSIGN_OR_RETURN(bound[sig.input], Reshape(Slice(x, 0, t, t + 1), Shape{B, I}));
    GF_RETURN_IF_ERROR(BindInputs(cell, bound, values));
    for (NodeId id : order) {
      const NodeData& d = cell.node(id);
      if (d.op == kInputOp) continue;
      if (d.placement == Placement::kInvariant) {
        values[id] = before[id];
      } else if (d.placement == Placement::kTimeBatched) {
        for (const Var& all : before[id]) {
          GF_ASSIGN_OR_RETURN(Var v, Slice(all, 0, t * B, (t + 1) * B));
          values[id].push_back(v);
        }
      } else {
        GF_RETURN_IF_ERROR(RunNode(cell, id, values));
      }
    }
    for (const std::string& s : sig.states) {
      const ValueRef v = next[s];
      step_inputs[s] = values[v.node][v.index];
    }
    ys.push_back(Reshape(step_inputs[sig.states[0]], Shape{1, B, -1}));
  }
  GraphSequenceResult result;
  result.path = path;
  GF_ASSIGN_OR_RETURN(result.y, Concat(ys, 0));
  for (const std::string& s : sig.states) result.final_states[s] = step_inputs[s];
  return result;
}

}  // namespace gatefuse
