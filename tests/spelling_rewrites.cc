#include "tests/spelling_rewrites.h"

#include <algorithm>
#include <functional>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace gatefuse::spelling {
namespace {

using K = Node::Kind;
using Rng = std::mt19937;
using Pred = std::function<bool(const Expr&)>;
using Sites = std::vector<std::pair<int, std::vector<int>>>;  // statement, path to the node

// ---- the program's nodes and names ----

void Collect(const Expr& e, std::vector<int>& path, int stmt, const Pred& ok, Sites& out) {
  if (ok(e)) out.push_back({stmt, path});
  for (size_t k = 0; k < e->args.size(); ++k) {
    path.push_back(static_cast<int>(k));
    Collect(e->args[k], path, stmt, ok, out);
    path.pop_back();
  }
}
Sites AllSites(const Program& p, const Pred& ok) {
  Sites sites;
  for (size_t s = 0; s < p.statements.size(); ++s) {
    std::vector<int> path;
    Collect(p.statements[s].value, path, static_cast<int>(s), ok, sites);
  }
  return sites;
}
Expr At(Expr e, const std::vector<int>& path) {
  for (int k : path) e = e->args[k];
  return e;
}
Expr ReplaceAt(const Expr& e, const std::vector<int>& path, size_t depth, Expr with) {
  if (depth == path.size()) return with;
  auto copy = std::make_shared<Node>(*e);
  copy->args[path[depth]] = ReplaceAt(e->args[path[depth]], path, depth + 1, std::move(with));
  return copy;
}

void MapAll(Program& p, const std::function<Expr(const Expr&)>& f) {
  for (Statement& s : p.statements) s.value = Map(s.value, f);
}
void ReplaceNames(Program& p, const std::map<std::string, Expr>& with) {
  MapAll(p, [&](const Expr& e) -> Expr {
    auto it = e->kind == K::kName ? with.find(e->name) : with.end();
    return it == with.end() ? nullptr : it->second;
  });
}

int CountName(const Program& p, const std::string& name) {
  return static_cast<int>(
      AllSites(p, [&](const Expr& e) { return e->kind == K::kName && e->name == name; }).size());
}

std::string Fresh(const Program& p, const std::string& stem, std::set<std::string> used = {}) {
  used.insert(p.states.begin(), p.states.end());
  used.insert(p.input);
  for (const Param& q : p.params) used.insert(q.name);
  for (const Statement& s : p.statements) used.insert(s.targets.begin(), s.targets.end());
  for (int k = 1;; ++k) {
    if (!used.count(absl::StrCat(stem, k))) return absl::StrCat(stem, k);
  }
}

const Param* FindParam(const Program& p, const Expr& e) {
  auto it = std::find_if(p.params.begin(), p.params.end(), [&](const Param& q) {
    return Is(e, K::kName) && q.name == Strip(e)->name;
  });
  return it == p.params.end() ? nullptr : &*it;
}
void RemoveParams(Program& p, const std::set<std::string>& names) {
  p.params.erase(std::remove_if(p.params.begin(), p.params.end(),
                                [&](const Param& q) { return names.count(q.name) > 0; }),
                 p.params.end());
}
bool IsState(const Program& p, const std::string& n) {
  return std::find(p.states.begin(), p.states.end(), n) != p.states.end();
}
// Names only of the input and the states: a value known before any statement.
bool OfInputsOnly(const Program& p, const Expr& e) {
  for (const std::string& n : Names(e)) {
    if (n != p.input && !IsState(p, n)) return false;
  }
  return true;
}
// Whether e holds h @ U with h a state: the recurrent product.
bool HasStateMatMul(const Program& p, const Expr& e) {
  if (e->kind == K::kMatMul && Is(e->args[0], K::kName) && IsState(p, Strip(e->args[0])->name)) {
    return true;
  }
  return std::any_of(e->args.begin(), e->args.end(),
                     [&](const Expr& a) { return HasStateMatMul(p, a); });
}
// The value of a single-target assignment named `name`, or null.
Expr Definition(const Program& p, const std::string& name) {
  for (const Statement& s : p.statements) {
    if (!s.is_next && s.targets.size() == 1 && s.targets[0] == name) return s.value;
  }
  return nullptr;
}

// ---- expression rewrites: a predicate picks the sites, a function rewrites one ----

bool RewriteSite(Program& p, Rng& rng, const Pred& ok,
                 const std::function<Expr(const Expr&, Rng&)>& f) {
  const Sites sites = AllSites(p, ok);
  if (sites.empty()) return false;
  const auto& [s, path] = sites[Pick(rng, sites.size())];
  Expr& root = p.statements[s].value;
  const Expr with = f(At(root, path), rng);
  if (with) root = ReplaceAt(root, path, 0, with);
  return with != nullptr;
}

// The terms of a sum or the factors of a product shuffled (commute) or bracketed at
// random (associate).
bool Reorder(Program& p, Rng& rng, bool shuffle) {
  auto ok = [shuffle](const Expr& e) {  // associate: three terms or factors at least
    if (IsSum(e)) return shuffle || SumTerms(e).size() > 2;
    return e->kind == K::kMul && (shuffle || Factors(e).size() > 2);
  };
  return RewriteSite(p, rng, ok, [shuffle](const Expr& e, Rng& rng) -> Expr {
    if (IsSum(e)) {
      std::vector<Term> t = SumTerms(e);
      if (shuffle) std::shuffle(t.begin(), t.end(), rng);
      return BuildSum(t, shuffle ? nullptr : &rng);
    }
    std::vector<Expr> f = Factors(e);
    if (shuffle) std::shuffle(f.begin(), f.end(), rng);
    return BuildProduct(f, shuffle ? nullptr : &rng);
  });
}

bool Parens(Program& p, Rng& rng) {
  return RewriteSite(p, rng, [](const Expr& e) { return !IsSplitCall(e); },
                     [](const Expr& e, Rng&) { return Is(e, K::kParen) ? e->args[0] : Paren(e); });
}

// The sum operand of a product a * (sum) or (sum) * a, with the other factor.
bool SumFactor(const Expr& e, Expr& sum, Expr& other) {
  for (int k = 0; e->kind == K::kMul && k < 2; ++k) {
    if (IsSum(Strip(e->args[k]))) {
      sum = Strip(e->args[k]);
      other = e->args[1 - k];
      return true;
    }
  }
  return false;
}

Expr Times(const Expr& a, const Expr& b, Rng& rng) {
  if (IsNumber(a, 1) || IsNumber(b, 1)) return IsNumber(a, 1) ? b : a;
  return Coin(rng) ? Bin(K::kMul, a, b) : Bin(K::kMul, b, a);
}

// recurrent: only a gate times a sum holding h @ U (GRU linear before reset).
bool Distribute(Program& p, Rng& rng, bool recurrent) {
  auto ok = [&](const Expr& e) {
    Expr sum, other;
    return SumFactor(e, sum, other) &&
           (!recurrent || (!Is(other, K::kNumber) && HasStateMatMul(p, sum)));
  };
  return RewriteSite(p, rng, ok, [](const Expr& e, Rng& rng) -> Expr {
    Expr sum, other;
    SumFactor(e, sum, other);
    std::vector<Term> t = SumTerms(sum);
    for (Term& term : t) term.e = Times(other, term.e, rng);
    return BuildSum(t);
  });
}

// Two terms of a sum with a common factor become one: a*b - a*c -> a * (b - c),
// n - z*n -> n * (1 - z). recurrent: one of the terms holds h @ U.
bool Factor(Program& p, Rng& rng, bool recurrent) {
  struct Choice {
    size_t i, j, fi, fj;
  };
  auto choices = [&p, recurrent](const Expr& e) {
    std::vector<Choice> out;
    const std::vector<Term> t = IsSum(e) ? SumTerms(e) : std::vector<Term>();
    for (size_t i = 0; i < t.size(); ++i) {
      for (size_t j = i + 1; j < t.size(); ++j) {
        if (recurrent && !HasStateMatMul(p, t[i].e) && !HasStateMatMul(p, t[j].e)) continue;
        const std::vector<Expr> fi = Factors(t[i].e), fj = Factors(t[j].e);
        for (size_t a = 0; a < fi.size(); ++a) {
          for (size_t b = 0; b < fj.size(); ++b) {
            if (Key(fi[a]) == Key(fj[b])) out.push_back({i, j, a, b});
          }
        }
      }
    }
    return out;
  };
  return RewriteSite(p, rng, [&](const Expr& e) { return !choices(e).empty(); },
                     [&](const Expr& e, Rng& rng) -> Expr {
    const std::vector<Choice> all = choices(e);
    const Choice c = all[Pick(rng, all.size())];
    std::vector<Term> t = SumTerms(e);
    std::vector<Expr> fi = Factors(t[c.i].e), fj = Factors(t[c.j].e);
    const Expr common = fi[c.fi];
    fi.erase(fi.begin() + c.fi);
    fj.erase(fj.begin() + c.fj);
    const bool both = t[c.i].neg && t[c.j].neg;  // -a*b - a*c -> -(a * (b + c))
    const Expr inner = BuildSum({{t[c.i].neg && !both, BuildProduct(fi)},
                                 {t[c.j].neg && !both, BuildProduct(fj)}});
    t[c.i] = {both, Coin(rng) ? Bin(K::kMul, common, inner) : Bin(K::kMul, inner, common)};
    t.erase(t.begin() + c.j);
    return BuildSum(t);
  });
}

// b of -b, (-1) * b or b * (-1); else null.
Expr NegatedOperand(const Expr& x) {
  const Expr s = Strip(x);
  if (s->kind == K::kNeg) return s->args[0];
  if (s->kind != K::kMul) return nullptr;
  return IsNumber(s->args[0], -1) ? s->args[1] : IsNumber(s->args[1], -1) ? s->args[0] : nullptr;
}
Expr Negated(const Expr& a) { return Is(a, K::kNeg) ? Strip(a)->args[0] : Neg(a); }

// a - b -> a + (-1) * b, a + b * (-1) or a + -b; a + (-1) * b -> a - b; a + b -> a - -b.
bool SubNeg(Program& p, Rng& rng) {
  return RewriteSite(p, rng, IsSum, [](const Expr& e, Rng& rng) -> Expr {
    const Expr &a = e->args[0], &b = e->args[1];
    if (e->kind == K::kAdd) {
      const Expr negated = NegatedOperand(b);
      return Bin(K::kSub, a, negated ? negated : Coin(rng) ? Neg(b) : Bin(K::kMul, Num(-1), b));
    }
    const int form = Pick(rng, 3);
    return Bin(K::kAdd, a, form == 0   ? Bin(K::kMul, Paren(Num(-1)), b)
                           : form == 1 ? Bin(K::kMul, b, Num(-1))
                                       : Neg(b));
  });
}

bool SigmoidNeg(Program& p, Rng& rng) {
  // The argument a of a term sigmoid(a), or of a name defined as sigmoid(a).
  auto sigmoid_arg = [&p](const Expr& e) -> Expr {
    const Expr d = Is(e, K::kName) ? Definition(p, Strip(e)->name) : e;
    return d && IsCallOf(d, "sigmoid") ? Strip(d)->args[0] : nullptr;
  };
  // In a sum 1 - sigmoid(a) ...: the positions of the 1 and of the sigmoid term.
  auto pair = [&](const Expr& e, size_t& one, size_t& sig) {
    const std::vector<Term> t = IsSum(e) ? SumTerms(e) : std::vector<Term>();
    one = sig = t.size();
    for (size_t k = 0; k < t.size(); ++k) {
      if (!t[k].neg && IsNumber(t[k].e, 1) && one == t.size()) one = k;
      if (t[k].neg && sigmoid_arg(t[k].e) && sig == t.size()) sig = k;
    }
    return one < t.size() && sig < t.size();
  };
  auto ok = [&](const Expr& e) {
    size_t one, sig;
    return (e->kind == K::kCall && IsCallOf(e, "sigmoid")) || pair(e, one, sig);
  };
  return RewriteSite(p, rng, ok, [&](const Expr& e, Rng&) -> Expr {
    size_t one, sig;
    if (!pair(e, one, sig)) {  // sigmoid(a) -> 1 - sigmoid(-a)
      return Paren(Bin(K::kSub, Num(1), Call("sigmoid", {Negated(e->args[0])})));
    }
    std::vector<Term> t = SumTerms(e);
    t[sig] = {false, Call("sigmoid", {Negated(sigmoid_arg(t[sig].e))})};
    t.erase(t.begin() + one);
    return BuildSum(t);
  });
}

// e -> 2 * (0.5 * e) and the like; or a product's numbers whose product is 1 dropped.
bool Scale(Program& p, Rng& rng) {
  const bool contract = Pick(rng, 3) == 0;
  auto numbers = [](const Expr& e, std::vector<Expr>& rest) {
    double product = 1;
    for (const Expr& x : Factors(e)) {
      if (Is(x, K::kNumber)) product *= Strip(x)->number;
      else rest.push_back(x);
    }
    return product;
  };
  auto ok = [&](const Expr& e) {
    std::vector<Expr> rest;
    if (contract) return e->kind == K::kMul && numbers(e, rest) == 1 && !rest.empty() &&
                         rest.size() + 2 <= Factors(e).size();
    return !IsSplitCall(e) && e->kind != K::kParen && !Names(e).empty();
  };
  return RewriteSite(p, rng, ok, [&](const Expr& e, Rng& rng) -> Expr {
    std::vector<Expr> rest;
    if (contract && numbers(e, rest) == 1) return BuildProduct(rest);
    switch (Pick(rng, 4)) {
      case 0: return Bin(K::kMul, Num(2), Bin(K::kMul, Num(0.5), e));
      case 1: return Bin(K::kMul, Bin(K::kMul, e, Num(2)), Num(0.5));
      case 2: return Bin(K::kMul, Num(0.25), Paren(Bin(K::kMul, Num(4), e)));
      default: return Bin(K::kDiv, Bin(K::kMul, e, Num(2)), Num(2));
    }
  });
}

bool FunctionIdentity(Program& p, Rng& rng, Rewrite r) {
  const char* f = r == Rewrite::kSigmoidExp ? "sigmoid" : "tanh";
  return RewriteSite(p, rng, [f](const Expr& e) { return e->kind == K::kCall && IsCallOf(e, f); },
                     [r](const Expr& e, Rng& rng) -> Expr {
    const Expr& a = e->args[0];
    const Expr plus = Call("exp", {a}), minus = Call("exp", {Negated(a)});
    const Expr sum = Coin(rng) ? Bin(K::kAdd, Num(1), minus) : Bin(K::kAdd, minus, Num(1));
    if (r == Rewrite::kSigmoidExp) return Bin(K::kDiv, Num(1), sum);  // 1 / (1 + exp(-a))
    if (r == Rewrite::kTanhSigmoid) {  // 2 * sigmoid(2 * a) - 1
      return Bin(K::kSub, Bin(K::kMul, Num(2), Call("sigmoid", {Bin(K::kMul, Num(2), a)})), Num(1));
    }
    return Bin(K::kDiv, Bin(K::kSub, plus, minus), Bin(K::kAdd, plus, minus));
  });
}

// ---- statement rewrites ----

bool Inline(Program& p, Rng& rng) {
  std::vector<size_t> candidates;
  for (size_t s = 0; s < p.statements.size(); ++s) {
    if (!p.statements[s].is_next && p.statements[s].targets.size() == 1) candidates.push_back(s);
  }
  if (candidates.empty()) return false;
  const size_t s = candidates[Pick(rng, candidates.size())];
  const Statement st = p.statements[s];
  p.statements.erase(p.statements.begin() + s);
  ReplaceNames(p, {{st.targets[0], st.value}});
  return true;
}

bool NameSubexpression(Program& p, Rng& rng) {
  const Sites sites = AllSites(p, [](const Expr& e) {
    return e->kind != K::kName && e->kind != K::kNumber && e->kind != K::kParen &&
           !IsSplitCall(e) && !Names(e).empty();
  });
  if (sites.empty()) return false;
  const auto [s, path] = sites[Pick(rng, sites.size())];
  static const char* kStems[] = {"t", "tmp", "u", "pre"};
  const std::string name = Fresh(p, kStems[Pick(rng, 4)]);
  Statement def{{name}, false, At(p.statements[s].value, path)};
  p.statements[s].value = ReplaceAt(p.statements[s].value, path, 0, Name(name));
  p.statements.insert(p.statements.begin() + s, std::move(def));
  return true;
}

// A statement moved to another place after what it uses and before its users.
bool Order(Program& p, Rng& rng) {
  const size_t s = Pick(rng, p.statements.size());
  const Statement st = p.statements[s];
  std::vector<Statement> rest = p.statements;
  rest.erase(rest.begin() + s);
  const std::set<std::string> uses = Names(st.value);
  size_t lo = 0, hi = rest.size();
  for (size_t k = 0; k < rest.size(); ++k) {
    for (const std::string& t : rest[k].targets) {
      if (!rest[k].is_next && uses.count(t)) lo = std::max(lo, k + 1);
    }
    const std::set<std::string> u = Names(rest[k].value);
    for (const std::string& t : st.targets) {
      if (!st.is_next && u.count(t)) hi = std::min(hi, k);
    }
  }
  const size_t to = lo > hi ? s : lo + Pick(rng, hi - lo + 1);
  if (to == s) return false;
  rest.insert(rest.begin() + to, st);
  p.statements = std::move(rest);
  return true;
}

// ---- parameter rewrites ----

bool Mergeable(const Param* q) {  // width H, and not a random part of a split bias
  return q && q->dims.back() == "H" && (q->source.kind == ParamSource::Kind::kOriginal ||
                                        q->source.kind == ParamSource::Kind::kConcat);
}

std::vector<const Param*> RandomSubset(std::vector<const Param*> all, Rng& rng) {
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(Coin(rng) ? all.size() : 2 + Pick(rng, all.size() - 1));
  return all;
}

// Parameters `chosen` (in this order) become one, concatenated along `axis`; a
// split statement at the start names its parts; `use(e)` is the chosen parameter
// an expression stands for ("" if none), `value(merged)` the split's argument.
void MergeInto(Program& p, Rng& rng, const std::vector<const Param*>& chosen, int axis,
               const std::string& stem, const std::function<Expr(Expr)>& value,
               const std::function<std::string(const Expr&)>& use) {
  Param merged{Fresh(p, stem), chosen[0]->dims, {}, axis == 0};
  merged.dims.back() = absl::StrCat(chosen.size(), "*H");
  merged.source.kind = ParamSource::Kind::kConcat;
  merged.source.axis = axis;
  static const char* kStems[] = {"a", "z", "part", "g"};
  const char* part_stem = kStems[Pick(rng, 4)];
  Statement split;
  std::map<std::string, std::string> part_of;
  std::set<std::string> names;
  for (const Param* q : chosen) {
    merged.source.parts.push_back(q->source);
    names.insert(q->name);
    split.targets.push_back(Fresh(p, part_stem, {split.targets.begin(), split.targets.end()}));
    part_of[q->name] = split.targets.back();
  }
  MapAll(p, [&](const Expr& e) -> Expr {
    auto it = part_of.find(use(e));
    return it == part_of.end() ? nullptr : Name(it->second);
  });
  split.value = Call("split", {value(Name(merged.name)), Num(static_cast<double>(chosen.size()))});
  p.statements.insert(p.statements.begin(), std::move(split));
  RemoveParams(p, names);
  p.params.push_back(std::move(merged));
}

// Products L @ W with one left operand L (of the inputs only), W [rows, H] used
// nowhere else, become parts of one L @ [W1 | W2 | ...].
bool MergeMatMul(Program& p, Rng& rng) {
  struct Group {
    Expr left;
    std::vector<const Param*> weights;
    std::map<std::string, int> uses;
  };
  std::map<std::string, Group> groups;
  for (const auto& [s, path] : AllSites(p, [](const Expr& e) { return e->kind == K::kMatMul; })) {
    const Expr m = At(p.statements[s].value, path);
    const Param* q = FindParam(p, m->args[1]);
    if (!Mergeable(q) || !OfInputsOnly(p, m->args[0])) continue;
    Group& g = groups[absl::StrCat(Key(m->args[0]), "|", q->dims[0])];
    g.left = m->args[0];
    if (!g.uses[q->name]++) g.weights.push_back(q);
  }
  std::vector<Group> usable;
  for (auto& [key, g] : groups) {
    std::vector<const Param*> only_here;
    for (const Param* q : g.weights) {
      if (g.uses[q->name] == CountName(p, q->name)) only_here.push_back(q);
    }
    g.weights = only_here;
    if (only_here.size() >= 2) usable.push_back(g);
  }
  if (usable.empty()) return false;
  const Group g = usable[Pick(rng, usable.size())];
  const std::string left = Key(g.left);
  MergeInto(p, rng, RandomSubset(g.weights, rng), 1, left == p.input ? "W" : "U",
            [&](Expr w) { return Bin(K::kMatMul, g.left, w); }, [&](const Expr& e) {
    const Param* q = e->kind == K::kMatMul ? FindParam(p, e->args[1]) : nullptr;
    return q && Key(e->args[0]) == left ? q->name : std::string();
  });
  return true;
}

bool MergeBias(Program& p, Rng& rng) {
  std::vector<const Param*> biases;
  for (const Param& q : p.params) {
    if (q.bias && q.dims.size() == 1 && q.dims[0] == "H" &&
        q.source.kind == ParamSource::Kind::kOriginal && CountName(p, q.name) > 0) {
      biases.push_back(&q);
    }
  }
  if (biases.size() < 2) return false;
  MergeInto(p, rng, RandomSubset(biases, rng), 0, "b", [](Expr b) { return b; },
            [](const Expr& e) { return e->kind == K::kName ? e->name : std::string(); });
  return true;
}

// x @ W + h @ U (two terms of one sum, W and U used nowhere else) -> concat(x, h) @ V.
bool ConcatMatMul(Program& p, Rng& rng) {
  auto weight = [&p](const Term& t) -> const Param* {
    const Expr s = Strip(t.e);
    if (t.neg || s->kind != K::kMatMul || !Is(s->args[0], K::kName) ||
        !OfInputsOnly(p, s->args[0])) {
      return nullptr;
    }
    const Param* w = FindParam(p, s->args[1]);
    return w && w->dims.size() == 2 && w->dims[1] == "H" && CountName(p, w->name) == 1 &&
                   w->source.kind == ParamSource::Kind::kOriginal ? w : nullptr;
  };
  auto pairs = [&](const Expr& e) {
    std::vector<std::pair<size_t, size_t>> out;
    const std::vector<Term> t = IsSum(e) ? SumTerms(e) : std::vector<Term>();
    for (size_t i = 0; i < t.size(); ++i) {
      for (size_t j = 0; j < t.size(); ++j) {
        if (i != j && weight(t[i]) && weight(t[j]) &&
            Key(Strip(t[i].e)->args[0]) != Key(Strip(t[j].e)->args[0])) {
          out.push_back({i, j});
        }
      }
    }
    return out;
  };
  Param v{Fresh(p, "V"), {}, {}, false};
  const bool done = RewriteSite(p, rng, [&](const Expr& e) { return !pairs(e).empty(); },
                                [&](const Expr& e, Rng& rng) -> Expr {
    const auto all = pairs(e);
    const auto [i, j] = all[Pick(rng, all.size())];
    std::vector<Term> t = SumTerms(e);
    const Param *a = weight(t[i]), *b = weight(t[j]);
    v.dims = {absl::StrCat(a->dims[0], "+", b->dims[0]), "H"};
    v.source.kind = ParamSource::Kind::kConcat;
    v.source.parts = {a->source, b->source};
    const Expr cat = Call("concat", {Strip(t[i].e)->args[0], Strip(t[j].e)->args[0]});
    t[i].e = Bin(K::kMatMul, cat, Name(v.name));
    t.erase(t.begin() + j);
    return BuildSum(t);
  });
  if (!done) return false;
  RemoveParams(p, {v.source.parts[0].name, v.source.parts[1].name});
  p.params.push_back(v);
  return true;
}

// b -> (b_1 + b_2): b_1 random, b_2 = b - b_1.
bool SplitBias(Program& p, Rng& rng) {
  std::vector<Param> biases;
  for (const Param& q : p.params) {
    if (q.bias && CountName(p, q.name) > 0) biases.push_back(q);
  }
  if (biases.empty()) return false;
  const Param b = biases[Pick(rng, biases.size())];
  const Param b1{Fresh(p, b.name + "_"), b.dims, {ParamSource::Kind::kRandomPart}, false};
  const Param b2{Fresh(p, b.name + "_", {b1.name}), b.dims,
                 {ParamSource::Kind::kRest, "", 0, {b.source}, b1.name}, false};
  RemoveParams(p, {b.name});
  p.params.insert(p.params.end(), {b1, b2});
  ReplaceNames(p, {{b.name, Bin(K::kAdd, Name(b1.name), Name(b2.name))}});
  return true;
}

bool Apply(Program& p, Rng& rng, Rewrite r) {
  switch (r) {
    case Rewrite::kCommute: return Reorder(p, rng, true);
    case Rewrite::kAssociate: return Reorder(p, rng, false);
    case Rewrite::kParens: return Parens(p, rng);
    case Rewrite::kDistribute: return Distribute(p, rng, false);
    case Rewrite::kFactor: return Factor(p, rng, false);
    case Rewrite::kSubNeg: return SubNeg(p, rng);
    case Rewrite::kSigmoidNeg: return SigmoidNeg(p, rng);
    case Rewrite::kScale: return Scale(p, rng);
    case Rewrite::kSigmoidExp: case Rewrite::kTanhSigmoid: case Rewrite::kTanhExp:
      return FunctionIdentity(p, rng, r);
    case Rewrite::kLinearBeforeReset:
      return Coin(rng) ? Distribute(p, rng, true) : Factor(p, rng, true);
    case Rewrite::kInline: return Inline(p, rng);
    case Rewrite::kName: return NameSubexpression(p, rng);
    case Rewrite::kOrder: return Order(p, rng);
    case Rewrite::kMergeMatMul: return MergeMatMul(p, rng);
    case Rewrite::kConcat: return ConcatMatMul(p, rng);
    case Rewrite::kSplitBias: return SplitBias(p, rng);
    case Rewrite::kMergeBias: return MergeBias(p, rng);
    case Rewrite::kCount: break;
  }
  return false;
}

}  // namespace

const char* RewriteName(Rewrite r) {
  static const char* kNames[] = {
      "commute",     "associate", "parens",      "distribute",   "factor",   "sub_neg",
      "sigmoid_neg", "scale",     "sigmoid_exp", "tanh_sigmoid", "tanh_exp", "lbr",
      "inline",      "name",      "order",       "merge_matmul", "concat",   "split_bias",
      "merge_bias"};
  static_assert(sizeof(kNames) / sizeof(kNames[0]) == static_cast<size_t>(Rewrite::kCount));
  return kNames[static_cast<int>(r)];
}

std::string Program::Print() const {
  std::string text = absl::StrCat("cell spelled\ninput ", input, "[I]\nstate");
  for (const std::string& s : states) absl::StrAppend(&text, " ", s, "[H]");
  for (size_t k = 0; k < params.size(); ++k) {
    absl::StrAppend(&text, k % 6 == 0 ? "\nparam " : " ", params[k].name, "[",
                    absl::StrJoin(params[k].dims, ","), "]");
  }
  for (const Statement& s : statements) {
    absl::StrAppend(&text, "\n", s.is_next ? "next " : "", absl::StrJoin(s.targets, ", "), " = ");
    PrintTo(s.value, true, text);
  }
  return text + "\n";
}

std::vector<Rewrite> ApplyRandomRewrites(Program& p, std::mt19937& rng, int steps,
                                         const std::vector<Rewrite>& allowed) {
  std::vector<Rewrite> classes = allowed, applied;
  for (int r = 0; allowed.empty() && r < static_cast<int>(Rewrite::kCount); ++r) {
    classes.push_back(static_cast<Rewrite>(r));
  }
  for (int tries = 0; static_cast<int>(applied.size()) < steps && tries < 20 * steps; ++tries) {
    const Rewrite r = classes[Pick(rng, classes.size())];
    Program next = p;
    if (!Apply(next, rng, r) || next.Print() == p.Print()) continue;
    p = std::move(next);
    applied.push_back(r);
  }
  return applied;
}

}  // namespace gatefuse::spelling
