#include "models/onnx/network.h"

#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status.h"
#include "graph/serialize.h"
#include "models/io/tensor_proto.h"

namespace gatefuse {

struct Network::Impl {
  NetworkProto proto;  // the nodes' NodeFns keep references into it
  NetworkOptions options;
  std::vector<std::string> inputs, outputs;
  std::map<std::string, NetworkValueProto> input_specs;
  std::map<std::string, Var> params;     // trainable leaves
  std::map<std::string, Var> constants;  // known when the network was built
  std::set<std::string> integer_params;  // the parameters among the constants
  struct Step {
    const NetworkNodeProto* node;
    NodeFn fn;
  };
  std::vector<Step> steps;  // the nodes left to run, in order
  std::vector<std::string> path_lines;

  absl::StatusOr<std::map<std::string, Var>> Evaluate(std::map<std::string, Var> values,
                                                      const std::map<std::string, Var>& p) const;
};

namespace {

bool IsIntType(const std::string& elem_type) {
  return elem_type != "float" && elem_type != "double";
}

// What a node reads: an input, a parameter, a constant or an earlier output.
const Var* Lookup(const std::string& name, const std::map<std::string, Var>& values,
                  const std::map<std::string, Var>& params,
                  const std::map<std::string, Var>& constants) {
  for (const auto* m : {&values, &params, &constants}) {
    auto it = m->find(name);
    if (it != m->end()) return &it->second;
  }
  return nullptr;
}

absl::StatusOr<std::vector<Var>> RunStep(const NetworkNodeProto& node, const NodeFn& fn,
                                         const std::map<std::string, Var>& values,
                                         const std::map<std::string, Var>& params,
                                         const std::map<std::string, Var>& constants) {
  std::vector<Var> in;
  for (const std::string& name : node.inputs()) {
    if (name.empty()) {
      in.emplace_back();
      continue;
    }
    const Var* v = Lookup(name, values, params, constants);
    if (v == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(node.op(), " node '", node.name(),
                                                     "': input '", name, "' has no value"));
    }
    in.push_back(*v);
  }
  absl::StatusOr<std::vector<Var>> out = fn(in, params);
  if (!out.ok()) {
    const std::string prefix = absl::StrCat(node.op(), " node '", node.name(), "'");
    if (absl::StartsWith(out.status().message(), prefix)) return out.status();
    return absl::Status(out.status().code(),
                        absl::StrCat(prefix, ": ", out.status().message()));
  }
  if (static_cast<int>(out->size()) < node.outputs_size()) {
    return absl::InternalError(absl::StrCat(node.op(), " node '", node.name(), "' gave ",
                                            out->size(), " outputs for ", node.outputs_size()));
  }
  return out;
}

}  // namespace

absl::StatusOr<Network> Network::Create(const NetworkProto& proto,
                                        const std::map<std::string, Tensor>& params,
                                        const NetworkOptions& options) {
  auto impl = std::make_shared<Impl>();
  impl->proto = proto;
  impl->options = options;
  if (!IsFloating(options.dtype)) {
    return absl::InvalidArgumentError("a network computes in f32 or f64");
  }
  for (const auto& [name, t] : params) {
    if (IsFloating(t.dtype())) {
      impl->params[name] = Var::Leaf(t.dtype() == options.dtype ? t : t.Cast(options.dtype),
                                     /*requires_grad=*/true, name);
    } else {
      impl->constants[name] = Var::Constant(t);
      impl->integer_params.insert(name);
    }
  }
  std::set<std::string> defined;
  for (const auto& [name, v] : impl->params) defined.insert(name);
  for (const auto& [name, v] : impl->constants) defined.insert(name);
  for (const NetworkValueProto& in : impl->proto.inputs()) {
    if (!defined.insert(in.name()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("network input '", in.name(), "' is also a parameter or declared twice"));
    }
    impl->inputs.push_back(in.name());
    impl->input_specs[in.name()] = in;
  }
  std::map<std::string, Shape> param_shapes;
  for (const auto& [name, v] : impl->params) param_shapes[name] = v.shape();
  for (const NetworkNodeProto& node : impl->proto.nodes()) {
    NodeContext context{.options = options, .opset = impl->proto.opset(),
                        .param_shapes = param_shapes, .path_lines = &impl->path_lines};
    bool all_constant = true;
    for (const std::string& name : node.inputs()) {
      if (name.empty()) {
        context.constant_inputs.push_back(nullptr);
        continue;
      }
      if (!defined.count(name)) {
        return absl::InvalidArgumentError(absl::StrCat(
            node.op(), " node '", node.name(), "': input '", name,
            "' is not a graph input, a parameter or an earlier node's output"));
      }
      auto c = impl->constants.find(name);
      context.constant_inputs.push_back(c == impl->constants.end() ? nullptr : &c->second.value());
      all_constant = all_constant && c != impl->constants.end();
    }
    GF_ASSIGN_OR_RETURN(NodeFn fn, MakeNodeFn(node, context));
    for (const std::string& out : node.outputs()) {
      if (!out.empty() && !defined.insert(out).second) {
        return absl::InvalidArgumentError(absl::StrCat(node.op(), " node '", node.name(),
                                                       "': output '", out, "' is defined twice"));
      }
    }
    // Shape of a graph input whose dimensions are all fixed (Run checks them) is
    // known now too.
    if (node.op() == "Shape" && node.inputs_size() == 1 && node.attributes_size() == 0 &&
        node.outputs_size() == 1 && impl->input_specs.count(node.inputs(0))) {
      const NetworkValueProto& spec = impl->input_specs.at(node.inputs(0));
      std::vector<int64_t> dims(spec.dims().begin(), spec.dims().end());
      if (std::all_of(dims.begin(), dims.end(), [](int64_t d) { return d >= 0; })) {
        Tensor t = Tensor::Empty(Shape{static_cast<int64_t>(dims.size())}, DType::kI64);
        std::copy(dims.begin(), dims.end(), t.data<int64_t>());
        impl->constants[node.outputs(0)] = Var::Constant(t);
        continue;
      }
    }
    if (all_constant && !IsRecurrentOp(node.op())) {
      // Known now (shape arithmetic, Constant): evaluated once, here.
      NoGradGuard no_grad;
      GF_ASSIGN_OR_RETURN(std::vector<Var> out,
                          RunStep(node, fn, {}, impl->params, impl->constants));
      for (int k = 0; k < node.outputs_size(); ++k) {
        if (!node.outputs(k).empty()) impl->constants[node.outputs(k)] = out[k];
      }
      continue;
    }
    impl->steps.push_back({&node, std::move(fn)});
  }
  for (const NetworkValueProto& out : impl->proto.outputs()) {
    if (!defined.count(out.name())) {
      return absl::InvalidArgumentError(
          absl::StrCat("network output '", out.name(), "' is computed by no node"));
    }
    impl->outputs.push_back(out.name());
  }
  Network net;
  net.impl_ = std::move(impl);
  return net;
}

absl::StatusOr<std::map<std::string, Var>> Network::Impl::Evaluate(
    std::map<std::string, Var> values, const std::map<std::string, Var>& p) const {
  for (const Step& step : steps) {
    GF_ASSIGN_OR_RETURN(std::vector<Var> out, RunStep(*step.node, step.fn, values, p, constants));
    for (int k = 0; k < step.node->outputs_size(); ++k) {
      if (!step.node->outputs(k).empty()) values[step.node->outputs(k)] = std::move(out[k]);
    }
  }
  std::map<std::string, Var> result;
  for (const std::string& name : outputs) {
    const Var* v = Lookup(name, values, p, constants);
    if (v == nullptr || !v->defined()) {
      return absl::InternalError(absl::StrCat("network output '", name, "' has no value"));
    }
    result[name] = *v;
  }
  return result;
}

absl::StatusOr<std::map<std::string, Var>> Network::Forward(
    const std::map<std::string, Var>& inputs) const {
  std::map<std::string, Var> values;
  for (const std::string& name : impl_->inputs) {
    auto it = inputs.find(name);
    if (it == inputs.end()) {
      return absl::InvalidArgumentError(absl::StrCat("network input '", name, "' is not given"));
    }
    const NetworkValueProto& spec = impl_->input_specs.at(name);
    Var v = it->second;
    const bool want_int = IsIntType(spec.elem_type());
    if (want_int != (v.dtype() == DType::kI64)) {
      return absl::InvalidArgumentError(absl::StrCat("network input '", name, "' must be ",
                                                     spec.elem_type(), ", got ",
                                                     DTypeName(v.dtype())));
    }
    if (!want_int && v.dtype() != impl_->options.dtype) {
      v = Var::Leaf(v.value().Cast(impl_->options.dtype), false);
    }
    bool shape_ok = spec.dims_size() == v.shape().rank();
    for (int k = 0; shape_ok && k < spec.dims_size(); ++k) {
      shape_ok = spec.dims(k) < 0 || spec.dims(k) == v.shape()[k];
    }
    if (!shape_ok) {
      std::vector<std::string> dims;
      for (int64_t d : spec.dims()) dims.push_back(d < 0 ? "?" : absl::StrCat(d));
      return absl::InvalidArgumentError(absl::StrCat("network input '", name, "' must be [",
                                                     absl::StrJoin(dims, ","), "], got ",
                                                     v.shape().ToString()));
    }
    values[name] = v;
  }
  for (const auto& [name, v] : inputs) {
    if (!impl_->input_specs.count(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", name, "' is not an input of the network"));
    }
  }
  return impl_->Evaluate(std::move(values), impl_->params);
}

absl::StatusOr<std::map<std::string, Tensor>> Network::Run(
    const std::map<std::string, Tensor>& inputs) const {
  NoGradGuard no_grad;  // thread-local: nothing is recorded on any tape
  std::map<std::string, Var> vars;
  for (const auto& [name, t] : inputs) vars[name] = Var::Constant(t);
  GF_ASSIGN_OR_RETURN(auto out, Forward(vars));
  std::map<std::string, Tensor> result;
  for (const auto& [name, v] : out) result[name] = v.value();
  return result;
}

ModelFile Network::ToModelFile() const {
  ModelFile m;
  *m.mutable_network() = impl_->proto;
  std::map<std::string, Tensor> tensors;
  for (const auto& [name, v] : impl_->params) tensors[name] = v.value();
  // The integer parameters were made constants; they are the file's too.
  for (const std::string& name : impl_->integer_params) {
    tensors[name] = impl_->constants.at(name).value();
  }
  // Names are unique and tensors defined: SetParameters cannot fail here.
  (void)SetParameters(tensors, m);
  (*m.mutable_metadata())["source"] = "onnx";
  return m;
}

absl::StatusOr<Network> Network::FromModelFile(const ModelFile& model,
                                               const NetworkOptions& options) {
  if (!model.has_network()) {
    return absl::InvalidArgumentError("the model file holds no network (it is not an import)");
  }
  GF_ASSIGN_OR_RETURN(auto params, ParameterTensors(model));
  return Create(model.network(), params, options);
}

const NetworkProto& Network::proto() const { return impl_->proto; }
const std::vector<std::string>& Network::input_names() const { return impl_->inputs; }
const std::vector<std::string>& Network::output_names() const { return impl_->outputs; }
const std::map<std::string, Var>& Network::params() const { return impl_->params; }
DType Network::dtype() const { return impl_->options.dtype; }
std::vector<std::string> Network::PathLines() const { return impl_->path_lines; }

}  // namespace gatefuse
