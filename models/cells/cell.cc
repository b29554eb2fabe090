#include "models/cells/cell.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status.h"
#include "models/cells/cell_language.h"
#include "ops/cell_kinds.h"
#include "ops/ops.h"

namespace gatefuse {
namespace {

// A builtin kind defined by .cell equations rather than by the kind table: no
// fused kernel exists for it, and the file is the one writing of its equations.
struct SourceKind {
  std::string name;
  std::string file;                // for error messages: where the text comes from
  std::vector<std::string> gates;  // the reference files' gate order
  std::string text;
};

const std::vector<SourceKind>& SourceKinds() {
  static const auto* kinds = new std::vector<SourceKind>{
      {"ln_lstm", "models/cells/ln_lstm.cell", {"i", "f", "g", "o"},
#include "models/cells/ln_lstm.cell.inc"
      },
  };
  return *kinds;
}

const SourceKind* FindSourceKind(const std::string& name) {
  for (const SourceKind& k : SourceKinds()) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

absl::Status UnknownKind(const std::string& name) {
  return absl::InvalidArgumentError(absl::StrCat("unknown cell kind '", name, "'; builtin: ",
                                                 absl::StrJoin(BuiltinCellKinds(), " ")));
}

absl::Status CheckSizes(const std::string& kind, int64_t input_size, int64_t hidden_size) {
  if (input_size <= 0 || hidden_size <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("cell ", kind, ": sizes must be positive, got I=",
                                                   input_size, " H=", hidden_size));
  }
  return absl::OkStatus();
}

// The cell of a source kind: its equations compiled at these sizes, run by
// CellFromGraph's step (on the tape, any float dtype).
absl::StatusOr<Cell> SourceCell(const SourceKind& k, int64_t input_size, int64_t hidden_size) {
  GF_RETURN_IF_ERROR(CheckSizes(k.name, input_size, hidden_size));
  GF_ASSIGN_OR_RETURN(CellSource src, ParseCellSource(k.text, k.file));
  GF_ASSIGN_OR_RETURN(Graph g, CompileCell(src, {{"I", input_size}, {"H", hidden_size}}));
  return CellFromGraph(g);
}

// The parameter a builtin cell names `what` + `gate` (Wi, bhr, pi; W, U, b for the
// one-gate RNNs), or null.
const Var* BuiltinParam(const ParamMap& p, const std::string& what, const std::string& gate) {
  auto it = p.find(what + gate);
  return it == p.end() ? nullptr : &it->second;
}

}  // namespace

std::vector<std::string> BuiltinCellKinds() {
  std::vector<std::string> names;
  for (const CellKind& k : CellKinds()) names.push_back(k.name);
  for (const SourceKind& k : SourceKinds()) names.push_back(k.name);
  return names;
}

absl::StatusOr<std::vector<std::string>> BuiltinCellGates(const std::string& kind) {
  if (const SourceKind* s = FindSourceKind(kind)) return s->gates;
  absl::StatusOr<const CellKind*> k = FindCellKind(kind);
  if (!k.ok()) return UnknownKind(kind);
  return (*k)->gates;
}

absl::StatusOr<Cell> BuiltinCell(const std::string& kind, int64_t input_size,
                                 int64_t hidden_size) {
  if (const SourceKind* s = FindSourceKind(kind)) return SourceCell(*s, input_size, hidden_size);
  absl::StatusOr<const CellKind*> found = FindCellKind(kind);
  if (!found.ok()) return UnknownKind(kind);
  const CellKind* k = *found;
  GF_RETURN_IF_ERROR(CheckSizes(k->name, input_size, hidden_size));
  Cell cell;
  cell.kind = k->name;
  cell.input_size = input_size;
  cell.hidden_size = hidden_size;
  cell.states = k->states;
  const int64_t I = input_size, H = hidden_size;
  for (const auto& g : k->gates) cell.params.push_back({"W" + g, Shape{I, H}});
  for (const auto& g : k->gates) cell.params.push_back({"U" + g, Shape{H, H}});
  for (const auto& g : k->gates) cell.params.push_back({"b" + g, Shape{H}});
  if (k->recurrent_bias) {
    for (const auto& g : k->gates) cell.params.push_back({"bh" + g, Shape{H}});
  }
  for (const auto& g : k->peephole_gates) cell.params.push_back({"p" + g, Shape{H}});
  // The table's equations read absent biases as zero; a builtin cell has all of its
  // parameters, so a missing one is the caller's error, not a zero.
  cell.step = [k, names = cell.params](const Var& x, const std::vector<Var>& states,
                                       const ParamMap& p) -> absl::StatusOr<std::vector<Var>> {
    for (const CellParam& q : names) {
      if (!p.count(q.name)) {
        return absl::InvalidArgumentError(
            absl::StrCat("cell ", k->name, ": parameter ", q.name, " is missing"));
      }
    }
    return CellStep(*k, x, states, [&p](const std::string& what, const std::string& gate) {
      return BuiltinParam(p, what, gate);
    });
  };
  return cell;
}

ParamMap InitParams(const Cell& cell, DType dtype, uint64_t seed) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(cell.hidden_size));
  ParamMap params;
  uint64_t k = 0;
  for (const CellParam& p : cell.params) {
    // Every param draws its own stream, so one with an initial value leaves the
    // others' values as they were.
    const uint64_t stream = seed * 1000003 + k++;
    params[p.name] = Var::Leaf(p.init ? Tensor::Full(p.shape, dtype, *p.init)
                                      : Tensor::Uniform(p.shape, dtype, stream, -bound, bound),
                               true, p.name);
  }
  return params;
}

absl::StatusOr<SequenceResult> RunSequence(const Cell& cell, const Var& x,
                                           const std::vector<Var>& initial,
                                           const ParamMap& params) {
  const std::string where = absl::StrCat("cell ", cell.kind);
  if (x.shape().rank() != 3 || x.shape()[2] != cell.input_size) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": input must be [T, B, ",
                                                   cell.input_size, "], got ",
                                                   x.shape().ToString()));
  }
  if (initial.size() != cell.states.size()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": needs ", cell.states.size(),
                                                   " initial states, got ", initial.size()));
  }
  const int64_t T = x.shape()[0], B = x.shape()[1];
  for (size_t k = 0; k < initial.size(); ++k) {
    if (initial[k].shape() != Shape{B, cell.hidden_size}) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": initial state ", cell.states[k], " must be ",
          Shape{B, cell.hidden_size}.ToString(), ", got ", initial[k].shape().ToString()));
    }
  }
  for (const CellParam& p : cell.params) {
    auto it = params.find(p.name);
    if (it == params.end()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": parameter ", p.name, " is missing"));
    }
    if (it->second.shape() != p.shape) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": parameter ", p.name, " must be ",
                                                     p.shape.ToString(), ", got ",
                                                     it->second.shape().ToString()));
    }
  }
  std::vector<Var> states = initial;
  std::vector<VarOr> outputs;
  for (int64_t t = 0; t < T; ++t) {
    GF_ASSIGN_OR_RETURN(Var xt, Reshape(Slice(x, 0, t, t + 1), Shape{B, cell.input_size}));
    GF_ASSIGN_OR_RETURN(states, cell.step(xt, states, params));
    outputs.push_back(Reshape(states[0], Shape{1, B, cell.hidden_size}));
  }
  SequenceResult result;
  if (T == 0) {
    result.y = Var::Constant(Tensor::Zeros({0, B, cell.hidden_size}, x.dtype()));
  } else {
    GF_ASSIGN_OR_RETURN(result.y, Concat(outputs, 0));
  }
  result.final_states = states;
  return result;
}

}  // namespace gatefuse
