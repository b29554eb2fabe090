#include "passes/testing/equivalence.h"

#include <cmath>
#include <map>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/compare.h"
#include "core/status.h"
#include "graph/executor.h"
#include "graph/sequence_compare.h"
#include "ops/ops.h"

namespace gatefuse::testing {
namespace {

absl::Status Compare(const std::string& what, const std::vector<Var>& a,
                     const std::vector<Var>& b, double tol) {
  if (a.size() != b.size()) return absl::InternalError(absl::StrCat(what, ": count differs"));
  for (size_t k = 0; k < a.size(); ++k) {
    if (a[k].defined() != b[k].defined()) {
      return absl::InternalError(absl::StrCat(what, " ", k, ": defined in only one graph"));
    }
    if (!a[k].defined()) continue;
    GF_RETURN_IF_ERROR(ExpectClose(b[k].value(), a[k].value(), tol, absl::StrCat(what, " ", k)));
  }
  return absl::OkStatus();
}

// Signed values in [-1, 1), so that Relu, Step, Abs and sign errors are exercised;
// positive ones in [0.1, 1) for inputs that must be (see PositiveInputs).
Tensor Random(const Shape& s, uint64_t seed, bool positive = false) {
  return Tensor::Uniform(s, DType::kF64, 1000 + seed, positive ? 0.1 : -1.0, 1.0);
}

// The inputs whose values reach the argument of a Log or the divisor of a Div
// without passing through an op whose output is positive anyway (Sigmoid, Exp,
// Softmax): those get positive random values, so both graphs stay in the domain.
std::set<NodeId> PositiveInputs(const Graph& g) {
  std::set<NodeId> positive, seen;
  std::vector<NodeId> stack;
  for (NodeId id = 0; id < g.num_node_slots(); ++id) {
    const NodeData& d = g.node(id);
    if (d.dead) continue;
    if (d.op == "Log" && !d.inputs.empty()) stack.push_back(d.inputs[0].node);
    if (d.op == "Div" && d.inputs.size() == 2) stack.push_back(d.inputs[1].node);
  }
  while (!stack.empty()) {
    const NodeId id = stack.back();
    stack.pop_back();
    if (!seen.insert(id).second) continue;
    const NodeData& d = g.node(id);
    if (d.op == kInputOp) {
      positive.insert(id);
      continue;
    }
    if (d.op == "Sigmoid" || d.op == "Exp" || d.op == "Softmax") continue;
    for (const ValueRef& v : d.inputs) stack.push_back(v.node);
  }
  return positive;
}

// loss = sum_k sum(w_k * out_k); the gradients of it w.r.t. `wrt`.
absl::StatusOr<std::vector<Var>> Grads(const std::vector<Var>& outs, const std::vector<Var>& wrt) {
  VarOr loss = Var::Constant(Tensor::Zeros({}, DType::kF64));
  for (size_t k = 0; k < outs.size(); ++k) {
    loss = loss + Sum(outs[k] * Var::Constant(Random(outs[k].shape(), 77 + k)));
  }
  GF_ASSIGN_OR_RETURN(Var l, loss);
  return Gradients({l}, {Tensor::Full({}, DType::kF64, 1.0)}, wrt);
}

}  // namespace

absl::Status CheckSameFunction(const Graph& before, const Graph& after, double tol) {
  std::map<std::string, Var> inputs;
  std::vector<Var> wrt;
  uint64_t seed = 0;
  const std::set<NodeId> positive = PositiveInputs(before);
  for (NodeId id : before.Inputs()) {
    const NodeData& d = before.node(id);
    Var v = Var::Leaf(Random(d.outputs[0].shape, seed++, positive.count(id) > 0), true, d.name);
    inputs[d.name] = v;
    wrt.push_back(v);
  }
  GF_ASSIGN_OR_RETURN(std::vector<Var> a, ApplyGraph(before, inputs));
  GF_ASSIGN_OR_RETURN(std::vector<Var> b, ApplyGraph(after, inputs));
  GF_RETURN_IF_ERROR(Compare("output", a, b, tol));
  GF_ASSIGN_OR_RETURN(std::vector<Var> ga, Grads(a, wrt));
  GF_ASSIGN_OR_RETURN(std::vector<Var> gb, Grads(b, wrt));
  return Compare("gradient of input", ga, gb, tol);
}

absl::Status CheckSameSequence(const Graph& before, const Graph& after, int64_t T, int64_t B,
                               double tol) {
  GF_ASSIGN_OR_RETURN(SequenceComparison c,
                      CompareCellGraphs(after, before, {.T = T, .B = B, .dtype = DType::kF64}));
  if (!(c.max_rel_err <= tol)) {
    return absl::InternalError(absl::StrCat("sequences differ: relative error ", c.max_rel_err,
                                            " > ", tol, " in ", c.worst));
  }
  return absl::OkStatus();
}

}  // namespace gatefuse::testing
