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
  }
  return "?";
}

int NumArgs(Op op) {
  switch (op) {
    case Op::kLoad: case Op::kZero:
      return 0;
    case Op::kStore: case Op::kAccStore: case Op::kCopy: case Op::kNeg: case Op::kAddScalar:
    case Op::kMulScalar: case Op::kRSubScalar: case Op::kSigmoid: case Op::kTanh:
    case Op::kRelu: case Op::kStep: case Op::kExp: case Op::kLog: case Op::kAcc:
    case Op::kNegAcc: case Op::kAccScale:
      return 1;
    case Op::kAdd: case Op::kSub: case Op::kMul: case Op::kDiv: case Op::kAccMul:
    case Op::kAccDiv: case Op::kAccSigmoid: case Op::kAccTanh: case Op::kAccStep:
      return 2;
    case Op::kAccDivRhs:
      return 3;
  }
  return 0;
}

bool UsesScalar(Op op) {
  return op == Op::kAddScalar || op == Op::kMulScalar || op == Op::kRSubScalar ||
         op == Op::kAccScale;
}

bool IsForward(Op op) { return op >= Op::kAdd && op <= Op::kLog; }
bool IsAccumulate(Op op) { return op >= Op::kAcc && op <= Op::kAccStep; }

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
  if (UsesScalar(l.forward) && l.scalar_attr.empty()) {
    return bad(absl::StrCat(OpName(l.forward), " needs a scalar and scalar_attr is empty"));
  }
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
      if (UsesScalar(a.op) && l.scalar_attr.empty()) {
        return bad(absl::StrCat(OpName(a.op), " needs a scalar and scalar_attr is empty"));
      }
      for (const Ref& r : a.args) {
        if (r.kind == Ref::kInput && (l.variadic || r.input < 0 || r.input >= num_inputs)) {
          return bad(absl::StrCat("input ", k, "'s rule reads input ", r.input));
        }
      }
    }
  }
  return absl::OkStatus();
}

VarOr AdjointTerm(Op op, const std::vector<Var>& args, double s) {
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
    default: break;
  }
  return absl::InternalError(absl::StrCat("AdjointTerm: ", OpName(op), " has no tape meaning"));
}

absl::StatusOr<std::vector<Var>> LoweredGradient(const std::string& op, const Lowering& l,
                                                 const GradContext& c) {
  double s = 0;
  if (!l.scalar_attr.empty()) {
    GF_ASSIGN_OR_RETURN(s, c.attrs.GetFloat(op, l.scalar_attr));
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
      VarOr term = AdjointTerm(rule[i].op, args, s);
      sum = i == 0 ? term : sum + term;
    }
    grads.push_back(SumTo(sum, c.inputs[k].shape()));
  }
  return CollectGrads(std::move(grads));
}

}  // namespace gatefuse::pointwise
