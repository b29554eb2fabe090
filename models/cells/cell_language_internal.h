// Internals shared by the parts of the .cell front end; not part of the public API
// (cell_language.h). The text goes through them in this order:
//
//   text ──Lex (cell_lexer.cc)──▶ tokens ──ParseTokens (cell_parser.cc)──▶ CellSource
//        ──Validate (cell_checks.cc)──▶ checked CellSource ──CompileCell (cell_compiler.cc)──▶ Graph
//
// cell_language.cc holds the vocabulary they share (functions, keywords, error
// format) and the public entry points.
#ifndef GATEFUSE_MODELS_CELLS_CELL_LANGUAGE_INTERNAL_H_
#define GATEFUSE_MODELS_CELLS_CELL_LANGUAGE_INTERNAL_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "models/cells/cell_language.h"

namespace gatefuse::cell_language_internal {

// Bounds that keep a hostile file from overflowing int64 or exhausting memory.
inline constexpr int64_t kMaxDim = (int64_t{1} << 31) - 1;
inline constexpr int64_t kMaxElements = int64_t{1} << 40;
inline constexpr char kFunctionList[] =
    "sigmoid, tanh, relu, exp, log, leaky_relu, thresholded_relu, elu, softsign, softplus, "
    "hard_sigmoid, clip, abs, sqrt, min, max, mean, sum, layer_norm, concat, split";
// layer_norm's epsilon: var + 1e-5 under the square root (PyTorch's default).
inline constexpr double kLayerNormEpsilon = 1e-5;

// ---- vocabulary (cell_language.cc)

// An elementwise function: the op it applies to its first `tensors` arguments,
// and the float attributes its further arguments give, each a number literal:
//   tanh(z) -> Tanh(z);  clip(z, -3, 3) -> Clip(z) {lo=-3, hi=3};  min(a, b) -> Min(a, b)
struct ElementwiseFunction {
  std::string op;
  std::vector<std::string> scalars;  // attribute names, in argument order
  int tensors = 1;                   // 1 or 2 (min, max)
};
// Every function but concat, split and the reductions (mean, sum, layer_norm), by
// name.
const std::map<std::string, ElementwiseFunction>& ElementwiseFunctions();
// How a function is called, for error messages: "clip(e, lo, hi)", "min(a, b)".
std::string Signature(const std::string& name, const ElementwiseFunction& f);
// The value of a scalar argument if it is a number literal, optionally negated
// ("0.5", "-3", "1e-3"); nullopt for any other expression.
std::optional<double> ScalarLiteral(const Expr& e);
// Where the text of `e` starts (its leftmost token; a binary expression's own
// location is its operator).
SourceLocation StartOf(const Expr& e);
bool IsFunction(const std::string& name);
bool IsKeyword(const std::string& name);
// "LINE:COL".
std::string At(SourceLocation loc);
// InvalidArgument "FILE:LINE:COL: what".
absl::Status ErrorAt(const std::string& file, SourceLocation loc, absl::string_view what);
std::string FormatNumber(double v);
bool IsSplit(const Expr& e);
// mean and sum (over the feature axis), and layer_norm; their arities.
bool IsReduction(const std::string& name);
int ReductionArity(const std::string& name);
// How a reduction is called, for error messages: "mean(e)", "layer_norm(e, gain, shift)".
std::string ReductionSignature(const std::string& name);
// The part count of split(e, n) if n is a positive integer literal.
std::optional<int64_t> SplitCount(const Expr& n);

// ---- lexer (cell_lexer.cc)

enum class TokenKind { kName, kNumber, kSymbol, kNewline, kEnd };

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string text;
  double number = 0;  // kNumber
  SourceLocation location;
};

// For error messages: "'x'", "the number 2", "the end of the line".
std::string Describe(const Token& t);
// The tokens of `text`, always ending with one kEnd; comments and blanks dropped.
absl::StatusOr<std::vector<Token>> Lex(const std::string& text, const std::string& file);

// ---- parser (cell_parser.cc)

// Fills `src` (name, declarations, statements) from the tokens of a whole file.
absl::Status ParseTokens(std::vector<Token> tokens, CellSource& src);

// ---- checks (cell_checks.cc)

// Everything about a source that does not need sizes (see ParseCellSource).
absl::Status Validate(const CellSource& src);

}  // namespace gatefuse::cell_language_internal

#endif  // GATEFUSE_MODELS_CELLS_CELL_LANGUAGE_INTERNAL_H_
