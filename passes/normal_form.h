// The algebraic normal form of a cell step's values, which cell recognition
// compares (passes/recognize_cell.cc). A value is a polynomial with rational
// coefficients over atoms:
//   leaves     the per-step input, the states, parameter-only values (parameters,
//              their slices and concatenations, non-uniform constants; sums and
//              scalings of parameters are polynomials of them);
//   m @ W      for a monomial m and a parameter-only leaf W: a matmul is linear in
//              both operands, so (a + b) @ W is a @ W + b @ W, (2 r h) @ W is
//              2 ((r h) @ W) and x @ (W1 + W2) is x @ W1 + x @ W2;
//   functions  an op applied to normal forms (tanh(p), exp(p), relu(p), max(p, q),
//              mean(p), any other deterministic op), equal when op, attributes and
//              arguments are;
//   1 / p      for a denominator no identity below turns into a function.
// Products are expanded over sums, like terms collected and terms kept in one
// order, so two spellings equal as polynomials have one normal form:
// n + z h - z n, z (h - n) + n and (1 - z) n + z h are one polynomial. Function
// identities, applied as the forms are built:
//   sigmoid(a)                    = 1/2 + 1/2 tanh(a/2)
//   tanh(a)                       = -tanh(-a)  (kept with the argument's first term positive)
//   exp(a) exp(b)                 = exp(a + b),  exp(0) = 1
//   (p e^u + q e^v) / (e^u + e^v) = q + (p - q) sigmoid(u - v)
// so 1 - sigmoid(a) and sigmoid(-a) are one form, 1 / (1 + exp(-a)) is sigmoid(a),
// 2 sigmoid(2a) - 1 and (e^a - e^-a) / (e^a + e^-a) are tanh(a).
//
// Atoms are numbered as they are met and the order of terms follows the numbers,
// so normal forms compare within one Algebra only.
#ifndef GATEFUSE_PASSES_NORMAL_FORM_H_
#define GATEFUSE_PASSES_NORMAL_FORM_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/graph.h"

namespace gatefuse::nf {

// An exact fraction, den > 0, in lowest terms.
struct Rational {
  int64_t num = 0;
  int64_t den = 1;

  // The fraction with denominator at most 2^24 that is `v` as a double or as a
  // float (0.1f is 1/10), if there is one.
  static std::optional<Rational> FromDouble(double v);
  double value() const { return static_cast<double>(num) / static_cast<double>(den); }
  bool operator==(const Rational& o) const { return num == o.num && den == o.den; }
  bool operator!=(const Rational& o) const { return !(*this == o); }
  // "0.5", "-3", "1/3".
  std::string ToString() const;
};

using AtomId = int;
// Sorted atom ids; an atom repeated is a power.
using Monomial = std::vector<AtomId>;
// Monomial -> coefficient, no zero coefficients; the empty monomial is the constant.
using Poly = std::map<Monomial, Rational>;

enum class AtomKind { kLeaf, kMatMul, kFunction, kReciprocal, kOpaque };

struct Atom {
  AtomKind kind = AtomKind::kLeaf;
  ValueRef value;        // kLeaf, kOpaque: the value; kMatMul: the weight W
  Monomial lhs;          // kMatMul: the monomial m of m @ W
  std::string op;        // kFunction: the op ("Tanh", "Exp", "Relu", "Max", ...)
  std::string attrs;     // kFunction: the op's attributes as text
  std::vector<Poly> args;  // kFunction: the arguments; kReciprocal: the denominator
};

class Algebra {
 public:
  // The largest number of terms one normal form may have.
  static constexpr size_t kMaxTerms = 4096;

  explicit Algebra(const Graph& g);

  // The normal form of `v`. ResourceExhausted when a form outgrows kMaxTerms or a
  // coefficient overflows 64 bits (recognition then gives up on the cell).
  absl::StatusOr<Poly> Of(ValueRef v);

  // ---- building (what Of uses; also for the templates a matcher compares) ----
  static Poly Constant(Rational c);
  Poly AtomPoly(AtomId a) const { return Poly{{Monomial{a}, Rational{1, 1}}}; }
  Poly Leaf(ValueRef v);
  Poly Sum(const Poly& a, const Poly& b);
  Poly Difference(const Poly& a, const Poly& b) { return Sum(a, Scaled(b, {-1, 1})); }
  Poly Scaled(const Poly& a, Rational s);
  Poly Product(const Poly& a, const Poly& b);
  Poly Sigmoid(const Poly& a);
  Poly Tanh(const Poly& a);
  Poly Exp(const Poly& a);
  Poly Quotient(const Poly& n, const Poly& d);
  Poly MatMul(const Poly& lhs, ValueRef w);
  Poly Function(const std::string& op, const std::string& attrs, const std::vector<Poly>& args);

  // ---- reading ----
  const Atom& atom(AtomId id) const { return atoms_[id]; }
  const Graph& graph() const { return g_; }
  bool ParameterOnly(ValueRef v) const { return param_only_[v.node]; }
  // The atom of leaf `v`, if any form met it.
  std::optional<AtomId> FindLeaf(ValueRef v) const;
  // "x", "%7", "(h @ U)", "tanh(0.5·a)"; terms in the form's order. Leaves and
  // weights by `names` if set, else an input's name or the node's label.
  std::string ToString(const Poly& p) const;
  std::string AtomString(AtomId id) const;
  void set_names(std::function<std::string(ValueRef)> names) { names_ = std::move(names); }

 private:
  AtomId Intern(Atom a);
  std::string Key(const Poly& p) const;
  Rational Add(Rational a, Rational b);
  Rational Mul(Rational a, Rational b);
  Monomial MonomialProduct(const Monomial& a, const Monomial& b);
  void CheckSize(const Poly& p);
  std::string Name(ValueRef v) const;
  absl::StatusOr<Poly> Compute(ValueRef v);

  const Graph& g_;
  std::vector<bool> param_only_;
  std::vector<Atom> atoms_;
  std::map<std::string, AtomId> index_;
  std::map<ValueRef, Poly> memo_;
  absl::Status error_;
  std::function<std::string(ValueRef)> names_;
};

// The first term's coefficient (the constant's, if there is one); 0 for 0.
Rational LeadingCoefficient(const Poly& p);
// k with p == k q, if there is one (q not 0).
std::optional<Rational> Ratio(const Poly& p, const Poly& q);

}  // namespace gatefuse::nf

#endif  // GATEFUSE_PASSES_NORMAL_FORM_H_
