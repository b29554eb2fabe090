// ONNX TensorProtos to and from gatefuse Tensors.
//
// Element types read: float -> f32, double -> f64, int64 -> i64, and int32, int16,
// int8, uint8, bool -> i64 (gatefuse computes integers as i64). Data in raw_data
// (little-endian) or in the typed repeated fields. External data, strings,
// float16 and complex types are refused with a message naming the tensor.
#ifndef GATEFUSE_MODELS_ONNX_ONNX_TENSOR_H_
#define GATEFUSE_MODELS_ONNX_ONNX_TENSOR_H_

#include <string>

#include "absl/status/statusor.h"
#include "core/tensor.h"
#include "onnx/onnx_pb.h"

namespace gatefuse {

// `what` names the tensor in errors ("initializer 'W'", "input_0.pb").
absl::StatusOr<Tensor> TensorFromOnnx(const onnx::TensorProto& proto, const std::string& what);

// f32 -> FLOAT, f64 -> DOUBLE, i64 -> INT64 (as_int32: INT32), data in raw_data.
onnx::TensorProto TensorToOnnx(const Tensor& t, const std::string& name, bool as_int32 = false);

// A serialized TensorProto file (input_0.pb), and writing one atomically.
absl::StatusOr<onnx::TensorProto> ReadOnnxTensorFile(const std::string& path);
absl::Status WriteOnnxTensorFile(const onnx::TensorProto& proto, const std::string& path);

// ONNX's name of an element type ("float", "int64", ...), "type <n>" if unknown.
std::string OnnxElemTypeName(int elem_type);

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_ONNX_ONNX_TENSOR_H_
