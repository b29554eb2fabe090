#include "models/cells/cell_language.h"
#include "models/cells/cell_language_internal.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/status.h"
#include "graph/executor.h"
#include "graph/verifier.h"

namespace gatefuse {
namespace cell_language_internal {

// Bounds that keep a hostile file from exhausting the stack or int64.
constexpr int kMaxNesting = 100;        // parentheses, calls, unary minus
constexpr int kMaxOperations = 2000;    // operators and calls in one statement
constexpr double kMaxSplit = 1e6;

// sigmoid tanh relu exp log: the one-argument functions and the ops they apply.
const std::map<std::string, std::string>& UnaryFunctions() {
  static const auto* fns = new std::map<std::string, std::string>{
      {"sigmoid", "Sigmoid"}, {"tanh", "Tanh"}, {"relu", "Relu"}, {"exp", "Exp"}, {"log", "Log"}};
  return *fns;
}

bool IsFunction(const std::string& name) {
  return UnaryFunctions().count(name) > 0 || name == "concat" || name == "split";
}

bool IsKeyword(const std::string& name) {
  return name == "cell" || name == "input" || name == "state" || name == "param" ||
         name == "next";
}


std::string At(SourceLocation loc) { return absl::StrCat(loc.line, ":", loc.column); }

absl::Status ErrorAt(const std::string& file, SourceLocation loc, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(file, ":", At(loc), ": ", what));
}

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

// A number as the source would write it: "1", "0.5", "-0.001".
std::string FormatNumber(double v) { return absl::StrFormat("%g", v); }

// The count of split(e, n), if n is a positive integer literal.
std::optional<int64_t> SplitCount(const Expr& n) {
  if (n.kind != Expr::Kind::kNumber || !(n.number >= 1 && n.number <= kMaxSplit) ||
      n.number != std::floor(n.number)) {
    return std::nullopt;
  }
  return static_cast<int64_t>(n.number);
}

// ---------------------------------------------------------------- lexer

enum class TokenKind { kName, kNumber, kSymbol, kNewline, kEnd };

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string text;
  double number = 0;
  SourceLocation location;
};

std::string Describe(const Token& t) {
  switch (t.kind) {
    case TokenKind::kName: return absl::StrCat("'", t.text, "'");
    case TokenKind::kNumber: return absl::StrCat("the number ", t.text);
    case TokenKind::kSymbol: return absl::StrCat("'", t.text, "'");
    case TokenKind::kNewline: return "the end of the line";
    case TokenKind::kEnd: return "the end of the file";
  }
  return "?";
}

bool IsNameStart(char c) { return absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsNameChar(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool IsDigit(char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); }

absl::StatusOr<std::vector<Token>> Lex(const std::string& text, const std::string& file) {
  std::vector<Token> tokens;
  const size_t n = text.size();
  size_t i = 0;
  SourceLocation loc;
  auto digit_at = [&](size_t k) { return k < n && IsDigit(text[k]); };
  while (i < n) {
    const char c = text[i];
    const size_t start = i;
    Token t;
    t.location = loc;
    if (c == '\n') {
      t.kind = TokenKind::kNewline;
      tokens.push_back(t);
      ++i;
      ++loc.line;
      loc.column = 1;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
      ++loc.column;
      continue;
    }
    if (c == '#') {
      while (i < n && text[i] != '\n') ++i;
      continue;
    }
    if (IsNameStart(c)) {
      while (i < n && IsNameChar(text[i])) ++i;
      t.kind = TokenKind::kName;
    } else if (IsDigit(c) || (c == '.' && digit_at(i + 1))) {
      while (digit_at(i)) ++i;
      if (i < n && text[i] == '.') {
        ++i;
        while (digit_at(i)) ++i;
      }
      if (i < n && (text[i] == 'e' || text[i] == 'E') &&
          (digit_at(i + 1) ||
           (i + 1 < n && (text[i + 1] == '+' || text[i + 1] == '-') && digit_at(i + 2)))) {
        i += 2;
        while (digit_at(i)) ++i;
      }
      if (i < n && (IsNameChar(text[i]) || text[i] == '.')) {
        while (i < n && (IsNameChar(text[i]) || text[i] == '.')) ++i;
        return ErrorAt(file, loc,
                       absl::StrCat("malformed number '", text.substr(start, i - start), "'"));
      }
      t.kind = TokenKind::kNumber;
      t.number = std::strtod(text.substr(start, i - start).c_str(), nullptr);
      if (!std::isfinite(t.number)) {
        return ErrorAt(file, loc,
                       absl::StrCat("number ", text.substr(start, i - start), " is out of range"));
      }
    } else if (absl::string_view("()[],=@+-*").find(c) != absl::string_view::npos) {
      ++i;
      t.kind = TokenKind::kSymbol;
    } else {
      const unsigned char u = static_cast<unsigned char>(c);
      return ErrorAt(file, loc,
                     absl::ascii_isprint(u)
                         ? absl::StrCat("unexpected character '", std::string(1, c), "'")
                         : absl::StrFormat("unexpected byte 0x%02x", u));
    }
    t.text = text.substr(start, i - start);
    loc.column += static_cast<int>(i - start);
    tokens.push_back(std::move(t));
  }
  Token end;
  end.kind = TokenKind::kEnd;
  end.location = loc;
  tokens.push_back(end);
  return tokens;
}

// ---------------------------------------------------------------- parser

class Parser {
 public:
  Parser(std::vector<Token> tokens, CellSource& src)
      : tokens_(std::move(tokens)), src_(src), file_(src.filename) {}

  absl::Status ParseFile() {
    bool have_cell = false;
    while (true) {
      while (Peek().kind == TokenKind::kNewline) Next();
      const Token& t = Peek();
      if (t.kind == TokenKind::kEnd) break;
      const bool is_name = t.kind == TokenKind::kName;
      if (is_name && t.text == "cell") {
        if (have_cell) {
          return Error(t, absl::StrCat("a file holds one cell; `cell` is already given at ",
                                       At(src_.name_location)));
        }
        GF_RETURN_IF_ERROR(ParseCellLine());
        have_cell = true;
      } else if (!have_cell) {
        return Error(t, absl::StrCat("expected `cell NAME` before anything else, got ",
                                     Describe(t)));
      } else if (is_name && t.text == "input") {
        GF_RETURN_IF_ERROR(ParseDeclarations(DeclKind::kInput));
      } else if (is_name && t.text == "state") {
        GF_RETURN_IF_ERROR(ParseDeclarations(DeclKind::kState));
      } else if (is_name && t.text == "param") {
        GF_RETURN_IF_ERROR(ParseDeclarations(DeclKind::kParam));
      } else if (is_name && t.text == "next") {
        GF_RETURN_IF_ERROR(ParseNext());
      } else if (is_name) {
        GF_RETURN_IF_ERROR(ParseAssignment());
      } else {
        return Error(t, absl::StrCat("expected a declaration (input, state, param), an "
                                     "assignment `name = ...` or `next STATE = ...`, got ",
                                     Describe(t)));
      }
    }
    if (!have_cell) {
      return ErrorAt(file_, Peek().location, "expected `cell NAME`; the file has no statements");
    }
    return absl::OkStatus();
  }

 private:
  const Token& Peek() const { return tokens_[std::min(pos_, tokens_.size() - 1)]; }
  Token Next() {
    Token t = Peek();
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return t;
  }
  bool IsSymbol(char c) const {
    return Peek().kind == TokenKind::kSymbol && Peek().text[0] == c;
  }
  absl::Status Error(const Token& t, absl::string_view what) const {
    return ErrorAt(file_, t.location, what);
  }
  absl::Status Expect(char c, absl::string_view context) {
    if (!IsSymbol(c)) {
      return Error(Peek(), absl::StrCat("expected '", std::string(1, c), "'", context, ", got ",
                                        Describe(Peek())));
    }
    Next();
    return absl::OkStatus();
  }
  absl::Status ExpectEndOfLine(absl::string_view what) {
    if (Peek().kind == TokenKind::kEnd) return absl::OkStatus();
    if (Peek().kind != TokenKind::kNewline) {
      return Error(Peek(), absl::StrCat("expected ", what, ", got ", Describe(Peek())));
    }
    Next();
    return absl::OkStatus();
  }
  absl::StatusOr<Token> ExpectName(absl::string_view what) {
    if (Peek().kind != TokenKind::kName) {
      return Error(Peek(), absl::StrCat("expected ", what, ", got ", Describe(Peek())));
    }
    return Next();
  }

  absl::Status ParseCellLine() {
    Next();
    GF_ASSIGN_OR_RETURN(Token name, ExpectName("the cell's name after 'cell'"));
    src_.name = name.text;
    src_.name_location = name.location;
    return ExpectEndOfLine("the end of the line after the cell's name");
  }

  absl::Status ParseDeclarations(DeclKind kind) {
    const Token keyword = Next();
    bool any = false;
    while (Peek().kind == TokenKind::kName) {
      Declaration d;
      d.kind = kind;
      const Token name = Next();
      d.name = name.text;
      d.location = name.location;
      GF_RETURN_IF_ERROR(Expect('[', absl::StrCat(" after ", d.name, " (its shape, e.g. ",
                                                  d.name, "[H])")));
      if (!IsSymbol(']')) {
        while (true) {
          GF_ASSIGN_OR_RETURN(SizeExpr size, ParseSize());
          d.shape.push_back(std::move(size));
          if (!IsSymbol(',')) break;
          Next();
        }
      }
      GF_RETURN_IF_ERROR(Expect(']', absl::StrCat(" or ',' in the shape of ", d.name)));
      if (kind == DeclKind::kInput) {
        if (!src_.input.name.empty()) {
          return Error(name, absl::StrCat("a cell has exactly one input; ", src_.input.name,
                                          " is already declared at ",
                                          At(src_.input.location)));
        }
        src_.input = std::move(d);
      } else {
        (kind == DeclKind::kState ? src_.states : src_.params).push_back(std::move(d));
      }
      any = true;
    }
    if (!any) {
      return Error(Peek(), absl::StrCat("expected a name after '", keyword.text, "', e.g. `",
                                        keyword.text, " h[H]`, got ", Describe(Peek())));
    }
    return ExpectEndOfLine("another declaration or the end of the line");
  }

  absl::StatusOr<SizeExpr> ParseSize() {
    SizeExpr size;
    size.location = Peek().location;
    bool next_starts_term = false;
    while (true) {
      const Token t = Peek();
      SizeFactor f;
      f.location = t.location;
      if (t.kind == TokenKind::kName) {
        f.symbol = t.text;
      } else if (t.kind == TokenKind::kNumber) {
        if (!absl::SimpleAtoi(t.text, &f.value) || f.value <= 0 || f.value > kMaxDim ||
            t.text.find_first_not_of("0123456789") != std::string::npos) {
          return Error(t, absl::StrCat("a size must be a positive integer, got ", t.text));
        }
      } else {
        return Error(t, absl::StrCat("expected a size (a symbol like H, a positive integer, "
                                     "or products and sums like 4*H or I+H), got ",
                                     Describe(t)));
      }
      Next();
      f.starts_term = next_starts_term;
      size.factors.push_back(std::move(f));
      if (!IsSymbol('*') && !IsSymbol('+')) break;
      next_starts_term = IsSymbol('+');
      Next();
    }
    return size;
  }

  absl::Status ParseNext() {
    const Token keyword = Next();
    Statement st;
    st.is_next = true;
    st.location = keyword.location;
    GF_ASSIGN_OR_RETURN(Token name, ExpectName("a state's name after 'next'"));
    st.targets.push_back(name.text);
    st.target_locations.push_back(name.location);
    GF_RETURN_IF_ERROR(Expect('=', absl::StrCat(" after `next ", name.text, "`")));
    return ParseValue(std::move(st));
  }

  absl::Status ParseAssignment() {
    Statement st;
    st.location = Peek().location;
    while (true) {
      GF_ASSIGN_OR_RETURN(Token name, ExpectName("a name to assign"));
      st.targets.push_back(name.text);
      st.target_locations.push_back(name.location);
      if (!IsSymbol(',')) break;
      Next();
    }
    GF_RETURN_IF_ERROR(Expect('=', absl::StrCat(" after ", st.targets.back())));
    return ParseValue(std::move(st));
  }

  absl::Status ParseValue(Statement st) {
    operations_ = 0;
    nesting_ = 0;
    GF_ASSIGN_OR_RETURN(st.value, ParseSum());
    GF_RETURN_IF_ERROR(ExpectEndOfLine("an operator or the end of the line"));
    src_.statements.push_back(std::move(st));
    return absl::OkStatus();
  }

  absl::Status CountOperation(const Token& t) {
    if (++operations_ > kMaxOperations) {
      return Error(t, absl::StrCat("expression too long (more than ", kMaxOperations,
                                   " operations); split it into several assignments"));
    }
    return absl::OkStatus();
  }

  // Entering a parenthesis, call or unary minus.
  absl::Status Nest(const Token& t) {
    if (++nesting_ > kMaxNesting) {
      return Error(t, absl::StrCat("expression nested too deeply (more than ", kMaxNesting,
                                   " levels)"));
    }
    return absl::OkStatus();
  }

  static Expr Binary(const Token& op, Expr lhs, Expr rhs) {
    Expr e;
    e.kind = Expr::Kind::kBinary;
    e.op = op.text[0];
    e.location = op.location;
    e.args.push_back(std::move(lhs));
    e.args.push_back(std::move(rhs));
    return e;
  }

  // Left-associative levels: + - (lowest), then *, then @.
  absl::StatusOr<Expr> ParseSum() {
    GF_ASSIGN_OR_RETURN(Expr lhs, ParseProduct());
    while (IsSymbol('+') || IsSymbol('-')) {
      const Token op = Next();
      GF_RETURN_IF_ERROR(CountOperation(op));
      GF_ASSIGN_OR_RETURN(Expr rhs, ParseProduct());
      lhs = Binary(op, std::move(lhs), std::move(rhs));
    }
    return lhs;
  }

  absl::StatusOr<Expr> ParseProduct() {
    GF_ASSIGN_OR_RETURN(Expr lhs, ParseMatMul());
    while (IsSymbol('*')) {
      const Token op = Next();
      GF_RETURN_IF_ERROR(CountOperation(op));
      GF_ASSIGN_OR_RETURN(Expr rhs, ParseMatMul());
      lhs = Binary(op, std::move(lhs), std::move(rhs));
    }
    return lhs;
  }

  absl::StatusOr<Expr> ParseMatMul() {
    GF_ASSIGN_OR_RETURN(Expr lhs, ParseUnary());
    while (IsSymbol('@')) {
      const Token op = Next();
      GF_RETURN_IF_ERROR(CountOperation(op));
      GF_ASSIGN_OR_RETURN(Expr rhs, ParseUnary());
      lhs = Binary(op, std::move(lhs), std::move(rhs));
    }
    return lhs;
  }

  absl::StatusOr<Expr> ParseUnary() {
    if (!IsSymbol('-')) return ParsePrimary();
    const Token op = Next();
    GF_RETURN_IF_ERROR(CountOperation(op));
    GF_RETURN_IF_ERROR(Nest(op));
    Expr e;
    e.kind = Expr::Kind::kNeg;
    e.location = op.location;
    GF_ASSIGN_OR_RETURN(Expr operand, ParseUnary());
    e.args.push_back(std::move(operand));
    --nesting_;
    return e;
  }

  absl::StatusOr<Expr> ParsePrimary() {
    const Token t = Peek();
    Expr e;
    e.location = t.location;
    if (t.kind == TokenKind::kNumber) {
      Next();
      e.kind = Expr::Kind::kNumber;
      e.number = t.number;
      return e;
    }
    if (t.kind == TokenKind::kName) {
      Next();
      e.name = t.text;
      if (!IsSymbol('(')) {
        if (IsFunction(t.text)) {
          return Error(Peek(), absl::StrCat("expected '(' after the function ", t.text, ", got ",
                                            Describe(Peek())));
        }
        e.kind = Expr::Kind::kName;
        return e;
      }
      if (!IsFunction(t.text)) {
        return Error(t, absl::StrCat("unknown function '", t.text, "'; expected one of ",
                                     kFunctionList));
      }
      e.kind = Expr::Kind::kCall;
      GF_RETURN_IF_ERROR(CountOperation(t));
      GF_RETURN_IF_ERROR(Nest(Next()));
      if (!IsSymbol(')')) {
        while (true) {
          GF_ASSIGN_OR_RETURN(Expr arg, ParseSum());
          e.args.push_back(std::move(arg));
          if (!IsSymbol(',')) break;
          Next();
        }
      }
      GF_RETURN_IF_ERROR(Expect(')', absl::StrCat(" to close the call of ", t.text, " at ",
                                                  At(t.location))));
      --nesting_;
      return e;
    }
    if (t.kind == TokenKind::kSymbol && t.text == "(") {
      GF_RETURN_IF_ERROR(Nest(Next()));
      GF_ASSIGN_OR_RETURN(e, ParseSum());
      GF_RETURN_IF_ERROR(Expect(')', absl::StrCat(" to close the '(' at ", At(t.location))));
      --nesting_;
      return e;
    }
    return Error(t, absl::StrCat("expected an expression, got ", Describe(t)));
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  CellSource& src_;
  const std::string& file_;
  int operations_ = 0;
  int nesting_ = 0;
};

// ---------------------------------------------------------------- checks

// The names an expression reads, in source order.
void CollectNames(const Expr& e, std::vector<std::pair<std::string, SourceLocation>>& out) {
  if (e.kind == Expr::Kind::kName) out.emplace_back(e.name, e.location);
  for (const Expr& a : e.args) CollectNames(a, out);
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
      if (absl::string_view("@+-*").find(e.op) == absl::string_view::npos || e.op == 0) {
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
      } else if (UnaryFunctions().count(e.name)) {
        GF_RETURN_IF_ERROR(arity(1, e.name));
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

bool IsSplit(const Expr& e) { return e.kind == Expr::Kind::kCall && e.name == "split"; }

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

// Everything about a source that does not need sizes (see ParseCellSource).
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

// ---------------------------------------------------------------- compiler

}  // namespace cell_language_internal

using namespace cell_language_internal;  // NOLINT: this file's own helpers

absl::StatusOr<CellSource> ParseCellSource(const std::string& text, const std::string& filename) {
  CellSource src;
  src.filename = filename;
  src.text = text;
  GF_ASSIGN_OR_RETURN(std::vector<Token> tokens, Lex(text, filename));
  GF_RETURN_IF_ERROR(Parser(std::move(tokens), src).ParseFile());
  GF_RETURN_IF_ERROR(Validate(src));
  return src;
}

absl::StatusOr<CellSource> ReadCellFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read cell file ", path));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::NotFoundError(absl::StrCat("cannot read cell file ", path));
  return ParseCellSource(text.str(), path);
}

std::set<std::string> SizeSymbols(const CellSource& src) {
  std::set<std::string> symbols;
  auto add = [&](const Declaration& d) {
    for (const SizeExpr& s : d.shape) {
      for (const SizeFactor& f : s.factors) {
        if (!f.symbol.empty()) symbols.insert(f.symbol);
      }
    }
  };
  add(src.input);
  for (const Declaration& d : src.states) add(d);
  for (const Declaration& d : src.params) add(d);
  return symbols;
}

}  // namespace gatefuse
