#include "graph/sequence_compare.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "core/compare.h"
#include "core/status.h"
#include "graph/executor.h"
#include "ops/ops.h"

namespace gatefuse {
namespace {

struct Run {
  std::vector<std::pair<std::string, Var>> tensors;  // outputs, then gradients
};

}  // namespace

absl::StatusOr<SequenceComparison> CompareCellGraphs(const Graph& a, const Graph& b,
                                                     const SequenceCompareOptions& o) {
  GF_ASSIGN_OR_RETURN(CellSignature sig, GetCellSignature(a));
  GF_ASSIGN_OR_RETURN(CellSignature sig_b, GetCellSignature(b));
  if (sig.input != sig_b.input || sig.states != sig_b.states) {
    return absl::InvalidArgumentError("the two cell graphs have different inputs or states");
  }
  uint64_t salt = o.seed * 7919;
  auto random = [&](const Shape& s) {
    return Tensor::Uniform(s, o.dtype, ++salt, -1.0, 1.0);
  };
  auto spec_of = [&](const std::string& name) { return a.node(a.FindInput(name)).outputs[0]; };
  const int64_t I = spec_of(sig.input).shape[1];
  std::vector<std::pair<std::string, Var>> leaves = {
      {sig.input, Var::Leaf(random({o.T, o.B, I}), true)}};
  std::map<std::string, Var> states, params;
  for (const std::string& s : sig.states) {
    states[s] = Var::Leaf(random({o.B, spec_of(s).shape[1]}), true);
    leaves.push_back({s, states[s]});
  }
  for (const std::string& p : sig.params) {
    params[p] = Var::Leaf(random(spec_of(p).shape), true);
    leaves.push_back({p, params[p]});
  }
  std::vector<Tensor> weights;  // one per output, shared by both runs
  auto run = [&](const Graph& g) -> absl::StatusOr<std::vector<std::pair<std::string, Tensor>>> {
    GF_ASSIGN_OR_RETURN(GraphSequenceResult r, RunGraphSequence(g, leaves[0].second, states, params));
    std::vector<std::pair<std::string, Var>> outs = {{"y", r.y}};
    for (const std::string& s : sig.states) outs.push_back({s + "T", r.final_states.at(s)});
    if (weights.empty()) {
      for (const auto& [name, v] : outs) weights.push_back(random(v.shape()));
    }
    VarOr loss = Var::Constant(Tensor::Zeros({}, o.dtype));
    for (size_t k = 0; k < outs.size(); ++k) {
      loss = loss + Sum(outs[k].second * Var::Constant(weights[k]));
    }
    GF_ASSIGN_OR_RETURN(Var l, loss);
    std::vector<Var> wrt;
    for (const auto& [name, v] : leaves) wrt.push_back(v);
    GF_ASSIGN_OR_RETURN(std::vector<Var> grads,
                        Gradients({l}, {Tensor::Full({}, o.dtype, 1.0)}, wrt));
    std::vector<std::pair<std::string, Tensor>> result;
    for (const auto& [name, v] : outs) result.push_back({name, v.value()});
    for (size_t k = 0; k < leaves.size(); ++k) {
      result.push_back({"d_" + leaves[k].first,
                        grads[k].defined() ? grads[k].value()
                                           : Tensor::Zeros(leaves[k].second.shape(), o.dtype)});
    }
    return result;
  };
  GF_ASSIGN_OR_RETURN(auto ra, run(a));
  GF_ASSIGN_OR_RETURN(auto rb, run(b));
  SequenceComparison c;
  for (size_t k = 0; k < ra.size(); ++k) {
    const TensorComparison t = CompareTensors(ra[k].second, rb[k].second);
    // The first tensor, then any worse one; an infinite error (NaN, Inf, a shape
    // mismatch) is never replaced.
    if (k == 0 || t.error > c.max_rel_err) {
      c.max_rel_err = t.error;
      c.worst = absl::StrCat(ra[k].first, " ", t.Describe(ra[k].second.shape()));
    }
  }
  return c;
}

}  // namespace gatefuse
