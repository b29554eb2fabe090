// The .cell parser: tokens to a CellSource by recursive descent, one statement
// per line (the grammar is in cell_language.h). It checks syntax only; names,
// arities and the order of definitions are cell_checks.cc's.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/status.h"
#include "models/cells/cell_language_internal.h"

namespace gatefuse::cell_language_internal {
namespace {

// Bounds that keep a hostile file from exhausting the stack or the time. The
// parser recurses once per parenthesis, call or unary minus (kMaxNesting); the
// checks and the compiler recurse once per level of the expression tree, which a
// chain like `a * b * c * ...` makes one level deeper per operator (kMaxDepth:
// under ASan a level of the compiler takes about 4 KB of stack, so 2000 levels
// overflowed it).
constexpr int kMaxNesting = 100;      // parentheses, calls, unary minus
constexpr int kMaxDepth = 256;        // levels of the expression tree
constexpr int kMaxOperations = 2000;  // operators and calls in one statement

// The first operator or call of `root` below kMaxDepth others, found without
// recursion (the tree is as deep as the statement is long, deeper than the
// recursive walkers take).
const Expr* TooDeep(const Expr& root) {
  std::vector<std::pair<const Expr*, int>> stack = {{&root, 1}};
  while (!stack.empty()) {
    const auto [e, depth] = stack.back();
    stack.pop_back();
    if (depth > kMaxDepth && !e->args.empty()) return e;
    for (const Expr& a : e->args) stack.emplace_back(&a, depth + 1);
  }
  return nullptr;
}

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
      if (IsSymbol('=')) GF_RETURN_IF_ERROR(ParseInitialValue(d));
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

  // `= 1`, `= -0.5` after a param's shape: one number literal, optionally negated.
  absl::Status ParseInitialValue(Declaration& d) {
    const Token eq = Next();
    if (d.kind != DeclKind::kParam) {
      return Error(eq, absl::StrCat(d.kind == DeclKind::kInput ? "input " : "state ", d.name,
                                    " takes no initial value; only a param does, as in "
                                    "`param g[H] = 1`"));
    }
    d.init_location = Peek().location;
    const bool negative = IsSymbol('-');
    if (negative) Next();
    if (Peek().kind != TokenKind::kNumber) {
      return ErrorAt(file_, d.init_location,
                     absl::StrCat("the initial value of ", d.name,
                                  " must be a number (like 1, 0 or -0.5), got ", Describe(Peek())));
    }
    const double v = Next().number;
    d.init = negative ? -v : v;
    if (Peek().kind == TokenKind::kSymbol) {
      return Error(Peek(), absl::StrCat("the initial value of ", d.name,
                                        " is one number, not an expression; expected another "
                                        "declaration or the end of the line, got ",
                                        Describe(Peek())));
    }
    return absl::OkStatus();
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
    if (const Expr* deep = TooDeep(st.value)) {
      return ErrorAt(file_, deep->location,
                     absl::StrCat("expression too deep (more than ", kMaxDepth,
                                  " operators and calls inside one another); split it into "
                                  "several assignments"));
    }
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

  // Left-associative levels: + - (lowest), then * /, then @.
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
    while (IsSymbol('*') || IsSymbol('/')) {
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
}  // namespace

absl::Status ParseTokens(std::vector<Token> tokens, CellSource& src) {
  return Parser(std::move(tokens), src).ParseFile();
}

}  // namespace gatefuse::cell_language_internal
