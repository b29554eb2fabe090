// Random respellings of a .cell program for property tests of cell recognition.
//
// A Program is a cell's equations as expression trees. A rewrite changes how the
// equations are written and never what they compute, e.g. from the GRU's update
//   next h = (1 - z) * n + z * h
// distribute, then factor z, then commute:
//   next h = z * (h - n) + n
// Rewrites that change the parameters (merged matmuls, concat(x, h) @ V, a bias
// in two terms, merged biases) record in each new parameter's ParamSource how it
// is computed from the original cell's parameters, so a test can bind both cells
// to the same values:
//   x @ Wi, x @ Wf, x @ Wg, x @ Wo  ->  a1, a2, a3, a4 = split(x @ W1, 4)
//   W1 = Concat({Wi, Wf, Wg, Wo}, axis 1)
//   bi -> (bi_1 + bi_2)   bi_1 random, bi_2 = bi - bi_1
// Choices come from a seeded std::mt19937 read through `rng() % n` only, so a seed
// gives the same text with any standard library.
#ifndef GATEFUSE_TESTS_SPELLING_REWRITES_H_
#define GATEFUSE_TESTS_SPELLING_REWRITES_H_

#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace gatefuse::spelling {

struct Node;
using Expr = std::shared_ptr<const Node>;

// kParen is a pair of parentheses the printer keeps (redundant or not); every
// other pair is printed only where precedence needs it.
struct Node {
  enum class Kind { kNumber, kName, kNeg, kAdd, kSub, kMul, kDiv, kMatMul, kCall, kParen };
  Kind kind = Kind::kNumber;
  double number = 0;       // kNumber
  std::string name;        // kName: the value; kCall: the function
  std::vector<Expr> args;  // kNeg, kParen: 1; binary: 2; kCall: the arguments
};

// How a parameter of a spelling is computed from the original cell's parameters.
struct ParamSource {
  enum class Kind {
    kOriginal,    // the original parameter `name`
    kConcat,      // Concat(parts, axis)
    kRandomPart,  // a random value of its own (the first term of a split bias)
    kRest,        // parts[0] minus the kRandomPart parameter `partner`
  };
  Kind kind = Kind::kOriginal;
  std::string name;
  int axis = 0;
  std::vector<ParamSource> parts;
  std::string partner;
};

struct Param {
  std::string name;
  std::vector<std::string> dims;  // .cell sizes: "I", "H", "I+H", "4*H"
  ParamSource source;
  bool bias = false;  // a bias vector: may be split into two terms or merged
};

// ---- expressions: built, printed, and sums and products taken as lists ----

// One of n choices: rng() % n, the same with any standard library.
inline int Pick(std::mt19937& rng, size_t n) {
  return static_cast<int>(rng() % static_cast<unsigned>(n));
}
inline bool Coin(std::mt19937& rng) { return rng() % 2 == 0; }

inline Expr Make(Node::Kind k, std::vector<Expr> args, std::string name = "", double number = 0) {
  return std::make_shared<const Node>(Node{k, number, std::move(name), std::move(args)});
}
inline Expr Num(double v) { return Make(Node::Kind::kNumber, {}, "", v); }
inline Expr Name(const std::string& s) { return Make(Node::Kind::kName, {}, s); }
inline Expr Neg(Expr a) { return Make(Node::Kind::kNeg, {std::move(a)}); }
inline Expr Bin(Node::Kind k, Expr a, Expr b) { return Make(k, {std::move(a), std::move(b)}); }
inline Expr Call(const std::string& f, std::vector<Expr> args) {
  return Make(Node::Kind::kCall, std::move(args), f);
}
inline Expr Paren(Expr a) { return Make(Node::Kind::kParen, {std::move(a)}); }

inline Expr Strip(Expr e) {
  while (e->kind == Node::Kind::kParen) e = e->args[0];
  return e;
}
inline bool Is(const Expr& e, Node::Kind k) { return Strip(e)->kind == k; }
inline bool IsNumber(const Expr& e, double v) {
  return Is(e, Node::Kind::kNumber) && Strip(e)->number == v;
}
inline bool IsCallOf(const Expr& e, const char* f) {
  const Expr s = Strip(e);
  return s->kind == Node::Kind::kCall && s->name == f && s->args.size() == 1;
}
inline bool IsSplitCall(const Expr& e) {
  return e->kind == Node::Kind::kCall && e->name == "split";
}
inline bool IsSum(const Expr& e) {
  return e->kind == Node::Kind::kAdd || e->kind == Node::Kind::kSub;
}

// Top-down: where f gives an expression it replaces the node.
inline Expr Map(const Expr& e, const std::function<Expr(const Expr&)>& f) {
  if (Expr r = f(e)) return r;
  auto copy = std::make_shared<Node>(*e);
  for (Expr& a : copy->args) a = Map(a, f);
  return copy;
}
// The names an expression reads.
inline std::set<std::string> Names(const Expr& e) {
  std::set<std::string> out;
  if (e->kind == Node::Kind::kName) out.insert(e->name);
  for (const Expr& a : e->args) out.merge(Names(a));
  return out;
}

// ---- printing ----

// Binding strength: sums 1, products 2, @ 3, unary minus 4, atoms 5.
inline int Level(const Expr& e, bool keep_parens) {
  switch (e->kind) {
    case Node::Kind::kAdd:
    case Node::Kind::kSub: return 1;
    case Node::Kind::kMul:
    case Node::Kind::kDiv: return 2;
    case Node::Kind::kMatMul: return 3;
    case Node::Kind::kNeg: return 4;
    case Node::Kind::kNumber: return e->number < 0 ? 4 : 5;
    case Node::Kind::kParen: return keep_parens ? 5 : Level(e->args[0], false);
    default: return 5;
  }
}

inline void PrintTo(const Expr& e, bool keep, std::string& out, bool parens = false) {
  if (parens) out += "(";
  static const std::map<Node::Kind, const char*> kOps = {{Node::Kind::kAdd, " + "},
                                                         {Node::Kind::kSub, " - "},
                                                         {Node::Kind::kMul, " * "},
                                                         {Node::Kind::kDiv, " / "},
                                                         {Node::Kind::kMatMul, " @ "}};
  switch (e->kind) {
    case Node::Kind::kNumber: absl::StrAppend(&out, e->number); break;
    case Node::Kind::kName: out += e->name; break;
    case Node::Kind::kParen: PrintTo(e->args[0], keep, out, keep); break;
    case Node::Kind::kNeg:
      out += "-", PrintTo(e->args[0], keep, out, Level(e->args[0], keep) < 4);
      break;
    case Node::Kind::kCall:
      absl::StrAppend(&out, e->name, "(");
      for (size_t k = 0; k < e->args.size(); ++k) {
        if (k) out += ", ";
        PrintTo(e->args[k], keep, out);
      }
      out += ")";
      break;
    default: {  // left-associative: a right operand of the same level keeps its parentheses
      const int level = Level(e, keep);
      PrintTo(e->args[0], keep, out, Level(e->args[0], keep) < level);
      out += kOps.at(e->kind);
      PrintTo(e->args[1], keep, out, Level(e->args[1], keep) <= level);
    }
  }
  if (parens) out += ")";
}

// The expression without its redundant parentheses: equal keys, equal expressions.
inline std::string Key(const Expr& e) {
  std::string s;
  PrintTo(e, false, s);
  return s;
}

// ---- sums and products as lists ----

struct Term {
  bool neg = false;
  Expr e;
};

inline void FlattenSum(const Expr& e, bool neg, std::vector<Term>& out) {
  const Expr s = Strip(e);
  if (IsSum(s)) {
    FlattenSum(s->args[0], neg, out);
    FlattenSum(s->args[1], s->kind == Node::Kind::kSub ? !neg : neg, out);
  } else if (s->kind == Node::Kind::kNeg) {
    FlattenSum(s->args[0], !neg, out);
  } else {
    out.push_back({neg, e});
  }
}
inline std::vector<Term> SumTerms(const Expr& e) {
  std::vector<Term> t;
  FlattenSum(e, false, t);
  return t;
}

// The terms summed, bracketed left to right or at random: (negated, expression).
inline std::pair<bool, Expr> BuildSigned(const std::vector<Term>& t, size_t lo, size_t hi,
                                         std::mt19937* random) {
  if (hi - lo == 1) return {t[lo].neg, t[lo].e};
  const size_t mid = random ? lo + 1 + Pick(*random, hi - lo - 1) : hi - 1;
  auto [nl, l] = BuildSigned(t, lo, mid, random);
  auto [nr, r] = BuildSigned(t, mid, hi, random);
  if (nl && !nr) return {false, Bin(Node::Kind::kSub, r, l)};
  return {nl && nr, Bin(nr && !nl ? Node::Kind::kSub : Node::Kind::kAdd, l, r)};
}
inline Expr BuildSum(const std::vector<Term>& t, std::mt19937* random = nullptr) {
  auto [neg, e] = BuildSigned(t, 0, t.size(), random);
  return neg ? Neg(e) : e;
}

inline std::vector<Expr> Factors(const Expr& e) {
  const Expr s = Strip(e);
  if (s->kind != Node::Kind::kMul) return {e};
  std::vector<Expr> f = Factors(s->args[0]), g = Factors(s->args[1]);
  f.insert(f.end(), g.begin(), g.end());
  return f;
}
inline Expr BuildProduct(const std::vector<Expr>& f, size_t lo, size_t hi, std::mt19937* random) {
  if (hi - lo == 1) return f[lo];
  const size_t mid = random ? lo + 1 + Pick(*random, hi - lo - 1) : hi - 1;
  return Bin(Node::Kind::kMul, BuildProduct(f, lo, mid, random), BuildProduct(f, mid, hi, random));
}
inline Expr BuildProduct(const std::vector<Expr>& f, std::mt19937* random = nullptr) {
  return f.empty() ? Num(1) : BuildProduct(f, 0, f.size(), random);
}

// ---- programs ----

struct Statement {
  std::vector<std::string> targets;  // several: the value is split(e, n)
  bool is_next = false;
  Expr value;
};

struct Program {
  std::string input;
  std::vector<std::string> states;  // each [H]; the first is the sequence output
  std::vector<Param> params;
  std::vector<Statement> statements;
  std::string Print() const;  // the .cell text, `cell spelled`
};

// The meaning-preserving rewrite classes.
enum class Rewrite {
  kCommute,            // a + b -> b + a, a * b -> b * a (the terms of a sum or product shuffled)
  kAssociate,          // (a + b) + c <-> a + (b + c), likewise for products
  kParens,             // redundant parentheses added or removed
  kDistribute,         // a * (b + c) -> a*b + a*c, a * (b - c) -> a*b - a*c, (1 - z) * n -> n - z*n
  kFactor,             // a*b + a*c -> a * (b + c), n - z*n -> n * (1 - z)
  kSubNeg,             // a - b <-> a + (-1) * b, a + -b
  kSigmoidNeg,         // 1 - sigmoid(a) <-> sigmoid(-a), also through a name z = sigmoid(a)
  kScale,              // e -> 2 * (0.5 * e), e * 2 * 0.5; and back
  kSigmoidExp,         // sigmoid(a) -> 1 / (1 + exp(-a))
  kTanhSigmoid,        // tanh(a) -> 2 * sigmoid(2 * a) - 1
  kTanhExp,            // tanh(a) -> (exp(a) - exp(-a)) / (exp(a) + exp(-a))
  kLinearBeforeReset,  // r * (h @ Un + bhn) <-> r * (h @ Un) + r * bhn
  kInline,             // a named value replaced by its expression
  kName,               // a subexpression given a name (a new statement)
  kOrder,              // a statement moved, dependencies kept
  kMergeMatMul,        // x @ Wi, x @ Wf, ... -> a, b, ... = split(x @ W, n)
  kConcat,             // x @ W + h @ U -> concat(x, h) @ V
  kSplitBias,          // b -> b1 + b2
  kMergeBias,          // bi, bf, ... -> p, q, ... = split(b, n)
  kCount,
};
const char* RewriteName(Rewrite r);

// Applies `steps` rewrites, each of a class drawn from `allowed` (all classes if
// empty) that has a site in `p`; returns the classes applied, in order (fewer than
// `steps` only if nothing applies).
std::vector<Rewrite> ApplyRandomRewrites(Program& p, std::mt19937& rng, int steps,
                                         const std::vector<Rewrite>& allowed = {});

}  // namespace gatefuse::spelling

#endif  // GATEFUSE_TESTS_SPELLING_REWRITES_H_
