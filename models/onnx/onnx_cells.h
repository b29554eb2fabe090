// The cells of ONNX's recurrent ops written as .cell equations, with ONNX's own
// parameters, so that gatefuse's passes see the same cell whatever its source:
//
//   LSTM  i = f(x @ Wi + h @ Ri + Wbi + Rbi + Pi * c)    (ONNX's gate order i o f c)
//         f = f(x @ Wf + h @ Rf + Wbf + Rbf + Pf * c)    (or f = 1 - i with input_forget)
//         c' = f * c + i * g(x @ Wc + h @ Rc + Wbc + Rbc)
//         o = f(x @ Wo + h @ Ro + Wbo + Rbo + Po * c')   h' = o * h(c')
//   GRU   z = f(x @ Wz + h @ Rz + Wbz + Rbz)   r = ... (gate order z r h)
//         n = g(x @ Wh + Wbh + (r * h) @ Rh + Rbh)       linear_before_reset = 0
//         n = g(x @ Wh + Wbh + r * (h @ Rh + Rbh))       linear_before_reset = 1
//         h' = (1 - z) * n + z * h
//   RNN   h' = f(x @ W + h @ R + Wb + Rb)
//
// One parameter per gate (W[d]'s rows of the gate, transposed to the .cell convention
// x @ W), so a recognised cell's fused kernel takes the parameters as they are: the
// weights it packs are the same tensors run after run, packed once.
// `clip` bounds every gate's pre-activation to [-clip, clip] (after the
// peephole term), as ONNX Runtime does.
#ifndef GATEFUSE_MODELS_ONNX_ONNX_CELLS_H_
#define GATEFUSE_MODELS_ONNX_ONNX_CELLS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tape.h"

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

// The cell's parameters from ONNX's weights for direction d: W [D, G*H, I], R [D, G*H, H],
// B [D, 2*G*H] (undefined: zeros), P [D, 3*H] (peepholes only). One parameter per gate and
// matrix, named after ONNX's gate letters: "Wi" = W[d] rows of gate i, transposed to [I, H];
// "Ri" likewise; "Wbi", "Rbi" the gate's halves of B[d]; "Pi", "Po", "Pf". RNN's single gate
// is "W", "R", "Wb", "Rb". Computed with ops on the tape (gradients reach the inputs);
// InvalidArgument for a weight of the wrong dtype or shape.
absl::StatusOr<std::map<std::string, Var>> OnnxCellParamsFromWeights(
    const OnnxCellSpec& spec, int64_t hidden_size, int64_t input_size, int d, const Var& W,
    const Var& R, const Var& B, const Var& P);

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_ONNX_ONNX_CELLS_H_
