#include "passes/cell_matcher.h"

namespace gatefuse::recognition {

absl::StatusOr<CellMatch> Matcher::MatchGru(const CellKind& want) {
  GF_RETURN_IF_ERROR(NeedStates(want));
  const Poly& h2 = next_[0];
  // h' = (1 - z) * n + z * h
  const std::optional<AtomId> h = Leaf(states_[0]);
  Split s = h ? SplitBy(h2, *h) : Split{{}, h2};
  if (s.with.empty()) return Miss("h' has no z * h term (the old state is not carried over)");
  if (HasFactor(s.with, *h)) return Miss(absl::StrCat("h' is not linear in h: ", Show(h2)));
  std::optional<Poly> pre_z = Inverse("Sigmoid", s.with);
  if (!pre_z) {
    const std::string extra = Extra(s.with, states_[0]);
    if (!extra.empty()) return Miss(absl::StrCat("h' = (1 - z) * n + z * h", extra));
    return Uses("update gate z (the factor of h in h')", s.with, want, "Sigmoid");
  }
  const Poly one_minus_z = alg_.Difference(Algebra::Constant(kOne), s.with);
  std::optional<Poly> pre_n;
  std::optional<Poly> closest;  // what is left against the nearest (1 - z) * tanh(a)
  for (const auto& term : s.rest) {
    for (AtomId n : term.first) {
      if (!IsFunction(n, "Tanh") || pre_n) continue;
      for (const Rational sign : {kOne, kMinusOne}) {
        const Poly guess = alg_.Scaled(alg_.Product(one_minus_z, alg_.AtomPoly(n)), sign);
        if (guess == s.rest) pre_n = alg_.Scaled(alg_.atom(n).args[0], sign);
        const Poly extra = alg_.Difference(s.rest, guess);
        if (!closest || extra.size() < closest->size()) closest = extra;
      }
    }
  }
  if (!pre_n && !s.rest.empty()) {
    // A candidate with another activation, or a (1 - z) of another gate?
    for (AtomId a : s.rest.begin()->first) {
      std::optional<Poly> q = Divide(s.rest, a);
      if (!q || alg_.atom(a).kind != AtomKind::kFunction) continue;
      if (*q == one_minus_z) return Uses("candidate n", alg_.AtomPoly(a), want, "Tanh");
      if (IsFunction(a, "Tanh") && !HasFactor(*q, a)) {
        if (std::optional<Poly> other = Inverse("Sigmoid", alg_.Difference(Algebra::Constant(kOne), *q))) {
          return Miss(absl::StrCat("(1 - z) is 1 - sigmoid of ", Show(*other),
                                   ", not of the update gate's pre-activation ", Show(*pre_z)));
        }
      }
    }
  }
  if (!pre_n) {
    return Miss(absl::StrCat("h' is not (1 - z) * n + z * h",
                             closest ? absl::StrCat(": against it, h' has the extra terms ",
                                                    Show(*closest))
                                     : absl::StrCat(": h' - z * h is ", Show(s.rest))));
  }
  // n = tanh(x @ W_n + b_n + (r * h) @ U_n)  or  tanh(x @ W_n + b_n + r * (h @ U_n + bh_n))
  GF_ASSIGN_OR_RETURN(const GruCandidate n, Candidate(*pre_n, want));
  if (n.lbr != want.linear_before_reset) {
    return Miss(n.lbr ? "the reset gate scales h @ U_n (linear before reset): that is gru_lbr"
                      : "the reset gate scales h before h @ U_n: that is gru");
  }
  GF_ASSIGN_OR_RETURN(Linear tr, Gate(n.pre_r, "r", true));
  GF_ASSIGN_OR_RETURN(Linear tz, Gate(*pre_z, "z", true));
  for (const auto& [t, gate] : {std::pair<const Linear*, const char*>{&tr, "r"}, {&tz, "z"}}) {
    GF_RETURN_IF_ERROR(NotElementwiseInH(t->rest));
    GF_RETURN_IF_ERROR(NoRest(*t, gate, alg_));
  }
  CellMatch m{want.name, {}};
  AddGateRoles(m, "r", tr);
  AddGateRoles(m, "z", tz);
  AddRole(m, "W_n", n.w);
  AddRole(m, "U_n", n.u);
  AddRole(m, "b_n", n.b.bias, n.b.constant);
  AddRole(m, "bh_n", n.bh.bias, n.bh.constant);
  GF_RETURN_IF_ERROR(DistinctWeights(m));
  return m;
}

// p = k sigmoid(a): (k, sigmoid(a)); a sigmoid's normal form has the constant 1/2.
std::optional<std::pair<Rational, Poly>> Matcher::ScaledSigmoid(const Poly& p) {
  if (p.empty() || !p.begin()->first.empty()) return std::nullopt;
  const Rational c = p.begin()->second;
  const Rational k{2 * c.num, c.den};  // c / (1/2)
  const Poly s = alg_.Scaled(p, {k.den, k.num});
  if (!Inverse("Sigmoid", s)) return std::nullopt;
  return std::make_pair(k, s);
}

absl::Status Matcher::NotElementwiseInH(const Poly& rest) const {
  const std::optional<AtomId> h = Leaf(states_[0]);
  if (h && HasFactor(rest, *h)) {
    return Miss(absl::StrCat("a GRU gate has a term that reads the state elementwise: ",
                             Show(rest)));
  }
  return absl::OkStatus();
}

// The candidate's pre-activation: x @ W_n terms, then the recurrent part, either
// sum_j (r h) @ U_j (reset first) or r * (sum_j k_j h @ U_j + bh) (linear before
// reset), then biases.
absl::StatusOr<Matcher::GruCandidate> Matcher::Candidate(const Poly& pre, const CellKind& kind) {
  GruCandidate n;
  const std::optional<AtomId> x = Leaf(x_), h = Leaf(states_[0]);
  Poly e;  // all but x @ W_n
  for (const auto& [m, c] : pre) {
    const nf::Atom* a = m.size() == 1 ? &alg_.atom(m[0]) : nullptr;
    if (a && a->kind == AtomKind::kMatMul && x && a->lhs == Monomial{*x} && IsWeight(a->value, I_)) {
      n.w.push_back({a->value, c.value()});
    } else {
      e.emplace(m, c);
    }
  }
  if (n.w.empty()) return Miss("candidate n does not read the input (no x @ W term)");
  // Matmuls whose left operand has the factor h: (r h) @ U alone in a term, or h @ U
  // times r.
  std::map<ValueRef, Poly> lhs_of;  // reset first: per weight, its left operand
  Poly reset_first;
  std::vector<AtomId> hu;           // linear before reset: the h @ U atoms
  bool compound = false;
  for (const auto& [m, c] : e) {
    for (AtomId id : m) {
      const nf::Atom& a = alg_.atom(id);
      if (a.kind != AtomKind::kMatMul || !h || !IsWeight(a.value, H_) ||
          std::find(a.lhs.begin(), a.lhs.end(), *h) == a.lhs.end()) {
        continue;
      }
      if (a.lhs != Monomial{*h}) compound = true;
      if (m.size() == 1) {
        lhs_of[a.value] = alg_.Sum(lhs_of[a.value], Poly{{a.lhs, c}});
        reset_first.emplace(m, c);
      }
      if (a.lhs == Monomial{*h} && std::find(hu.begin(), hu.end(), id) == hu.end()) {
        hu.push_back(id);
      }
    }
  }
  std::optional<Poly> r;
  if (compound) {
    for (const auto& [w, lhs] : lhs_of) {
      std::optional<Poly> q = Divide(lhs, *h);
      std::optional<std::pair<Rational, Poly>> ks = q ? ScaledSigmoid(*q) : std::nullopt;
      if (q && !ks) return Uses("reset gate r", *q, kind, "Sigmoid");
      if (!ks || (r && ks->second != *r)) {
        return Miss(absl::StrCat("candidate n's recurrent term ", Show(reset_first),
                                 " is not (r * h) @ U_n with one reset gate r = sigmoid(a)"));
      }
      r = ks->second;
      n.u.push_back({w, ks->first.value()});
    }
    n.b = Classify(alg_.Difference(e, reset_first));
  } else if (!hu.empty()) {
    n.lbr = true;
    Poly left = e;
    for (AtomId a : hu) {
      Split part = SplitBy(left, a);
      std::optional<std::pair<Rational, Poly>> ks = ScaledSigmoid(part.with);
      if (!ks || (r && ks->second != *r)) {
        if (!ks && part.with.size() == 1 && part.with.begin()->first.empty()) {
          return Miss("candidate n reads h @ U without the reset gate");
        }
        if (!ks) return Uses("reset gate r", part.with, kind, "Sigmoid");
        return Miss(absl::StrCat("the factor of ", alg_.AtomString(a), " in candidate n is ",
                                 Show(part.with), ", not the reset gate of the other U_n terms"));
      }
      r = ks->second;
      n.u.push_back({alg_.atom(a).value, ks->first.value()});
      left = part.rest;
    }
    // left = b_n + r bh_n with r = 1/2 + t tanh(q): bh_n is left's factor of tanh(q), over t.
    const auto& [tm, t] = *std::next(r->begin());
    const Poly bh = alg_.Scaled(SplitBy(left, tm[0]).with, {t.den, t.num});
    n.bh = Classify(bh);
    n.b = Classify(alg_.Difference(left, alg_.Product(*r, bh)));
  } else {
    return Miss(absl::StrCat("candidate n does not read h through a matmul: its terms besides "
                             "x @ W are ", Show(e)));
  }
  GF_RETURN_IF_ERROR(NotElementwiseInH(n.b.rest));
  if (!n.b.rest.empty() || !n.bh.rest.empty() || !n.b.w.empty() || !n.b.u.empty() ||
      !n.bh.w.empty() || !n.bh.u.empty()) {
    return Miss(absl::StrCat("candidate n's recurrent term is neither (r * h) @ U_n nor "
                             "r * (h @ U_n + b): ", Show(e)));
  }
  n.pre_r = *Inverse("Sigmoid", *r);
  return n;
}

}  // namespace gatefuse::recognition
