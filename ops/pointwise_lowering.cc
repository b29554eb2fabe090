#include "ops/pointwise_lowering.h"

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "ops/op_util.h"
#include "ops/ops.h"

namespace gatefuse::pointwise {

const char* OpName(Op op) {
  switch (op) {
    case Op::kLoad: return "load";
    case Op::kStore: return "store";
    case Op::kCopy: return "copy";
    case Op::kAdd: return "add";
    case Op::kSub: return "sub";
    case Op::kMul: return "mul";
    case Op::kDiv: return "div";
    case Op::kNeg: return "neg";
    case Op::kAddScalar: return "add_scalar";
    case Op::kMulScalar: return "mul_scalar";
    case Op::kRSubScalar: return "rsub_scalar";
    case Op::kSigmoid: return "sigmoid";
    case Op::kTanh: return "tanh";
    case Op::kRelu: return "relu";
    case Op::kStep: return "step";
    case Op::kExp: return "exp";
    case Op::kLog: return "log";
    case Op::kLeakyRelu: return "leaky_relu";
    case Op::kThresholdedRelu: return "thresholded_relu";
    case Op::kElu: return "elu";
    case Op::kSoftsign: return "softsign";
    case Op::kSoftplus: return "softplus";
    case Op::kHardSigmoid: return "hard_sigmoid";
    case Op::kClip: return "clip";
    case Op::kAbs: return "abs";
    case Op::kSqrt: return "sqrt";
    case Op::kMin: return "min";
    case Op::kMax: return "max";
    case Op::kZero: return "zero";
    case Op::kAccStore: return "acc_store";
    case Op::kAcc: return "acc";
    case Op::kNegAcc: return "neg_acc";
    case Op::kAccScale: return "acc_scale";
    case Op::kAccMul: return "acc_mul";
    case Op::kAccDiv: return "acc_div";
    case Op::kAccDivRhs: return "acc_div_rhs";
    case Op::kAccSigmoid: return "acc_sigmoid";
    case Op::kAccTanh: return "acc_tanh";
    case Op::kAccStep: return "acc_step";
    case Op::kAccStepAbove: return "acc_step_above";
    case Op::kAccLeakyRelu: return "acc_leaky_relu";
    case Op::kAccElu: return "acc_elu";
    case Op::kAccSoftsign: return "acc_softsign";
    case Op::kAccSoftplus: return "acc_softplus";
    case Op::kAccHardSigmoid: return "acc_hard_sigmoid";
    case Op::kAccClip: return "acc_clip";
    case Op::kAccSign: return "acc_sign";
    case Op::kAccSqrt: return "acc_sqrt";
    case Op::kAccGe: return "acc_ge";
    case Op::kAccGt: return "acc_gt";
    // Row instructions (graph/compiled_pointwise.h).
    case Op::kRowAcc: return "row_acc";
    case Op::kRowSum: return "row_sum";
    case Op::kSpill: return "spill";
    case Op::kSpillAcc: return "spill_acc";
    case Op::kReload: return "reload";
  }
  return "?";
}

int NumArgs(Op op) {
  switch (op) {
    case Op::kLoad: case Op::kZero:
      return 0;
    case Op::kStore: case Op::kAccStore: case Op::kCopy: case Op::kNeg: case Op::kAddScalar:
    case Op::kMulScalar: case Op::kRSubScalar: case Op::kSigmoid: case Op::kTanh:
    case Op::kRelu: case Op::kStep: case Op::kExp: case Op::kLog: case Op::kLeakyRelu:
    case Op::kThresholdedRelu: case Op::kElu: case Op::kSoftsign: case Op::kSoftplus:
    case Op::kHardSigmoid: case Op::kClip: case Op::kAbs: case Op::kSqrt: case Op::kAcc:
    case Op::kNegAcc: case Op::kAccScale:
      return 1;
    case Op::kAdd: case Op::kSub: case Op::kMul: case Op::kDiv: case Op::kMin: case Op::kMax:
    case Op::kAccMul:
    case Op::kAccDiv: case Op::kAccSigmoid: case Op::kAccTanh: case Op::kAccStep:
    case Op::kAccStepAbove: case Op::kAccLeakyRelu: case Op::kAccElu: case Op::kAccSoftsign:
    case Op::kAccSoftplus: case Op::kAccHardSigmoid: case Op::kAccClip: case Op::kAccSign:
    case Op::kAccSqrt:
      return 2;
    case Op::kAccDivRhs: case Op::kAccGe: case Op::kAccGt:
      return 3;
    // Row instructions (graph/compiled_pointwise.h).
    case Op::kReload:
      return 0;
    case Op::kRowAcc: case Op::kRowSum: case Op::kSpill: case Op::kSpillAcc:
      return 1;
  }
  return 0;
}

int NumScalars(Op op) {
  switch (op) {
    case Op::kAddScalar: case Op::kMulScalar: case Op::kRSubScalar: case Op::kLeakyRelu:
    case Op::kThresholdedRelu: case Op::kElu: case Op::kAccScale: case Op::kAccStepAbove:
    case Op::kAccLeakyRelu: case Op::kAccElu: case Op::kAccHardSigmoid:
    case Op::kRowSum:  // row instruction: the scale of a sum (1) or a mean (1/n)
      return 1;
    case Op::kHardSigmoid: case Op::kClip: case Op::kAccClip:
      return 2;
    default:
      return 0;
  }
}

bool IsForward(Op op) { return op >= Op::kAdd && op <= Op::kMax; }
bool IsAccumulate(Op op) { return op >= Op::kAcc && op <= Op::kAccGt; }

absl::Status Validate(const std::string& op, int num_inputs, const Lowering& l) {
  auto bad = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("pointwise lowering of ", op, ": ", what));
  };
  if (!IsForward(l.forward)) {
    return bad(absl::StrCat(OpName(l.forward), " is no forward instruction"));
  }
  const int arity = l.variadic ? 2 : num_inputs;
  if (NumArgs(l.forward) != arity) {
    return bad(absl::StrCat(OpName(l.forward), " reads ", NumArgs(l.forward),
                            " values, the op has ",
                            l.variadic ? "a binary fold" : absl::StrCat(num_inputs, " inputs")));
  }
  // Every immediate an instruction uses comes from an attribute.
  auto scalars_named = [&](Op op) -> absl::Status {
    if (NumScalars(op) >= 1 && l.scalar_attr.empty()) {
      return bad(absl::StrCat(OpName(op), " needs a scalar and scalar_attr is empty"));
    }
    if (NumScalars(op) >= 2 && l.scalar_attr2.empty()) {
      return bad(absl::StrCat(OpName(op), " needs two scalars and scalar_attr2 is empty"));
    }
    return absl::OkStatus();
  };
  GF_RETURN_IF_ERROR(scalars_named(l.forward));
  const size_t rules = l.variadic ? 1 : static_cast<size_t>(num_inputs);
  if (l.adjoints.size() != rules) {
    return bad(absl::StrCat(l.adjoints.size(), " adjoint rules for ", rules, " inputs"));
  }
  for (size_t k = 0; k < l.adjoints.size(); ++k) {
    for (const AdjointInstr& a : l.adjoints[k]) {
      if (!IsAccumulate(a.op)) return bad(absl::StrCat(OpName(a.op), " does not accumulate"));
      if (NumArgs(a.op) != static_cast<int>(a.args.size())) {
        return bad(absl::StrCat(OpName(a.op), " of input ", k, " reads ", NumArgs(a.op),
                                " values, given ", a.args.size()));
      }
      GF_RETURN_IF_ERROR(scalars_named(a.op));
      for (const Ref& r : a.args) {
        if (r.kind == Ref::kInput && (l.variadic || r.input < 0 || r.input >= num_inputs)) {
          return bad(absl::StrCat("input ", k, "'s rule reads input ", r.input));
        }
      }
    }
  }
  return absl::OkStatus();
}

VarOr AdjointTerm(Op op, const std::vector<Var>& args, double s, double t) {
  if (static_cast<int>(args.size()) != NumArgs(op) || !IsAccumulate(op)) {
    return absl::InternalError(absl::StrCat("AdjointTerm: ", OpName(op), " with ", args.size(),
                                            " values"));
  }
  switch (op) {
    case Op::kAcc: return args[0];
    case Op::kNegAcc: return -args[0];
    case Op::kAccScale: return MulScalar(args[0], s);
    case Op::kAccMul: return args[0] * args[1];
    case Op::kAccDiv: return args[0] / args[1];
    case Op::kAccDivRhs: return -(args[0] * args[1] / args[2]);
    case Op::kAccSigmoid: return args[0] * (args[1] * (1.0 - args[1]));
    case Op::kAccTanh: return args[0] * (1.0 - args[1] * args[1]);
    case Op::kAccStep: return args[0] * Step(args[1]);
    case Op::kAccStepAbove: return args[0] * Step(args[1] - s);
    // g step(x) + s (g - g step(x)): exactly g or s g, as the interpreter's select.
    case Op::kAccLeakyRelu: {
      const VarOr pass = args[0] * Step(args[1]);
      return pass + MulScalar(args[0] - pass, s);
    }
    // The same with s exp(min(x, 0)), which cannot overflow where it is not taken.
    case Op::kAccElu: {
      const VarOr pass = args[0] * Step(args[1]);
      return pass + MulScalar((args[0] - pass) * Exp(-Relu(-args[1])), s);
    }
    case Op::kAccSoftsign: {
      const VarOr d = 1.0 + Abs(args[1]);
      return args[0] / (d * d);
    }
    case Op::kAccSoftplus: return args[0] * Sigmoid(args[1]);
    case Op::kAccHardSigmoid:
      return MulScalar(args[0] * (Step(args[1]) * Step(1.0 - args[1])), s);
    case Op::kAccClip: return args[0] * (Step(args[1] - s) * Step(t - args[1]));
    case Op::kAccSign: return args[0] * (Step(args[1]) - Step(-args[1]));
    case Op::kAccSqrt: return MulScalar(args[0] / args[1], 0.5);
    // [b > c] = step(b - c) and [b >= c] = 1 - step(c - b): IEEE subtraction is 0
    // exactly when b == c, so these select what the interpreter's compares do.
    case Op::kAccGt: return args[0] * Step(args[1] - args[2]);
    case Op::kAccGe: return args[0] * (1.0 - Step(args[2] - args[1]));
    default: break;
  }
  return absl::InternalError(absl::StrCat("AdjointTerm: ", OpName(op), " has no tape meaning"));
}

absl::StatusOr<std::vector<Var>> LoweredGradient(const std::string& op, const Lowering& l,
                                                 const GradContext& c) {
  double s = 0, t = 0;
  if (!l.scalar_attr.empty()) {
    GF_ASSIGN_OR_RETURN(s, c.attrs.GetFloat(op, l.scalar_attr));
  }
  if (!l.scalar_attr2.empty()) {
    GF_ASSIGN_OR_RETURN(t, c.attrs.GetFloat(op, l.scalar_attr2));
  }
  auto value = [&](const Ref& r) -> const Var& {
    switch (r.kind) {
      case Ref::kGrad: return c.output_grads[0];
      case Ref::kOutput: return c.outputs[0];
      case Ref::kInput: break;
    }
    return c.inputs[r.input];
  };
  std::vector<VarOr> grads;
  for (size_t k = 0; k < c.inputs.size(); ++k) {
    const std::vector<AdjointInstr>& rule = l.adjoints[l.variadic ? 0 : k];
    if (rule.empty()) {
      grads.push_back(Var());
      continue;
    }
    VarOr sum;
    for (size_t i = 0; i < rule.size(); ++i) {
      std::vector<Var> args;
      for (const Ref& r : rule[i].args) args.push_back(value(r));
      VarOr term = AdjointTerm(rule[i].op, args, s, t);
      sum = i == 0 ? term : sum + term;
    }
    grads.push_back(SumTo(sum, c.inputs[k].shape()));
  }
  return CollectGrads(std::move(grads));
}

}  // namespace gatefuse::pointwise
