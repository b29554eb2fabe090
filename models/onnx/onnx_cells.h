// The cells of ONNX's recurrent ops written as .cell equations, with ONNX's own
// parameters, so that gatefuse's passes see the same cell whatever its source:
//
//   LSTM  zi, zo, zf, zc = split(x @ W + h @ R + Wb + Rb, 4)      (gate order i o f c)
//         i = f(zi + pi * c)   f = f(zf + pf * c)  (or f = 1 - i with input_forget)
//         c' = f * c + i * g(zc)   o = f(zo + po * c')   h' = o * h(c')
//   GRU   z = f(xz + h @ Rz + bz)   r = f(xr + h @ Rr + br)       (gate order z r h)
//         n = g(xh + (r * h) @ Rh + bh)        linear_before_reset = 0
//         n = g(xh + r * (h @ Rh + bh))        linear_before_reset = 1
//         h' = (1 - z) * n + z * h
//   RNN   h' = f(x @ W + h @ R + Wb + Rb)
//
// W is ONNX's W[d] transposed ([I, G*H]: the .cell convention x @ W), R likewise
// [H, G*H]; Wb and Rb are the two halves of B[d]; P[d] is [3*H] in order i, o, f.
// `clip` bounds every gate's pre-activation to [-clip, clip] (after the
// peephole term), as ONNX Runtime does.
#ifndef GATEFUSE_MODELS_ONNX_ONNX_CELLS_H_
#define GATEFUSE_MODELS_ONNX_ONNX_CELLS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace gatefuse {

// One activation function of the spec with its alpha and beta resolved.
struct OnnxActivation {
  std::string name;  // as ONNX spells it: "Sigmoid", "LeakyRelu", ...
  double alpha = 0, beta = 0;
};

struct OnnxCellSpec {
  std::string op;  // "LSTM", "GRU", "RNN"
  std::vector<OnnxActivation> activations;  // this direction's: LSTM 3, GRU 2, RNN 1
  std::optional<double> clip;
  bool input_forget = false;         // LSTM
  bool peepholes = false;            // LSTM with P
  bool linear_before_reset = false;  // GRU
};

// How many activations one direction of `op` takes (LSTM 3, GRU 2, RNN 1).
int NumActivations(const std::string& op);

// The `activations` attribute with `activation_alpha`/`activation_beta`, per
// direction: defaults when the list is empty (LSTM Sigmoid Tanh Tanh, GRU
// Sigmoid Tanh, RNN Tanh); names matched without regard to case; alphas and betas
// consumed in order by the functions that take them, the operator's default
// where the list runs out. InvalidArgument naming an unknown function or a list
// of the wrong length.
absl::StatusOr<std::vector<std::vector<OnnxActivation>>> ResolveActivations(
    const std::string& op, int num_directions, const std::vector<std::string>& names,
    const std::vector<double>& alphas, const std::vector<double>& betas);

// The .cell source of one direction (sizes I and H).
std::string OnnxCellText(const OnnxCellSpec& spec);

// The parameters that text declares, in order: "W", "R", "Wb", "Rb" (and "P").
std::vector<std::string> OnnxCellParams(const OnnxCellSpec& spec);

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_ONNX_ONNX_CELLS_H_
