#include "models/nn/recurrent.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status.h"
#include "graph/executor.h"
#include "models/cells/cell_graph.h"
#include "models/cells/cell_language.h"
#include "models/nn/sequence_runner.h"
#include "ops/cell_kinds.h"
#include "ops/ops.h"
#include "passes/recognize_cell.h"
#include "passes/standard_pipeline.h"

namespace gatefuse {
namespace {

// The dtype a stored cell graph computes in (that of its input x).
DType GraphDType(const Graph& graph) {
  for (NodeId id : graph.Inputs()) {
    const NodeData& n = graph.node(id);
    if (n.role == InputRole::kInput) return n.outputs[0].dtype;
  }
  return DType::kF32;
}

absl::Status CheckCppSpec(const CellSpec& spec) {
  if (spec.name.empty()) {
    return absl::InvalidArgumentError("recurrent layer: a C++ cell needs a name");
  }
  const std::vector<std::string> kinds = BuiltinCellKinds();
  if (std::find(kinds.begin(), kinds.end(), CanonicalCellKind(spec.name)) != kinds.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "recurrent layer: the C++ cell '", spec.name,
        "' has the name of a builtin kind; a saved model would load as that kind (choose another)"));
  }
  if (!spec.factory && spec.graphs.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("recurrent layer: the C++ cell '", spec.name, "' has no factory"));
  }
  return absl::OkStatus();
}

// The cell of layer `layer` and its traced (unfused) step graph.
absl::Status MakeCell(const CellSpec& spec, int layer, int64_t input_size,
                      const RecurrentOptions& options, Cell& cell, Graph& graph) {
  if (!spec.builtin.empty()) {
    GF_ASSIGN_OR_RETURN(cell, BuiltinCell(spec.builtin, input_size, options.hidden_size));
    GF_ASSIGN_OR_RETURN(graph, TraceCell(cell, options.dtype));
    return absl::OkStatus();
  }
  if (!spec.cell_text.empty()) {
    GF_ASSIGN_OR_RETURN(CellSource src, ParseCellSource(spec.cell_text, spec.cell_filename));
    GF_ASSIGN_OR_RETURN(graph, CompileCell(src, {{"I", input_size}, {"H", options.hidden_size}},
                                           options.dtype, kTraceBatch));
    GF_ASSIGN_OR_RETURN(cell, CellFromGraph(graph));
    return absl::OkStatus();
  }
  GF_RETURN_IF_ERROR(CheckCppSpec(spec));
  const std::string where = absl::StrCat("recurrent layer: cell '", spec.name, "' (layer ", layer, ")");
  if (spec.factory) {
    absl::StatusOr<Cell> made = spec.factory(input_size, options.hidden_size);
    if (!made.ok()) {
      return absl::Status(made.status().code(), absl::StrCat(where, ": ", made.status().message()));
    }
    cell = *std::move(made);
    if (cell.input_size != input_size || cell.hidden_size != options.hidden_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": the factory made a cell of input size ", cell.input_size, " and hidden size ",
          cell.hidden_size, " when asked for ", input_size, " and ", options.hidden_size));
    }
    if (cell.kind != spec.name) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": the factory's cell is named '",
                                                     cell.kind, "'; name it '", spec.name, "'"));
    }
    absl::StatusOr<Graph> traced = TraceCell(cell, options.dtype);
    if (!traced.ok()) {
      return absl::Status(traced.status().code(),
                          absl::StrCat(where, ": ", traced.status().message()));
    }
    graph = *std::move(traced);
    return absl::OkStatus();
  }
  // Stored graphs: the first layer's, then the one every deeper layer shares.
  const size_t k = layer == 0 ? 0 : 1;
  if (k >= spec.graphs.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": no stored step graph for layers above the first"));
  }
  graph = spec.graphs[k];
  if (GraphDType(graph) != options.dtype) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": the stored step graph is ",
                                                   DTypeName(GraphDType(graph)), ", the layer ",
                                                   DTypeName(options.dtype)));
  }
  GF_ASSIGN_OR_RETURN(cell, CellFromGraph(graph));
  if (cell.input_size != input_size) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": the stored step graph takes inputs of ",
                                                   cell.input_size, " features, the layer gives ",
                                                   input_size));
  }
  return absl::OkStatus();
}

}  // namespace

CellSpec CellSpec::Cpp(std::string name, CellFactory factory) {
  CellSpec spec;
  spec.name = std::move(name);
  spec.factory = std::move(factory);
  return spec;
}

std::string CellSpec::DisplayName() const {
  if (!builtin.empty()) return builtin;
  return cell_text.empty() ? name : cell_filename;
}

absl::StatusOr<CellSpec> CellSpecFromFlag(const std::string& flag) {
  CellSpec spec;
  if (absl::EndsWith(flag, ".cell")) {
    GF_ASSIGN_OR_RETURN(CellSource src, ReadCellFile(flag));
    spec.cell_text = src.text;
    spec.cell_filename = flag;
    return spec;
  }
  // Old spellings (peephole_lstm, cifg_lstm) name their canonical kind.
  const std::string kind = CanonicalCellKind(flag);
  const std::vector<std::string> kinds = BuiltinCellKinds();
  if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cell '", flag, "' is neither a builtin kind (",
                     absl::StrJoin(kinds, ", "), ") nor a file ending in .cell"));
  }
  spec.builtin = kind;
  return spec;
}

absl::StatusOr<Recurrent> Recurrent::Create(const CellSpec& spec, const RecurrentOptions& options,
                                            uint64_t seed) {
  if (options.input_size < 1 || options.hidden_size < 1 || options.num_layers < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "recurrent layer: input_size, hidden_size and num_layers must be positive, got ",
        options.input_size, ", ", options.hidden_size, ", ", options.num_layers));
  }
  if (options.merge != "concat" && options.merge != "sum") {
    return absl::InvalidArgumentError(absl::StrCat(
        "recurrent layer: merge must be 'concat' or 'sum', got '", options.merge, "'"));
  }
  Recurrent r;
  r.spec_ = spec;
  r.options_ = options;
  const int num_dirs = options.bidirectional ? 2 : 1;
  int64_t input_size = options.input_size;
  uint64_t index = 0;
  for (int l = 0; l < options.num_layers; ++l) {
    Layer layer;
    Graph traced;
    GF_RETURN_IF_ERROR(MakeCell(spec, l, input_size, options, layer.cell, traced));
    if (layer.cell.states.empty() || layer.cell.hidden_size != options.hidden_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("recurrent layer: cell ", spec.DisplayName(), " has hidden size ",
                       layer.cell.hidden_size, ", expected ", options.hidden_size));
    }
    Pipeline pipeline;
    AddStandardPasses(pipeline, {.recognize = options.recognize});
    Graph compiled = traced;
    GF_RETURN_IF_ERROR(pipeline.Run(compiled).status());
    r.fusion_ = FusionKind(compiled);
    layer.source = traced;
    for (int d = 0; d < num_dirs; ++d) {
      Direction dir;
      dir.compiled = compiled;
      GF_ASSIGN_OR_RETURN(dir.path, ChooseSequencePath(compiled, options.dtype));
      dir.params = InitParams(layer.cell, options.dtype, seed + index++);
      for (const auto& [name, v] : dir.params) {
        r.params_[absl::StrCat("l", l, d == 0 ? ".fwd." : ".bwd.", name)] = v;
      }
      layer.directions.push_back(std::move(dir));
    }
    r.layers_.push_back(std::move(layer));
    input_size = r.output_size();
  }
  return r;
}

std::vector<std::string> Recurrent::PathLines() const {
  std::vector<std::string> lines;
  bool uniform = true;
  for (const Layer& layer : layers_) {
    for (const Direction& dir : layer.directions) {
      uniform = uniform && dir.path.ToString() == layers_[0].directions[0].path.ToString();
    }
  }
  for (size_t l = 0; l < layers_.size(); ++l) {
    for (size_t d = 0; d < layers_[l].directions.size(); ++d) {
      const std::string path = layers_[l].directions[d].path.ToString();
      if (uniform) return {absl::StrCat("path: ", path)};
      lines.push_back(absl::StrCat("path: ", path, " (l", l, d == 0 ? ".fwd)" : ".bwd)"));
    }
  }
  return lines;
}

int64_t Recurrent::output_size() const {
  return options_.bidirectional && options_.merge == "concat" ? 2 * options_.hidden_size
                                                              : options_.hidden_size;
}

std::vector<Var> Recurrent::ParamList() const {
  std::vector<Var> out;
  for (const auto& [name, v] : params_) out.push_back(v);
  return out;
}

absl::StatusOr<RecurrentOutput> Recurrent::Forward(const Var& x, const Tensor& lengths) const {
  if (x.shape().rank() != 3 || x.shape()[2] != options_.input_size || x.dtype() != options_.dtype) {
    return absl::InvalidArgumentError(absl::StrCat(
        "recurrent layer: input must be ", DTypeName(options_.dtype), "[T, B, ",
        options_.input_size, "], got ", DTypeName(x.dtype()), x.shape().ToString()));
  }
  const int64_t T = x.shape()[0], B = x.shape()[1];
  if (T < 1 || B < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("recurrent layer: empty input ", x.shape().ToString()));
  }
  if (lengths.defined()) {
    if (lengths.dtype() != DType::kI64 || lengths.shape() != Shape{B}) {
      return absl::InvalidArgumentError(absl::StrCat("recurrent layer: lengths must be i64[", B,
                                                     "], got ", DTypeName(lengths.dtype()),
                                                     lengths.shape().ToString()));
    }
    for (int64_t b = 0; b < B; ++b) {
      const int64_t len = lengths.data<int64_t>()[b];
      if (len < 0 || len > T) {
        return absl::InvalidArgumentError(absl::StrCat(
            "recurrent layer: lengths[", b, "] = ", len, " is outside [0, T=", T, "]"));
      }
    }
  }
  RecurrentOutput out;
  Var input = x;
  for (const Layer& layer : layers_) {
    std::vector<Var> ys, lasts;
    for (size_t d = 0; d < layer.directions.size(); ++d) {
      Var last;
      GF_ASSIGN_OR_RETURN(Var y, RunDirection(layer, layer.directions[d], input, lengths,
                                              /*reverse=*/d == 1, &last));
      ys.push_back(y);
      lasts.push_back(last);
    }
    if (ys.size() == 1) {
      out.y = ys[0];
      out.last = lasts[0];
    } else if (options_.merge == "sum") {
      GF_ASSIGN_OR_RETURN(out.y, ys[0] + ys[1]);
      GF_ASSIGN_OR_RETURN(out.last, lasts[0] + lasts[1]);
    } else {
      GF_ASSIGN_OR_RETURN(out.y, Concat({ys[0], ys[1]}, 2));
      GF_ASSIGN_OR_RETURN(out.last, Concat({lasts[0], lasts[1]}, 1));
    }
    input = out.y;
  }
  return out;
}

absl::StatusOr<Var> Recurrent::RunDirection(const Layer& layer, const Direction& dir,
                                            const Var& x, const Tensor& lengths, bool reverse,
                                            Var* last) const {
  DirectionOptions options{.padding = Padding::kPre, .reverse = reverse};
  if (lengths.defined()) {
    options.lengths.assign(lengths.data<int64_t>(), lengths.data<int64_t>() + x.shape()[1]);
  }
  GF_ASSIGN_OR_RETURN(DirectionResult r,
                      RunCellDirection({.cell = dir.compiled, .states = layer.cell.states,
                                        .params = dir.params, .hidden_size = options_.hidden_size},
                                       x, options));
  *last = r.final_states[0];
  return r.y;
}

}  // namespace gatefuse
