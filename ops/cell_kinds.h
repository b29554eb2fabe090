// The recurrent cell kinds gatefuse knows by name, in one table, and their step
// equations, written once with ops. Everything that names or lists kinds reads
// this table: the builtin cells (models/cells/cell.h), the FusedCell and
// FusedSequence ops, cell recognition (passes/recognize_cell.h) and the bench's
// oneDNN ceiling row.
//
//   const CellKind& k = **FindCellKind("peephole_lstm");  // an old name: k.name == "peephole"
//   k.gates == {"i", "f", "g", "o"};  k.peephole_gates == {"i", "f", "o"}
//   k.fused->cell == onednn::RnnCell::kPeepholeLstm
//   CellStep(k, x, {h, c}, params)    // h', c' on the tape
//
// The canonical names and the equations are those of shared/reference/README.md
// (what users type: `--cell peephole`, the .cell and reference file names); every
// name the program prints is a canonical one.
#ifndef GATEFUSE_OPS_CELL_KINDS_H_
#define GATEFUSE_OPS_CELL_KINDS_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tape.h"
#include "ops/onednn_rnn.h"

namespace gatefuse {

// The shape of a kind's equations; the flags of CellKind choose the variant.
enum class CellFamily {
  kRnn,   // h' = act(x W + h U + b)
  kLstm,  // gates i f g o, cell state c; peepholes and the coupled forget gate as variants
  kGru,   // gates r z n; the reset gate before or after the recurrent product
  kMgu,   // gates f n: n = tanh(x W_n + b_n + (f h) U_n), h' = (1 - f) h + f n
};

// The oneDNN RNN primitive a kind runs on as one fused sequence.
struct FusedKernel {
  onednn::RnnCell cell;
  // Our gate letters in oneDNN's slot order (doc/primitives/rnn.md): LSTM slots i, f,
  // c~, o are our i, f, g, o. GRU slots are u, r, o with h' = u h + (1 - u) o: u is our
  // z (h' = (1 - z) n + z h) and o our n, so z, r, n rather than the reference's r, z, n.
  // CIFG, which has no gate f, runs on the LSTM slots with f filled from i negated.
  std::vector<std::string> slot_gates;
};

struct CellKind {
  std::string name;                  // canonical
  std::vector<std::string> aliases;  // older names, still accepted wherever a kind is read
  CellFamily family;
  std::vector<std::string> gates;    // reference order (the rows of W, U, b); "" for kRnn
  std::vector<std::string> states;   // {"h"} or {"h", "c"}; states[0] is the output
  std::string activation;            // kRnn: the op of h' ("Tanh", "Relu")
  // kLstm: the gates with a peephole term, p_i c and p_f c on the old cell, p_o c' on
  // the new one; in the order of the reference files' P rows and oneDNN's peephole slots.
  std::vector<std::string> peephole_gates;
  bool forget_is_one_minus_input = false;  // kLstm: CIFG, f = 1 - i (no gate f of its own)
  // kGru: n = tanh(x W_n + b_n + r (h U_n + bh_n)) rather than
  // tanh(x W_n + b_n + (r h) U_n + bh_n); bh_n then cannot be summed into b_n.
  bool linear_before_reset = false;
  // The builtin cell has a recurrent-side bias bh<g> for every gate (the GRU forms,
  // as PyTorch and ONNX spell them).
  bool recurrent_bias = false;
  std::optional<FusedKernel> fused;  // none: the kind has no fused kernel (custom path)
};

// Every kind, in the reference files' order: rnn_tanh rnn_relu lstm peephole cifg gru
// gru_lbr mgu.
const std::vector<CellKind>& CellKinds();
// The kind called `name`, canonically or by an alias; InvalidArgument naming it and
// listing the canonical names otherwise ("unknown cell kind 'lsmt'; builtin: ...").
absl::StatusOr<const CellKind*> FindCellKind(const std::string& name);
// The canonical name of a known kind or alias; any other name (a .cell file's own
// name, say) unchanged.
std::string CanonicalCellKind(const std::string& name);
// The canonical names of the kinds a fused kernel exists for, in table order.
std::vector<std::string> FusedCellKindNames();

// Where a step finds its parameters: the value of `what` for gate `gate` (a letter of
// CellKind::gates), or null if the cell has none. `what` is W (input weight [I, H],
// used as x @ W), U (recurrent weight [H, H]), b (input-side bias [H]), bh
// (recurrent-side bias [H], GRU forms) or p (peephole [H]). An absent bias or
// peephole is zero; an absent weight is an error.
using CellParamLookup =
    std::function<const Var*(const std::string& what, const std::string& gate)>;

// One step of `kind`: the next states (in CellKind::states order) from x [B, I] and
// the states [B, H], as generic ops on the tape. Reads only the parameters the kind
// has: W, U, b of every gate, p of its peephole gates, bh of a GRU form's gates.
absl::StatusOr<std::vector<Var>> CellStep(const CellKind& kind, const Var& x,
                                          const std::vector<Var>& states,
                                          const CellParamLookup& params);

}  // namespace gatefuse

#endif  // GATEFUSE_OPS_CELL_KINDS_H_
