// The .cell checks: everything about a parsed source that does not need sizes
// (declarations, names, function arities and scalar arguments, one `next` per
// state, every name assigned before it is used, with the cycle named when there
// is one).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "core/status.h"
#include "models/cells/cell_language_internal.h"

namespace gatefuse::cell_language_internal {
namespace {

absl::string_view KindName(DeclKind kind) {
  switch (kind) {
    case DeclKind::kInput: return "the input";
    case DeclKind::kState: return "a state";
    case DeclKind::kParam: return "a param";
  }
  return "?";
}

bool Before(SourceLocation a, SourceLocation b) {
  return a.line != b.line ? a.line < b.line : a.column < b.column;
}

// The names an expression reads, in source order.
void CollectNames(const Expr& e, std::vector<std::pair<std::string, SourceLocation>>& out) {
  if (e.kind == Expr::Kind::kName) out.emplace_back(e.name, e.location);
  for (const Expr& a : e.args) CollectNames(a, out);
}

// For error messages: "the name 'h'", "a call of tanh", "an expression".
std::string DescribeExpr(const Expr& e) {
  switch (e.kind) {
    case Expr::Kind::kName: return absl::StrCat("the name '", e.name, "'");
    case Expr::Kind::kCall: return absl::StrCat("a call of ", e.name);
    default: return "an expression";
  }
}

// f(e, s...) (or f(a, b)) with as many scalars as f has, each a number literal
// (optionally negated): the scalars become attributes of the op's node, constants
// of the cell's definition rather than values it computes, so they are written out.
absl::Status CheckElementwiseCall(const std::string& file, const Expr& e,
                                  const ElementwiseFunction& f) {
  const size_t n = f.tensors + f.scalars.size();
  if (e.args.size() != n) {
    std::string what = absl::StrCat(e.name, " takes ", n, " argument", n == 1 ? "" : "s",
                                    ", got ", e.args.size());
    if (n > 1) absl::StrAppend(&what, ": ", Signature(e.name, f));
    return ErrorAt(file, e.location, what);
  }
  for (size_t k = 0; k < f.scalars.size(); ++k) {
    const Expr& arg = e.args[k + f.tensors];
    if (!ScalarLiteral(arg)) {
      return ErrorAt(file, StartOf(arg),
                     absl::StrCat(Signature(e.name, f), ": ", f.scalars[k],
                                  " must be a number (like 0.5, -3 or 1e-3), got ",
                                  DescribeExpr(arg)));
    }
  }
  return absl::OkStatus();
}

// Function names, arities, operators; split(e, n) only where `split_allowed`.
absl::Status CheckExpr(const std::string& file, const Expr& e, bool split_allowed) {
  auto arity = [&](size_t n, absl::string_view what) -> absl::Status {
    if (e.args.size() != n) {
      return ErrorAt(file, e.location, absl::StrCat(what, " takes ", n, " argument",
                                                    n == 1 ? "" : "s", ", got ", e.args.size()));
    }
    return absl::OkStatus();
  };
  switch (e.kind) {
    case Expr::Kind::kNumber:
      if (!std::isfinite(e.number)) return ErrorAt(file, e.location, "number out of range");
      break;
    case Expr::Kind::kName:
      if (e.name.empty()) return ErrorAt(file, e.location, "expected a name");
      break;
    case Expr::Kind::kNeg:
      GF_RETURN_IF_ERROR(arity(1, "unary '-'"));
      break;
    case Expr::Kind::kBinary:
      if (absl::string_view("@+-*/").find(e.op) == absl::string_view::npos || e.op == 0) {
        return ErrorAt(file, e.location, "unknown operator");
      }
      GF_RETURN_IF_ERROR(arity(2, absl::StrCat("'", std::string(1, e.op), "'")));
      break;
    case Expr::Kind::kCall:
      if (e.name == "split") {
        if (!split_allowed) {
          return ErrorAt(file, e.location,
                         "split(...) must be the whole right side of an assignment, as in "
                         "`a, b = split(z, 2)`");
        }
        GF_RETURN_IF_ERROR(arity(2, "split"));
        if (!SplitCount(e.args[1])) {
          return ErrorAt(file, e.args[1].location,
                         "split's count must be a positive integer, as in split(z, 4)");
        }
      } else if (auto fn = ElementwiseFunctions().find(e.name);
                 fn != ElementwiseFunctions().end()) {
        GF_RETURN_IF_ERROR(CheckElementwiseCall(file, e, fn->second));
      } else if (IsReduction(e.name)) {
        const size_t n = ReductionArity(e.name);
        if (e.args.size() != n) {
          return ErrorAt(file, e.location,
                         absl::StrCat(e.name, " takes ", n, " argument", n == 1 ? "" : "s",
                                      ", got ", e.args.size(), ": ", ReductionSignature(e.name)));
        }
      } else if (e.name == "concat") {
        if (e.args.empty()) {
          return ErrorAt(file, e.location, "concat takes at least one argument, got 0");
        }
      } else {
        return ErrorAt(file, e.location, absl::StrCat("unknown function '", e.name,
                                                      "'; expected one of ", kFunctionList));
      }
      break;
  }
  for (const Expr& a : e.args) GF_RETURN_IF_ERROR(CheckExpr(file, a, false));
  return absl::OkStatus();
}

SourceLocation TargetLocation(const Statement& st, size_t i) {
  return i < st.target_locations.size() ? st.target_locations[i] : st.location;
}

// Statement `k` reads `used`, which statement `j` (>= k) assigns. If j's value
// depends back on a name k assigns, the chain of names around the cycle:
// {a, b, a} for `a = b + 1` ... `b = a * 2`.
std::optional<std::vector<std::string>> FindCycle(
    const CellSource& src, const std::map<std::string, size_t>& assigned_at,
    const std::map<std::string, const Declaration*>& declared, size_t k, size_t j,
    const std::string& used) {
  if (j == k) return std::vector<std::string>{used, used};
  // reached[s] = (the statement that reads a name s assigns, that name)
  std::map<size_t, std::pair<size_t, std::string>> reached;
  reached[j] = {k, used};
  std::deque<size_t> queue = {j};
  while (!queue.empty()) {
    const size_t s = queue.front();
    queue.pop_front();
    std::vector<std::pair<std::string, SourceLocation>> names;
    CollectNames(src.statements[s].value, names);
    for (const auto& [name, loc] : names) {
      if (declared.count(name)) continue;
      auto it = assigned_at.find(name);
      if (it == assigned_at.end()) continue;
      const size_t t = it->second;
      if (t == k) {
        std::vector<std::string> chain = {name};
        for (size_t cur = s; cur != k; cur = reached.at(cur).first) {
          chain.push_back(reached.at(cur).second);
        }
        chain.push_back(name);
        std::reverse(chain.begin(), chain.end());
        return chain;
      }
      if (reached.emplace(t, std::make_pair(s, name)).second) queue.push_back(t);
    }
  }
  return std::nullopt;
}

absl::Status CheckDeclaration(const std::string& file, const Declaration& d) {
  if (d.name.empty()) return ErrorAt(file, d.location, "expected a name");
  if (IsKeyword(d.name) || IsFunction(d.name)) {
    return ErrorAt(file, d.location,
                   absl::StrCat("'", d.name, "' is a reserved word and cannot name a value"));
  }
  if (d.init && d.kind != DeclKind::kParam) {
    return ErrorAt(file, d.init_location,
                   absl::StrCat(d.name, " takes no initial value; only a param does"));
  }
  if (d.init && !std::isfinite(*d.init)) {
    return ErrorAt(file, d.init_location,
                   absl::StrCat("the initial value of ", d.name, " must be a finite number"));
  }
  if (d.kind != DeclKind::kParam && d.shape.size() != 1) {
    return ErrorAt(file, d.location,
                   absl::StrCat(d.kind == DeclKind::kInput ? "input " : "state ", d.name,
                                " needs exactly one size, its features, as in ", d.name,
                                "[H]; the batch dimension is implicit"));
  }
  for (const SizeExpr& s : d.shape) {
    if (s.factors.empty()) return ErrorAt(file, s.location, "expected a size");
    for (const SizeFactor& f : s.factors) {
      if (f.symbol.empty() && (f.value <= 0 || f.value > kMaxDim)) {
        return ErrorAt(file, f.location,
                       absl::StrCat("a size must be a positive integer, got ", f.value));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Validate(const CellSource& src) {
  const std::string& file = src.filename;
  if (src.name.empty()) return ErrorAt(file, {1, 1}, "expected `cell NAME` before anything else");
  if (src.input.name.empty()) {
    return ErrorAt(file, src.name_location,
                   absl::StrCat("cell ", src.name,
                                " has no `input` line; expected one like `input x[I]`"));
  }
  if (src.states.empty()) {
    return ErrorAt(file, src.name_location,
                   absl::StrCat("cell ", src.name,
                                " has no `state` line; expected one like `state h[H]`"));
  }

  std::vector<const Declaration*> decls = {&src.input};
  for (const Declaration& d : src.states) decls.push_back(&d);
  for (const Declaration& d : src.params) decls.push_back(&d);
  std::stable_sort(decls.begin(), decls.end(), [](const Declaration* a, const Declaration* b) {
    return Before(a->location, b->location);
  });
  std::map<std::string, const Declaration*> declared;
  for (const Declaration* d : decls) {
    GF_RETURN_IF_ERROR(CheckDeclaration(file, *d));
    auto [it, inserted] = declared.emplace(d->name, d);
    if (!inserted) {
      return ErrorAt(file, d->location,
                     absl::StrCat(d->name, " is declared twice: ", KindName(it->second->kind),
                                  " at ", At(it->second->location), " and ", KindName(d->kind),
                                  " here"));
    }
  }

  // The first statement assigning each name.
  std::map<std::string, size_t> assigned_at;
  for (size_t k = 0; k < src.statements.size(); ++k) {
    if (src.statements[k].is_next) continue;
    for (const std::string& t : src.statements[k].targets) assigned_at.emplace(t, k);
  }

  std::map<std::string, SourceLocation> next_at;
  for (size_t k = 0; k < src.statements.size(); ++k) {
    const Statement& st = src.statements[k];
    GF_RETURN_IF_ERROR(CheckExpr(file, st.value, !st.is_next));
    if (st.targets.empty()) return ErrorAt(file, st.location, "expected a name to assign");
    if (st.is_next) {
      const std::string& name = st.targets[0];
      if (st.targets.size() != 1) {
        return ErrorAt(file, st.location, "`next` gives the value of one state");
      }
      auto it = declared.find(name);
      if (it == declared.end()) {
        return ErrorAt(file, TargetLocation(st, 0),
                       absl::StrCat("next ", name, ": ", name, " is not a declared state"));
      }
      if (it->second->kind != DeclKind::kState) {
        return ErrorAt(file, TargetLocation(st, 0),
                       absl::StrCat("next ", name, ": ", name, " is ", KindName(it->second->kind),
                                    ", not a state"));
      }
      auto [first, inserted] = next_at.emplace(name, st.location);
      if (!inserted) {
        return ErrorAt(file, st.location, absl::StrCat("next ", name, " is given twice; first at ",
                                                       At(first->second)));
      }
    } else {
      std::set<std::string> here;
      for (size_t i = 0; i < st.targets.size(); ++i) {
        const std::string& t = st.targets[i];
        const SourceLocation loc = TargetLocation(st, i);
        if (t.empty()) return ErrorAt(file, loc, "expected a name to assign");
        if (IsKeyword(t) || IsFunction(t)) {
          return ErrorAt(file, loc,
                         absl::StrCat("'", t, "' is a reserved word and cannot name a value"));
        }
        auto d = declared.find(t);
        if (d != declared.end()) {
          return ErrorAt(file, loc,
                         d->second->kind == DeclKind::kState
                             ? absl::StrCat(t, " is a state and cannot be assigned; give its "
                                               "next value with `next ", t, " = ...`")
                             : absl::StrCat(t, " is ", KindName(d->second->kind), " (declared at ",
                                            At(d->second->location),
                                            ") and cannot be assigned"));
        }
        const size_t first = assigned_at.at(t);
        if (first != k || !here.insert(t).second) {
          const Statement& prev = src.statements[first];
          SourceLocation prev_loc = prev.location;
          for (size_t p = 0; p < prev.targets.size(); ++p) {
            if (prev.targets[p] == t) {
              prev_loc = TargetLocation(prev, p);
              break;
            }
          }
          return ErrorAt(file, loc, absl::StrCat(t, " is assigned twice; first at ", At(prev_loc)));
        }
      }
      if (IsSplit(st.value)) {
        const int64_t count = *SplitCount(st.value.args[1]);
        if (count != static_cast<int64_t>(st.targets.size())) {
          return ErrorAt(file, st.value.location,
                         absl::StrCat("split(..., ", count, ") gives ", count, " part",
                                      count == 1 ? "" : "s", " but ", st.targets.size(),
                                      st.targets.size() == 1 ? " name is" : " names are",
                                      " assigned"));
        }
      } else if (st.targets.size() > 1) {
        return ErrorAt(file, st.location,
                       absl::StrCat(st.targets.size(),
                                    " names are assigned, so the right side must be split(expr, ",
                                    st.targets.size(), ")"));
      }
    }

    std::vector<std::pair<std::string, SourceLocation>> uses;
    CollectNames(st.value, uses);
    for (const auto& [name, loc] : uses) {
      if (declared.count(name)) continue;
      auto it = assigned_at.find(name);
      if (it == assigned_at.end()) {
        return ErrorAt(file, loc, absl::StrCat("unknown name '", name, "'"));
      }
      if (it->second < k) continue;
      const SourceLocation def = src.statements[it->second].location;
      if (!st.is_next) {
        if (auto chain = FindCycle(src, assigned_at, declared, k, it->second, name)) {
          return ErrorAt(file, loc,
                         absl::StrCat("cycle: ", absl::StrJoin(*chain, " -> "), " (", name,
                                      " is used here before its assignment at ", At(def), ")"));
        }
      }
      return ErrorAt(file, loc, absl::StrCat(name, " is used before it is assigned (at ", At(def),
                                             "); assign it first"));
    }
  }

  for (const Declaration& s : src.states) {
    if (!next_at.count(s.name)) {
      return ErrorAt(file, s.location,
                     absl::StrCat("state ", s.name, " is never given a next value; add `next ",
                                  s.name, " = ...`"));
    }
  }
  return absl::OkStatus();
}

}  // namespace gatefuse::cell_language_internal
