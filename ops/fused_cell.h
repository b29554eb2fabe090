// FusedCell: one step of a recognised recurrent cell as a single op.
//
// Inputs: x [B, I], the states [B, H] (h, or h and c), then one value per role
// named in the "roles" attribute, e.g. "W_i,U_i,b_i,W_f,...". A role is a weight
// (W_<gate> [I, H], U_<gate> [H, H]), a bias (b_<gate> [H]: every input-side bias
// term summed; bh_n [H] for the recurrent bias of gru_lbr's candidate, which the
// reset gate scales) or a peephole (p_i, p_f, p_o [H]). Absent biases and
// peepholes are zero. Outputs: the next states.
//
//   lstm           i,f,o = sigmoid(x W + h U + b)   g = tanh(...)   c' = f c + i g   h' = o tanh(c')
//   peephole       as lstm, with + p_i c, + p_f c, + p_o c' inside i, f, o
//   cifg           gates i, g, o; the forget gate is 1 - i
//   gru            r,z = sigmoid(x W + h U + b)   n = tanh(x W_n + (r h) U_n + b_n)   h' = (1-z) n + z h
//   gru_lbr        n = tanh(x W_n + b_n + r (h U_n + bh_n))
//   rnn_tanh/relu  h' = act(x W + h U + b)          (roles W, U, b)
//
// The kinds are those of the cell kind table (ops/cell_kinds.h) that have a fused
// kernel, by canonical name or alias. The kernel here evaluates the table's step
// equations (CellStep), the reference the fused kernels are tested against; the
// gradient differentiates the same equations with ops.
#ifndef GATEFUSE_OPS_FUSED_CELL_H_
#define GATEFUSE_OPS_FUSED_CELL_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tape.h"
#include "ops/cell_kinds.h"

namespace gatefuse {

// The name of a role: RoleName("W", "i") == "W_i"; the one-gate RNNs have no
// gate letter: RoleName("W", "") == "W".
std::string RoleName(const std::string& what, const std::string& gate);

// The fused kind called `name` (canonically or by an alias); InvalidArgument naming
// `op` for an unknown kind or one without a fused kernel.
absl::StatusOr<const CellKind*> FindFusedKind(const std::string& op, const std::string& name);

// The shape role `role` must have in a cell of `kind` with input size I and hidden
// size H; InvalidArgument "<kind> has no role '<role>'" for a role the kind lacks.
absl::StatusOr<Shape> FusedCellRoleShape(const CellKind& kind, const std::string& role,
                                         int64_t I, int64_t H);

// One step, on the tape. `roles` name the entries of `role_values`.
absl::StatusOr<std::vector<Var>> FusedCellStep(const std::string& kind, const Var& x,
                                               const std::vector<Var>& states,
                                               const std::vector<std::string>& roles,
                                               const std::vector<Var>& role_values);

}  // namespace gatefuse

#endif  // GATEFUSE_OPS_FUSED_CELL_H_
