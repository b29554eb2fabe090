#include "passes/testing/equivalence.h"

#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "graph/executor.h"
#include "graph/sequence_compare.h"
#include "ops/ops.h"

namespace gatefuse::testing {
namespace {

// max |a - b| / max(1, max |b|), NaN-aware.
double RelErr(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.ToVector(), y = b.ToVector();
  double diff = 0, scale = 1;
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i]) != std::isnan(y[i])) return INFINITY;
    if (std::isnan(x[i])) continue;
    diff = std::max(diff, std::abs(x[i] - y[i]));
    scale = std::max(scale, std::abs(y[i]));
  }
  return diff / scale;
}

absl::Status Compare(const std::string& what, const std::vector<Var>& a,
                     const std::vector<Var>& b, double tol) {
  if (a.size() != b.size()) return absl::InternalError(absl::StrCat(what, ": count differs"));
  for (size_t k = 0; k < a.size(); ++k) {
    if (a[k].defined() != b[k].defined()) {
      return absl::InternalError(absl::StrCat(what, " ", k, ": defined in only one graph"));
    }
    if (!a[k].defined()) continue;
    if (a[k].shape() != b[k].shape()) {
      return absl::InternalError(absl::StrCat(what, " ", k, ": shapes ", a[k].shape().ToString(),
                                              " vs ", b[k].shape().ToString()));
    }
    const double err = RelErr(a[k].value(), b[k].value());
    if (!(err <= tol)) {
      return absl::InternalError(absl::StrCat(what, " ", k, " differs: rel err ", err));
    }
  }
  return absl::OkStatus();
}

Tensor Random(const Shape& s, uint64_t seed) {
  return Tensor::Uniform(s, DType::kF64, 1000 + seed, 0.1, 1.0);
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
  for (NodeId id : before.Inputs()) {
    const NodeData& d = before.node(id);
    Var v = Var::Leaf(Random(d.outputs[0].shape, seed++), true, d.name);
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
    return absl::InternalError(
        absl::StrCat("sequences differ: ", c.worst, " rel err ", c.max_rel_err));
  }
  return absl::OkStatus();
}

}  // namespace gatefuse::testing
