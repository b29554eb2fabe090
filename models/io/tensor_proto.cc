#include "models/io/tensor_proto.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "graph/serialize.h"

namespace gatefuse {

absl::Status CheckNamedTensors(const google::protobuf::RepeatedPtrField<TensorProto>& tensors,
                               absl::string_view what) {
  std::set<absl::string_view> names;
  for (int k = 0; k < tensors.size(); ++k) {
    const TensorProto& t = tensors.Get(k);
    if (t.name().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(what, " ", k, ": has no name"));
    }
    if (!names.insert(t.name()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " '", t.name(), "': the name is used twice"));
    }
    GF_RETURN_IF_ERROR(TensorProtoSpec(t, absl::StrCat(what, " '", t.name(), "'")).status());
  }
  return absl::OkStatus();
}

absl::Status TensorsToProtos(const std::map<std::string, Tensor>& tensors,
                             google::protobuf::RepeatedPtrField<TensorProto>* out) {
  // Built aside and swapped in, so a failure halfway leaves `out` as it was.
  google::protobuf::RepeatedPtrField<TensorProto> protos;
  for (const auto& [name, t] : tensors) {
    if (name.empty()) return absl::InvalidArgumentError("a tensor has an empty name");
    GF_ASSIGN_OR_RETURN(*protos.Add(), TensorToProto(t, name));
  }
  out->Swap(&protos);
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, Tensor>> TensorsFromProtos(
    const google::protobuf::RepeatedPtrField<TensorProto>& protos, absl::string_view what) {
  GF_RETURN_IF_ERROR(CheckNamedTensors(protos, what));
  std::map<std::string, Tensor> tensors;
  for (const TensorProto& p : protos) {
    GF_ASSIGN_OR_RETURN(tensors[p.name()],
                        TensorFromProto(p, absl::StrCat(what, " '", p.name(), "'")));
  }
  return tensors;
}

absl::Status SetParameters(const std::map<std::string, Tensor>& params, ModelFile& model) {
  return TensorsToProtos(params, model.mutable_parameters());
}

absl::Status SetParameters(const ParamMap& params, ModelFile& model) {
  std::map<std::string, Tensor> tensors;
  for (const auto& [name, v] : params) {
    if (!v.defined()) {
      return absl::InvalidArgumentError(absl::StrCat("parameter '", name, "' is undefined"));
    }
    tensors[name] = v.value();
  }
  return SetParameters(tensors, model);
}

absl::StatusOr<std::map<std::string, Tensor>> ParameterTensors(const ModelFile& model) {
  return TensorsFromProtos(model.parameters(), "parameter");
}

absl::StatusOr<ParamMap> ParameterVars(const ModelFile& model, bool requires_grad) {
  GF_ASSIGN_OR_RETURN(auto tensors, ParameterTensors(model));
  ParamMap params;
  for (auto& [name, t] : tensors) params[name] = Var::Leaf(std::move(t), requires_grad, name);
  return params;
}

}  // namespace gatefuse
