// A model on disk: a ModelFile message (models/io/model_file.proto) in the small
// checksummed container of model_container.h, saved atomically and loaded with every
// field checked. This header is the one users include; it brings the container
// (model_container.h) and the named-tensor conversions (tensor_proto.h) with it.
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

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/file_io.h"
#include "models/io/model_container.h"
#include "models/io/model_file.pb.h"
#include "models/io/tensor_proto.h"

namespace gatefuse {

// The semantic checks LoadModelFile runs on a parsed payload (see the top).
absl::Status ValidateModelFile(const ModelFile& model);

// Validates `model` (a program never writes a file it would refuse to load) and
// returns the container bytes, format_version set to kModelFormatVersion.
absl::StatusOr<std::string> SerializeModelFile(const ModelFile& model);
// The container in memory: the whole of LoadModelFile but the file reading.
absl::StatusOr<ModelFile> ParseModelFileBytes(absl::string_view bytes);

// before_rename_for_testing runs between the synced temporary file and the rename.
using SaveModelFileOptions = WriteFileOptions;

// Validates and serializes, then writes with WriteFileAtomically (core/file_io.h):
// on any failure the previous file at `path` is untouched.
absl::Status SaveModelFile(const ModelFile& model, const std::string& path,
                           const SaveModelFileOptions& options = {});
// NotFound if the file cannot be opened; otherwise as ParseModelFileBytes, with
// errors prefixed by the path.
absl::StatusOr<ModelFile> LoadModelFile(const std::string& path);

// A human-readable summary for `gatefuse inspect`: format version, cell (kind,
// sizes, the .cell text, the graph's size), layers, parameters (name, type,
// shape, element count, total), vocabulary size, metadata, checkpoint.
std::string DescribeModelFile(const ModelFile& model);

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_IO_MODEL_FILE_H_
