#include "passes/cell_matcher.h"

namespace gatefuse::recognition {

absl::StatusOr<CellMatch> Matcher::MatchRnn(const CellKind& want) {
  GF_RETURN_IF_ERROR(NeedStates(want));
  std::optional<Poly> pre = Inverse(want.activation, next_[0]);
  if (!pre) return Uses("h'", next_[0], want, want.activation);
  GF_ASSIGN_OR_RETURN(Linear t, Gate(*pre, "", true));
  GF_RETURN_IF_ERROR(NoRest(t, "", alg_));
  CellMatch m{want.name, {}};
  AddGateRoles(m, "", t);
  return m;
}

// A peephole of an LSTM gate: its terms besides x @ W, h @ U and the bias are
// p * `expected` (the old cell c for i and f, the new cell c' for o), or none.
absl::Status Matcher::LstmPeephole(const Linear& t, const std::string& gate, const Poly& expected,
                                   const std::string& expected_name, const Poly& c2,
                                   std::optional<RoleTerm>& out) {
  if (t.rest.empty()) return absl::OkStatus();
  if ((out = VectorTimes(t.rest, expected))) return absl::OkStatus();
  const std::vector<std::pair<std::string, Poly>> others = {
      {"h", alg_.Leaf(states_[0])}, {"c", alg_.Leaf(states_[1])}, {"the new cell c'", c2}};
  for (const auto& [name, v] : others) {
    if (VectorTimes(t.rest, v)) {
      return Miss(absl::StrCat("the peephole of gate ", gate, " reads ", name,
                               "; the fused kernel's ", gate, " reads ", expected_name));
    }
  }
  return NoRest(t, gate, alg_);
}

absl::StatusOr<CellMatch> Matcher::MatchLstm(const CellKind& want) {
  GF_RETURN_IF_ERROR(NeedStates(want));
  const bool coupled_kind = want.forget_is_one_minus_input;
  const bool peephole_kind = !want.peephole_gates.empty();
  const Poly& h2 = next_[0];
  const Poly& c2 = next_[1];
  // h' = o * tanh(c')
  const Poly tanh_c2 = alg_.Tanh(c2);
  std::optional<Poly> o;
  if (tanh_c2.size() == 1 && tanh_c2.begin()->first.size() == 1) {
    o = Divide(h2, tanh_c2.begin()->first[0]);
    if (o) o = alg_.Scaled(*o, tanh_c2.begin()->second);
  }
  if (!o) {
    // o * act(c') with another activation?
    for (const auto& [m, c] : h2) {
      for (AtomId a : m) {
        const nf::Atom& atom = alg_.atom(a);
        if (atom.kind == AtomKind::kFunction && atom.args.size() == 1 &&
            (atom.args[0] == c2 || atom.args[0] == alg_.Scaled(c2, kMinusOne))) {
          return Miss(absl::StrCat("h' = o * act(c') uses ", atom.op, ", ", want.name,
                                   " needs Tanh"));
        }
      }
    }
    return Miss(absl::StrCat("h' does not multiply an activation of the new cell c': h' is ",
                             Show(h2)));
  }
  std::optional<Poly> pre_o = Inverse("Sigmoid", *o);
  if (!pre_o) return Uses("output gate o", *o, want, "Sigmoid");
  // c' = f * c + i * g
  const std::optional<AtomId> c = Leaf(states_[1]);
  Split s = c ? SplitBy(c2, *c) : Split{{}, c2};
  if (s.with.empty()) return Miss("c' has no f * c term (the old cell c is not carried over)");
  if (HasFactor(s.with, *c)) return Miss(absl::StrCat("c' is not linear in c: ", Show(c2)));
  std::optional<Poly> pre_f = Inverse("Sigmoid", s.with);
  if (!pre_f) {
    const std::string extra = Extra(s.with, states_[1]);
    if (!extra.empty()) return Miss(absl::StrCat("c' = f * c + i * g", extra));
    return Uses("forget gate f (the factor of c in c')", s.with, want, "Sigmoid");
  }
  std::optional<Poly> pre_i, pre_g;
  for (AtomId g : TanhFactors(s.rest)) {
    std::optional<Poly> i = Divide(s.rest, g);
    if (!i || HasFactor(*i, g)) continue;
    for (const Rational sign : {kOne, kMinusOne}) {
      if (std::optional<Poly> a = Inverse("Sigmoid", alg_.Scaled(*i, sign))) {
        pre_i = a;
        pre_g = alg_.Scaled(alg_.atom(g).args[0], sign);
      }
    }
    if (pre_i) break;
  }
  if (!pre_i) {
    // Which of i and g has the wrong activation?
    if (!s.rest.empty()) {
      for (AtomId a : s.rest.begin()->first) {
        std::optional<Poly> q = Divide(s.rest, a);
        if (!q || alg_.atom(a).kind != AtomKind::kFunction) continue;
        if (Inverse("Sigmoid", *q)) {
          return Uses("candidate gate g", alg_.AtomPoly(a), want, "Tanh");
        }
        if (IsFunction(a, "Tanh") && !HasFactor(*q, a)) {
          return Uses("input gate i", *q, want, "Sigmoid");
        }
      }
    }
    return Miss(absl::StrCat("c' is not f * c + i * g: c' - f * c is ", Show(s.rest)));
  }
  const bool coupled = *pre_f == alg_.Scaled(*pre_i, kMinusOne);
  if (coupled_kind && !coupled) {
    return Miss(absl::StrCat("the forget gate has its own pre-activation ", Show(*pre_f), "; ",
                             want.name, " needs f = 1 - i"));
  }
  if (!coupled_kind && coupled) {
    return Miss("the forget gate is 1 - i (coupled input and forget gates): that is cifg");
  }
  GF_ASSIGN_OR_RETURN(Linear ti, Gate(*pre_i, "i", true));
  GF_ASSIGN_OR_RETURN(Linear tg, Gate(*pre_g, "g", true));
  GF_ASSIGN_OR_RETURN(Linear to, Gate(*pre_o, "o", true));
  std::optional<Linear> tf;
  if (!coupled_kind) {
    GF_ASSIGN_OR_RETURN(tf, Gate(*pre_f, "f", true));
  }
  // Peepholes: i and f read c, o reads c' (Gers & Schmidhuber 2000), g none.
  const Poly old_c = alg_.Leaf(states_[1]);
  if (!tg.rest.empty() && VectorTimes(tg.rest, old_c)) {
    return Miss("the candidate gate g has a peephole term");
  }
  GF_RETURN_IF_ERROR(NoRest(tg, "g", alg_));
  std::optional<RoleTerm> pi, pf, po;
  GF_RETURN_IF_ERROR(LstmPeephole(ti, "i", old_c, "the old cell c", c2, pi));
  if (tf) GF_RETURN_IF_ERROR(LstmPeephole(*tf, "f", old_c, "the old cell c", c2, pf));
  GF_RETURN_IF_ERROR(LstmPeephole(to, "o", c2, "the new cell c'", c2, po));
  const bool any_peephole = pi || pf || po;
  if (!peephole_kind && any_peephole) {
    return Miss(coupled_kind ? absl::StrCat(want.name, " with peepholes has no fused kernel")
                             : absl::StrCat("a gate has a peephole term; ", want.name, " has none"));
  }
  if (peephole_kind && !any_peephole) return Miss("no gate has a peephole term");

  CellMatch m{want.name, {}};
  AddGateRoles(m, "i", ti);
  if (tf) AddGateRoles(m, "f", *tf);
  AddGateRoles(m, "g", tg);
  AddGateRoles(m, "o", to);
  if (pi) AddRole(m, "p_i", {*pi});
  if (pf) AddRole(m, "p_f", {*pf});
  if (po) AddRole(m, "p_o", {*po});
  GF_RETURN_IF_ERROR(DistinctWeights(m));
  return m;
}

}  // namespace gatefuse::recognition
