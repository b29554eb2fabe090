// Recurrent cells written as their gate equations with generic ops.
//
// A Cell names its states (the first is the sequence output), its parameters with
// their shapes for given sizes, and one step: new states from x_t and the states.
// The builtin kinds follow shared conventions (PyTorch / oneDNN / ONNX): per-gate
// input weights W<g> [I,H], recurrent weights U<g> [H,H], biases b<g> [H]; the GRU
// forms add recurrent-side biases bh<g>; the peephole LSTM adds p<g> [H] for i, f, o.
//
//   lstm:  i = sigmoid(x@Wi + h@Ui + bi)   f = sigmoid(x@Wf + h@Uf + bf)
//          g = tanh(x@Wg + h@Ug + bg)      o = sigmoid(x@Wo + h@Uo + bo)
//          c' = f*c + i*g                  h' = o*tanh(c')
#ifndef GATEFUSE_MODELS_CELLS_CELL_H_
#define GATEFUSE_MODELS_CELLS_CELL_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tape.h"

namespace gatefuse {

using ParamMap = std::map<std::string, Var>;
// New states (same order as Cell::states) from x_t [B,I] and the states [B,H].
using StepFn = std::function<absl::StatusOr<std::vector<Var>>(
    const Var& x, const std::vector<Var>& states, const ParamMap& params)>;

struct CellParam {
  std::string name;
  Shape shape;
  // Every element starts at this value (a layer norm's gain 1, its shift 0);
  // none: the uniform default of InitParams. The .cell language writes it
  // `param g[4*H] = 1`; TraceCell records it on the param's node as the float
  // attribute kParamInitAttr, which CellFromGraph reads back.
  std::optional<double> init;
};

// The attribute of a param's Input node that holds CellParam::init.
inline constexpr char kParamInitAttr[] = "init";

struct Cell {
  std::string kind;
  int64_t input_size = 0;
  int64_t hidden_size = 0;
  std::vector<std::string> states;  // e.g. {"h", "c"}; states[0] is the output
  std::vector<CellParam> params;
  StepFn step;
};

// The builtin kinds are those of the cell kind table (ops/cell_kinds.h), whose step
// equations they run: rnn_tanh rnn_relu lstm peephole cifg gru gru_lbr mgu (canonical
// names; the old names peephole_lstm and cifg_lstm are accepted wherever a kind is
// read, and a cell made from one has the canonical kind); and then ln_lstm, the
// layer-normalised LSTM, defined by its .cell equations (models/cells/ln_lstm.cell,
// compiled into the library): params W [I,4H] and U [H,4H] (gates i f g o side by
// side), lnx_g lnx_b lnh_g lnh_b [4H] and lnc_g lnc_b [H], gains starting at 1 and
// shifts at 0.
std::vector<std::string> BuiltinCellKinds();
// The gate letters of a kind, in the order of shared/reference/README.md
// (lstm: i f g o; gru: r z n; rnn_*: one unnamed gate, so W, U, b).
absl::StatusOr<std::vector<std::string>> BuiltinCellGates(const std::string& kind);
// InvalidArgument naming the kind and listing the known ones if it is not builtin.
absl::StatusOr<Cell> BuiltinCell(const std::string& kind, int64_t input_size,
                                 int64_t hidden_size);

// Parameters as leaves that require gradients: CellParam::init where it is set,
// otherwise uniform in [-1/sqrt(H), 1/sqrt(H)).
ParamMap InitParams(const Cell& cell, DType dtype, uint64_t seed);

struct SequenceResult {
  Var y;                            // [T, B, H]: states[0] after every step
  std::vector<Var> final_states;    // [B, H] each
};

// Runs the cell over x [T, B, I] from `initial` states, on the tape.
absl::StatusOr<SequenceResult> RunSequence(const Cell& cell, const Var& x,
                                           const std::vector<Var>& initial,
                                           const ParamMap& params);

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_CELLS_CELL_H_
