#include "models/onnx/onnx_cells.h"

#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

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

std::vector<std::string> OnnxCellParams(const OnnxCellSpec& s) {
  std::vector<std::string> p{"W", "R", "Wb", "Rb"};
  if (s.op == "LSTM" && s.peepholes) p.push_back("P");
  return p;
}

std::string OnnxCellText(const OnnxCellSpec& s) {
  std::string t = absl::StrCat("# ONNX ", s.op, ", one direction (activations");
  for (const OnnxActivation& a : s.activations) absl::StrAppend(&t, " ", a.name);
  absl::StrAppend(&t, s.clip ? absl::StrCat(", clip ", Num(*s.clip)) : "", ")\n");
  if (s.op == "LSTM") {
    absl::StrAppend(&t, "cell onnx_lstm\ninput x[I]\nstate h[H] c[H]\n",
                    "param W[I,4*H] R[H,4*H] Wb[4*H] Rb[4*H]", s.peepholes ? " P[3*H]" : "",
                    "\n", "zi, zo, zf, zc = split(x @ W + h @ R + Wb + Rb, 4)\n");
    std::string pi, pf, po;
    if (s.peepholes) {
      absl::StrAppend(&t, "pi, po, pf = split(P, 3)\n");
      pi = " + pi * c";
      pf = " + pf * c";
      po = " + po * c2";
    }
    absl::StrAppend(&t, "i = ", Gate(s, 0, "zi" + pi), "\n");
    if (s.input_forget) {
      absl::StrAppend(&t, "f = 1 - i\n");
    } else {
      absl::StrAppend(&t, "f = ", Gate(s, 0, "zf" + pf), "\n");
    }
    absl::StrAppend(&t, "c2 = f * c + i * ", Gate(s, 1, "zc"), "\n");
    absl::StrAppend(&t, "o = ", Gate(s, 0, "zo" + po), "\n");
    absl::StrAppend(&t, "next h = o * ", Apply(s.activations[2], "c2"), "\n", "next c = c2\n");
  } else if (s.op == "GRU") {
    absl::StrAppend(&t, "cell onnx_gru\ninput x[I]\nstate h[H]\n",
                    "param W[I,3*H] R[H,3*H] Wb[3*H] Rb[3*H]\n",
                    "xz, xr, xh = split(x @ W + Wb, 3)\n");
    if (s.linear_before_reset) {
      absl::StrAppend(&t, "hz, hr, hh = split(h @ R + Rb, 3)\n");
      absl::StrAppend(&t, "z = ", Gate(s, 0, "xz + hz"), "\n");
      absl::StrAppend(&t, "r = ", Gate(s, 0, "xr + hr"), "\n");
      absl::StrAppend(&t, "n = ", Gate(s, 1, "xh + r * hh"), "\n");
    } else {
      absl::StrAppend(&t, "Rz, Rr, Rh = split(R, 3)\nbz, br, bh = split(Rb, 3)\n");
      absl::StrAppend(&t, "z = ", Gate(s, 0, "xz + h @ Rz + bz"), "\n");
      absl::StrAppend(&t, "r = ", Gate(s, 0, "xr + h @ Rr + br"), "\n");
      absl::StrAppend(&t, "n = ", Gate(s, 1, "xh + (r * h) @ Rh + bh"), "\n");
    }
    absl::StrAppend(&t, "next h = (1 - z) * n + z * h\n");
  } else {
    absl::StrAppend(&t, "cell onnx_rnn\ninput x[I]\nstate h[H]\n",
                    "param W[I,H] R[H,H] Wb[H] Rb[H]\n",
                    "next h = ", Gate(s, 0, "x @ W + h @ R + Wb + Rb"), "\n");
  }
  return t;
}

}  // namespace gatefuse
