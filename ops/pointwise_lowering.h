// The pointwise instruction set, and each elementwise op written in it once: its
// forward as one instruction and the adjoint of each input as accumulating
// instructions over {g = dL/dy, y, x_0, x_1, ...}. The one description serves
// both ways of running the op:
//  - on the tape, LoweredGradient reads the adjoint instructions as ops on Vars:
//    it is the op's gradient rule (OpDef::SetPointwise installs it);
//  - in the compiled plan, graph/compiled_codegen.cc emits the same instructions
//    as bytecode for the interpreter of graph/compiled_pointwise.h.
//
//   // y = tanh(x); dy/dx = 1 - y^2
//   Lowering{Op::kTanh, {{{Op::kAccTanh, {kGrad, kOutput}}}}}
//     tape:  dx = g * (1 - y * y)
//     plan:  r3 = tanh r1  ...  acc_tanh r9 += r8 * (1 - r3^2)
//
// A new elementwise op is its kernel plus a Lowering; an instruction the rule
// needs and the set lacks is added here (its tape meaning, AdjointTerm) and in the
// interpreter (its chunk loop).
#ifndef GATEFUSE_OPS_POINTWISE_LOWERING_H_
#define GATEFUSE_OPS_POINTWISE_LOWERING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tape.h"

namespace gatefuse::pointwise {

// R[k] is register k (a chunk of one row in the interpreter, a Var on the tape);
// s and t are the instruction's immediates (t only for the two-scalar
// instructions). IsForward and IsAccumulate read the order.
enum class Op : uint8_t {
  // Forward: R[dst] = f(R[a], R[b], s, t).
  kLoad,      // R[dst] = operand
  kStore,     // operand = R[a]
  kCopy,      // R[dst] = R[a]
  kAdd, kSub, kMul, kDiv, kNeg, kAddScalar, kMulScalar, kRSubScalar,
  kSigmoid, kTanh, kRelu, kStep, kExp, kLog,
  kLeakyRelu,        // R[a] >= 0 ? R[a] : s R[a]
  kThresholdedRelu,  // R[a] > s ? R[a] : 0
  kElu,              // R[a] >= 0 ? R[a] : s (exp(R[a]) - 1)
  kSoftsign,         // R[a] / (1 + |R[a]|)
  kSoftplus,         // log(1 + exp(R[a])), as max(R[a], 0) + log(1 + exp(-|R[a]|))
  kHardSigmoid,      // max(0, min(1, s R[a] + t))
  kClip,             // min(max(R[a], s), t)
  kAbs, kSqrt,
  kMin, kMax,        // min(R[a], R[b]), max(R[a], R[b])
  // Backward.
  kZero,       // R[dst] = 0
  kAccStore,   // operand += R[a]
  kAcc,        // R[dst] += R[a]
  kNegAcc,     // R[dst] -= R[a]
  kAccScale,   // R[dst] += s * R[a]
  kAccMul,     // R[dst] += R[a] * R[b]
  kAccDiv,     // R[dst] += R[a] / R[b]
  kAccDivRhs,  // R[dst] -= R[a] * R[b] / R[c]        (y = p / q: dq = -g y / q)
  kAccSigmoid, // R[dst] += R[a] * R[b] * (1 - R[b])  (R[b] = sigmoid output)
  kAccTanh,    // R[dst] += R[a] * (1 - R[b]^2)       (R[b] = tanh output)
  kAccStep,    // R[dst] += R[a] * [R[b] > 0]         (relu: R[b] = its input)
  // The adjoints of the activations above; R[b] is the op's input unless noted.
  kAccStepAbove,    // R[dst] += R[a] * [R[b] > s]                (thresholded relu)
  kAccLeakyRelu,    // R[dst] += R[a] * (R[b] > 0 ? 1 : s)
  kAccElu,          // R[dst] += R[a] * (R[b] > 0 ? 1 : s exp(R[b]))
  kAccSoftsign,     // R[dst] += R[a] / (1 + |R[b]|)^2
  kAccSoftplus,     // R[dst] += R[a] * sigmoid(R[b])
  kAccHardSigmoid,  // R[dst] += s * R[a] * [0 < R[b] < 1]        (R[b] = its output)
  kAccClip,         // R[dst] += R[a] * [s < R[b] < t]
  kAccSign,         // R[dst] += R[a] * sign(R[b])                (abs)
  kAccSqrt,         // R[dst] += R[a] / (2 R[b])                  (R[b] = sqrt output)
  // The selections of min and max: R[dst] += R[a] * [R[b] >= R[c]] and [R[b] > R[c]].
  kAccGe, kAccGt,
  // ---- Row instructions of the compiled plan's interpreter (graph/compiled_pointwise.h):
  // feature-axis reductions and a per-thread row scratch. No lowering uses them (they are
  // neither IsForward nor IsAccumulate); graph/compiled_codegen.cc emits them for groups
  // with Sum/Mean over the features. len is the valid lanes of the chunk; a row block
  // (run once per row) has len 1.
  kRowAcc,    // R[dst][i] += R[a][i] for the chunk's valid lanes i < len
  kRowSum,    // R[dst][*] = s * (the sum of all lanes of R[a])     (all lanes the same)
  kSpill,     // scratch slot `operand`, this chunk's columns = R[a]
  kSpillAcc,  // scratch slot `operand`, this chunk's columns += R[a]
  kReload,    // R[dst] = scratch slot `operand`, this chunk's columns
};
// At a kink the adjoints take the side Relu's does (kAccStep: 0 at x = 0): the
// left derivative of leaky relu and elu at 0, 0 on clip's and hard sigmoid's
// bounds, sign(0) = 0. Their tape meanings (AdjointTerm) select with Step the
// same way, so tape and plan agree on a kink too. Min and Max give a tie
// (x_0 == x_1) to their first input: max's rules are dx_0 = g [x_0 >= x_1],
// dx_1 = g [x_1 > x_0], min's dx_0 = g [x_1 >= x_0], dx_1 = g [x_0 > x_1], so the
// gradient is g on exactly one input at every point.

const char* OpName(Op op);
// How many registers (a, b, c) the instruction reads, and how many immediates:
// 0, 1 (s) or 2 (s and t). UsesScalar: at least s.
int NumArgs(Op op);
int NumScalars(Op op);
inline bool UsesScalar(Op op) { return NumScalars(op) > 0; }
// An instruction R[dst] = f(...) of the forward set (kAdd ... kMax).
bool IsForward(Op op);
// An instruction R[dst] += f(...) (kAcc ... kAccGt).
bool IsAccumulate(Op op);

// A value an adjoint instruction reads.
struct Ref {
  enum Kind : uint8_t { kGrad, kOutput, kInput } kind;
  int input = 0;  // for kInput
};
inline constexpr Ref kGrad{Ref::kGrad}, kOutput{Ref::kOutput};
constexpr Ref Input(int k) { return {Ref::kInput, k}; }

// A_x += op(args...): one term of an input's adjoint.
struct AdjointInstr {
  Op op;
  std::vector<Ref> args;  // the instruction's a, b, c
};

// Two-scalar ops (HardSigmoid's alpha and beta, Clip's lo and hi) carry a second
// immediate t rather than being composed of one-scalar instructions
// (MulScalar, AddScalar, then new MaxScalar and MinScalar ops): so every op stays
// what it is everywhere else, one node with its attributes and one forward
// instruction whose adjoint is one instruction; the graph, its text form and an
// ONNX export say `Clip` and `HardSigmoid` rather than up to four nodes that
// canonicalisation, CSE and recognition would each see apart; and the plan runs
// one register loop and keeps one value for it, not four. The cost is one float
// per instruction (Instr::imm2) and one attribute name per lowering.
struct Lowering {
  // y = forward(x_0, x_1, s, t).
  Op forward;
  // Per input, the instructions that accumulate its adjoint; an input with none
  // gets no gradient (a piecewise constant op).
  std::vector<std::vector<AdjointInstr>> adjoints;
  // The float attributes the immediates s and t are ("" for none); t is only
  // read by the two-scalar instructions.
  std::string scalar_attr;
  std::string scalar_attr2;
  // Any number of inputs (AddN): y is the left fold of `forward` over them (one
  // input: a copy) and adjoints[0] is the rule of every input.
  bool variadic = false;
};

// OK, or InvalidArgument naming `op` and what is malformed: a forward that is not
// a forward instruction, an adjoint instruction that does not accumulate or reads
// the wrong number of values or an input beyond `num_inputs` (-1: variadic), an
// instruction whose immediate has no attribute to come from.
absl::Status Validate(const std::string& op, int num_inputs, const Lowering& l);

// The term an accumulating instruction adds, as ops on Vars (its tape meaning):
//   acc a; neg_acc -a; acc_scale s a; acc_mul a b; acc_div a / b;
//   acc_div_rhs -(a b / c); acc_sigmoid a (b (1 - b)); acc_tanh a (1 - b b);
//   acc_step a step(b); and the activations' adjoints as commented in Op.
VarOr AdjointTerm(Op op, const std::vector<Var>& args, double s, double t = 0);

// The gradient rule of an op lowered as `l`: dx_k = sum_to(sum of the terms of
// x_k's adjoint instructions, x_k's shape); undefined where x_k has none.
absl::StatusOr<std::vector<Var>> LoweredGradient(const std::string& op, const Lowering& l,
                                                 const GradContext& c);

}  // namespace gatefuse::pointwise

#endif  // GATEFUSE_OPS_POINTWISE_LOWERING_H_
