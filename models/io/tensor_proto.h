// Named tensors in a model file: the parameters, the optimizer state, any list of
// TensorProto messages, converted to and from tensors (and the parameters to and from
// Vars). One tensor's conversion is graph/serialize.h's; this adds the names.
//
//   {"W": f32[2,3], "b": f32[3]}  <->  repeated TensorProto [{name: "W", ...}, {name: "b", ...}]
//
//   GF_RETURN_IF_ERROR(SetParameters(params, model));            // ParamMap or tensors
//   GF_ASSIGN_OR_RETURN(ParamMap loaded, ParameterVars(model));  // leaves named like the file
#ifndef GATEFUSE_MODELS_IO_TENSOR_PROTO_H_
#define GATEFUSE_MODELS_IO_TENSOR_PROTO_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/tensor.h"
#include "models/cells/cell.h"
#include "models/io/model_file.pb.h"

namespace gatefuse {

// Every name non-empty and unique, and each tensor's dtype, shape and byte count consistent
// (graph/serialize.h's TensorProtoSpec). `what` names the list in errors:
// "parameter 'W': f32[2,3] needs 24 bytes of data, has 20", "parameter 1: has no name".
absl::Status CheckNamedTensors(const google::protobuf::RepeatedPtrField<TensorProto>& tensors,
                               absl::string_view what);

// Replaces `out` with `tensors` in name order; on error `out` is unchanged.
absl::Status TensorsToProtos(const std::map<std::string, Tensor>& tensors,
                             google::protobuf::RepeatedPtrField<TensorProto>* out);
absl::StatusOr<std::map<std::string, Tensor>> TensorsFromProtos(
    const google::protobuf::RepeatedPtrField<TensorProto>& protos, absl::string_view what);

// Replaces the model's parameters with `params` (sorted by name).
// InvalidArgument if a tensor is undefined or a name empty.
absl::Status SetParameters(const std::map<std::string, Tensor>& params, ModelFile& model);
absl::Status SetParameters(const ParamMap& params, ModelFile& model);
// The parameters as tensors; InvalidArgument as in CheckNamedTensors.
absl::StatusOr<std::map<std::string, Tensor>> ParameterTensors(const ModelFile& model);
// As leaves named after the parameters (requiring gradients, for training).
absl::StatusOr<ParamMap> ParameterVars(const ModelFile& model, bool requires_grad = true);

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_IO_TENSOR_PROTO_H_
