// The matchers of cell recognition (passes/recognize_cell.h): each kind's
// equations checked on the normal forms of the step's next states
// (passes/normal_form.h), so that any spelling equal as a polynomial matches and
// a near miss is refused with the term that breaks it. Internal to passes/.
#ifndef GATEFUSE_PASSES_CELL_MATCHER_H_
#define GATEFUSE_PASSES_CELL_MATCHER_H_

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "graph/text.h"
#include "ops/cell_kinds.h"
#include "ops/fused_cell.h"
#include "passes/normal_form.h"
#include "passes/recognize_cell.h"

namespace gatefuse::recognition {

using nf::Algebra;
using nf::AtomId;
using nf::AtomKind;
using nf::Monomial;
using nf::Poly;
using nf::Rational;

// A candidate does not fit; the message says where and why.
inline absl::Status Miss(const std::string& why) { return absl::NotFoundError(why); }

inline constexpr Rational kOne{1, 1};
inline constexpr Rational kHalf{1, 2};
inline constexpr Rational kMinusOne{-1, 1};

// The terms of one gate's pre-activation, by what they are.
struct Linear {
  std::vector<RoleTerm> w, u, bias;  // x @ W, h @ U, parameter vectors [H]
  double constant = 0;                // a number added to every unit
  Poly rest;                          // anything else, left to the caller
};

class Matcher {
 public:
  explicit Matcher(const Graph& g) : g_(g), alg_(g) {
    alg_.set_names([this](ValueRef v) { return Describe(v); });
  }

  // Finds the per-step input, the states and the normal forms of their next values.
  absl::Status Init() {
    for (NodeId id : g_.Inputs()) {
      const NodeData& d = g_.node(id);
      if (d.role == InputRole::kInput) {
        if (x_.node >= 0) return Miss("the cell has more than one per-step input");
        x_ = {id, 0};
      } else if (d.role == InputRole::kState) {
        states_.push_back({id, 0});
      }
    }
    if (x_.node < 0) return Miss("the graph has no per-step input");
    for (const ValueRef& s : states_) {
      bool found = false;
      for (const GraphOutput& o : g_.outputs()) {
        if (o.name != g_.node(s.node).name) continue;
        GF_ASSIGN_OR_RETURN(Poly p, alg_.Of(o.value));
        next_.push_back(std::move(p));
        found = true;
      }
      if (!found) return Miss(absl::StrCat("state ", g_.node(s.node).name, " has no next value"));
    }
    I_ = g_.spec(x_).shape.rank() == 2 ? g_.spec(x_).shape[1] : -1;
    H_ = states_.empty() ? 0 : g_.spec(states_[0]).shape[1];
    for (const ValueRef& s : states_) {
      if (g_.spec(s).shape[1] != H_) return Miss("the states have different widths");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<CellMatch> MatchRnn(const CellKind& want);
  absl::StatusOr<CellMatch> MatchLstm(const CellKind& want);
  absl::StatusOr<CellMatch> MatchGru(const CellKind& want);

  // An input's name, "W[axis 1: 0:4]" for a slice of one, else "%7 (Tanh)".
  std::string Describe(ValueRef v) const {
    const NodeData& d = g_.node(v.node);
    if (d.op == kInputOp) return d.name;
    if (d.op == "Slice" && alg_.ParameterOnly(v)) {
      return absl::StrCat(Describe(d.inputs[0]), "[axis ", *d.attrs.GetInt("Slice", "axis"), ": ",
                          *d.attrs.GetInt("Slice", "start"), ":", *d.attrs.GetInt("Slice", "end"),
                          "]");
    }
    return absl::StrCat(NodeLabel(g_, v.node), " (", d.op, ")");
  }

 private:
  // A form for a message, cut at 160 characters.
  std::string Show(const Poly& p) const {
    std::string text = alg_.ToString(p);
    if (text.size() > 160) text = text.substr(0, 157) + "...";
    return text;
  }
  // What activation a gate's value is: "Sigmoid", "Tanh", "Relu", "the constant 1",
  // "2·Tanh", "no activation", "a sum of 3 terms".
  std::string Form(const Poly& v) {
    if (Inverse("Sigmoid", v)) return "Sigmoid";
    if (v.empty()) return "the constant 0";
    if (v.size() > 1) return absl::StrCat("a sum of ", v.size(), " terms (", Show(v), ")");
    const auto& [m, c] = *v.begin();
    if (m.empty()) return absl::StrCat("the constant ", c.ToString());
    if (m.size() > 1) return absl::StrCat("a product (", Show(v), ")");
    const nf::Atom& a = alg_.atom(m[0]);
    const std::string what = a.kind == AtomKind::kFunction ? a.op : "no activation";
    return c == kOne ? what : absl::StrCat(c.ToString(), "·", what);
  }
  // "<what> uses Relu, lstm needs Tanh"
  absl::Status Uses(const std::string& what, const Poly& v, const CellKind& kind,
                    const std::string& act) {
    return Miss(absl::StrCat(what, " uses ", Form(v), ", ", kind.name, " needs ", act));
  }
  std::optional<AtomId> Leaf(ValueRef v) const { return alg_.FindLeaf(v); }
  bool IsFunction(AtomId a, const char* op) const {
    return alg_.atom(a).kind == AtomKind::kFunction && alg_.atom(a).op == op;
  }

  // p = with * a + rest, `rest` free of the factor a (inside atoms does not count).
  struct Split {
    Poly with, rest;
  };
  static Split SplitBy(const Poly& p, AtomId a) {
    Split s;
    for (const auto& [m, c] : p) {
      auto it = std::find(m.begin(), m.end(), a);
      if (it == m.end()) {
        s.rest.emplace(m, c);
      } else {
        Monomial q = m;
        q.erase(q.begin() + (it - m.begin()));
        s.with.emplace(std::move(q), c);
      }
    }
    return s;
  }
  static bool HasFactor(const Poly& p, AtomId a) {
    for (const auto& [m, c] : p) {
      if (std::find(m.begin(), m.end(), a) != m.end()) return true;
    }
    return false;
  }
  // p / a when every term has the factor a.
  static std::optional<Poly> Divide(const Poly& p, AtomId a) {
    Split s = SplitBy(p, a);
    if (!s.rest.empty() || s.with.empty()) return std::nullopt;
    return s.with;
  }
  // The tanh atoms that are factors of p's first term.
  std::vector<AtomId> TanhFactors(const Poly& p) const {
    std::vector<AtomId> out;
    if (p.empty()) return out;
    for (AtomId a : p.begin()->first) {
      if (IsFunction(a, "Tanh") && std::find(out.begin(), out.end(), a) == out.end()) {
        out.push_back(a);
      }
    }
    return out;
  }

  // s = act(a): returns a. sigmoid(a) is 1/2 ± 1/2 tanh(±a/2) in normal form.
  std::optional<Poly> Inverse(const std::string& act, const Poly& s) {
    if (act == "Sigmoid") {
      if (s.size() != 2 || !s.begin()->first.empty() || s.begin()->second != kHalf) {
        return std::nullopt;
      }
      const auto& [m, c] = *std::next(s.begin());
      if (m.size() != 1 || !IsFunction(m[0], "Tanh") || std::abs(c.num) != 1 || c.den != 2) {
        return std::nullopt;
      }
      return alg_.Scaled(alg_.atom(m[0]).args[0], {2 * c.num, 1});
    }
    if (s.size() != 1) return std::nullopt;
    const auto& [m, c] = *s.begin();
    if (m.size() != 1 || !IsFunction(m[0], act.c_str())) return std::nullopt;
    if (c == kOne) return alg_.atom(m[0]).args[0];
    if (act == "Tanh" && c == kMinusOne) return alg_.Scaled(alg_.atom(m[0]).args[0], kMinusOne);
    return std::nullopt;
  }

  // What a near miss adds to a gate s that multiplies `factor_value` (the old
  // state): for s = sigmoid(a) + 1/2 and c, " has the extra term 0.5·c".
  std::string Extra(const Poly& s, ValueRef factor_value) {
    if (s.empty()) return "";
    for (const auto& [m, c] : s) {
      if (m.size() != 1 || !IsFunction(m[0], "Tanh") || std::abs(c.num) != 1 || c.den != 2) {
        continue;
      }
      const Poly sigmoid = alg_.Sum(Algebra::Constant(kHalf), Poly{{m, c}});
      const Poly extra = alg_.Difference(s, sigmoid);
      if (HasFactor(extra, m[0])) return "";  // not a gate plus something else
      const Poly times = alg_.Product(extra, alg_.Leaf(factor_value));
      return absl::StrCat(" has the extra term", extra.size() > 1 ? "s " : " ", Show(times));
    }
    return "";
  }

  // p == k * v * target for a parameter vector v: (v, k).
  std::optional<RoleTerm> VectorTimes(const Poly& p, const Poly& target) {
    if (p.empty() || target.empty()) return std::nullopt;
    for (AtomId a : p.begin()->first) {
      const nf::Atom& atom = alg_.atom(a);
      if (atom.kind != AtomKind::kLeaf || !alg_.ParameterOnly(atom.value) ||
          !IsVector(atom.value)) {
        continue;
      }
      std::optional<Poly> q = Divide(p, a);
      if (!q) continue;
      if (std::optional<Rational> k = nf::Ratio(*q, target)) return RoleTerm{atom.value, k->value()};
    }
    return std::nullopt;
  }

  bool IsVector(ValueRef v) const { return g_.spec(v).shape == Shape{H_}; }
  bool IsWeight(ValueRef w, int64_t rows) const { return g_.spec(w).shape == Shape{rows, H_}; }

  Linear Classify(const Poly& pre) {
    Linear t;
    const std::optional<AtomId> x = Leaf(x_), h = Leaf(states_[0]);
    for (const auto& [m, c] : pre) {
      if (m.empty()) {
        t.constant = c.value();
        continue;
      }
      if (m.size() == 1) {
        const nf::Atom& a = alg_.atom(m[0]);
        if (a.kind == AtomKind::kMatMul && x && a.lhs == Monomial{*x} && IsWeight(a.value, I_)) {
          t.w.push_back({a.value, c.value()});
          continue;
        }
        if (a.kind == AtomKind::kMatMul && h && a.lhs == Monomial{*h} && IsWeight(a.value, H_)) {
          t.u.push_back({a.value, c.value()});
          continue;
        }
        if (a.kind == AtomKind::kLeaf && alg_.ParameterOnly(a.value) && IsVector(a.value)) {
          t.bias.push_back({a.value, c.value()});
          continue;
        }
      }
      t.rest.emplace(m, c);
    }
    return t;
  }

  // The terms of a gate that reads x and (if `needs_u`) h through one matmul each.
  absl::StatusOr<Linear> Gate(const Poly& pre, const std::string& gate, bool needs_u) {
    Linear t = Classify(pre);
    const std::string name = gate.empty() ? "the pre-activation" : "gate " + gate;
    if (t.w.empty()) return Miss(absl::StrCat(name, " does not read the input (no x @ W term)"));
    if (needs_u && t.u.empty()) {
      return Miss(absl::StrCat(name, " does not read h (no h @ U term)",
                               t.rest.empty() ? "" : absl::StrCat("; it has a term the fused kernel "
                                                                  "cannot express: ", Show(t.rest))));
    }
    return t;
  }

  static absl::Status NoRest(const Linear& t, const std::string& gate, const Algebra& alg) {
    if (t.rest.empty()) return absl::OkStatus();
    return Miss(absl::StrCat(gate.empty() ? "the pre-activation" : "gate " + gate,
                             " has a term the fused kernel cannot express: ", alg.ToString(t.rest)));
  }

  absl::Status NeedStates(const CellKind& want) const {
    const size_t n = want.states.size();
    if (states_.size() != n) {
      return Miss(absl::StrCat(want.name, " has ", n, n == 1 ? " state (h)" : " states (h, c)",
                               ", this cell has ", states_.size()));
    }
    return absl::OkStatus();
  }

  static void AddRole(CellMatch& m, const std::string& role, std::vector<RoleTerm> terms,
                      double constant = 0) {
    if (terms.empty() && constant == 0) return;
    m.roles.push_back({role, std::move(terms), constant});
  }
  void AddGateRoles(CellMatch& m, const std::string& g, const Linear& t) const {
    AddRole(m, RoleName("W", g), t.w);
    AddRole(m, RoleName("U", g), t.u);
    AddRole(m, RoleName("b", g), t.bias, t.constant);
  }

  // One weight value may serve one role only.
  absl::Status DistinctWeights(const CellMatch& m) const {
    std::map<ValueRef, std::string> seen;
    for (const RoleBinding& r : m.roles) {
      if (r.role[0] != 'W' && r.role[0] != 'U') continue;
      for (const RoleTerm& t : r.terms) {
        auto [it, fresh] = seen.emplace(t.value, r.role);
        if (!fresh && it->second != r.role) {
          return Miss(absl::StrCat(Describe(t.value), " is the weight of both ", it->second,
                                   " and ", r.role, "; the fused kernel keeps one weight per gate"));
        }
      }
    }
    return absl::OkStatus();
  }

  struct GruCandidate {
    std::vector<RoleTerm> w, u;  // x @ W_n; the U_n terms
    Linear b, bh;                // b_n, bh_n (linear before reset)
    Poly pre_r;
    bool lbr = false;
  };
  absl::StatusOr<GruCandidate> Candidate(const Poly& pre, const CellKind& kind);
  std::optional<std::pair<Rational, Poly>> ScaledSigmoid(const Poly& p);
  absl::Status NotElementwiseInH(const Poly& rest) const;

  absl::Status LstmPeephole(const Linear& t, const std::string& gate, const Poly& expected,
                            const std::string& expected_name, const Poly& c2,
                            std::optional<RoleTerm>& out);

  const Graph& g_;
  Algebra alg_;
  ValueRef x_{-1, 0};
  std::vector<ValueRef> states_;
  std::vector<Poly> next_;  // per state, its next value
  int64_t I_ = 0, H_ = 0;
};

}  // namespace gatefuse::recognition

#endif  // GATEFUSE_PASSES_CELL_MATCHER_H_
