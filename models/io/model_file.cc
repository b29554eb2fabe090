#include "models/io/model_file.h"

#include <algorithm>
#include <climits>
#include <map>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "graph/serialize.h"
#include "models/cells/cell.h"
#include "models/cells/cell_language.h"
#include "ops/cell_kinds.h"

namespace gatefuse {
namespace {

constexpr int64_t kMaxCellSize = int64_t{1} << 31;

absl::Status Invalid(absl::string_view where, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", what));
}

absl::Status CheckCell(const CellSourceProto& cell) {
  const bool builtin_only = cell.cell_text().empty() && !cell.has_graph();
  if (cell.kind().empty() && builtin_only) {
    return Invalid("cell", "has no kind, .cell text or graph");
  }
  if (cell.dtype() != DTYPE_UNSPECIFIED) {
    absl::StatusOr<DType> dtype = DTypeFromProto(cell.dtype());
    if (!dtype.ok()) return Invalid("cell", dtype.status().message());
  }
  for (const auto& [symbol, size] : cell.sizes()) {
    if (symbol.empty()) return Invalid("cell", "a size has no symbol");
    if (size <= 0 || size > kMaxCellSize) {
      return Invalid("cell", absl::StrCat("size ", symbol, "=", size, " is out of range (1..",
                                          kMaxCellSize, ")"));
    }
  }
  if (!cell.cell_text().empty()) {
    const std::string filename =
        cell.cell_filename().empty() ? "<model file>" : cell.cell_filename();
    absl::StatusOr<CellSource> src = ParseCellSource(cell.cell_text(), filename);
    if (!src.ok()) return Invalid("cell source", src.status().message());
    if (!cell.kind().empty() && cell.kind() != src->name) {
      return Invalid("cell", absl::StrCat("kind '", cell.kind(), "' but the .cell text defines '",
                                          src->name, "'"));
    }
    for (const std::string& symbol : SizeSymbols(*src)) {
      if (!cell.sizes().contains(symbol)) {
        return Invalid("cell", absl::StrCat("the .cell text uses size ", symbol,
                                            ", which the file does not give"));
      }
    }
  }
  if (cell.has_graph()) {
    absl::StatusOr<Graph> g = FromProto(cell.graph());
    if (!g.ok()) return Invalid("cell graph", g.status().message());
  }
  if (cell.has_deep_graph()) {
    if (!cell.has_graph()) return Invalid("cell", "has a deeper layers' graph but no first graph");
    absl::StatusOr<Graph> g = FromProto(cell.deep_graph());
    if (!g.ok()) return Invalid("cell deeper layers' graph", g.status().message());
  }
  if (builtin_only) {
    const std::vector<std::string> kinds = BuiltinCellKinds();
    // Files may name a kind by an old alias (peephole_lstm); it loads as its kind.
    if (std::find(kinds.begin(), kinds.end(), CanonicalCellKind(cell.kind())) == kinds.end()) {
      return Invalid("cell", absl::StrCat("kind '", cell.kind(),
                                          "' is not builtin and the file has no .cell text or "
                                          "graph to build it from (builtin: ",
                                          absl::StrJoin(kinds, " "), ")"));
    }
    for (const char* symbol : {"I", "H"}) {
      if (!cell.sizes().contains(symbol)) {
        return Invalid("cell", absl::StrCat("builtin kind '", cell.kind(), "' needs size ", symbol));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status CheckLayers(const ModelFile& model) {
  std::set<absl::string_view> names;
  for (int k = 0; k < model.layers_size(); ++k) {
    const LayerConfig& layer = model.layers(k);
    const std::string where = absl::StrCat("layer ", k, " '", layer.name(), "'");
    if (layer.type().empty()) return Invalid(where, "has no type");
    if (layer.name().empty()) return Invalid(where, "has no name");
    if (!names.insert(layer.name()).second) return Invalid(where, "the name is used twice");
  }
  return absl::OkStatus();
}

absl::Status CheckVocabulary(const ModelFile& model) {
  std::map<absl::string_view, int> ids;
  for (int k = 0; k < model.vocabulary_size(); ++k) {
    auto [it, fresh] = ids.emplace(model.vocabulary(k), k);
    if (!fresh) {
      return Invalid("vocabulary", absl::StrCat("token '", model.vocabulary(k),
                                                "' appears twice (ids ", it->second, " and ", k,
                                                ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckCheckpoint(const Checkpoint& c) {
  if (c.step() < 0) return Invalid("checkpoint", absl::StrCat("step ", c.step(), " is negative"));
  GF_RETURN_IF_ERROR(CheckNamedTensors(c.optimizer_state(), "optimizer state"));
  if (c.optimizer_state_size() > 0 && c.optimizer().empty()) {
    return Invalid("checkpoint", "has optimizer state but no optimizer name");
  }
  return absl::OkStatus();
}

// The nodes of a network or of a subgraph: `defined` holds the names visible
// there (a subgraph sees its enclosing scopes), node names are unique across all.
absl::Status CheckNodes(const NetworkProto& net, const std::string& scope,
                        std::set<std::string>& defined, std::set<std::string>& node_names) {
  for (int k = 0; k < net.nodes_size(); ++k) {
    const NetworkNodeProto& node = net.nodes(k);
    const std::string where = absl::StrCat(scope, "node ", k, " '", node.name(), "'");
    if (node.op().empty()) return Invalid(where, "has no op");
    if (node.name().empty() || !node_names.insert(node.name()).second) {
      return Invalid(where, "needs a name of its own");
    }
    for (const NetworkAttributeProto& a : node.attributes()) {
      if (a.name().empty() || a.kind() == NetworkAttributeProto::KIND_UNSPECIFIED) {
        return Invalid(where, absl::StrCat("attribute '", a.name(), "' has no name or kind"));
      }
      if (a.kind() != NetworkAttributeProto::GRAPH) continue;
      const std::string body = absl::StrCat(where, " attribute '", a.name(), "'");
      std::set<std::string> inner = defined;
      for (const NetworkValueProto& v : a.g().inputs()) {
        if (v.name().empty() || !inner.insert(v.name()).second) {
          return Invalid(body, absl::StrCat("input '", v.name(), "' has no name or one in use"));
        }
      }
      GF_RETURN_IF_ERROR(CheckNodes(a.g(), body + ": ", inner, node_names));
      for (const NetworkValueProto& v : a.g().outputs()) {
        if (!inner.count(v.name())) {
          return Invalid(body, absl::StrCat("output '", v.name(), "' is computed by no node"));
        }
      }
    }
    for (const CellSourceProto& cell : node.cells()) {
      absl::Status st = CheckCell(cell);
      if (!st.ok()) return Invalid(where, st.message());
    }
    for (const std::string& out : node.outputs()) {
      if (!out.empty() && !defined.insert(out).second) {
        return Invalid(where, absl::StrCat("output '", out, "' is defined twice"));
      }
    }
  }
  return absl::OkStatus();
}

// The network's structure; what each op makes of its attributes is checked when
// models/onnx/network.h builds it.
absl::Status CheckNetwork(const ModelFile& model) {
  const NetworkProto& net = model.network();
  std::set<std::string> defined, node_names;
  for (const TensorProto& p : model.parameters()) defined.insert(p.name());
  for (const NetworkValueProto& v : net.inputs()) {
    if (v.name().empty()) return Invalid("network", "an input has no name");
    if (!defined.insert(v.name()).second) {
      return Invalid("network", absl::StrCat("input '", v.name(), "' is declared twice"));
    }
  }
  GF_RETURN_IF_ERROR(CheckNodes(net, "network ", defined, node_names));
  for (const NetworkValueProto& v : net.outputs()) {
    if (!defined.count(v.name())) {
      return Invalid("network", absl::StrCat("output '", v.name(), "' is computed by no node"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateModelFile(const ModelFile& model) {
  if (model.has_cell()) GF_RETURN_IF_ERROR(CheckCell(model.cell()));
  GF_RETURN_IF_ERROR(CheckLayers(model));
  GF_RETURN_IF_ERROR(CheckNamedTensors(model.parameters(), "parameter"));
  GF_RETURN_IF_ERROR(CheckVocabulary(model));
  if (model.has_checkpoint()) GF_RETURN_IF_ERROR(CheckCheckpoint(model.checkpoint()));
  if (model.has_network()) GF_RETURN_IF_ERROR(CheckNetwork(model));
  return absl::OkStatus();
}

absl::StatusOr<std::string> SerializeModelFile(const ModelFile& model) {
  GF_RETURN_IF_ERROR(ValidateModelFile(model));
  if (model.ByteSizeLong() > static_cast<size_t>(INT_MAX) - 16) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the model is ", model.ByteSizeLong(), " bytes; one protobuf message holds under 2 GiB"));
  }
  // Deterministic: map fields in key order, so one model always gives one file.
  std::string payload;
  {
    google::protobuf::io::StringOutputStream raw(&payload);
    google::protobuf::io::CodedOutputStream coded(&raw);
    coded.SetSerializationDeterministic(true);
    if (!model.SerializeToCodedStream(&coded)) {
      return absl::InternalError("protobuf could not serialize the model");
    }
  }
  if (model.format_version() != kModelFormatVersion) {
    // format_version (field 1, varint) appended: for a scalar field that appears
    // twice, protobuf parsers keep the last value. Saves copying the parameters.
    payload.push_back(static_cast<char>(0x08));  // field 1, wire type 0
    for (uint32_t v = kModelFormatVersion; ; v >>= 7) {
      if (v < 0x80) {
        payload.push_back(static_cast<char>(v));
        break;
      }
      payload.push_back(static_cast<char>((v & 0x7f) | 0x80));
    }
  }
  return EncodeModelFileContainer(payload);
}

absl::StatusOr<ModelFile> ParseModelFileBytes(absl::string_view bytes) {
  GF_ASSIGN_OR_RETURN(const ModelFileContainer container, DecodeModelFileContainer(bytes));
  const absl::string_view payload = container.payload;
  if (payload.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the payload is ", payload.size(), " bytes; one protobuf message holds under 2 GiB"));
  }
  ModelFile model;
  if (!model.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::DataLossError("the payload is not a valid ModelFile protobuf message");
  }
  if (model.format_version() != container.version) {
    return absl::InvalidArgumentError(absl::StrCat("the payload says format ",
                                                   model.format_version(), " but the header says ",
                                                   container.version));
  }
  GF_RETURN_IF_ERROR(ValidateModelFile(model));
  return model;
}

absl::Status SaveModelFile(const ModelFile& model, const std::string& path,
                           const SaveModelFileOptions& options) {
  GF_ASSIGN_OR_RETURN(const std::string bytes, SerializeModelFile(model));
  return WriteFileAtomically(path, bytes, options);
}

absl::StatusOr<ModelFile> LoadModelFile(const std::string& path) {
  GF_ASSIGN_OR_RETURN(const std::string bytes, ReadFile(path));
  absl::StatusOr<ModelFile> model = ParseModelFileBytes(bytes);
  if (!model.ok()) {
    return absl::Status(model.status().code(), absl::StrCat(path, ": ", model.status().message()));
  }
  return model;
}

}  // namespace gatefuse
