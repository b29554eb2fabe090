// A model on disk: a ModelFile message (models/model_file.proto) in a small
// checksummed container, saved atomically and loaded with every field checked.
//
//   offset  size  field
//        0     8  magic "GFMODEL\0"
//        8     4  format version, uint32 little-endian
//       12     8  payload length in bytes, uint64 little-endian
//       20     4  CRC-32C (Castagnoli) of the payload, uint32 little-endian
//       24     n  payload: the serialized ModelFile
//
//   ModelFile m;
//   m.mutable_cell()->set_kind("lstm");
//   GF_RETURN_IF_ERROR(SetParameters(params, m));          // ParamMap or tensors
//   GF_RETURN_IF_ERROR(SaveModelFile(m, "model.gfm"));
//   GF_ASSIGN_OR_RETURN(ModelFile back, LoadModelFile("model.gfm"));
//   GF_ASSIGN_OR_RETURN(ParamMap loaded, ParameterVars(back));
//
// Loading trusts nothing: a damaged container (bad magic, truncation, a length
// that does not match the file, a checksum mismatch, bytes protobuf cannot
// parse) is DataLoss; a file from a newer gatefuse, or an intact payload that
// makes no sense (a parameter whose bytes do not fit its shape, an unknown
// dtype, a graph the verifier refuses, a .cell text that does not parse) is
// InvalidArgument. Each error names the file and the problem; nothing is half
// loaded.
#ifndef GATEFUSE_MODELS_IO_MODEL_FILE_H_
#define GATEFUSE_MODELS_IO_MODEL_FILE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/tensor.h"
#include "models/cells/cell.h"
#include "models/io/model_file.pb.h"

namespace gatefuse {

// The newest format this binary reads and the one it writes.
inline constexpr uint32_t kModelFormatVersion = 1;
inline constexpr char kModelFileMagic[8] = {'G', 'F', 'M', 'O', 'D', 'E', 'L', '\0'};
inline constexpr int64_t kModelFileHeaderSize = 24;

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven; pass
// the previous result as `crc` to continue over more data.
// Crc32c("123456789") == 0xE3069283.
uint32_t Crc32c(absl::string_view data, uint32_t crc = 0);

// The header above followed by `payload`, with `version` written as given
// (tests write newer versions and damaged payloads with it).
std::string EncodeModelFileContainer(absl::string_view payload,
                                     uint32_t version = kModelFormatVersion);

// The semantic checks LoadModelFile runs on a parsed payload (see the top).
absl::Status ValidateModelFile(const ModelFile& model);

// Validates `model` (a program never writes a file it would refuse to load) and
// returns the container bytes, format_version set to kModelFormatVersion.
absl::StatusOr<std::string> SerializeModelFile(const ModelFile& model);
// The container in memory: the whole of LoadModelFile but the file reading.
absl::StatusOr<ModelFile> ParseModelFileBytes(absl::string_view bytes);

struct SaveModelFileOptions {
  // Called after the temporary file is written and synced, before the rename;
  // an error aborts the save like a failed write. For tests of atomicity.
  std::function<absl::Status(const std::string& temp_path)> before_rename_for_testing;
};

// Atomic: writes PATH.tmp-<pid>-<n> in the same folder, fflush + fsync, renames
// it over `path`, fsyncs the folder. On any failure before the rename the
// previous file is untouched and the temporary file removed.
absl::Status SaveModelFile(const ModelFile& model, const std::string& path,
                           const SaveModelFileOptions& options = {});
// NotFound if the file cannot be opened; otherwise as ParseModelFileBytes, with
// errors prefixed by the path.
absl::StatusOr<ModelFile> LoadModelFile(const std::string& path);

// ---- parameters <-> tensors ----
// Replaces the model's parameters with `params` (sorted by name).
// InvalidArgument if a tensor is undefined or a name empty.
absl::Status SetParameters(const std::map<std::string, Tensor>& params, ModelFile& model);
absl::Status SetParameters(const ParamMap& params, ModelFile& model);
// The parameters as tensors; InvalidArgument as in ValidateModelFile.
absl::StatusOr<std::map<std::string, Tensor>> ParameterTensors(const ModelFile& model);
// As leaves named after the parameters (requiring gradients, for training).
absl::StatusOr<ParamMap> ParameterVars(const ModelFile& model, bool requires_grad = true);
// The same conversions for any list of named tensors (e.g. optimizer state).
absl::Status TensorsToProtos(const std::map<std::string, Tensor>& tensors,
                             google::protobuf::RepeatedPtrField<TensorProto>* out);
absl::StatusOr<std::map<std::string, Tensor>> TensorsFromProtos(
    const google::protobuf::RepeatedPtrField<TensorProto>& protos, absl::string_view what);

// A human-readable summary for `gatefuse inspect`: format version, cell (kind,
// sizes, the .cell text, the graph's size), layers, parameters (name, type,
// shape, element count, total), vocabulary size, metadata, checkpoint.
std::string DescribeModelFile(const ModelFile& model);

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_IO_MODEL_FILE_H_
