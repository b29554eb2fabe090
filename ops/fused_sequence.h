// FusedSequence: a recognised recurrent cell run over a whole sequence as one op,
// whose kernel is one oneDNN RNN primitive (forward) and whose gradient is one
// oneDNN backward primitive reading the forward's workspace.
//
// The same cell as T FusedCell steps, as one node:
//
//   h = h0; for t: h = FusedCellStep("gru", x[t], {h}, roles, values)[0]   // T nodes
//   y, hT = FusedSequence("gru", x, {h0}, roles, values)                   // 1 node
//
// Op "FusedSequence". Attrs: kind (a kind of ops/cell_kinds.h with a fused kernel:
// rnn_tanh rnn_relu lstm peephole cifg gru gru_lbr, or an old alias; cifg runs on the
// LSTM primitive, its forget slot holding the input gate's weights negated:
// σ(-a_i) = 1 - σ(a_i)), roles (comma-separated, the FusedCell role names:
// W_<g> [I, H], U_<g> [H, H], b_<g> [H], bh_n [H] for gru_lbr, p_i p_f p_o [H] for
// peephole; absent biases and peepholes are zero), training (0 or 1).
// Inputs, all f32: x [T, B, I], the initial states [B, H] (h, or h and c), the role
// values in attr order. Outputs: y [T, B, H] (h at every step), the final states
// [B, H], and with training=1 the oneDNN workspace (its bytes in an f32 [ceil(bytes/4)]).
//
// Op "FusedSequenceGrad" (the gradient rule's kernel, itself not differentiable).
// Attrs kind, roles. Inputs: FusedSequence's inputs, its outputs y, final states and
// workspace, then the gradients of y and of the final states. Outputs: the gradients
// of x, of the initial states and of every role value.
#ifndef GATEFUSE_OPS_FUSED_SEQUENCE_H_
#define GATEFUSE_OPS_FUSED_SEQUENCE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tape.h"

namespace gatefuse {

// y and the final states. Records the training form (which keeps the workspace for
// the gradient) when GradEnabled() and some input requires a gradient, else the
// inference form.
absl::StatusOr<std::vector<Var>> FusedSequence(const std::string& kind, const Var& x,
                                               const std::vector<Var>& states,
                                               const std::vector<std::string>& roles,
                                               const std::vector<Var>& role_values);

}  // namespace gatefuse

#endif  // GATEFUSE_OPS_FUSED_SEQUENCE_H_
