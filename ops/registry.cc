#include "ops/registry.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status.h"
#include "ops/register_all.h"

namespace gatefuse {

std::string TensorSpec::ToString() const {
  return absl::StrCat(DTypeName(dtype), shape.ToString());
}

absl::StatusOr<std::vector<Var>> OpDef::Gradient(const GradContext& ctx) const {
  if (!gradient) {
    return absl::FailedPreconditionError(
        absl::StrCat("op ", name_, " has no gradient: ", no_gradient));
  }
  return gradient(ctx);
}

void OpDef::SetPointwise(pointwise::Lowering l) {
  gradient = [name = name_, l](const GradContext& c) {
    return pointwise::LoweredGradient(name, l, c);
  };
  lowering = std::move(l);
}

const OpRegistry& OpRegistry::Global() {
  static const OpRegistry* registry = [] {
    auto* r = new OpRegistry;
    RegisterAllOps(*r);
    return r;
  }();
  return *registry;
}

OpDef& OpRegistry::Define(const std::string& name, int num_inputs) {
  auto& slot = ops_[name];
  slot = std::make_unique<OpDef>(name, num_inputs);
  return *slot;
}

absl::StatusOr<const OpDef*> OpRegistry::Find(const std::string& name) const {
  auto it = ops_.find(name);
  if (it == ops_.end()) return absl::NotFoundError(absl::StrCat("unknown op '", name, "'"));
  return it->second.get();
}

std::vector<std::string> OpRegistry::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, def] : ops_) names.push_back(name);
  return names;
}

absl::StatusOr<std::vector<TensorSpec>> InferOutputs(const OpDef& op,
                                                     const std::vector<TensorSpec>& inputs,
                                                     const Attrs& attrs) {
  const int n = static_cast<int>(inputs.size());
  if (op.num_inputs() >= 0 ? n != op.num_inputs() : n == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        op.name(), ": expects ",
        op.num_inputs() >= 0 ? absl::StrCat(op.num_inputs()) : std::string("at least 1"),
        " inputs, got ", n));
  }
  return op.shape_fn(inputs, attrs);
}

absl::StatusOr<std::vector<Tensor>> RunOp(const OpDef& op, const std::vector<Tensor>& inputs,
                                          const Attrs& attrs) {
  std::vector<TensorSpec> specs;
  std::vector<Tensor> contiguous;
  for (const Tensor& t : inputs) {
    if (!t.defined()) return absl::InvalidArgumentError(absl::StrCat(op.name(), ": undefined input"));
    specs.push_back({t.shape(), t.dtype()});
    contiguous.push_back(t.Contiguous());
  }
  GF_ASSIGN_OR_RETURN(std::vector<TensorSpec> out_specs, InferOutputs(op, specs, attrs));
  GF_ASSIGN_OR_RETURN(std::vector<Tensor> outputs,
                      op.kernel(KernelContext{contiguous, attrs, out_specs}));
  if (outputs.size() != out_specs.size()) {
    return absl::InternalError(absl::StrCat(op.name(), ": kernel returned ", outputs.size(),
                                            " outputs, shape function promised ",
                                            out_specs.size()));
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    const TensorSpec got{outputs[i].shape(), outputs[i].dtype()};
    if (!(got == out_specs[i])) {
      return absl::InternalError(absl::StrCat(op.name(), ": kernel output ", i, " is ",
                                              got.ToString(), ", shape function promised ",
                                              out_specs[i].ToString()));
    }
  }
  return outputs;
}

absl::StatusOr<std::vector<Var>> ApplyOp(const std::string& name,
                                         const std::vector<VarOr>& inputs, Attrs attrs) {
  std::vector<Var> vars;
  std::vector<Tensor> values;
  for (const VarOr& v : inputs) {
    if (!v.ok()) return v.status();
    if (!v->defined()) return absl::InvalidArgumentError(absl::StrCat(name, ": undefined input"));
    vars.push_back(*v);
    values.push_back(v->value());
  }
  GF_ASSIGN_OR_RETURN(const OpDef* op, OpRegistry::Global().Find(name));
  GF_ASSIGN_OR_RETURN(std::vector<Tensor> outputs, RunOp(*op, values, attrs));
  return RecordOp(op, std::move(attrs), vars, std::move(outputs));
}

VarOr Apply(const std::string& name, const std::vector<VarOr>& inputs, Attrs attrs) {
  GF_ASSIGN_OR_RETURN(std::vector<Var> out, ApplyOp(name, inputs, std::move(attrs)));
  if (out.size() != 1) {
    return absl::InternalError(absl::StrCat(name, " has ", out.size(), " outputs, not one"));
  }
  return out[0];
}

}  // namespace gatefuse
