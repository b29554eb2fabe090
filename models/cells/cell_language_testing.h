// Helpers the .cell language tests share: compiling a source given as text, a
// compiled value rendered as the expression computing it, and the check of a
// located error.
#ifndef GATEFUSE_MODELS_CELLS_CELL_LANGUAGE_TESTING_H_
#define GATEFUSE_MODELS_CELLS_CELL_LANGUAGE_TESTING_H_

#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "models/cells/cell_language.h"

namespace gatefuse::cell_testing {

// The source `text`, named "t.cell", parsed and compiled.
inline absl::StatusOr<Graph> CompileText(const std::string& text,
                                         const std::map<std::string, int64_t>& sizes = {{"I", 3},
                                                                                       {"H", 5}},
                                         DType dtype = DType::kF32) {
  absl::StatusOr<CellSource> src = ParseCellSource(text, "t.cell");
  if (!src.ok()) return src.status();
  return CompileCell(*src, sizes, dtype);
}

// The expression computing `v`, e.g. "MulScalar{2}(MatMul(x,W))"; a reduction
// shows its axes and keepdims ("Mean{[1],1}(x)"), a constant its value ("#0.5").
inline std::string Render(const Graph& g, ValueRef v) {
  const NodeData& d = g.node(v.node);
  if (d.op == kInputOp) return d.name;
  if (d.op == kConstantOp) return absl::StrFormat("#%g", d.value.At(0));
  std::string s = d.op;
  if (d.attrs.Has("value")) {
    absl::StrAppend(&s, "{", absl::StrFormat("%g", *d.attrs.GetFloat(d.op, "value")), "}");
  } else {
    // An activation's scalars by name: "Clip{hi=3,lo=-3}".
    std::vector<std::string> scalars;
    for (const auto& [name, v] : d.attrs.values()) {
      if (const double* f = std::get_if<double>(&v)) {
        scalars.push_back(absl::StrFormat("%s=%g", name, *f));
      }
    }
    if (!scalars.empty()) absl::StrAppend(&s, "{", absl::StrJoin(scalars, ","), "}");
  }
  if (d.op == "Concat") absl::StrAppend(&s, "{", *d.attrs.GetInt(d.op, "axis"), "}");
  if (d.op == "Slice") {
    absl::StrAppend(&s, "{", *d.attrs.GetInt(d.op, "axis"), ":", *d.attrs.GetInt(d.op, "start"),
                    ":", *d.attrs.GetInt(d.op, "end"), "}");
  }
  if (d.op == "Mean" || d.op == "Sum") {
    absl::StrAppend(&s, "{[", absl::StrJoin(*d.attrs.GetInts(d.op, "axes"), ","), "],",
                    *d.attrs.GetInt(d.op, "keepdims"), "}");
  }
  std::vector<std::string> args;
  for (const ValueRef& in : d.inputs) args.push_back(Render(g, in));
  return absl::StrCat(s, "(", absl::StrJoin(args, ","), ")");
}

// `status` is InvalidArgument "t.cell:WHERE: ..." containing every word.
inline void ExpectError(const absl::Status& status, const std::string& where,
                        const std::vector<std::string>& words) {
  ASSERT_FALSE(status.ok()) << "expected an error at " << where;
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  const std::string msg(status.message());
  EXPECT_TRUE(absl::StartsWith(msg, absl::StrCat("t.cell:", where, ": "))) << msg;
  for (const std::string& w : words) EXPECT_TRUE(absl::StrContains(msg, w)) << msg << "\nlacks: " << w;
}

inline absl::Status ParseError(const std::string& text) {
  return ParseCellSource(text, "t.cell").status();
}

}  // namespace gatefuse::cell_testing

#endif  // GATEFUSE_MODELS_CELLS_CELL_LANGUAGE_TESTING_H_
