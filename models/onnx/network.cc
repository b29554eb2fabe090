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
  int64_t opset = 0;
  std::vector<std::string> inputs, outputs;
  std::map<std::string, NetworkValueProto> input_specs;
  std::map<std::string, Var> params;     // trainable leaves
  std::map<std::string, Var> constants;  // known when the network was built
  std::set<std::string> integer_params;  // the parameters among the constants
  struct Step {
    const NetworkNodeProto* node;
    NodeFn fn;
    std::vector<std::string> captured;  // CapturedNames(*node)
  };
  std::vector<Step> steps;  // the nodes left to run, in order
  std::vector<std::string> path_lines;

  // Inputs, nodes and outputs of `proto`; `outer`: the names an enclosing scope
  // provides at run time (a subgraph's FreeNames).
  absl::Status Build(const std::vector<std::string>& outer);
  // `name`'s value checked against its declared type and fixed dims.
  absl::StatusOr<Var> CheckInput(const std::string& name, const Var& v) const;
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

absl::StatusOr<std::vector<Var>> RunStep(const Network::Impl::Step& step,
                                         const std::map<std::string, Var>& values,
                                         const std::map<std::string, Var>& params,
                                         const std::map<std::string, Var>& constants) {
  const NetworkNodeProto& node = *step.node;
  const NodeFn& fn = step.fn;
  std::vector<Var> in;
  std::vector<std::string> names(node.inputs().begin(), node.inputs().end());
  names.insert(names.end(), step.captured.begin(), step.captured.end());
  for (const std::string& name : names) {
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

absl::Status Network::Impl::Build(const std::vector<std::string>& outer) {
  std::set<std::string> defined(outer.begin(), outer.end());
  for (const auto& [name, v] : params) defined.insert(name);
  for (const auto& [name, v] : constants) defined.insert(name);
  for (const NetworkValueProto& in : proto.inputs()) {
    if (!defined.insert(in.name()).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "network input '", in.name(), "' is also a parameter, an outer value or declared twice"));
    }
    inputs.push_back(in.name());
    input_specs[in.name()] = in;
  }
  std::map<std::string, Shape> param_shapes;
  for (const auto& [name, v] : params) param_shapes[name] = v.shape();
  for (const NetworkNodeProto& node : proto.nodes()) {
    NodeContext context{.options = options, .opset = opset,
                        .param_shapes = param_shapes, .path_lines = &path_lines};
    Step step{.node = &node, .captured = CapturedNames(node)};
    bool all_constant = true;
    std::vector<std::string> reads(node.inputs().begin(), node.inputs().end());
    reads.insert(reads.end(), step.captured.begin(), step.captured.end());
    for (size_t k = 0; k < reads.size(); ++k) {
      const std::string& name = reads[k];
      const bool is_input = k < static_cast<size_t>(node.inputs_size());
      if (name.empty()) {
        if (is_input) context.constant_inputs.push_back(nullptr);
        continue;
      }
      if (!defined.count(name)) {
        return absl::InvalidArgumentError(absl::StrCat(
            node.op(), " node '", node.name(), "': ", is_input ? "input" : "its subgraph reads",
            " '", name, "', which is not a graph input, a parameter or an earlier node's output"));
      }
      auto c = constants.find(name);
      if (is_input) {
        context.constant_inputs.push_back(c == constants.end() ? nullptr : &c->second.value());
      }
      all_constant = all_constant && c != constants.end();
    }
    GF_ASSIGN_OR_RETURN(step.fn, MakeNodeFn(node, context));
    for (const std::string& out : node.outputs()) {
      if (!out.empty() && !defined.insert(out).second) {
        return absl::InvalidArgumentError(absl::StrCat(node.op(), " node '", node.name(),
                                                       "': output '", out, "' is defined twice"));
      }
    }
    // Shape of a graph input whose dimensions are all fixed (Run checks them) is
    // known now too.
    if (node.op() == "Shape" && node.inputs_size() == 1 && node.attributes_size() == 0 &&
        node.outputs_size() == 1 && input_specs.count(node.inputs(0))) {
      const NetworkValueProto& spec = input_specs.at(node.inputs(0));
      std::vector<int64_t> dims(spec.dims().begin(), spec.dims().end());
      if (std::all_of(dims.begin(), dims.end(), [](int64_t d) { return d >= 0; })) {
        Tensor t = Tensor::Empty(Shape{static_cast<int64_t>(dims.size())}, DType::kI64);
        std::copy(dims.begin(), dims.end(), t.data<int64_t>());
        constants[node.outputs(0)] = Var::Constant(t);
        continue;
      }
    }
    if (all_constant && !IsRecurrentOp(node.op())) {
      // Known now (shape arithmetic, Constant): evaluated once, here.
      NoGradGuard no_grad;
      GF_ASSIGN_OR_RETURN(std::vector<Var> out, RunStep(step, {}, params, constants));
      for (int k = 0; k < node.outputs_size(); ++k) {
        if (!node.outputs(k).empty()) constants[node.outputs(k)] = out[k];
      }
      continue;
    }
    steps.push_back(std::move(step));
  }
  for (const NetworkValueProto& out : proto.outputs()) {
    if (!defined.count(out.name())) {
      return absl::InvalidArgumentError(
          absl::StrCat("network output '", out.name(), "' is computed by no node"));
    }
    outputs.push_back(out.name());
  }
  return absl::OkStatus();
}

absl::StatusOr<Network> Network::Create(const NetworkProto& proto,
                                        const std::map<std::string, Tensor>& params,
                                        const NetworkOptions& options) {
  auto impl = std::make_shared<Impl>();
  impl->proto = proto;
  impl->options = options;
  impl->opset = proto.opset();
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
  GF_RETURN_IF_ERROR(impl->Build({}));
  Network net;
  net.impl_ = std::move(impl);
  return net;
}

absl::StatusOr<std::map<std::string, Var>> Network::Impl::Evaluate(
    std::map<std::string, Var> values, const std::map<std::string, Var>& p) const {
  for (const Step& step : steps) {
    GF_ASSIGN_OR_RETURN(std::vector<Var> out, RunStep(step, values, p, constants));
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

absl::StatusOr<Var> Network::Impl::CheckInput(const std::string& name, const Var& given) const {
  const NetworkValueProto& spec = input_specs.at(name);
  Var v = given;
  const bool want_int = IsIntType(spec.elem_type());
  if (want_int != (v.dtype() == DType::kI64)) {
    return absl::InvalidArgumentError(absl::StrCat("network input '", name, "' must be ",
                                                   spec.elem_type(), ", got ",
                                                   DTypeName(v.dtype())));
  }
  if (!want_int && v.dtype() != options.dtype) {
    if (v.requires_grad()) {
      return absl::InvalidArgumentError(absl::StrCat("network input '", name, "' must be ",
                                                     DTypeName(options.dtype), ", got ",
                                                     DTypeName(v.dtype())));
    }
    v = Var::Leaf(v.value().Cast(options.dtype), false);
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
  return v;
}

absl::StatusOr<std::map<std::string, Var>> Network::Forward(
    const std::map<std::string, Var>& inputs) const {
  std::map<std::string, Var> values;
  for (const std::string& name : impl_->inputs) {
    auto it = inputs.find(name);
    if (it == inputs.end()) {
      return absl::InvalidArgumentError(absl::StrCat("network input '", name, "' is not given"));
    }
    GF_ASSIGN_OR_RETURN(values[name], impl_->CheckInput(name, it->second));
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

std::vector<std::string> FreeNames(const NetworkProto& body) {
  std::set<std::string> defined, free;
  for (const NetworkValueProto& in : body.inputs()) defined.insert(in.name());
  auto read = [&](const std::string& name) {
    if (!name.empty() && !defined.count(name)) free.insert(name);
  };
  for (const NetworkNodeProto& node : body.nodes()) {
    for (const std::string& name : node.inputs()) read(name);
    for (const std::string& name : CapturedNames(node)) read(name);
    for (const std::string& name : node.outputs()) defined.insert(name);
  }
  for (const NetworkValueProto& out : body.outputs()) read(out.name());
  return {free.begin(), free.end()};
}

std::vector<std::string> CapturedNames(const NetworkNodeProto& node) {
  std::set<std::string> names;
  for (const NetworkAttributeProto& a : node.attributes()) {
    if (a.kind() != NetworkAttributeProto::GRAPH) continue;
    for (const std::string& name : FreeNames(a.g())) names.insert(name);
  }
  return {names.begin(), names.end()};
}

absl::StatusOr<NetworkBody> NetworkBody::Create(const NetworkProto& body,
                                                const NodeContext& context) {
  auto impl = std::make_shared<Network::Impl>();
  impl->proto = body;
  impl->options = context.options;
  impl->opset = context.opset;
  NetworkBody out;
  out.free_names_ = FreeNames(body);
  GF_RETURN_IF_ERROR(impl->Build(out.free_names_));
  if (context.path_lines != nullptr) {
    for (const std::string& line : impl->path_lines) context.path_lines->push_back(line);
  }
  out.impl_ = std::move(impl);
  return out;
}

absl::StatusOr<std::vector<Var>> NetworkBody::Run(const std::vector<Var>& inputs,
                                                  const std::vector<Var>& outer) const {
  if (inputs.size() != impl_->inputs.size() || outer.size() != free_names_.size()) {
    return absl::InternalError(absl::StrCat("a subgraph of ", impl_->inputs.size(), " inputs and ",
                                            free_names_.size(), " outer values run with ",
                                            inputs.size(), " and ", outer.size()));
  }
  std::map<std::string, Var> values;
  for (size_t k = 0; k < outer.size(); ++k) values[free_names_[k]] = outer[k];
  for (size_t k = 0; k < inputs.size(); ++k) {
    GF_ASSIGN_OR_RETURN(values[impl_->inputs[k]], impl_->CheckInput(impl_->inputs[k], inputs[k]));
  }
  GF_ASSIGN_OR_RETURN(auto result, impl_->Evaluate(std::move(values), {}));
  std::vector<Var> out;
  for (const std::string& name : impl_->outputs) out.push_back(result.at(name));
  return out;
}

int NetworkBody::num_inputs() const { return static_cast<int>(impl_->inputs.size()); }
int NetworkBody::num_outputs() const { return static_cast<int>(impl_->outputs.size()); }
int NetworkBody::num_nodes() const { return static_cast<int>(impl_->steps.size()); }

}  // namespace gatefuse
