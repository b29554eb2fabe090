#include "ops/cell_kinds.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status.h"
#include "ops/ops.h"
#include "ops/registry.h"

namespace gatefuse {

const std::vector<CellKind>& CellKinds() {
  using onednn::RnnCell;
  static const auto* kinds = new std::vector<CellKind>{
      {.name = "rnn_tanh",
       .family = CellFamily::kRnn,
       .gates = {""},
       .states = {"h"},
       .activation = "Tanh",
       .fused = FusedKernel{RnnCell::kRnnTanh, {""}}},
      {.name = "rnn_relu",
       .family = CellFamily::kRnn,
       .gates = {""},
       .states = {"h"},
       .activation = "Relu",
       .fused = FusedKernel{RnnCell::kRnnRelu, {""}}},
      {.name = "lstm",
       .family = CellFamily::kLstm,
       .gates = {"i", "f", "g", "o"},
       .states = {"h", "c"},
       .fused = FusedKernel{RnnCell::kLstm, {"i", "f", "g", "o"}}},
      {.name = "peephole",
       .aliases = {"peephole_lstm"},
       .family = CellFamily::kLstm,
       .gates = {"i", "f", "g", "o"},
       .states = {"h", "c"},
       .peephole_gates = {"i", "f", "o"},
       .fused = FusedKernel{RnnCell::kPeepholeLstm, {"i", "f", "g", "o"}}},
      // No primitive of its own: the LSTM one, its forget slot holding the input gate's
      // weights negated, since σ(-a) = 1 - σ(a) (FusedSequence).
      {.name = "cifg",
       .aliases = {"cifg_lstm"},
       .family = CellFamily::kLstm,
       .gates = {"i", "g", "o"},
       .states = {"h", "c"},
       .forget_is_one_minus_input = true,
       .fused = FusedKernel{RnnCell::kLstm, {"i", "f", "g", "o"}}},
      {.name = "gru",
       .family = CellFamily::kGru,
       .gates = {"r", "z", "n"},
       .states = {"h"},
       .recurrent_bias = true,
       .fused = FusedKernel{RnnCell::kGru, {"z", "r", "n"}}},
      {.name = "gru_lbr",
       .family = CellFamily::kGru,
       .gates = {"r", "z", "n"},
       .states = {"h"},
       .linear_before_reset = true,
       .recurrent_bias = true,
       .fused = FusedKernel{RnnCell::kLbrGru, {"z", "r", "n"}}},
      {.name = "mgu", .family = CellFamily::kMgu, .gates = {"f", "n"}, .states = {"h"}},
  };
  return *kinds;
}

absl::StatusOr<const CellKind*> FindCellKind(const std::string& name) {
  std::vector<std::string> known;
  for (const CellKind& k : CellKinds()) {
    if (k.name == name ||
        std::find(k.aliases.begin(), k.aliases.end(), name) != k.aliases.end()) {
      return &k;
    }
    known.push_back(k.name);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown cell kind '", name, "'; builtin: ", absl::StrJoin(known, " ")));
}

std::string CanonicalCellKind(const std::string& name) {
  const absl::StatusOr<const CellKind*> kind = FindCellKind(name);
  return kind.ok() ? (*kind)->name : name;
}

std::vector<std::string> FusedCellKindNames() {
  std::vector<std::string> names;
  for (const CellKind& k : CellKinds()) {
    if (k.fused) names.push_back(k.name);
  }
  return names;
}

namespace {

// The parameters of one step, with the kind for messages.
class StepParams {
 public:
  StepParams(const CellKind& kind, const CellParamLookup& lookup) : kind_(kind), lookup_(lookup) {}

  VarOr Weight(const std::string& what, const std::string& gate) const {
    if (const Var* v = lookup_(what, gate)) return *v;
    return absl::InvalidArgumentError(absl::StrCat("cell ", kind_.name, ": no weight ", what,
                                                   gate.empty() ? "" : " of gate ", gate));
  }
  const Var* Optional(const std::string& what, const std::string& gate) const {
    return lookup_(what, gate);
  }
  // p_g, if gate g of this kind has a peephole and the cell gives one.
  const Var* Peephole(const std::string& gate) const {
    const std::vector<std::string>& gates = kind_.peephole_gates;
    if (std::find(gates.begin(), gates.end(), gate) == gates.end()) return nullptr;
    return lookup_("p", gate);
  }

 private:
  const CellKind& kind_;
  const CellParamLookup& lookup_;
};

// sum + term, or sum when the term is absent (zero). Terms are added one at a time,
// left to right, so a traced cell reads as its equation: ((x@W + h@U) + b) + ...
VarOr Plus(VarOr sum, const Var* term) {
  if (term == nullptr) return sum;
  return sum + *term;
}

// x@W_g + h@U_g + b_g: the usual pre-activation of gate g.
VarOr Affine(const Var& x, const Var& h, const StepParams& p, const std::string& g) {
  return Plus(MatMul(x, p.Weight("W", g)) + MatMul(h, p.Weight("U", g)), p.Optional("b", g));
}

absl::StatusOr<std::vector<Var>> Collect(std::vector<VarOr> states) {
  std::vector<Var> out;
  for (VarOr& s : states) {
    GF_ASSIGN_OR_RETURN(Var v, std::move(s));
    out.push_back(std::move(v));
  }
  return out;
}

// h' = act(x@W + h@U + b)
absl::StatusOr<std::vector<Var>> RnnStep(const CellKind& k, const Var& x,
                                         const std::vector<Var>& s, const StepParams& p) {
  return Collect({Apply(k.activation, {Affine(x, s[0], p, "")})});
}

// i = σ(x@Wi + h@Ui + bi [+ pi*c])   f = σ(x@Wf + h@Uf + bf [+ pf*c]), or 1 - i (CIFG)
// g = tanh(x@Wg + h@Ug + bg)         c' = f*c + i*g
// o = σ(x@Wo + h@Uo + bo [+ po*c'])  h' = o*tanh(c')
// (peepholes: Gers & Schmidhuber 2000, o looks at the new cell)
absl::StatusOr<std::vector<Var>> LstmStep(const CellKind& k, const Var& x,
                                          const std::vector<Var>& s, const StepParams& p) {
  const Var &h = s[0], &c = s[1];
  auto with_peephole = [&](VarOr pre, const std::string& g, const VarOr& cell) -> VarOr {
    const Var* peephole = p.Peephole(g);
    if (peephole == nullptr) return pre;
    return pre + *peephole * cell;
  };
  VarOr i = Sigmoid(with_peephole(Affine(x, h, p, "i"), "i", c));
  VarOr f = k.forget_is_one_minus_input ? 1.0 - i
                                        : Sigmoid(with_peephole(Affine(x, h, p, "f"), "f", c));
  VarOr g = Tanh(Affine(x, h, p, "g"));
  VarOr c2 = f * c + i * g;
  VarOr o = Sigmoid(with_peephole(Affine(x, h, p, "o"), "o", c2));
  return Collect({o * Tanh(c2), c2});
}

// r = σ(x@Wr + h@Ur + br + bhr)   z = σ(x@Wz + h@Uz + bz + bhz)
// n = tanh(x@Wn + bn + (r*h)@Un + bhn)     (Cho et al. 2014)
//   or tanh(x@Wn + bn + r*(h@Un + bhn))    (linear before reset: cuDNN, PyTorch, oneDNN)
// h' = (1 - z)*n + z*h
absl::StatusOr<std::vector<Var>> GruStep(const CellKind& k, const Var& x,
                                         const std::vector<Var>& s, const StepParams& p) {
  const Var& h = s[0];
  VarOr r = Sigmoid(Plus(Affine(x, h, p, "r"), p.Optional("bh", "r")));
  VarOr z = Sigmoid(Plus(Affine(x, h, p, "z"), p.Optional("bh", "z")));
  VarOr a_n = Plus(MatMul(x, p.Weight("W", "n")), p.Optional("b", "n"));
  VarOr n = k.linear_before_reset
                ? Tanh(a_n + r * Plus(MatMul(h, p.Weight("U", "n")), p.Optional("bh", "n")))
                : Tanh(Plus(a_n + MatMul(r * h, p.Weight("U", "n")), p.Optional("bh", "n")));
  return Collect({(1.0 - z) * n + z * h});
}

// f = σ(x@Wf + h@Uf + bf)   n = tanh(x@Wn + bn + (f*h)@Un)   h' = (1 - f)*h + f*n
// (Zhou et al. 2016)
absl::StatusOr<std::vector<Var>> MguStep(const CellKind& k, const Var& x,
                                         const std::vector<Var>& s, const StepParams& p) {
  const Var& h = s[0];
  VarOr f = Sigmoid(Affine(x, h, p, "f"));
  VarOr n = Tanh(Plus(MatMul(x, p.Weight("W", "n")), p.Optional("b", "n")) +
                 MatMul(f * h, p.Weight("U", "n")));
  return Collect({(1.0 - f) * h + f * n});
}

}  // namespace

absl::StatusOr<std::vector<Var>> CellStep(const CellKind& kind, const Var& x,
                                          const std::vector<Var>& states,
                                          const CellParamLookup& params) {
  if (states.size() != kind.states.size()) {
    return absl::InvalidArgumentError(absl::StrCat("cell ", kind.name, ": needs ",
                                                   kind.states.size(), " states, got ",
                                                   states.size()));
  }
  const StepParams p(kind, params);
  switch (kind.family) {
    case CellFamily::kRnn:
      return RnnStep(kind, x, states, p);
    case CellFamily::kLstm:
      return LstmStep(kind, x, states, p);
    case CellFamily::kGru:
      return GruStep(kind, x, states, p);
    case CellFamily::kMgu:
      return MguStep(kind, x, states, p);
  }
  return absl::InternalError(absl::StrCat("cell ", kind.name, ": no equations for its family"));
}

}  // namespace gatefuse
