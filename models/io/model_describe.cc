// DescribeModelFile (model_file.h): the text `gatefuse inspect` prints. Apart from the
// loader because it only reads a model that has already been validated.
#include "models/io/model_file.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "graph/serialize.h"
#include "graph/text.h"

namespace gatefuse {
namespace {

std::string ShapeString(const google::protobuf::RepeatedField<int64_t>& dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ","), "]");
}

std::string DTypeString(int dtype) {
  absl::StatusOr<DType> d = DTypeFromProto(dtype);
  return d.ok() ? std::string(DTypeName(*d)) : absl::StrCat("dtype", dtype);
}

int64_t ElementCount(const TensorProto& t) {
  int64_t n = 1;
  for (int64_t d : t.dims()) {
    if (__builtin_mul_overflow(n, d, &n)) return -1;
  }
  return n;
}

template <typename Map>
std::string SortedParams(const Map& m) {
  std::map<std::string, std::string> sorted;
  for (const auto& [k, v] : m) sorted[k] = absl::StrCat(v);
  return absl::StrJoin(sorted, ", ", absl::PairFormatter("="));
}

}  // namespace

std::string DescribeModelFile(const ModelFile& model) {
  std::string out = absl::StrCat("gatefuse model, format ", model.format_version(), "\n");
  if (model.has_cell()) {
    const CellSourceProto& c = model.cell();
    absl::StrAppend(&out, "cell: ", c.kind().empty() ? "(unnamed)" : c.kind());
    if (!c.sizes().empty()) absl::StrAppend(&out, " (", SortedParams(c.sizes()), ")");
    absl::StrAppend(&out, ", ",
                    c.dtype() == DTYPE_UNSPECIFIED ? "f32" : DTypeString(c.dtype()), "\n");
    if (!c.cell_text().empty()) {
      absl::StrAppend(&out, "  source", c.cell_filename().empty() ? "" : " ", c.cell_filename(),
                      ":\n");
      for (absl::string_view line : absl::StrSplit(c.cell_text(), '\n')) {
        if (!line.empty()) absl::StrAppend(&out, "    ", line, "\n");
      }
    }
    if (c.has_graph()) {
      absl::StrAppend(&out, "  graph ", c.graph().name(), ": ", c.graph().nodes_size(),
                      " nodes, ", c.graph().outputs_size(), " outputs (unfused equations):\n");
      // The file was validated on load, so the graph converts; its text form is
      // the equations as the compiler sees them.
      absl::StatusOr<Graph> g = FromProto(c.graph());
      if (g.ok()) {
        for (absl::string_view line : absl::StrSplit(PrintGraph(*g), '\n')) {
          if (!line.empty()) absl::StrAppend(&out, "    ", line, "\n");
        }
      }
    }
    if (c.has_deep_graph()) {
      absl::StrAppend(&out, "  graph of the layers above the first: ", c.deep_graph().nodes_size(),
                      " nodes (the same equations over the layer below's outputs)\n");
    }
  } else {
    out += "cell: none\n";
  }
  if (model.has_network()) {
    const NetworkProto& net = model.network();
    absl::StrAppend(&out, "network (imported from ONNX, opset ", net.opset(), ", producer '",
                    net.producer(), "'): ", net.nodes_size(), " nodes\n");
    auto value = [](const NetworkValueProto& v) {
      std::vector<std::string> dims;
      for (int64_t d : v.dims()) dims.push_back(d < 0 ? "?" : absl::StrCat(d));
      return absl::StrCat(v.name(), " ", v.elem_type(), "[", absl::StrJoin(dims, ","), "]");
    };
    for (const NetworkValueProto& v : net.inputs()) absl::StrAppend(&out, "  input ", value(v), "\n");
    for (const NetworkValueProto& v : net.outputs()) absl::StrAppend(&out, "  output ", value(v), "\n");
    for (const NetworkNodeProto& n : net.nodes()) {
      absl::StrAppend(&out, "  ", n.op(), " '", n.name(), "': (", absl::StrJoin(n.inputs(), ", "),
                      ") -> (", absl::StrJoin(n.outputs(), ", "), ")\n");
      for (const CellSourceProto& c : n.cells()) {
        absl::StrAppend(&out, "    cell ", c.cell_filename(), " (", SortedParams(c.sizes()), "):\n");
        for (absl::string_view line : absl::StrSplit(c.cell_text(), '\n')) {
          if (!line.empty()) absl::StrAppend(&out, "      ", line, "\n");
        }
      }
    }
  }
  absl::StrAppend(&out, "layers: ", model.layers_size(), "\n");
  for (const LayerConfig& l : model.layers()) {
    std::vector<std::string> params;
    if (!l.int_params().empty()) params.push_back(SortedParams(l.int_params()));
    if (!l.float_params().empty()) params.push_back(SortedParams(l.float_params()));
    if (!l.string_params().empty()) params.push_back(SortedParams(l.string_params()));
    absl::StrAppend(&out, "  ", l.name(), ": ", l.type());
    if (!params.empty()) absl::StrAppend(&out, " {", absl::StrJoin(params, ", "), "}");
    out += "\n";
  }
  int64_t total = 0;
  for (const TensorProto& t : model.parameters()) total += std::max<int64_t>(0, ElementCount(t));
  absl::StrAppend(&out, "parameters: ", model.parameters_size(), " tensors, ", total,
                  " values\n");
  for (const TensorProto& t : model.parameters()) {
    absl::StrAppend(&out, "  ", t.name(), " ", DTypeString(t.dtype()), ShapeString(t.dims()), " ",
                    ElementCount(t), "\n");
  }
  absl::StrAppend(&out, "vocabulary: ", model.vocabulary_size(), " tokens\n");
  if (!model.metadata().empty()) {
    out += "metadata:\n";
    std::map<std::string, std::string> sorted(model.metadata().begin(), model.metadata().end());
    for (const auto& [k, v] : sorted) absl::StrAppend(&out, "  ", k, " = ", v, "\n");
  }
  if (model.has_checkpoint()) {
    const Checkpoint& c = model.checkpoint();
    absl::StrAppend(&out, "checkpoint: step ", c.step(), ", optimizer ",
                    c.optimizer().empty() ? "(none)" : c.optimizer());
    if (!c.optimizer_config().empty()) {
      absl::StrAppend(&out, " {", SortedParams(c.optimizer_config()), "}");
    }
    absl::StrAppend(&out, ", ", c.optimizer_state_size(), " state tensors, rng state ",
                    c.rng_state().size(), " bytes, ", c.metrics_size(), " metric records\n");
    if (c.metrics_size() > 0) {
      const MetricRecord& last = c.metrics(c.metrics_size() - 1);
      absl::StrAppend(&out, "  last metrics: step ", last.step(), " epoch ", last.epoch());
      if (!last.values().empty()) absl::StrAppend(&out, " ", SortedParams(last.values()));
      out += "\n";
    }
  } else {
    out += "checkpoint: none\n";
  }
  return out;
}

}  // namespace gatefuse
