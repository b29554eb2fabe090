// The .cell front end's shared vocabulary (functions, keywords, the error
// format) and its public entry points; the stages themselves are
// cell_lexer.cc, cell_parser.cc, cell_checks.cc and cell_compiler.cc.
#include "models/cells/cell_language.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/file_io.h"
#include "core/status.h"
#include "models/cells/cell_language_internal.h"

namespace gatefuse {
namespace cell_language_internal {

// Far more parts than any cell has; bounds the Slice nodes one split can add.
constexpr double kMaxSplit = 1e6;
// A cell is a few hundred bytes; the tokens of a source take tens of times its
// size, and its lines and columns are ints.
constexpr size_t kMaxSourceBytes = size_t{1} << 20;

// The elementwise functions and the ops they apply (ops/ops.h); the scalar
// arguments have the names of the ops' attributes (ONNX's, for its activations).
const std::map<std::string, ElementwiseFunction>& ElementwiseFunctions() {
  static const auto* fns = new std::map<std::string, ElementwiseFunction>{
      {"sigmoid", {"Sigmoid", {}}},
      {"tanh", {"Tanh", {}}},
      {"relu", {"Relu", {}}},
      {"exp", {"Exp", {}}},
      {"log", {"Log", {}}},
      {"leaky_relu", {"LeakyRelu", {"alpha"}}},
      {"thresholded_relu", {"ThresholdedRelu", {"alpha"}}},
      {"elu", {"Elu", {"alpha"}}},
      {"softsign", {"Softsign", {}}},
      {"softplus", {"Softplus", {}}},
      {"hard_sigmoid", {"HardSigmoid", {"alpha", "beta"}}},
      {"clip", {"Clip", {"lo", "hi"}}},
      {"abs", {"Abs", {}}},
      {"sqrt", {"Sqrt", {}}},
      {"min", {"Min", {}, 2}},
      {"max", {"Max", {}, 2}},
  };
  return *fns;
}

std::string Signature(const std::string& name, const ElementwiseFunction& f) {
  std::string s = absl::StrCat(name, f.tensors == 2 ? "(a, b" : "(e");
  for (const std::string& scalar : f.scalars) absl::StrAppend(&s, ", ", scalar);
  return absl::StrCat(s, ")");
}

std::optional<double> ScalarLiteral(const Expr& e) {
  if (e.kind == Expr::Kind::kNumber) return e.number;
  if (e.kind == Expr::Kind::kNeg && e.args.size() == 1 &&
      e.args[0].kind == Expr::Kind::kNumber) {
    return -e.args[0].number;
  }
  return std::nullopt;
}

SourceLocation StartOf(const Expr& e) {
  const Expr* leftmost = &e;
  while (leftmost->kind == Expr::Kind::kBinary && !leftmost->args.empty()) {
    leftmost = &leftmost->args[0];
  }
  return leftmost->location;
}

bool IsFunction(const std::string& name) {
  return ElementwiseFunctions().count(name) > 0 || name == "concat" || name == "split" ||
         IsReduction(name);
}

bool IsReduction(const std::string& name) {
  return name == "mean" || name == "sum" || name == "layer_norm";
}

int ReductionArity(const std::string& name) { return name == "layer_norm" ? 3 : 1; }

std::string ReductionSignature(const std::string& name) {
  return name == "layer_norm" ? "layer_norm(e, gain, shift)" : absl::StrCat(name, "(e)");
}

bool IsKeyword(const std::string& name) {
  return name == "cell" || name == "input" || name == "state" || name == "param" ||
         name == "next";
}

std::string At(SourceLocation loc) { return absl::StrCat(loc.line, ":", loc.column); }

absl::Status ErrorAt(const std::string& file, SourceLocation loc, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(file, ":", At(loc), ": ", what));
}

// A number as the source would write it: "1", "0.5", "-0.001".
std::string FormatNumber(double v) { return absl::StrFormat("%g", v); }

bool IsSplit(const Expr& e) { return e.kind == Expr::Kind::kCall && e.name == "split"; }

std::optional<int64_t> SplitCount(const Expr& n) {
  if (n.kind != Expr::Kind::kNumber || !(n.number >= 1 && n.number <= kMaxSplit) ||
      n.number != std::floor(n.number)) {
    return std::nullopt;
  }
  return static_cast<int64_t>(n.number);
}

}  // namespace cell_language_internal

using cell_language_internal::ErrorAt;
using cell_language_internal::kMaxSourceBytes;
using cell_language_internal::Lex;
using cell_language_internal::ParseTokens;
using cell_language_internal::Token;
using cell_language_internal::Validate;

absl::StatusOr<CellSource> ParseCellSource(const std::string& text, const std::string& filename) {
  if (text.size() > kMaxSourceBytes) {
    return ErrorAt(filename, {1, 1},
                   absl::StrCat("the source is ", text.size(), " bytes; a .cell source has at most ",
                                kMaxSourceBytes));
  }
  CellSource src;
  src.filename = filename;
  src.text = text;
  GF_ASSIGN_OR_RETURN(std::vector<Token> tokens, Lex(text, filename));
  GF_RETURN_IF_ERROR(ParseTokens(std::move(tokens), src));
  GF_RETURN_IF_ERROR(Validate(src));
  return src;
}

absl::StatusOr<CellSource> ReadCellFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrCat("cannot read cell file: ", text.status().message()));
  }
  return ParseCellSource(*text, path);
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
