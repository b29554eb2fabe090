#include "ops/fused_cell.h"

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

// x W_g + h U_g + b_g (+ extra), skipping absent roles.
VarOr PreActivation(const Var& x, const Var& h, const RoleMap& r, const std::string& g,
                    std::vector<VarOr> extra = {}) {
  std::vector<VarOr> terms = {MatMul(x, r.at(RoleName("W", g))), MatMul(h, r.at(RoleName("U", g)))};
  if (r.count(RoleName("b", g))) terms.push_back(r.at(RoleName("b", g)));
  for (VarOr& e : extra) terms.push_back(std::move(e));
  return AddN(terms);
}

// p * v if the peephole role exists.
std::vector<VarOr> Peephole(const RoleMap& r, const std::string& g, const VarOr& v) {
  if (!r.count("p_" + g)) return {};
  return {r.at("p_" + g) * v};
}

absl::StatusOr<std::vector<Var>> Collect(std::vector<VarOr> states) {
  std::vector<Var> out;
  for (VarOr& s : states) {
    GF_ASSIGN_OR_RETURN(Var v, std::move(s));
    out.push_back(v);
  }
  return out;
}

// The step equations of each kind, written with ops.
absl::StatusOr<std::vector<Var>> Equations(const std::string& kind, const Var& x,
                                           const std::vector<Var>& s, const RoleMap& r) {
  const Var& h = s[0];
  if (kind == "rnn_tanh") return Collect({Tanh(PreActivation(x, h, r, ""))});
  if (kind == "rnn_relu") return Collect({Relu(PreActivation(x, h, r, ""))});
  if (kind == "lstm" || kind == "peephole_lstm" || kind == "cifg_lstm") {
    const Var& c = s[1];
    VarOr i = Sigmoid(PreActivation(x, h, r, "i", Peephole(r, "i", c)));
    VarOr f = kind == "cifg_lstm" ? 1.0 - i
                                  : Sigmoid(PreActivation(x, h, r, "f", Peephole(r, "f", c)));
    VarOr g = Tanh(PreActivation(x, h, r, "g"));
    VarOr c2 = f * c + i * g;
    VarOr o = Sigmoid(PreActivation(x, h, r, "o", Peephole(r, "o", c2)));
    return Collect({o * Tanh(c2), c2});
  }
  if (kind == "gru" || kind == "gru_lbr") {
    VarOr rg = Sigmoid(PreActivation(x, h, r, "r"));
    VarOr z = Sigmoid(PreActivation(x, h, r, "z"));
    std::vector<VarOr> terms = {MatMul(x, r.at("W_n"))};
    if (r.count("b_n")) terms.push_back(r.at("b_n"));
    if (kind == "gru") {
      terms.push_back(MatMul(rg * h, r.at("U_n")));
    } else {
      VarOr inner = MatMul(h, r.at("U_n"));
      if (r.count("bh_n")) inner = inner + r.at("bh_n");
      terms.push_back(rg * inner);
    }
    VarOr n = Tanh(AddN(terms));
    return Collect({(1.0 - z) * n + z * h});
  }
  return absl::InvalidArgumentError(absl::StrCat("FusedCell: unknown kind '", kind, "'"));
}

struct Parsed {
  const FusedCellKind* kind;
  std::vector<std::string> roles;
};

absl::StatusOr<Parsed> ParseAttrs(const Attrs& attrs) {
  GF_ASSIGN_OR_RETURN(std::string kind, attrs.GetString("FusedCell", "kind"));
  GF_ASSIGN_OR_RETURN(std::string roles, attrs.GetString("FusedCell", "roles"));
  GF_ASSIGN_OR_RETURN(const FusedCellKind* k, FindFusedCellKind(kind));
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
    absl::StatusOr<Shape> want_or = FusedCellRoleShape(p.kind->name, p.roles[k], I, H);
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
  return Equations(p.kind->name, in[0], states, roles);
}

}  // namespace

absl::StatusOr<Shape> FusedCellRoleShape(const std::string& kind, const std::string& role,
                                         int64_t I, int64_t H) {
  GF_ASSIGN_OR_RETURN(const FusedCellKind* k, FindFusedCellKind(kind));
  const size_t us = role.find('_');
  const std::string what = us == std::string::npos ? role : role.substr(0, us);
  const std::string gate = us == std::string::npos ? "" : role.substr(us + 1);
  bool gate_ok = false;
  for (const std::string& g : k->gates) gate_ok = gate_ok || g == gate;
  const bool peephole_ok = kind == "peephole_lstm" && (gate == "i" || gate == "f" || gate == "o");
  if (gate_ok && what == "W") return Shape{I, H};
  if (gate_ok && what == "U") return Shape{H, H};
  if (gate_ok && what == "b") return Shape{H};
  if (what == "bh" && gate == "n" && kind == "gru_lbr") return Shape{H};
  if (what == "p" && peephole_ok) return Shape{H};
  return absl::InvalidArgumentError(absl::StrCat(kind, " has no role '", role, "'"));
}

std::string RoleName(const std::string& what, const std::string& gate) {
  return gate.empty() ? what : absl::StrCat(what, "_", gate);
}

const std::vector<FusedCellKind>& FusedCellKinds() {
  static const auto* kinds = new std::vector<FusedCellKind>{
      {"lstm", {"i", "f", "g", "o"}, {"h", "c"}},
      {"peephole_lstm", {"i", "f", "g", "o"}, {"h", "c"}},
      {"cifg_lstm", {"i", "g", "o"}, {"h", "c"}},
      {"gru", {"r", "z", "n"}, {"h"}},
      {"gru_lbr", {"r", "z", "n"}, {"h"}},
      {"rnn_tanh", {""}, {"h"}},
      {"rnn_relu", {""}, {"h"}},
  };
  return *kinds;
}

absl::StatusOr<const FusedCellKind*> FindFusedCellKind(const std::string& name) {
  for (const FusedCellKind& k : FusedCellKinds()) {
    if (k.name == name) return &k;
  }
  return absl::InvalidArgumentError(absl::StrCat("FusedCell: unknown kind '", name, "'"));
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
