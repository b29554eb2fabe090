#include "models/cells/cell.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status.h"
#include "ops/ops.h"

namespace gatefuse {
namespace {

struct KindInfo {
  std::vector<std::string> gates;
  std::vector<std::string> states;
  bool recurrent_bias = false;          // bh<g> (GRU forms)
  std::vector<std::string> peepholes;   // p<g>
  StepFn step;
};

// Looks up a parameter that the kind's table guarantees exists.
const Var& P(const ParamMap& p, const std::string& name) { return p.at(name); }

// x@W<g> + h@U<g> + b<g>: the usual pre-activation of gate g.
VarOr Gate(const Var& x, const Var& h, const ParamMap& p, const std::string& g) {
  return MatMul(x, P(p, "W" + g)) + MatMul(h, P(p, "U" + g)) + P(p, "b" + g);
}

absl::StatusOr<std::vector<Var>> Done(std::vector<VarOr> states) {
  std::vector<Var> out;
  for (VarOr& s : states) {
    if (!s.ok()) return s.status();
    out.push_back(*std::move(s));
  }
  return out;
}

StepFn RnnStep(VarOr (*activation)(const VarOr&)) {
  // h' = act(x@W + h@U + b)
  return [activation](const Var& x, const std::vector<Var>& s, const ParamMap& p) {
    return Done({activation(Gate(x, s[0], p, ""))});
  };
}

absl::StatusOr<std::vector<Var>> LstmStep(const Var& x, const std::vector<Var>& s,
                                          const ParamMap& p) {
  const Var &h = s[0], &c = s[1];
  VarOr i = Sigmoid(Gate(x, h, p, "i"));
  VarOr f = Sigmoid(Gate(x, h, p, "f"));
  VarOr g = Tanh(Gate(x, h, p, "g"));
  VarOr o = Sigmoid(Gate(x, h, p, "o"));
  VarOr c2 = f * c + i * g;
  return Done({o * Tanh(c2), c2});
}

// Gers & Schmidhuber (2000): i and f look at c, o at the new cell c'.
absl::StatusOr<std::vector<Var>> PeepholeStep(const Var& x, const std::vector<Var>& s,
                                              const ParamMap& p) {
  const Var &h = s[0], &c = s[1];
  VarOr i = Sigmoid(Gate(x, h, p, "i") + P(p, "pi") * c);
  VarOr f = Sigmoid(Gate(x, h, p, "f") + P(p, "pf") * c);
  VarOr g = Tanh(Gate(x, h, p, "g"));
  VarOr c2 = f * c + i * g;
  VarOr o = Sigmoid(Gate(x, h, p, "o") + P(p, "po") * c2);
  return Done({o * Tanh(c2), c2});
}

// Coupled input-forget gate: the forget gate is 1 - i.
absl::StatusOr<std::vector<Var>> CifgStep(const Var& x, const std::vector<Var>& s,
                                          const ParamMap& p) {
  const Var &h = s[0], &c = s[1];
  VarOr i = Sigmoid(Gate(x, h, p, "i"));
  VarOr g = Tanh(Gate(x, h, p, "g"));
  VarOr o = Sigmoid(Gate(x, h, p, "o"));
  VarOr c2 = (1.0 - i) * c + i * g;
  return Done({o * Tanh(c2), c2});
}

// Cho et al. (2014): the reset gate scales h before the recurrent product.
absl::StatusOr<std::vector<Var>> GruStep(const Var& x, const std::vector<Var>& s,
                                         const ParamMap& p) {
  const Var& h = s[0];
  VarOr r = Sigmoid(Gate(x, h, p, "r") + P(p, "bhr"));
  VarOr z = Sigmoid(Gate(x, h, p, "z") + P(p, "bhz"));
  VarOr n = Tanh(MatMul(x, P(p, "Wn")) + P(p, "bn") + MatMul(r * h, P(p, "Un")) + P(p, "bhn"));
  return Done({(1.0 - z) * n + z * h});
}

// Linear before reset (cuDNN, PyTorch nn.GRU, oneDNN lbr_gru).
absl::StatusOr<std::vector<Var>> GruLbrStep(const Var& x, const std::vector<Var>& s,
                                            const ParamMap& p) {
  const Var& h = s[0];
  VarOr r = Sigmoid(Gate(x, h, p, "r") + P(p, "bhr"));
  VarOr z = Sigmoid(Gate(x, h, p, "z") + P(p, "bhz"));
  VarOr n = Tanh(MatMul(x, P(p, "Wn")) + P(p, "bn") + r * (MatMul(h, P(p, "Un")) + P(p, "bhn")));
  return Done({(1.0 - z) * n + z * h});
}

// Minimal gated unit (Zhou et al. 2016).
absl::StatusOr<std::vector<Var>> MguStep(const Var& x, const std::vector<Var>& s,
                                         const ParamMap& p) {
  const Var& h = s[0];
  VarOr f = Sigmoid(Gate(x, h, p, "f"));
  VarOr n = Tanh(MatMul(x, P(p, "Wn")) + P(p, "bn") + MatMul(f * h, P(p, "Un")));
  return Done({(1.0 - f) * h + f * n});
}

const std::map<std::string, KindInfo>& Kinds() {
  static const auto* kinds = new std::map<std::string, KindInfo>{
      {"rnn_tanh", {{""}, {"h"}, false, {}, RnnStep(Tanh)}},
      {"rnn_relu", {{""}, {"h"}, false, {}, RnnStep(Relu)}},
      {"lstm", {{"i", "f", "g", "o"}, {"h", "c"}, false, {}, LstmStep}},
      {"peephole", {{"i", "f", "g", "o"}, {"h", "c"}, false, {"i", "f", "o"}, PeepholeStep}},
      {"cifg", {{"i", "g", "o"}, {"h", "c"}, false, {}, CifgStep}},
      {"gru", {{"r", "z", "n"}, {"h"}, true, {}, GruStep}},
      {"gru_lbr", {{"r", "z", "n"}, {"h"}, true, {}, GruLbrStep}},
      {"mgu", {{"f", "n"}, {"h"}, false, {}, MguStep}},
  };
  return *kinds;
}

absl::StatusOr<const KindInfo*> FindKind(const std::string& kind) {
  auto it = Kinds().find(kind);
  if (it == Kinds().end()) {
    return absl::InvalidArgumentError(absl::StrCat("unknown cell kind '", kind, "'; builtin: ",
                                                   absl::StrJoin(BuiltinCellKinds(), " ")));
  }
  return &it->second;
}

}  // namespace

std::vector<std::string> BuiltinCellKinds() {
  return {"rnn_tanh", "rnn_relu", "lstm", "peephole", "cifg", "gru", "gru_lbr", "mgu"};
}

absl::StatusOr<std::vector<std::string>> BuiltinCellGates(const std::string& kind) {
  GF_ASSIGN_OR_RETURN(const KindInfo* info, FindKind(kind));
  return info->gates;
}

absl::StatusOr<Cell> BuiltinCell(const std::string& kind, int64_t input_size,
                                 int64_t hidden_size) {
  GF_ASSIGN_OR_RETURN(const KindInfo* info, FindKind(kind));
  if (input_size <= 0 || hidden_size <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("cell ", kind, ": sizes must be positive, got I=",
                                                   input_size, " H=", hidden_size));
  }
  Cell cell;
  cell.kind = kind;
  cell.input_size = input_size;
  cell.hidden_size = hidden_size;
  cell.states = info->states;
  const int64_t I = input_size, H = hidden_size;
  for (const auto& g : info->gates) cell.params.push_back({"W" + g, Shape{I, H}});
  for (const auto& g : info->gates) cell.params.push_back({"U" + g, Shape{H, H}});
  for (const auto& g : info->gates) cell.params.push_back({"b" + g, Shape{H}});
  if (info->recurrent_bias) {
    for (const auto& g : info->gates) cell.params.push_back({"bh" + g, Shape{H}});
  }
  for (const auto& g : info->peepholes) cell.params.push_back({"p" + g, Shape{H}});
  cell.step = info->step;
  return cell;
}

ParamMap InitParams(const Cell& cell, DType dtype, uint64_t seed) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(cell.hidden_size));
  ParamMap params;
  uint64_t k = 0;
  for (const CellParam& p : cell.params) {
    params[p.name] =
        Var::Leaf(Tensor::Uniform(p.shape, dtype, seed * 1000003 + k++, -bound, bound), true,
                  p.name);
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
