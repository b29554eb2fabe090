#include "models/onnx/onnx_cells.h"

#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/status.h"
#include "ops/ops.h"

namespace gatefuse {
namespace {

struct FunctionInfo {
  const char* name;  // ONNX's spelling
  bool alpha, beta;
  double default_alpha, default_beta;
};

// The eleven functions of the spec; defaults are those of the ONNX operators of
// the same names (Affine and ScaledTanh: alpha 1, beta 0 and 1, 1).
const std::vector<FunctionInfo>& Functions() {
  static const auto* f = new std::vector<FunctionInfo>{
      {"Relu", false, false, 0, 0},          {"Tanh", false, false, 0, 0},
      {"Sigmoid", false, false, 0, 0},       {"Affine", true, true, 1.0, 0.0},
      {"LeakyRelu", true, false, 0.01, 0},   {"ThresholdedRelu", true, false, 1.0, 0},
      {"ScaledTanh", true, true, 1.0, 1.0},  {"HardSigmoid", true, true, 0.2, 0.5},
      {"Elu", true, false, 1.0, 0},          {"Softsign", false, false, 0, 0},
      {"Softplus", false, false, 0, 0},
  };
  return *f;
}

std::string Num(double v) { return absl::StrFormat("%.9g", v); }

// f(e) in the .cell language.
std::string Apply(const OnnxActivation& f, const std::string& e) {
  const std::string& n = f.name;
  if (n == "Relu") return absl::StrCat("relu(", e, ")");
  if (n == "Tanh") return absl::StrCat("tanh(", e, ")");
  if (n == "Sigmoid") return absl::StrCat("sigmoid(", e, ")");
  if (n == "Affine") return absl::StrCat("(", Num(f.alpha), " * (", e, ") + ", Num(f.beta), ")");
  if (n == "LeakyRelu") return absl::StrCat("leaky_relu(", e, ", ", Num(f.alpha), ")");
  if (n == "ThresholdedRelu") return absl::StrCat("thresholded_relu(", e, ", ", Num(f.alpha), ")");
  if (n == "ScaledTanh") {
    return absl::StrCat("(", Num(f.alpha), " * tanh(", Num(f.beta), " * (", e, ")))");
  }
  if (n == "HardSigmoid") {
    return absl::StrCat("hard_sigmoid(", e, ", ", Num(f.alpha), ", ", Num(f.beta), ")");
  }
  if (n == "Elu") return absl::StrCat("elu(", e, ", ", Num(f.alpha), ")");
  if (n == "Softsign") return absl::StrCat("softsign(", e, ")");
  return absl::StrCat("softplus(", e, ")");  // Softplus
}

std::string Clipped(const OnnxCellSpec& s, const std::string& e) {
  if (!s.clip) return e;
  return absl::StrCat("clip(", e, ", ", Num(-*s.clip), ", ", Num(*s.clip), ")");
}

// activation k applied to the clipped pre-activation e
std::string Gate(const OnnxCellSpec& s, int k, const std::string& e) {
  return Apply(s.activations[k], Clipped(s, e));
}

}  // namespace

int NumActivations(const std::string& op) { return op == "LSTM" ? 3 : op == "GRU" ? 2 : 1; }

absl::StatusOr<std::vector<std::vector<OnnxActivation>>> ResolveActivations(
    const std::string& op, int num_directions, const std::vector<std::string>& names,
    const std::vector<double>& alphas, const std::vector<double>& betas) {
  const int per = NumActivations(op);
  std::vector<std::string> list = names;
  if (list.empty()) {
    const std::vector<std::string> defaults =
        op == "LSTM"  ? std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"}
        : op == "GRU" ? std::vector<std::string>{"Sigmoid", "Tanh"}
                      : std::vector<std::string>{"Tanh"};
    for (int d = 0; d < num_directions; ++d) list.insert(list.end(), defaults.begin(), defaults.end());
  }
  if (static_cast<int>(list.size()) != per * num_directions) {
    return absl::InvalidArgumentError(absl::StrCat(
        "activations lists ", list.size(), " functions; ", op, " with ", num_directions,
        " direction(s) takes ", per * num_directions));
  }
  std::vector<std::vector<OnnxActivation>> out(num_directions);
  size_t next_alpha = 0, next_beta = 0;
  for (size_t k = 0; k < list.size(); ++k) {
    const FunctionInfo* info = nullptr;
    for (const FunctionInfo& f : Functions()) {
      if (absl::AsciiStrToLower(f.name) == absl::AsciiStrToLower(list[k])) info = &f;
    }
    if (info == nullptr) {
      std::vector<std::string> known;
      for (const FunctionInfo& f : Functions()) known.push_back(f.name);
      return absl::InvalidArgumentError(absl::StrCat("activation '", list[k],
                                                     "' is not one of ONNX's: ",
                                                     absl::StrJoin(known, " ")));
    }
    OnnxActivation a{info->name, info->default_alpha, info->default_beta};
    if (info->alpha && next_alpha < alphas.size()) a.alpha = alphas[next_alpha++];
    if (info->beta && next_beta < betas.size()) a.beta = betas[next_beta++];
    out[k / per].push_back(a);
  }
  if (next_alpha < alphas.size() || next_beta < betas.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "activation_alpha/activation_beta give ", alphas.size(), "/", betas.size(),
        " values; the activations use ", next_alpha, "/", next_beta));
  }
  return out;
}

namespace {

std::string Gates(const std::string& op) { return op == "LSTM" ? "iofc" : op == "GRU" ? "zrh" : ""; }

// The declarations of one gate's parameters; g is its letter ("" for RNN).
std::string GateParams(const std::string& g, bool peephole) {
  return absl::StrCat(" W", g, "[I,H] R", g, "[H,H] Wb", g, "[H] Rb", g, "[H]",
                      peephole ? absl::StrCat(" P", g, "[H]") : "");
}

// The gate's pre-activation without peephole.
std::string Pre(const std::string& g) {
  return absl::StrCat("x @ W", g, " + h @ R", g, " + Wb", g, " + Rb", g);
}

}  // namespace

std::string OnnxCellText(const OnnxCellSpec& s) {
  std::string t = absl::StrCat("# ONNX ", s.op, ", one direction (activations");
  for (const OnnxActivation& a : s.activations) absl::StrAppend(&t, " ", a.name);
  absl::StrAppend(&t, s.clip ? absl::StrCat(", clip ", Num(*s.clip)) : "", ")\n");
  if (s.op == "LSTM") {
    absl::StrAppend(&t, "cell onnx_lstm\ninput x[I]\nstate h[H] c[H]\nparam");
    for (const std::string g : {"i", "o", "f", "c"}) {
      if (s.input_forget && g == "f") continue;
      absl::StrAppend(&t, GateParams(g, s.peepholes && g != "c"));
    }
    const std::string pi = s.peepholes ? " + Pi * c" : "", pf = s.peepholes ? " + Pf * c" : "",
                      po = s.peepholes ? " + Po * c2" : "";
    absl::StrAppend(&t, "\ni = ", Gate(s, 0, Pre("i") + pi), "\n");
    if (s.input_forget) {
      absl::StrAppend(&t, "f = 1 - i\n");
    } else {
      absl::StrAppend(&t, "f = ", Gate(s, 0, Pre("f") + pf), "\n");
    }
    absl::StrAppend(&t, "c2 = f * c + i * ", Gate(s, 1, Pre("c")), "\n");
    absl::StrAppend(&t, "o = ", Gate(s, 0, Pre("o") + po), "\n");
    absl::StrAppend(&t, "next h = o * ", Apply(s.activations[2], "c2"), "\n", "next c = c2\n");
  } else if (s.op == "GRU") {
    absl::StrAppend(&t, "cell onnx_gru\ninput x[I]\nstate h[H]\nparam", GateParams("z", false),
                    GateParams("r", false), GateParams("h", false), "\n");
    absl::StrAppend(&t, "z = ", Gate(s, 0, Pre("z")), "\n");
    absl::StrAppend(&t, "r = ", Gate(s, 0, Pre("r")), "\n");
    absl::StrAppend(&t, "n = ",
                    Gate(s, 1, s.linear_before_reset ? "x @ Wh + Wbh + r * (h @ Rh + Rbh)"
                                                     : "x @ Wh + Wbh + (r * h) @ Rh + Rbh"),
                    "\n");
    absl::StrAppend(&t, "next h = (1 - z) * n + z * h\n");
  } else {
    absl::StrAppend(&t, "cell onnx_rnn\ninput x[I]\nstate h[H]\nparam", GateParams("", false),
                    "\nnext h = ", Gate(s, 0, Pre("")), "\n");
  }
  return t;
}

absl::StatusOr<std::map<std::string, Var>> OnnxCellParamsFromWeights(
    const OnnxCellSpec& spec, int64_t H, int64_t I, int d, const Var& W, const Var& R,
    const Var& B, const Var& P) {
  const std::string gates = Gates(spec.op);
  const int64_t G = gates.empty() ? 1 : gates.size();
  if (!W.defined() || W.shape().rank() != 3 || d >= W.shape()[0]) {
    return absl::InvalidArgumentError(absl::StrCat("W must be [D, ", G, "*H, I]"));
  }
  const int64_t D = W.shape()[0];
  const DType dtype = W.dtype();
  auto check = [&](const Var& v, const Shape& s, const char* name) -> absl::Status {
    if (!v.defined() || v.dtype() != dtype || !IsFloating(dtype) || v.shape() != s) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, " must be floating ", s.ToString(), ", got ",
          v.defined() ? absl::StrCat(DTypeName(v.dtype()), v.shape().ToString()) : "nothing"));
    }
    return absl::OkStatus();
  };
  GF_RETURN_IF_ERROR(check(W, Shape{D, G * H, I}, "W"));
  GF_RETURN_IF_ERROR(check(R, Shape{D, G * H, H}, "R"));
  if (B.defined()) GF_RETURN_IF_ERROR(check(B, Shape{D, 2 * G * H}, "B"));
  if (spec.peepholes) GF_RETURN_IF_ERROR(check(P, Shape{D, 3 * H}, "P"));
  // Rows [k*H, (k+1)*H) of row d: of a [D, n, m] tensor as [H, m], of a [D, n] one as [H].
  auto block = [&](const Var& v, int64_t k) -> VarOr {
    GF_ASSIGN_OR_RETURN(Var s, Slice(Slice(v, 0, d, d + 1), 1, k * H, (k + 1) * H));
    if (v.shape().rank() == 2) return Reshape(s, Shape{H});
    return Reshape(s, Shape{H, v.shape()[2]});
  };
  std::map<std::string, Var> p;
  for (int64_t k = 0; k < G; ++k) {
    const std::string g = gates.empty() ? "" : std::string(1, gates[k]);
    if (spec.input_forget && g == "f") continue;  // f = 1 - i: its own weights are unused
    GF_ASSIGN_OR_RETURN(p["W" + g], Transpose(block(W, k), {1, 0}));
    GF_ASSIGN_OR_RETURN(p["R" + g], Transpose(block(R, k), {1, 0}));
    if (B.defined()) {
      GF_ASSIGN_OR_RETURN(p["Wb" + g], block(B, k));
      GF_ASSIGN_OR_RETURN(p["Rb" + g], block(B, G + k));
    } else {
      p["Wb" + g] = p["Rb" + g] = Var::Constant(Tensor::Zeros({H}, dtype));
    }
    if (spec.peepholes && k < 3) {
      GF_ASSIGN_OR_RETURN(p["P" + g], block(P, k));
    }
  }
  return p;
}

}  // namespace gatefuse
