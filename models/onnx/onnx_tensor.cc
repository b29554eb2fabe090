#include "models/onnx/onnx_tensor.h"

#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "core/status.h"

namespace gatefuse {
namespace {

using onnx::TensorProto_DataType;

// Elements in `raw` (little-endian, as ONNX stores them; this machine is too) or in
// the typed field, converted to Out.
template <typename Stored, typename Out, typename Field>
absl::Status Fill(const onnx::TensorProto& p, const Field& field, int64_t n, Out* out,
                  const std::string& what) {
  if (p.has_raw_data()) {
    if (p.raw_data().size() != static_cast<size_t>(n) * sizeof(Stored)) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": raw_data has ", p.raw_data().size(), " bytes, ", n,
                       " elements of ", sizeof(Stored), " bytes need ", n * sizeof(Stored)));
    }
    for (int64_t k = 0; k < n; ++k) {
      Stored v;
      std::memcpy(&v, p.raw_data().data() + k * sizeof(Stored), sizeof(Stored));
      out[k] = static_cast<Out>(v);
    }
    return absl::OkStatus();
  }
  if (field.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": has ", field.size(), " values for ", n, " elements"));
  }
  for (int64_t k = 0; k < n; ++k) out[k] = static_cast<Out>(static_cast<Stored>(field.Get(k)));
  return absl::OkStatus();
}

}  // namespace

std::string OnnxElemTypeName(int t) {
  switch (t) {
    case onnx::TensorProto::FLOAT: return "float";
    case onnx::TensorProto::DOUBLE: return "double";
    case onnx::TensorProto::INT64: return "int64";
    case onnx::TensorProto::INT32: return "int32";
    case onnx::TensorProto::INT16: return "int16";
    case onnx::TensorProto::INT8: return "int8";
    case onnx::TensorProto::UINT8: return "uint8";
    case onnx::TensorProto::BOOL: return "bool";
    case onnx::TensorProto::FLOAT16: return "float16";
    case onnx::TensorProto::BFLOAT16: return "bfloat16";
    case onnx::TensorProto::STRING: return "string";
    default: return absl::StrCat("type ", t);
  }
}

absl::StatusOr<Tensor> TensorFromOnnx(const onnx::TensorProto& p, const std::string& what) {
  if (p.data_location() == onnx::TensorProto::EXTERNAL) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": data stored outside the file (external data) is not supported"));
  }
  std::vector<int64_t> dims;
  int64_t n = 1;
  for (int64_t d : p.dims()) {
    if (d < 0) return absl::InvalidArgumentError(absl::StrCat(what, ": dimension ", d, " < 0"));
    if (d > 0 && n > std::numeric_limits<int32_t>::max() / d) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": more than 2^31 elements"));
    }
    n *= d;
    dims.push_back(d);
  }
  const Shape shape(dims);
  const std::string w = absl::StrCat(what, " (", OnnxElemTypeName(p.data_type()), ")");
  switch (p.data_type()) {
    case onnx::TensorProto::FLOAT: {
      Tensor t = Tensor::Empty(shape, DType::kF32);
      GF_RETURN_IF_ERROR((Fill<float>(p, p.float_data(), n, t.data<float>(), w)));
      return t;
    }
    case onnx::TensorProto::DOUBLE: {
      Tensor t = Tensor::Empty(shape, DType::kF64);
      GF_RETURN_IF_ERROR((Fill<double>(p, p.double_data(), n, t.data<double>(), w)));
      return t;
    }
    case onnx::TensorProto::INT64: {
      Tensor t = Tensor::Empty(shape, DType::kI64);
      GF_RETURN_IF_ERROR((Fill<int64_t>(p, p.int64_data(), n, t.data<int64_t>(), w)));
      return t;
    }
    // The narrow integer types keep their values in int32_data.
    case onnx::TensorProto::INT32: {
      Tensor t = Tensor::Empty(shape, DType::kI64);
      GF_RETURN_IF_ERROR((Fill<int32_t>(p, p.int32_data(), n, t.data<int64_t>(), w)));
      return t;
    }
    case onnx::TensorProto::INT16: {
      Tensor t = Tensor::Empty(shape, DType::kI64);
      GF_RETURN_IF_ERROR((Fill<int16_t>(p, p.int32_data(), n, t.data<int64_t>(), w)));
      return t;
    }
    case onnx::TensorProto::INT8: {
      Tensor t = Tensor::Empty(shape, DType::kI64);
      GF_RETURN_IF_ERROR((Fill<int8_t>(p, p.int32_data(), n, t.data<int64_t>(), w)));
      return t;
    }
    case onnx::TensorProto::UINT8:
    case onnx::TensorProto::BOOL: {
      Tensor t = Tensor::Empty(shape, DType::kI64);
      GF_RETURN_IF_ERROR((Fill<uint8_t>(p, p.int32_data(), n, t.data<int64_t>(), w)));
      return t;
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": element type ", OnnxElemTypeName(p.data_type()),
                       " is not supported (float, double and integer types are)"));
  }
}

onnx::TensorProto TensorToOnnx(const Tensor& t, const std::string& name, bool as_int32) {
  onnx::TensorProto p;
  p.set_name(name);
  for (int k = 0; k < t.shape().rank(); ++k) p.add_dims(t.shape()[k]);
  const int64_t n = t.shape().num_elements();
  switch (t.dtype()) {
    case DType::kF32:
      p.set_data_type(onnx::TensorProto::FLOAT);
      p.set_raw_data(t.data<float>(), n * sizeof(float));
      break;
    case DType::kF64:
      p.set_data_type(onnx::TensorProto::DOUBLE);
      p.set_raw_data(t.data<double>(), n * sizeof(double));
      break;
    case DType::kI64:
      if (as_int32) {
        p.set_data_type(onnx::TensorProto::INT32);
        std::string raw(n * sizeof(int32_t), '\0');
        for (int64_t k = 0; k < n; ++k) {
          const int32_t v = static_cast<int32_t>(t.data<int64_t>()[k]);
          std::memcpy(raw.data() + k * sizeof(int32_t), &v, sizeof(v));
        }
        p.set_raw_data(raw);
      } else {
        p.set_data_type(onnx::TensorProto::INT64);
        p.set_raw_data(t.data<int64_t>(), n * sizeof(int64_t));
      }
      break;
  }
  return p;
}

absl::StatusOr<onnx::TensorProto> ReadOnnxTensorFile(const std::string& path) {
  GF_ASSIGN_OR_RETURN(const std::string bytes, ReadFile(path));
  onnx::TensorProto p;
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      !p.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError(absl::StrCat(path, ": not a serialized onnx TensorProto"));
  }
  return p;
}

absl::Status WriteOnnxTensorFile(const onnx::TensorProto& proto, const std::string& path) {
  std::string bytes;
  if (!proto.SerializeToString(&bytes)) {
    return absl::InternalError(absl::StrCat(path, ": protobuf could not serialize the tensor"));
  }
  return WriteFileAtomically(path, bytes);
}

}  // namespace gatefuse
