#include "models/cells/reference.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/compare.h"
#include "core/file_io.h"
#include "core/status.h"
#include "graph/executor.h"
#include "models/cells/cell.h"
#include "models/cells/cell_graph.h"
#include "passes/recognize_cell.h"
#include "passes/standard_pipeline.h"
#include "ops/ops.h"

namespace gatefuse {
namespace {

absl::Status ParseError(const std::string& file, int line, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(file, ":", line, ": ", what));
}

absl::StatusOr<int64_t> ParsePositive(const std::string& file, int line, absl::string_view s,
                                      bool allow_zero = false) {
  int64_t v;
  if (!absl::SimpleAtoi(s, &v) || v < 0 || (v == 0 && !allow_zero)) {
    return ParseError(file, line, absl::StrCat("expected a positive integer, got '", s, "'"));
  }
  return v;
}

}  // namespace

absl::StatusOr<ReferenceCase> ParseReferenceCase(const std::string& text,
                                                 const std::string& filename) {
  ReferenceCase ref;
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  int n = static_cast<int>(lines.size());
  while (n > 0 && lines[n - 1].empty()) --n;
  if (n == 0) return ParseError(filename, 1, "empty file");

  std::vector<absl::string_view> head = absl::StrSplit(lines[0], ' ', absl::SkipEmpty());
  // # cell <kind> T <T> B <B> I <I> H <H> seed <seed> float64
  if (head.size() != 14 || head[0] != "#" || head[1] != "cell" || head[3] != "T" ||
      head[5] != "B" || head[7] != "I" || head[9] != "H" || head[11] != "seed" ||
      head[13] != "float64") {
    return ParseError(filename, 1,
                      "expected '# cell <kind> T <T> B <B> I <I> H <H> seed <seed> float64'");
  }
  ref.kind = std::string(head[2]);
  GF_ASSIGN_OR_RETURN(ref.T, ParsePositive(filename, 1, head[4]));
  GF_ASSIGN_OR_RETURN(ref.B, ParsePositive(filename, 1, head[6]));
  GF_ASSIGN_OR_RETURN(ref.I, ParsePositive(filename, 1, head[8]));
  GF_ASSIGN_OR_RETURN(ref.H, ParsePositive(filename, 1, head[10]));
  GF_ASSIGN_OR_RETURN(ref.seed, ParsePositive(filename, 1, head[12], true));

  for (int i = 1; i < n; i += 2) {
    const int line = i + 1;
    std::vector<absl::string_view> decl = absl::StrSplit(lines[i], ' ', absl::SkipEmpty());
    if (decl.size() < 3 || decl[0] != "tensor") {
      return ParseError(filename, line, "expected 'tensor <name> <rank> <dims...>'");
    }
    GF_ASSIGN_OR_RETURN(int64_t rank, ParsePositive(filename, line, decl[2], true));
    if (static_cast<int64_t>(decl.size()) != 3 + rank) {
      return ParseError(filename, line, absl::StrCat("rank ", rank, " needs ", rank, " dims"));
    }
    std::vector<int64_t> dims;
    for (int64_t d = 0; d < rank; ++d) {
      GF_ASSIGN_OR_RETURN(int64_t v, ParsePositive(filename, line, decl[3 + d], true));
      dims.push_back(v);
    }
    const Shape shape(dims);
    if (i + 1 >= n) return ParseError(filename, line + 1, "missing the values line");
    std::vector<absl::string_view> tokens =
        absl::StrSplit(lines[i + 1], absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (static_cast<int64_t>(tokens.size()) != shape.num_elements()) {
      return ParseError(filename, line + 1,
                        absl::StrCat("tensor ", decl[1], " ", shape.ToString(), " needs ",
                                     shape.num_elements(), " values, found ", tokens.size()));
    }
    std::vector<double> values(tokens.size());
    for (size_t k = 0; k < tokens.size(); ++k) {
      if (!absl::SimpleAtod(tokens[k], &values[k])) {
        return ParseError(filename, line + 1, absl::StrCat("bad number '", tokens[k], "'"));
      }
    }
    const std::string name(decl[1]);
    if (ref.tensors.count(name)) {
      return ParseError(filename, line, absl::StrCat("tensor ", name, " appears twice"));
    }
    ref.tensors[name] = *Tensor::FromValues(shape, values, DType::kF64);
  }
  return ref;
}

std::vector<std::string> ReferenceFilesIn(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code error;
  for (const auto& e : std::filesystem::directory_iterator(dir, error)) {
    if (e.is_regular_file()) files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

absl::StatusOr<ReferenceCase> ReadReferenceFile(const std::string& path) {
  GF_ASSIGN_OR_RETURN(const std::string text, ReadFile(path));
  return ParseReferenceCase(text, path);
}

namespace {

// The tensor `name` of `ref`, which must have `shape`.
absl::StatusOr<Tensor> Need(const ReferenceCase& ref, const std::string& name,
                            const Shape& shape) {
  auto it = ref.tensors.find(name);
  if (it == ref.tensors.end()) {
    return absl::InvalidArgumentError(absl::StrCat("reference ", ref.kind, ": tensor ", name,
                                                   " is missing"));
  }
  if (it->second.shape() != shape) {
    return absl::InvalidArgumentError(absl::StrCat("reference ", ref.kind, ": tensor ", name,
                                                   " is ", it->second.shape().ToString(),
                                                   ", expected ", shape.ToString()));
  }
  return it->second;
}

// Row k of a [G, ...] leaf, reshaped to `shape`, as ops on the tape.
VarOr Row(const Var& stacked, int64_t k, const Shape& shape) {
  return Reshape(Slice(stacked, 0, k, k + 1), shape);
}


// The cell over the sequence: op by op on the tape, or compiled by the standard
// passes and run by the executor (fused kernels for recognised cells).
absl::StatusOr<SequenceResult> RunPath(const Cell& cell, RefcheckPath path, const Var& x,
                                       const std::vector<Var>& initial, const ParamMap& params,
                                       std::string& fusion, SequencePath& ran) {
  if (path == RefcheckPath::kTape) {
    fusion = "none";
    ran = SequencePath{.kind = SequencePathKind::kOpByOp,
                       .reason = "the cell's equations on the tape, f64 (refcheck --path tape)"};
    return RunSequence(cell, x, initial, params);
  }
  GF_ASSIGN_OR_RETURN(Graph compiled, TraceCell(cell, x.dtype()));
  Pipeline pipeline;
  AddStandardPasses(pipeline);
  GF_RETURN_IF_ERROR(pipeline.Run(compiled).status());
  fusion = FusionKind(compiled);
  std::map<std::string, Var> states;
  for (size_t k = 0; k < cell.states.size(); ++k) states[cell.states[k]] = initial[k];
  GF_ASSIGN_OR_RETURN(GraphSequenceResult run, RunGraphSequence(compiled, x, states, params));
  ran = run.path;
  SequenceResult out{run.y, {}};
  for (const std::string& s : cell.states) out.final_states.push_back(run.final_states[s]);
  return out;
}

}  // namespace

absl::StatusOr<RefcheckResult> RefcheckTape(const ReferenceCase& ref) {
  return Refcheck(ref, RefcheckPath::kTape);
}

absl::StatusOr<RefcheckResult> Refcheck(const ReferenceCase& ref, RefcheckPath path) {
  const DType dtype = path == RefcheckPath::kTape ? DType::kF64 : DType::kF32;
  GF_ASSIGN_OR_RETURN(Cell cell, BuiltinCell(ref.kind, ref.I, ref.H));
  GF_ASSIGN_OR_RETURN(std::vector<std::string> gates, BuiltinCellGates(ref.kind));
  const int64_t G = static_cast<int64_t>(gates.size()), T = ref.T, B = ref.B, I = ref.I,
                H = ref.H;
  const bool has_c = cell.states.size() == 2;

  // Leaves hold the reference's own layouts; per-gate parameters are views of them
  // through ops, so gradients arrive in the reference's layout.
  std::map<std::string, Var> leaves;
  auto leaf = [&](const std::string& name, const Shape& shape) -> absl::StatusOr<Var> {
    GF_ASSIGN_OR_RETURN(Tensor t, Need(ref, name, shape));
    return leaves[name] = Var::Leaf(t.Cast(dtype), true, name);
  };
  GF_ASSIGN_OR_RETURN(Var x, leaf("x", {T, B, I}));
  std::vector<Var> initial;
  GF_ASSIGN_OR_RETURN(Var h0, leaf("h0", {B, H}));
  initial.push_back(h0);
  if (has_c) {
    GF_ASSIGN_OR_RETURN(Var c0, leaf("c0", {B, H}));
    initial.push_back(c0);
  }
  GF_ASSIGN_OR_RETURN(Var W, leaf("W", {G, H, I}));
  GF_ASSIGN_OR_RETURN(Var U, leaf("U", {G, H, H}));
  auto gate_index = [&](const std::string& g) -> int64_t {
    return std::find(gates.begin(), gates.end(), g) - gates.begin();
  };
  ParamMap params;
  for (const CellParam& p : cell.params) {
    const char what = p.name[0];
    const int64_t k = gate_index(p.name.substr(1));
    if ((what == 'W' || what == 'U') && k < G) {  // W<g> [I,H], U<g> [H,H]; W, U for G = 1
      GF_ASSIGN_OR_RETURN(params[p.name],
                          Transpose(Row(what == 'W' ? W : U, k, {H, what == 'W' ? I : H}), {1, 0}));
    } else if ((p.name == "W" || p.name == "U") && G > 1) {
      // The gates side by side, [I, G*H] / [H, G*H]: the [G*H, .] stack transposed.
      const Var& stacked = p.name == "W" ? W : U;
      GF_ASSIGN_OR_RETURN(params[p.name],
                          Transpose(Reshape(stacked, {G * H, p.name == "W" ? I : H}), {1, 0}));
    } else if (what == 'b' && k < G) {
      if (!leaves.count("b")) GF_RETURN_IF_ERROR(leaf("b", {G, H}).status());
      GF_ASSIGN_OR_RETURN(params[p.name], Row(leaves["b"], k, {H}));
    } else if (p.name.rfind("bh", 0) == 0) {
      if (!leaves.count("bh")) GF_RETURN_IF_ERROR(leaf("bh", {G, H}).status());
      GF_ASSIGN_OR_RETURN(params[p.name], Row(leaves["bh"], gate_index(p.name.substr(2)), {H}));
    } else if (p.name[0] == 'p') {  // peepholes: P rows are gates i, f, o
      if (!leaves.count("P")) GF_RETURN_IF_ERROR(leaf("P", {3, H}).status());
      const int64_t row = std::string("ifo").find(p.name[1]);
      GF_ASSIGN_OR_RETURN(params[p.name], Row(leaves["P"], row, {H}));
    } else if (ref.tensors.count(p.name)) {  // a param the reference holds as it is (ln_lstm's)
      GF_ASSIGN_OR_RETURN(params[p.name], leaf(p.name, p.shape));
    } else {
      return absl::InvalidArgumentError(absl::StrCat("reference ", ref.kind, ": tensor ", p.name,
                                                     " is missing"));
    }
  }

  RefcheckResult result;
  GF_ASSIGN_OR_RETURN(SequenceResult run, RunPath(cell, path, x, initial, params, result.fusion, result.path));
  std::map<std::string, Var> outputs{{"y", run.y}, {"hT", run.final_states[0]}};
  if (has_c) outputs["cT"] = run.final_states[1];
  // loss = sum(wy*y) + sum(wh*hT) [+ sum(wc*cT)]
  VarOr loss_terms = Var::Constant(Tensor::Zeros({}, dtype));
  for (const auto& [name, weight] :
       std::vector<std::pair<std::string, std::string>>{{"y", "wy"}, {"hT", "wh"}, {"cT", "wc"}}) {
    if (!outputs.count(name)) continue;
    GF_ASSIGN_OR_RETURN(Tensor w, Need(ref, weight, outputs[name].shape()));
    loss_terms = loss_terms + Sum(outputs[name] * Var::Constant(w.Cast(dtype)));
  }
  GF_ASSIGN_OR_RETURN(Var loss, Reshape(loss_terms, {1}));
  GF_RETURN_IF_ERROR(Backward(loss));
  outputs["loss"] = loss;

  auto compare = [&](const std::string& name, const Tensor& ours) -> absl::Status {
    GF_ASSIGN_OR_RETURN(Tensor want, Need(ref, name, ours.shape()));
    const TensorComparison c = CompareTensors(ours, want);
    // The first tensor compared, and then any worse one, is the worst so far; an
    // infinite error (NaN, Inf) is never replaced.
    if (result.worst_tensor.empty() || c.error > result.max_rel_err) {
      result.max_rel_err = c.error;
      result.worst_tensor = name;
      result.worst = absl::StrCat(name, " ", c.Describe(ours.shape()));
    }
    ++result.tensors_compared;
    return absl::OkStatus();
  };
  for (const auto& [name, v] : outputs) GF_RETURN_IF_ERROR(compare(name, v.value()));
  for (const auto& [name, v] : leaves) {
    const Tensor g = v.grad().defined() ? v.grad() : Tensor::Zeros(v.shape(), dtype);
    GF_RETURN_IF_ERROR(compare("d_" + name, g));
  }
  // Every gradient the reference holds must have been compared.
  for (const auto& [name, t] : ref.tensors) {
    if (name.rfind("d_", 0) == 0 && !leaves.count(name.substr(2))) {
      return absl::InvalidArgumentError(absl::StrCat("reference ", ref.kind, ": gradient ", name,
                                                     " has no matching input"));
    }
  }
  return result;
}

}  // namespace gatefuse
