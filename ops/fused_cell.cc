#include "ops/fused_cell.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/status.h"
#include "ops/op_util.h"
#include "ops/ops.h"
#include "ops/register_all.h"

namespace gatefuse {
namespace {

using RoleMap = std::map<std::string, Var>;

struct Parsed {
  const CellKind* kind;
  std::vector<std::string> roles;
};

absl::StatusOr<Parsed> ParseAttrs(const Attrs& attrs) {
  GF_ASSIGN_OR_RETURN(std::string kind, attrs.GetString("FusedCell", "kind"));
  GF_ASSIGN_OR_RETURN(std::string roles, attrs.GetString("FusedCell", "roles"));
  GF_ASSIGN_OR_RETURN(const CellKind* k, FindFusedKind("FusedCell", kind));
  return Parsed{k, absl::StrSplit(roles, ',', absl::SkipEmpty())};
}

absl::StatusOr<std::vector<TensorSpec>> FusedCellShape(const std::vector<TensorSpec>& in,
                                                       const Attrs& attrs) {
  GF_ASSIGN_OR_RETURN(Parsed p, ParseAttrs(attrs));
  const size_t n_states = p.kind->states.size();
  if (in.size() != 1 + n_states + p.roles.size()) {
    return OpError("FusedCell", in, absl::StrCat("expects x, ", n_states, " states and ",
                                                 p.roles.size(), " role values"));
  }
  GF_RETURN_IF_ERROR(ExpectSameFloat("FusedCell", in));
  GF_RETURN_IF_ERROR(ExpectRank("FusedCell", in, 0, 2));
  const int64_t B = in[0].shape[0], I = in[0].shape[1];
  const int64_t H = in[1].shape.rank() == 2 ? in[1].shape[1] : -1;
  std::vector<TensorSpec> out;
  for (size_t k = 1; k <= n_states; ++k) {
    if (in[k].shape != Shape{B, H}) {
      return OpError("FusedCell", in, absl::StrCat("state ", p.kind->states[k - 1],
                                                   " must be [B, H] like input 1"));
    }
    out.push_back(in[k]);
  }
  std::set<std::string> seen;
  for (size_t k = 0; k < p.roles.size(); ++k) {
    absl::StatusOr<Shape> want_or = FusedCellRoleShape(*p.kind, p.roles[k], I, H);
    if (!want_or.ok()) return OpError("FusedCell", in, std::string(want_or.status().message()));
    const Shape want = *want_or;
    if (!seen.insert(p.roles[k]).second) {
      return OpError("FusedCell", in, absl::StrCat("role ", p.roles[k], " is given twice"));
    }
    if (in[1 + n_states + k].shape != want) {
      return OpError("FusedCell", in, absl::StrCat("role ", p.roles[k], " must be ",
                                                   want.ToString()));
    }
  }
  for (const std::string& g : p.kind->gates) {
    for (const char* w : {"W", "U"}) {
      if (!seen.count(RoleName(w, g))) {
        return OpError("FusedCell", in, absl::StrCat("role ", RoleName(w, g), " is missing"));
      }
    }
  }
  return out;
}

absl::StatusOr<std::vector<Var>> Run(const Attrs& attrs, const std::vector<Var>& in) {
  GF_ASSIGN_OR_RETURN(Parsed p, ParseAttrs(attrs));
  const size_t n_states = p.kind->states.size();
  const std::vector<Var> states(in.begin() + 1, in.begin() + 1 + n_states);
  RoleMap roles;
  for (size_t k = 0; k < p.roles.size(); ++k) roles[p.roles[k]] = in[1 + n_states + k];
  return CellStep(*p.kind, in[0], states,
                  [&roles](const std::string& what, const std::string& gate) -> const Var* {
                    auto it = roles.find(RoleName(what, gate));
                    return it == roles.end() ? nullptr : &it->second;
                  });
}

}  // namespace

absl::StatusOr<const CellKind*> FindFusedKind(const std::string& op, const std::string& name) {
  const absl::StatusOr<const CellKind*> kind = FindCellKind(name);
  if (!kind.ok()) return absl::InvalidArgumentError(absl::StrCat(op, ": ", kind.status().message()));
  if (!(*kind)->fused) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": cell kind '", name,
                                                   "' has no fused kernel (fused: ",
                                                   absl::StrJoin(FusedCellKindNames(), " "), ")"));
  }
  return *kind;
}

// W_g, U_g and b_g for every gate g; p_g for a peephole gate; bh_n where the reset
// gate scales it (linear before reset), since every other bias sums into b_g.
absl::StatusOr<Shape> FusedCellRoleShape(const CellKind& kind, const std::string& role,
                                         int64_t I, int64_t H) {
  const size_t us = role.find('_');
  const std::string what = us == std::string::npos ? role : role.substr(0, us);
  const std::string gate = us == std::string::npos ? "" : role.substr(us + 1);
  auto has = [](const std::vector<std::string>& gates, const std::string& g) {
    return std::find(gates.begin(), gates.end(), g) != gates.end();
  };
  const bool gate_ok = has(kind.gates, gate);
  if (gate_ok && what == "W") return Shape{I, H};
  if (gate_ok && what == "U") return Shape{H, H};
  if (gate_ok && what == "b") return Shape{H};
  if (what == "bh" && gate == "n" && kind.linear_before_reset) return Shape{H};
  if (what == "p" && has(kind.peephole_gates, gate)) return Shape{H};
  return absl::InvalidArgumentError(absl::StrCat(kind.name, " has no role '", role, "'"));
}

std::string RoleName(const std::string& what, const std::string& gate) {
  return gate.empty() ? what : absl::StrCat(what, "_", gate);
}

void RegisterFusedCellOps(OpRegistry& r) {
  OpDef& d = r.Define("FusedCell", -1);
  d.shape_fn = FusedCellShape;
  d.kernel = [](const KernelContext& c) -> absl::StatusOr<std::vector<Tensor>> {
    NoGradGuard no_grad;
    std::vector<Var> in;
    for (const Tensor& t : c.inputs) in.push_back(Var::Constant(t));
    GF_ASSIGN_OR_RETURN(std::vector<Var> out, Run(c.attrs, in));
    std::vector<Tensor> values;
    for (const Var& v : out) values.push_back(v.value());
    return values;
  };
  // The equations recomputed on fresh leaves and differentiated with ops.
  d.gradient = [](const GradContext& c) -> absl::StatusOr<std::vector<Var>> {
    GradModeGuard record(true);
    std::vector<Var> leaves;
    for (const Var& v : c.inputs) leaves.push_back(Var::Leaf(v.value(), true));
    GF_ASSIGN_OR_RETURN(std::vector<Var> out, Run(c.attrs, leaves));
    std::vector<Tensor> seeds;
    for (const Var& g : c.output_grads) seeds.push_back(g.value());
    GF_ASSIGN_OR_RETURN(std::vector<Var> grads, Gradients(out, seeds, leaves));
    std::vector<Var> result;
    for (const Var& g : grads) result.push_back(g.defined() ? Var::Constant(g.value()) : Var());
    return result;
  };
}

absl::StatusOr<std::vector<Var>> FusedCellStep(const std::string& kind, const Var& x,
                                               const std::vector<Var>& states,
                                               const std::vector<std::string>& roles,
                                               const std::vector<Var>& role_values) {
  std::vector<VarOr> in = {x};
  in.insert(in.end(), states.begin(), states.end());
  in.insert(in.end(), role_values.begin(), role_values.end());
  return ApplyOp("FusedCell", in,
                 {{"kind", kind}, {"roles", absl::StrJoin(roles, ",")}});
}

}  // namespace gatefuse
