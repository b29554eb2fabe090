// ONNX's LSTM, GRU and RNN nodes in a Network (network.h): each direction's cell
// compiled by the standard passes (fused when recognised), run over the sequence
// with ONNX's semantics by models/nn/sequence_runner.h: sequences padded at the
// end, initial states given or zero, the reverse direction over the real steps
// only, outputs zero after a sequence's length, Y_h and Y_c the states after its
// last real step.
#include <memory>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "graph/executor.h"
#include "models/cells/cell_language.h"
#include "models/nn/sequence_runner.h"
#include "models/onnx/int_tensor.h"
#include "models/onnx/onnx_cells.h"
#include "models/onnx/network.h"
#include "models/onnx/node_attrs.h"
#include "ops/ops.h"
#include "passes/pass.h"
#include "passes/recognize_cell.h"
#include "passes/standard_pipeline.h"

namespace gatefuse {
namespace {

struct Direction {
  Graph compiled;
  bool peepholes = false;
  std::vector<std::string> states;
  std::vector<std::string> param_names;  // the cell's ("W") ...
  std::vector<std::string> qualified;    // ... and the network's ("lstm_0.fwd.W")
  int64_t input_size = 0;
};

struct RecurrentNode {
  std::string where;
  int gates = 1;              // G: LSTM 4, GRU 3, RNN 1
  bool weights_folded = true;  // W, R, B, P are the cells' parameters, not inputs
  bool input_forget = false;
  int64_t hidden_size = 0;
  bool layout_batch_major = false;  // layout = 1
  bool reverse_only = false;        // direction = reverse
  std::vector<Direction> directions;
};

absl::Status Invalid(const std::string& where, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", what));
}

// The state `name` of direction d among initial_h / initial_c [D, B, H].
VarOr DirectionSlice(const Var& v, int d, int64_t B, int64_t H) {
  GF_ASSIGN_OR_RETURN(Var s, Slice(v, 0, d, d + 1));
  return Reshape(s, Shape{B, H});
}

absl::StatusOr<std::vector<Var>> RunNode(const RecurrentNode& node, const NetworkNodeProto& proto,
                                         const std::vector<Var>& in,
                                         const std::map<std::string, Var>& params) {
  const std::string& where = node.where;
  const int64_t H = node.hidden_size;
  const int D = static_cast<int>(node.directions.size());
  Var x = in[0];
  if (!x.defined() || x.dtype() == DType::kI64 || x.shape().rank() != 3) {
    return Invalid(where, "X must be a floating tensor of rank 3");
  }
  if (node.layout_batch_major) {
    GF_ASSIGN_OR_RETURN(x, Transpose(x, {1, 0, 2}));
  }
  const int64_t T = x.shape()[0], B = x.shape()[1];
  if (x.shape()[2] != node.directions[0].input_size) {
    return Invalid(where, absl::StrCat("X has ", x.shape()[2], " features, the weights take ",
                                       node.directions[0].input_size));
  }
  if (T < 1 || B < 1) return Invalid(where, absl::StrCat("X ", in[0].shape().ToString(), " is empty"));
  DirectionOptions options{.padding = Padding::kPost};
  if (in[4].defined()) {
    if (in[4].dtype() != DType::kI64 || in[4].shape() != Shape{B}) {
      return Invalid(where, absl::StrCat("sequence_lens must be integers [", B, "], got ",
                                         in[4].shape().ToString()));
    }
    options.lengths = int_tensor::Values(in[4].value());
    for (int64_t b = 0; b < B; ++b) {
      if (options.lengths[b] < 0 || options.lengths[b] > T) {
        return Invalid(where, absl::StrCat("sequence_lens[", b, "] = ", options.lengths[b],
                                           " is outside [0, ", T, "]"));
      }
    }
  }
  // initial_h / initial_c as [D, B, H].
  std::vector<Var> initial(2);
  for (int k = 0; k < 2; ++k) {
    const Var& given = in[5 + k < static_cast<int>(in.size()) ? 5 + k : 0];
    if (5 + k >= static_cast<int>(in.size()) || !in[5 + k].defined()) continue;
    Var v = given;
    if (node.layout_batch_major && v.shape().rank() == 3) {
      GF_ASSIGN_OR_RETURN(v, Transpose(v, {1, 0, 2}));
    }
    if (v.dtype() != x.dtype() || v.shape() != Shape{D, B, H}) {
      return Invalid(where, absl::StrCat(k == 0 ? "initial_h" : "initial_c", " must be ",
                                         node.layout_batch_major ? "[B, D, H] = " : "[D, B, H] = ",
                                         node.layout_batch_major ? Shape{B, D, H}.ToString()
                                                                 : Shape{D, B, H}.ToString(),
                                         ", got ", given.shape().ToString()));
    }
    initial[k] = v;
  }
  std::vector<Var> ys, finals[2];
  for (int d = 0; d < D; ++d) {
    const Direction& dir = node.directions[d];
    std::map<std::string, Var> cell_params;
    if (node.weights_folded) {
      for (size_t p = 0; p < dir.param_names.size(); ++p) {
        cell_params[dir.param_names[p]] = params.at(dir.qualified[p]);
      }
    } else {
      // The weights as inputs, converted on the tape.
      const OnnxCellSpec spec{.op = proto.op(), .input_forget = node.input_forget,
                              .peepholes = dir.peepholes};
      absl::StatusOr<std::map<std::string, Var>> p = OnnxCellParamsFromWeights(
          spec, H, dir.input_size, d, in[1], in[2], in[3],
          in.size() > 7 ? in[7] : Var());
      if (!p.ok()) return Invalid(where, std::string(p.status().message()));
      cell_params = *std::move(p);
    }
    DirectionOptions o = options;
    o.reverse = d == 1 || node.reverse_only;
    if (initial[0].defined() || initial[1].defined()) {
      for (size_t s = 0; s < dir.states.size(); ++s) {
        if (initial[s].defined()) {
          GF_ASSIGN_OR_RETURN(Var v, DirectionSlice(initial[s], d, B, H));
          o.initial_states.push_back(v);
        } else {
          o.initial_states.push_back(Var::Constant(Tensor::Zeros({B, H}, x.dtype())));
        }
      }
    }
    GF_ASSIGN_OR_RETURN(DirectionResult r,
                        RunCellDirection({.cell = dir.compiled, .states = dir.states,
                                          .params = cell_params, .hidden_size = H},
                                         x, o));
    ys.push_back(r.y);
    for (size_t s = 0; s < r.final_states.size() && s < 2; ++s) finals[s].push_back(r.final_states[s]);
  }
  // Y [T, D, B, H], Y_h and Y_c [D, B, H]; layout 1: [B, T, D, H] and [B, D, H].
  std::vector<Var> out(proto.outputs_size());
  if (proto.outputs_size() > 0 && !proto.outputs(0).empty()) {
    std::vector<VarOr> parts;
    for (const Var& y : ys) parts.push_back(Reshape(y, Shape{T, 1, B, H}));
    GF_ASSIGN_OR_RETURN(Var y, parts.size() == 1 ? parts[0] : Concat(parts, 1));
    if (node.layout_batch_major) {
      GF_ASSIGN_OR_RETURN(y, Transpose(y, {2, 0, 1, 3}));
    }
    out[0] = y;
  }
  for (int k = 0; k < 2; ++k) {
    if (proto.outputs_size() <= k + 1 || proto.outputs(k + 1).empty()) continue;
    std::vector<VarOr> parts;
    for (const Var& f : finals[k]) parts.push_back(Reshape(f, Shape{1, B, H}));
    GF_ASSIGN_OR_RETURN(Var s, parts.size() == 1 ? parts[0] : Concat(parts, 0));
    if (node.layout_batch_major) {
      GF_ASSIGN_OR_RETURN(s, Transpose(s, {1, 0, 2}));
    }
    out[k + 1] = s;
  }
  return out;
}

}  // namespace

absl::StatusOr<NodeFn> MakeRecurrentNodeFn(const NetworkNodeProto& proto,
                                           const NodeContext& context) {
  NodeAttrs a(proto);
  auto node = std::make_shared<RecurrentNode>();
  node->where = a.Where();
  GF_ASSIGN_OR_RETURN(node->hidden_size, a.Int("hidden_size", 0));
  GF_ASSIGN_OR_RETURN(const std::string direction, a.String("direction", "forward"));
  GF_ASSIGN_OR_RETURN(const int64_t layout, a.Int("layout", 0));
  // Read at import to write the cells; the cells are what runs.
  for (const char* s : {"activations"}) GF_RETURN_IF_ERROR(a.Strings(s).status());
  for (const char* s : {"activation_alpha", "activation_beta"}) {
    GF_RETURN_IF_ERROR(a.Floats(s).status());
  }
  GF_RETURN_IF_ERROR(a.Float("clip", 0).status());
  GF_ASSIGN_OR_RETURN(const int64_t input_forget, a.Int("input_forget", 0));
  node->input_forget = input_forget != 0;
  GF_RETURN_IF_ERROR(a.Int("linear_before_reset", 0).status());
  GF_RETURN_IF_ERROR(a.CheckAllRead());
  if (node->hidden_size < 1) return Invalid(node->where, "hidden_size must be positive");
  if (direction != "forward" && direction != "reverse" && direction != "bidirectional") {
    return Invalid(node->where, absl::StrCat("direction '", direction,
                                             "' is not forward, reverse or bidirectional"));
  }
  if (layout != 0 && layout != 1) return Invalid(node->where, "layout must be 0 or 1");
  node->layout_batch_major = layout == 1;
  node->reverse_only = direction == "reverse";
  const int D = direction == "bidirectional" ? 2 : 1;
  if (proto.cells_size() != D) {
    return Invalid(node->where, absl::StrCat("has ", proto.cells_size(), " cells for ", D,
                                             " direction(s)"));
  }
  const bool lstm = proto.op() == "LSTM";
  if (proto.inputs_size() != (lstm ? 8 : 6) || proto.outputs_size() > (lstm ? 3 : 2)) {
    return Invalid(node->where, absl::StrCat("takes ONNX's ", lstm ? 8 : 6,
                                             " inputs (the weights empty where they are the "
                                             "cells' parameters) and gives at most ",
                                             lstm ? "Y, Y_h, Y_c" : "Y, Y_h"));
  }
  if (proto.inputs(0).empty()) return Invalid(node->where, "input X is required");
  node->gates = lstm ? 4 : proto.op() == "GRU" ? 3 : 1;
  node->weights_folded = proto.inputs(1).empty();
  if (proto.inputs(1).empty() != proto.inputs(2).empty() ||
      (node->weights_folded && !proto.inputs(3).empty())) {
    return Invalid(node->where, "has some weights as inputs and others folded into its cells");
  }
  for (int d = 0; d < D; ++d) {
    const CellSourceProto& src = proto.cells(d);
    const std::string tag = absl::StrCat(node->where, ", ", d == 0 ? "first" : "second",
                                         " direction's cell");
    absl::StatusOr<CellSource> parsed = ParseCellSource(src.cell_text(), tag);
    if (!parsed.ok()) return Invalid(tag, std::string(parsed.status().message()));
    std::map<std::string, int64_t> sizes(src.sizes().begin(), src.sizes().end());
    absl::StatusOr<Graph> traced = CompileCell(*parsed, sizes, context.options.dtype);
    if (!traced.ok()) return Invalid(tag, std::string(traced.status().message()));
    GF_ASSIGN_OR_RETURN(Cell cell, CellFromGraph(*traced));
    if (cell.hidden_size != node->hidden_size) {
      return Invalid(tag, absl::StrCat("has hidden size ", cell.hidden_size, ", the node ",
                                       node->hidden_size));
    }
    Direction dir;
    dir.states = cell.states;
    for (const CellParam& p : cell.params) dir.peepholes = dir.peepholes || p.name == "Pi";
    if (!node->weights_folded && lstm && dir.peepholes == proto.inputs(7).empty()) {
      return Invalid(tag, "declares a parameter P exactly when the node has a P input");
    }
    dir.input_size = cell.input_size;
    if (dir.states.size() != (proto.op() == "LSTM" ? 2u : 1u)) {
      return Invalid(tag, absl::StrCat("has ", dir.states.size(), " states; ", proto.op(),
                                       " needs ", proto.op() == "LSTM" ? 2 : 1));
    }
    const std::string prefix = absl::StrCat(proto.name(), d == 0 ? ".fwd." : ".bwd.");
    for (const CellParam& p : cell.params) {
      const std::string q = prefix + p.name;
      if (!node->weights_folded) continue;
      auto it = context.param_shapes.find(q);
      if (it == context.param_shapes.end() || it->second != p.shape) {
        return Invalid(tag, absl::StrCat("parameter '", q, "' ",
                                         it == context.param_shapes.end()
                                             ? "is missing"
                                             : absl::StrCat("is ", it->second.ToString()),
                                         "; the cell needs ", p.shape.ToString()));
      }
      dir.param_names.push_back(p.name);
      dir.qualified.push_back(q);
    }
    Pipeline pipeline;
    AddStandardPasses(pipeline, {.recognize = context.options.recognize});
    dir.compiled = *traced;
    GF_RETURN_IF_ERROR(pipeline.Run(dir.compiled).status());
    GF_ASSIGN_OR_RETURN(SequencePath path, ChooseSequencePath(dir.compiled, context.options.dtype));
    if (context.path_lines != nullptr) {
      context.path_lines->push_back(absl::StrCat("path: ", path.ToString(), " (", proto.name(),
                                                 d == 0 ? ".fwd)" : ".bwd)"));
    }
    node->directions.push_back(std::move(dir));
  }
  return NodeFn([node, &proto](const std::vector<Var>& in, const std::map<std::string, Var>& params) {
    return RunNode(*node, proto, in, params);
  });
}

}  // namespace gatefuse
