#include "passes/normal_form.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status.h"
#include "graph/text.h"
#include "passes/gemm_merge.h"
#include "passes/graph_util.h"

namespace gatefuse::nf {
namespace {

constexpr int64_t kMaxDenominator = int64_t{1} << 24;

bool IsExp(const Atom& a) { return a.kind == AtomKind::kFunction && a.op == "Exp"; }

// The exact fraction, or nullopt if it does not fit 64 bits.
std::optional<Rational> Reduced(__int128 num, __int128 den) {
  if (den == 0) return std::nullopt;
  if (den < 0) {
    num = -num;
    den = -den;
  }
  __int128 a = num < 0 ? -num : num, b = den;
  while (b != 0) {
    const __int128 t = a % b;
    a = b;
    b = t;
  }
  if (a > 1) {
    num /= a;
    den /= a;
  }
  constexpr __int128 kMax = INT64_MAX;
  if (num > kMax || num < -kMax || den > kMax) return std::nullopt;
  return Rational{static_cast<int64_t>(num), static_cast<int64_t>(den)};
}

}  // namespace

std::optional<Rational> Rational::FromDouble(double v) {
  if (!std::isfinite(v) || std::abs(v) > 9.0e15) return std::nullopt;
  const bool negative = v < 0;
  const double target = std::abs(v);
  const bool is_float = static_cast<double>(static_cast<float>(v)) == v;
  // Continued-fraction convergents h/k of `target`, smallest denominator first.
  double x = target;
  int64_t h_prev = 1, h_prev2 = 0, k_prev = 0, k_prev2 = 1;
  for (int step = 0; step < 64; ++step) {
    const double a = std::floor(x);
    if (a > 9.0e15) return std::nullopt;
    const int64_t ai = static_cast<int64_t>(a);
    const __int128 h = static_cast<__int128>(ai) * h_prev + h_prev2;
    const __int128 k = static_cast<__int128>(ai) * k_prev + k_prev2;
    if (k > kMaxDenominator || h > INT64_MAX) return std::nullopt;
    const double q = static_cast<double>(h) / static_cast<double>(k);
    if (q == target || (is_float && static_cast<float>(q) == static_cast<float>(target))) {
      return Rational{negative ? -static_cast<int64_t>(h) : static_cast<int64_t>(h),
                      static_cast<int64_t>(k)};
    }
    const double frac = x - a;
    if (frac <= 0) return std::nullopt;
    x = 1 / frac;
    h_prev2 = h_prev;
    h_prev = static_cast<int64_t>(h);
    k_prev2 = k_prev;
    k_prev = static_cast<int64_t>(k);
  }
  return std::nullopt;
}

std::string Rational::ToString() const {
  if (den == 1) return absl::StrCat(num);
  // A decimal where it is exact and short (1/2, 3/4, 1/8, 1/5, 1/20), else p/q.
  int64_t d = den;
  while (d % 2 == 0) d /= 2;
  while (d % 5 == 0) d /= 5;
  if (d == 1 && den <= 100000) return absl::StrCat(value());
  return absl::StrCat(num, "/", den);
}

Rational LeadingCoefficient(const Poly& p) { return p.empty() ? Rational{} : p.begin()->second; }

std::optional<Rational> Ratio(const Poly& p, const Poly& q) {
  if (q.empty() || p.size() != q.size()) return std::nullopt;
  const Rational a = p.begin()->second, b = q.begin()->second;
  std::optional<Rational> k = Reduced(static_cast<__int128>(a.num) * b.den,
                                      static_cast<__int128>(a.den) * b.num);
  if (!k) return std::nullopt;
  for (auto i = p.begin(), j = q.begin(); i != p.end(); ++i, ++j) {
    if (i->first != j->first) return std::nullopt;
    std::optional<Rational> c = Reduced(static_cast<__int128>(j->second.num) * k->num,
                                        static_cast<__int128>(j->second.den) * k->den);
    if (!c || *c != i->second) return std::nullopt;
  }
  return k;
}

Algebra::Algebra(const Graph& g) : g_(g) {
  absl::StatusOr<std::vector<NodeId>> order = g.TopologicalOrder();
  if (!order.ok()) {
    error_ = order.status();
    param_only_.assign(g.num_node_slots(), false);
    return;
  }
  param_only_ = gatefuse::ParameterOnly(g, *order);
}

Rational Algebra::Add(Rational a, Rational b) {
  std::optional<Rational> r = Reduced(static_cast<__int128>(a.num) * b.den +
                                          static_cast<__int128>(b.num) * a.den,
                                      static_cast<__int128>(a.den) * b.den);
  if (!r) {
    if (error_.ok()) error_ = absl::ResourceExhaustedError("a coefficient overflows 64 bits");
    return {};
  }
  return *r;
}

Rational Algebra::Mul(Rational a, Rational b) {
  std::optional<Rational> r = Reduced(static_cast<__int128>(a.num) * b.num,
                                      static_cast<__int128>(a.den) * b.den);
  if (!r) {
    if (error_.ok()) error_ = absl::ResourceExhaustedError("a coefficient overflows 64 bits");
    return {};
  }
  return *r;
}

void Algebra::CheckSize(const Poly& p) {
  if (p.size() > kMaxTerms && error_.ok()) {
    error_ = absl::ResourceExhaustedError(
        absl::StrCat("a normal form has more than ", kMaxTerms, " terms"));
  }
}

std::string Algebra::Key(const Poly& p) const {
  std::string key;
  for (const auto& [m, c] : p) {
    absl::StrAppend(&key, c.num, "/", c.den, ":", absl::StrJoin(m, ","), ";");
  }
  return key;
}

AtomId Algebra::Intern(Atom a) {
  std::string key;
  switch (a.kind) {
    case AtomKind::kLeaf:
      key = absl::StrCat("L", a.value.node, ".", a.value.index);
      break;
    case AtomKind::kOpaque:
      key = absl::StrCat("O", a.value.node, ".", a.value.index);
      break;
    case AtomKind::kMatMul:
      key = absl::StrCat("M", absl::StrJoin(a.lhs, ","), "@", a.value.node, ".", a.value.index);
      break;
    case AtomKind::kFunction: {
      std::vector<std::string> args;
      for (const Poly& p : a.args) args.push_back(Key(p));
      key = absl::StrCat("F", a.op, "{", a.attrs, "}(", absl::StrJoin(args, "|"), ")");
      break;
    }
    case AtomKind::kReciprocal:
      key = absl::StrCat("R(", Key(a.args[0]), ")");
      break;
  }
  auto [it, fresh] = index_.emplace(key, static_cast<AtomId>(atoms_.size()));
  if (fresh) atoms_.push_back(std::move(a));
  return it->second;
}

std::optional<AtomId> Algebra::FindLeaf(ValueRef v) const {
  auto it = index_.find(absl::StrCat("L", v.node, ".", v.index));
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

Poly Algebra::Constant(Rational c) {
  if (c.num == 0) return {};
  return Poly{{Monomial{}, c}};
}

Poly Algebra::Leaf(ValueRef v) {
  Atom a;
  a.kind = AtomKind::kLeaf;
  a.value = v;
  return AtomPoly(Intern(std::move(a)));
}

Poly Algebra::Sum(const Poly& a, const Poly& b) {
  Poly r = a;
  for (const auto& [m, c] : b) {
    auto [it, fresh] = r.emplace(m, c);
    if (!fresh) {
      it->second = Add(it->second, c);
      if (it->second.num == 0) r.erase(it);
    }
  }
  CheckSize(r);
  return r;
}

Poly Algebra::Scaled(const Poly& a, Rational s) {
  if (s.num == 0) return {};
  Poly r;
  for (const auto& [m, c] : a) r.emplace(m, Mul(c, s));
  return r;
}

// a * b as one monomial, with every exp factor merged into one: exp(u) exp(v) is
// exp(u + v), and exp(0) is no factor.
Monomial Algebra::MonomialProduct(const Monomial& a, const Monomial& b) {
  Monomial m;
  std::merge(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(m));
  int exps = 0;
  for (AtomId id : m) exps += IsExp(atoms_[id]) ? 1 : 0;
  if (exps < 2) return m;
  Poly exponent;
  Monomial rest;
  for (AtomId id : m) {
    if (IsExp(atoms_[id])) {
      exponent = Sum(exponent, atoms_[id].args[0]);
    } else {
      rest.push_back(id);
    }
  }
  if (!exponent.empty()) {
    const Poly e = Exp(exponent);
    rest.insert(std::upper_bound(rest.begin(), rest.end(), e.begin()->first[0]),
                e.begin()->first[0]);
  }
  return rest;
}

Poly Algebra::Product(const Poly& a, const Poly& b) {
  if (a.size() * b.size() > 4 * kMaxTerms) {
    if (error_.ok()) {
      error_ = absl::ResourceExhaustedError(
          absl::StrCat("a product of normal forms of ", a.size(), " and ", b.size(), " terms"));
    }
    return {};
  }
  Poly r;
  for (const auto& [ma, ca] : a) {
    for (const auto& [mb, cb] : b) {
      const Rational c = Mul(ca, cb);
      auto [it, fresh] = r.emplace(MonomialProduct(ma, mb), c);
      if (!fresh) it->second = Add(it->second, c);
    }
  }
  for (auto it = r.begin(); it != r.end();) {
    it = it->second.num == 0 ? r.erase(it) : std::next(it);
  }
  CheckSize(r);
  return r;
}

Poly Algebra::Tanh(const Poly& a) {
  if (a.empty()) return {};
  if (LeadingCoefficient(a).num < 0) return Scaled(Tanh(Scaled(a, {-1, 1})), {-1, 1});
  return Function("Tanh", "", {a});
}

Poly Algebra::Sigmoid(const Poly& a) {
  return Sum(Constant({1, 2}), Scaled(Tanh(Scaled(a, {1, 2})), {1, 2}));
}

Poly Algebra::Exp(const Poly& a) {
  if (a.empty()) return Constant({1, 1});
  return Function("Exp", "", {a});
}

Poly Algebra::Quotient(const Poly& n, const Poly& d) {
  if (d.size() == 1 && d.begin()->first.empty()) {  // a constant
    const Rational c = d.begin()->second;
    return Scaled(n, {c.num < 0 ? -c.den : c.den, std::abs(c.num)});
  }
  // Each term of d is e^u: the constant (u = 0) or one exp factor.
  auto exponent = [&](const Monomial& m) -> std::optional<Poly> {
    if (m.empty()) return Poly{};
    if (m.size() == 1 && IsExp(atoms_[m[0]])) return atoms_[m[0]].args[0];
    return std::nullopt;
  };
  if (d.size() == 1) {
    if (std::optional<Poly> u = exponent(d.begin()->first)) {  // n / (c e^u) = n e^-u / c
      const Rational c = d.begin()->second;
      return Scaled(Product(n, Exp(Scaled(*u, {-1, 1}))),
                    {c.num < 0 ? -c.den : c.den, std::abs(c.num)});
    }
  }
  if (d.size() == 2) {
    auto first = d.begin(), second = std::next(d.begin());
    std::optional<Poly> u = exponent(first->first), v = exponent(second->first);
    const Rational alpha = first->second;
    bool fits = u && v && alpha == second->second && alpha.num > 0;
    Rational p{}, q{};
    for (const auto& [m, c] : n) {
      if (m == first->first) {
        p = c;
      } else if (m == second->first) {
        q = c;
      } else {
        fits = false;
      }
    }
    if (fits) {  // (p e^u + q e^v) / (alpha (e^u + e^v)) = (q + (p - q) sigmoid(u - v)) / alpha
      const Poly s = Sum(Constant(q), Scaled(Sigmoid(Difference(*u, *v)), Add(p, {-q.num, q.den})));
      return Scaled(s, {alpha.den, alpha.num});
    }
  }
  const Rational lead = LeadingCoefficient(d);
  Atom a;
  a.kind = AtomKind::kReciprocal;
  a.args = {Scaled(d, {lead.num < 0 ? -lead.den : lead.den, std::abs(lead.num)})};
  return Scaled(Product(n, AtomPoly(Intern(std::move(a)))),
                {lead.num < 0 ? -lead.den : lead.den, std::abs(lead.num)});
}

Poly Algebra::MatMul(const Poly& lhs, ValueRef w) {
  Poly r;
  for (const auto& [m, c] : lhs) {
    Atom a;
    a.kind = AtomKind::kMatMul;
    a.lhs = m;
    a.value = w;
    r.emplace(Monomial{Intern(std::move(a))}, c);
  }
  return r;
}

Poly Algebra::Function(const std::string& op, const std::string& attrs,
                       const std::vector<Poly>& args) {
  Atom a;
  a.kind = AtomKind::kFunction;
  a.op = op;
  a.attrs = attrs;
  a.args = args;
  return AtomPoly(Intern(std::move(a)));
}

absl::StatusOr<Poly> Algebra::Of(ValueRef v) {
  if (!error_.ok()) return error_;
  auto it = memo_.find(v);
  if (it != memo_.end()) return it->second;
  GF_ASSIGN_OR_RETURN(Poly p, Compute(v));
  if (!error_.ok()) return error_;
  memo_.emplace(v, p);
  return p;
}

absl::StatusOr<Poly> Algebra::Compute(ValueRef v) {
  const NodeData& d = g_.node(v.node);
  if (d.op == kInputOp) return Leaf(v);
  if (param_only_[v.node]) {
    if (d.op == kConstantOp && d.value.num_elements() > 0 &&
        IsConstantEqualTo(g_, v, d.value.At(0))) {
      if (std::optional<Rational> r = Rational::FromDouble(d.value.At(0))) return Constant(*r);
    }
    // Sums and scalings of parameters are polynomials of them (b1 - -1 * b2 is
    // b1 + b2, W * 2 * 0.5 is W); anything else of parameters is one leaf.
    static const std::set<std::string> kLinear = {"AddN", "Add", "Sub", "Neg", "MulScalar",
                                                  "AddScalar", "RSubScalar"};
    if (!kLinear.count(d.op)) return Leaf(v);
  }
  std::vector<Poly> in;
  for (const ValueRef& i : d.inputs) {
    GF_ASSIGN_OR_RETURN(Poly p, Of(i));
    in.push_back(std::move(p));
  }
  auto opaque = [&] {
    Atom a;
    a.kind = AtomKind::kOpaque;
    a.value = v;
    return AtomPoly(Intern(std::move(a)));
  };
  const std::string& op = d.op;
  if (op == "AddN" || op == "Add") {
    Poly s;
    for (const Poly& p : in) s = Sum(s, p);
    return s;
  }
  if (op == "Sub") return Difference(in[0], in[1]);
  if (op == "Neg") return Scaled(in[0], {-1, 1});
  if (op == "Mul") return Product(in[0], in[1]);
  if (op == "Div") return Quotient(in[0], in[1]);
  if (op == "AddScalar" || op == "MulScalar" || op == "RSubScalar") {
    absl::StatusOr<double> s = d.attrs.GetFloat(op, "value");
    std::optional<Rational> r = s.ok() ? Rational::FromDouble(*s) : std::nullopt;
    if (!r) return opaque();
    if (op == "AddScalar") return Sum(in[0], Constant(*r));
    if (op == "MulScalar") return Scaled(in[0], *r);
    return Difference(Constant(*r), in[0]);
  }
  if (op == "Sigmoid") return Sigmoid(in[0]);
  if (op == "Tanh") return Tanh(in[0]);
  if (op == "Exp") return Exp(in[0]);
  if (op == "MatMul") {
    const bool plain = d.attrs.GetInt(op, "transpose_a").value_or(1) == 0 &&
                       d.attrs.GetInt(op, "transpose_b").value_or(1) == 0;
    if (!plain || !param_only_[d.inputs[1].node]) return opaque();
    // Linear in the weight too: a @ (W1 + 2 W2) = a @ W1 + 2 (a @ W2).
    Poly r;
    for (const auto& [m, c] : in[1]) {
      if (m.size() != 1 || atoms_[m[0]].kind != AtomKind::kLeaf) return opaque();
      r = Sum(r, Scaled(MatMul(in[0], atoms_[m[0]].value), c));
    }
    return r;
  }
  // Random ops are not functions of their inputs; a node of several outputs is
  // one atom per output.
  if (op == "Dropout" || in.empty()) return opaque();
  std::string attrs = d.attrs.ToString();
  if (d.outputs.size() > 1) absl::StrAppend(&attrs, "#", v.index);
  return Function(op, attrs, in);
}

std::string Algebra::Name(ValueRef v) const {
  if (names_) return names_(v);
  const NodeData& d = g_.node(v.node);
  return d.op == kInputOp ? d.name : NodeLabel(g_, v.node);
}

std::string Algebra::AtomString(AtomId id) const {
  const Atom& a = atoms_[id];
  switch (a.kind) {
    case AtomKind::kLeaf:
    case AtomKind::kOpaque:
      return Name(a.value);
    case AtomKind::kMatMul:
      return absl::StrCat("(", a.lhs.empty() ? "1" : ToString(Poly{{a.lhs, Rational{1, 1}}}),
                          " @ ", Name(a.value), ")");
    case AtomKind::kFunction: {
      std::vector<std::string> args;
      for (const Poly& p : a.args) args.push_back(ToString(p));
      std::string name = a.op;
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      return absl::StrCat(name, "(", absl::StrJoin(args, ", "),
                          a.attrs.empty() ? "" : absl::StrCat("; ", a.attrs), ")");
    }
    case AtomKind::kReciprocal:
      return absl::StrCat("1/(", ToString(a.args[0]), ")");
  }
  return "?";
}

std::string Algebra::ToString(const Poly& p) const {
  if (p.empty()) return "0";
  std::string s;
  bool first = true;
  for (const auto& [m, c] : p) {
    const bool negative = c.num < 0;
    const Rational mag{std::abs(c.num), c.den};
    if (first) {
      if (negative) s += "-";
    } else {
      s += negative ? " - " : " + ";
    }
    first = false;
    std::vector<std::string> factors;
    if (m.empty() || mag != Rational{1, 1}) factors.push_back(mag.ToString());
    for (size_t k = 0; k < m.size();) {
      size_t j = k;
      while (j < m.size() && m[j] == m[k]) ++j;
      std::string f = AtomString(m[k]);
      if (j - k > 1) absl::StrAppend(&f, "^", j - k);
      factors.push_back(std::move(f));
      k = j;
    }
    s += absl::StrJoin(factors, "·");
  }
  return s;
}

}  // namespace gatefuse::nf
