#include "graph/compiled_cells_testing.h"

#include "absl/strings/str_cat.h"
#include "core/compare.h"
#include "core/status.h"
#include "graph/trace.h"
#include "ops/ops.h"

namespace gatefuse::testing {

constexpr int64_t kTraceBatch = 2;

absl::StatusOr<Graph> TraceTestCell(const TestCell& cell) {
  std::vector<TracedInput> inputs;
  const Var x = Var::Leaf(Tensor::Zeros({kTraceBatch, cell.input_size}, DType::kF32), true, "x");
  inputs.push_back({"x", InputRole::kInput, x});
  Vars states, params;
  for (const auto& [name, width] : cell.states) {
    states[name] = Var::Leaf(Tensor::Zeros({kTraceBatch, width}, DType::kF32), true, name);
    inputs.push_back({name, InputRole::kState, states[name]});
  }
  for (const TestParam& p : cell.params) {
    params[p.name] = Var::Leaf(Tensor::Zeros(p.shape, DType::kF32), true, p.name);
    inputs.push_back({p.name, InputRole::kParam, params[p.name]});
  }
  GF_ASSIGN_OR_RETURN(std::vector<Var> next, cell.step(x, states, params));
  if (next.size() != cell.states.size()) {
    return absl::InvalidArgumentError(absl::StrCat(cell.name, ": the step returned ",
                                                   next.size(), " states"));
  }
  std::vector<TracedOutput> outputs;
  for (size_t k = 0; k < next.size(); ++k) outputs.push_back({cell.states[k].first, next[k]});
  return TraceGraph(cell.name, inputs, outputs);
}

Graph PlaceForTest(Graph g) {
  std::vector<NodeId> order = *g.TopologicalOrder();
  std::vector<bool> per_step(g.num_node_slots(), false);
  for (NodeId id : order) {
    const NodeData& d = g.node(id);
    if (d.op == kInputOp) {
      per_step[id] = d.role != InputRole::kParam;
      continue;
    }
    for (const ValueRef& v : d.inputs) per_step[id] = per_step[id] || per_step[v.node];
    if (d.op == kConstantOp) continue;
    if (!per_step[id]) {
      g.mutable_node(id).placement = Placement::kInvariant;
      continue;
    }
    const NodeData& lhs = g.node(d.inputs[0].node);
    if (d.op == "MatMul" && lhs.op == kInputOp && lhs.role == InputRole::kInput &&
        !per_step[d.inputs[1].node] && *d.attrs.GetInt("MatMul", "transpose_a") == 0) {
      g.mutable_node(id).placement = Placement::kTimeBatched;
    }
  }
  return g;
}

absl::StatusOr<RunResult> RunTestCell(const TestCell& cell, const Graph& g, int64_t T,
                                      int64_t B, uint64_t seed) {
  std::vector<std::pair<std::string, Var>> leaves;
  uint64_t salt = seed * 7919;
  auto uniform = [&](const Shape& s, double lo, double hi) {
    return Tensor::Uniform(s, DType::kF32, ++salt, lo, hi);
  };
  const Var x = Var::Leaf(uniform({T, B, cell.input_size}, -1, 1), true);
  leaves.push_back({"x", x});
  std::map<std::string, Var> states, params;
  for (const auto& [name, width] : cell.states) {
    states[name] = Var::Leaf(uniform({B, width}, -1, 1), true);
    leaves.push_back({name + "0", states[name]});
  }
  for (const TestParam& p : cell.params) {
    params[p.name] = Var::Leaf(uniform(p.shape, p.lo, p.hi), true);
    leaves.push_back({p.name, params[p.name]});
  }
  GF_ASSIGN_OR_RETURN(GraphSequenceResult r, RunGraphSequence(g, x, states, params));
  RunResult out;
  out.path = r.path;
  out.producer = r.y.producer() ? r.y.producer()->op->name() : "";
  std::vector<std::pair<std::string, Var>> outs = {{"y", r.y}};
  for (const auto& [name, width] : cell.states) {
    outs.push_back({name + "T", r.final_states.at(name)});
  }
  VarOr loss = Var::Constant(Tensor::Zeros({}, DType::kF32));
  uint64_t weight_seed = seed * 31 + 5;
  for (const auto& [name, v] : outs) {
    const Tensor w = Tensor::Uniform(v.shape(), DType::kF32, ++weight_seed, -1, 1);
    loss = loss + Sum(v * Var::Constant(w));
  }
  GF_ASSIGN_OR_RETURN(Var l, loss);
  std::vector<Var> wrt;
  for (const auto& [name, v] : leaves) wrt.push_back(v);
  GF_ASSIGN_OR_RETURN(std::vector<Var> grads,
                      Gradients({l}, {Tensor::Full({}, DType::kF32, 1.0)}, wrt));
  for (const auto& [name, v] : outs) out.tensors.push_back({name, v.value()});
  for (size_t k = 0; k < leaves.size(); ++k) {
    out.tensors.push_back({"d_" + leaves[k].first,
                           grads[k].defined() ? grads[k].value()
                                              : Tensor::Zeros(wrt[k].shape(), DType::kF32)});
  }
  return out;
}

double MaxError(const RunResult& ours, const RunResult& ref, std::string& worst) {
  double max_err = 0;
  for (size_t k = 0; k < ours.tensors.size(); ++k) {
    const TensorComparison c = CompareTensors(ours.tensors[k].second, ref.tensors[k].second);
    if (k == 0 || c.error > max_err) {
      max_err = c.error;
      worst = absl::StrCat(ours.tensors[k].first, " ", c.Describe(ours.tensors[k].second.shape()));
    }
  }
  return max_err;
}

}  // namespace gatefuse::testing
