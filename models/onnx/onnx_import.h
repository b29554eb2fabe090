// ONNX files into gatefuse: an onnx::ModelProto becomes a ModelFile holding a
// NetworkProto and its parameters (models/io/model_file.proto), which
// Network::FromModelFile runs. `gatefuse import` saves that ModelFile; `run` and
// `onnx-test` build the Network from it directly, so a model gives the same
// outputs from its .onnx and from its .gfm.
//
// The file is parsed, checked by onnx::checker::check_model, and converted:
// graph inputs (less the initializers older exporters also list as inputs),
// outputs, initializers (parameters), and the nodes in their order. Each LSTM,
// GRU and RNN node's weights (W, R, B, P: initializers or Constant outputs) are
// turned into one .cell cell per direction with ONNX's equations and parameters
// (models/onnx/onnx_cells.h), so the standard passes recognise and fuse it.
// Nothing is half imported: a damaged or hostile file, an op outside the domain
// or the supported set, a subgraph attribute, a weight of the wrong shape is an
// error naming the node and what is wrong.
#ifndef GATEFUSE_MODELS_ONNX_ONNX_IMPORT_H_
#define GATEFUSE_MODELS_ONNX_ONNX_IMPORT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "models/io/model_file.h"
#include "models/onnx/network.h"
#include "onnx/onnx_pb.h"

namespace gatefuse {

// `what` names the model in errors (its path).
absl::StatusOr<ModelFile> ImportOnnxModel(const onnx::ModelProto& model, const std::string& what);
absl::StatusOr<ModelFile> ImportOnnxBytes(absl::string_view bytes, const std::string& what);
absl::StatusOr<ModelFile> ImportOnnxFile(const std::string& path);

// A network from an .onnx file or a .gfm holding one (told apart by content).
absl::StatusOr<Network> LoadNetwork(const std::string& path, const NetworkOptions& options = {});

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_ONNX_ONNX_IMPORT_H_
