// Internals shared by the .cell parser (cell_language.cc) and compiler
// (cell_compiler.cc); not part of the public API.
#ifndef GATEFUSE_MODELS_CELLS_CELL_LANGUAGE_INTERNAL_H_
#define GATEFUSE_MODELS_CELLS_CELL_LANGUAGE_INTERNAL_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "models/cells/cell_language.h"

namespace gatefuse::cell_language_internal {

inline constexpr int64_t kMaxDim = (int64_t{1} << 31) - 1;
inline constexpr int64_t kMaxElements = int64_t{1} << 40;
inline constexpr char kFunctionList[] = "sigmoid, tanh, relu, exp, log, concat, split";

// sigmoid -> Sigmoid, ...
const std::map<std::string, std::string>& UnaryFunctions();
// InvalidArgument "FILE:LINE:COL: what".
absl::Status ErrorAt(const std::string& file, SourceLocation loc, absl::string_view what);
std::string FormatNumber(double v);
bool IsSplit(const Expr& e);
// The part count of split(e, n) if n is a positive integer literal.
std::optional<int64_t> SplitCount(const Expr& n);
// Everything about a source that does not need sizes.
absl::Status Validate(const CellSource& src);

}  // namespace gatefuse::cell_language_internal

#endif  // GATEFUSE_MODELS_CELLS_CELL_LANGUAGE_INTERNAL_H_
