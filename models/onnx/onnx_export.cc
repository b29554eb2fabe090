#include "models/onnx/onnx_export.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/status.h"
#include "graph/executor.h"
#include "models/onnx/onnx_attributes.h"
#include "models/onnx/onnx_export_internal.h"
#include "models/onnx/onnx_tensor.h"
#include "onnx/checker.h"
#include "ops/cell_kinds.h"
#include "ops/fused_cell.h"
#include "ops/ops.h"

namespace gatefuse {
namespace {

using onnx_export::GraphWriter;
using onnx_export::SetType;

absl::Status Refused(const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("export: ", why));
}

// The role values of one (layer, direction)'s fused cell, evaluated from its
// parameters (`prefix` + the cell's parameter name in `params`).
absl::StatusOr<std::map<std::string, Tensor>> RoleValues(const Graph& cell,
                                                         const std::map<std::string, Var>& params,
                                                         const std::string& prefix,
                                                         std::string& kind) {
  NodeId fused = -1;
  for (NodeId id = 0; id < cell.num_node_slots(); ++id) {
    if (!cell.node(id).dead && cell.node(id).op == "FusedCell") fused = id;
  }
  if (fused < 0) {
    return Refused(absl::StrCat("the cell of ", prefix, "* is not fused where the first layer's is"));
  }
  const NodeData& d = cell.node(fused);
  kind = CanonicalCellKind(*d.attrs.GetString("FusedCell", "kind"));
  const std::vector<std::string> roles =
      absl::StrSplit(*d.attrs.GetString("FusedCell", "roles"), ',', absl::SkipEmpty());
  Graph eval = cell;
  const size_t first_role = d.inputs.size() - roles.size();
  eval.mutable_outputs().clear();
  for (size_t k = 0; k < roles.size(); ++k) eval.AddOutput(roles[k], d.inputs[first_role + k]);
  std::map<std::string, Tensor> inputs;
  for (NodeId id : cell.Inputs()) {
    const NodeData& in = cell.node(id);
    if (in.role == InputRole::kParam) {
      auto it = params.find(prefix + in.name);
      if (it == params.end()) return absl::InternalError("no parameter " + prefix + in.name);
      inputs[in.name] = it->second.value();
    } else {
      inputs[in.name] = Tensor::Zeros({1, in.outputs[0].shape[1]}, in.outputs[0].dtype);
    }
  }
  GF_ASSIGN_OR_RETURN(std::vector<Tensor> values, ExecuteGraph(eval, inputs));
  std::map<std::string, Tensor> out;
  for (size_t k = 0; k < roles.size(); ++k) out[roles[k]] = values[k];
  return out;
}

struct OnnxCell {
  std::string op;                  // LSTM, GRU, RNN
  std::vector<std::string> gates;  // ONNX's gate order, as gatefuse's gate letters
  bool peepholes = false, input_forget = false, linear_before_reset = false;
  std::string activation;          // RNN
};

absl::StatusOr<OnnxCell> OnnxCellOf(const std::string& kind) {
  if (kind == "lstm") return OnnxCell{"LSTM", {"i", "o", "f", "g"}};
  if (kind == "peephole") return OnnxCell{"LSTM", {"i", "o", "f", "g"}, true};
  if (kind == "cifg") return OnnxCell{"LSTM", {"i", "o", "f", "g"}, false, true};
  if (kind == "gru") return OnnxCell{"GRU", {"z", "r", "n"}};
  if (kind == "gru_lbr") return OnnxCell{"GRU", {"z", "r", "n"}, false, false, true};
  if (kind == "rnn_tanh") return OnnxCell{"RNN", {""}, false, false, false, "Tanh"};
  if (kind == "rnn_relu") return OnnxCell{"RNN", {""}, false, false, false, "Relu"};
  return Refused(absl::StrCat("cell kind ", kind, " has no ONNX recurrent op"));
}

// Copies role `role` ([rows, H], or [H] for a vector) transposed into
// dst[offset + j * rows + i] for unit j, row i.
void PutTransposed(const std::map<std::string, Tensor>& roles, const std::string& role,
                   float* dst, int64_t rows, int64_t H) {
  auto it = roles.find(role);
  if (it == roles.end()) return;  // absent: zero (cifg's forget gate, a missing bias)
  const float* src = it->second.data<float>();
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < H; ++j) dst[j * rows + i] = src[i * H + j];
  }
}

// One ONNX recurrent node for layer `l`: its weights from both directions.
absl::StatusOr<std::string> RecurrentNode(GraphWriter& w, const TaskModel& model, int l,
                                          const std::string& x, int64_t I) {
  const Recurrent& rnn = model.recurrent();
  const int64_t H = rnn.options().hidden_size;
  const int dirs = rnn.options().bidirectional ? 2 : 1;
  std::vector<std::map<std::string, Tensor>> roles(dirs);
  std::string kind;
  for (int d = 0; d < dirs; ++d) {
    const std::string prefix = absl::StrCat("recurrent.l", l, d == 0 ? ".fwd." : ".bwd.");
    absl::StatusOr<std::map<std::string, Tensor>> r =
        RoleValues(rnn.compiled_cell(l), model.params(), prefix, kind);
    GF_RETURN_IF_ERROR(r.status());
    roles[d] = *std::move(r);
  }
  GF_ASSIGN_OR_RETURN(const OnnxCell c, OnnxCellOf(kind));
  const int64_t G = c.gates.size();
  Tensor W = Tensor::Zeros({dirs, G * H, I}, DType::kF32);
  Tensor R = Tensor::Zeros({dirs, G * H, H}, DType::kF32);
  Tensor B = Tensor::Zeros({dirs, 2 * G * H}, DType::kF32);
  Tensor P = Tensor::Zeros({dirs, 3 * H}, DType::kF32);
  for (int d = 0; d < dirs; ++d) {
    for (int64_t k = 0; k < G; ++k) {
      const std::string& g = c.gates[k];
      PutTransposed(roles[d], RoleName("W", g), W.data<float>() + (d * G + k) * H * I, I, H);
      PutTransposed(roles[d], RoleName("U", g), R.data<float>() + (d * G + k) * H * H, H, H);
      PutTransposed(roles[d], RoleName("b", g), B.data<float>() + d * 2 * G * H + k * H, 1, H);
    }
    // The recurrent bias of GRU's candidate: Rb of gate h (z r h).
    PutTransposed(roles[d], "bh_n", B.data<float>() + d * 2 * G * H + (G + 2) * H, 1, H);
    const std::vector<std::string> p_order = {"p_i", "p_o", "p_f"};
    for (int k = 0; k < 3; ++k) {
      PutTransposed(roles[d], p_order[k], P.data<float>() + d * 3 * H + k * H, 1, H);
    }
  }
  const std::string name = absl::StrCat("recurrent.l", l);
  w.Initializer(name + ".W", W);
  w.Initializer(name + ".R", R);
  w.Initializer(name + ".B", B);
  std::vector<std::string> inputs = {x, name + ".W", name + ".R", name + ".B", "sequence_lens"};
  if (c.peepholes) {
    w.Initializer(name + ".P", P);
    inputs.insert(inputs.end(), {"", "", name + ".P"});
  }
  std::vector<std::string> outputs = {name + ".Y", name + ".Y_h"};
  if (c.op == "LSTM") outputs.push_back(name + ".Y_c");
  onnx::NodeProto* n = w.Node(c.op, inputs, outputs);
  AddAttribute(n, "hidden_size", int64_t{H});
  AddAttribute(n, "direction", std::string(dirs == 2 ? "bidirectional" : "forward"));
  if (c.input_forget) AddAttribute(n, "input_forget", int64_t{1});
  if (c.op == "GRU") AddAttribute(n, "linear_before_reset", int64_t{c.linear_before_reset ? 1 : 0});
  if (c.op == "RNN") AddAttribute(n, "activations", std::vector<std::string>(dirs, c.activation));
  return name;
}

// The recurrent layers as ONNX's own nodes; returns the name of the summary [B, D].
absl::StatusOr<std::string> FusedLayers(GraphWriter& w, const TaskModel& model, std::string x,
                                        int64_t width) {
  // Pre-padded (gatefuse) to post-padded (ONNX): reverse each whole sequence of T
  // steps, then its first sequence_lens[b] steps, so its real steps come first in
  // their order. The recurrent nodes read sequence_lens and stop at each one's end.
  w.Node("Shape", {x}, {"input_shape"});
  w.Node("Gather", {"input_shape", w.Ints("index.time", {0})}, {"steps"});
  w.Node("Shape", {"lens64"}, {"batch_shape"});
  w.Node("Expand", {"steps", "batch_shape"}, {"full_lens"});
  for (const auto& [lens, out] : {std::pair<std::string, std::string>{"full_lens", "reversed"},
                                  {"lens64", "post_padded"}}) {
    onnx::NodeProto* r = w.Node("ReverseSequence", {x, lens}, {out});
    AddAttribute(r, "batch_axis", int64_t{1});
    AddAttribute(r, "time_axis", int64_t{0});
    x = out;
  }
  const Recurrent& rnn = model.recurrent();
  const std::string flat = w.Ints("shape.T_B_flat", {0, 0, -1});
  std::string last;
  for (int l = 0; l < rnn.options().num_layers; ++l) {
    GF_ASSIGN_OR_RETURN(const std::string name, RecurrentNode(w, model, l, x, width));
    // Y [T, dirs, B, H] -> [T, B, dirs * H], the next layer's input.
    AddAttribute(w.Node("Transpose", {name + ".Y"}, {name + ".Y_tbdh"}), "perm",
                 std::vector<int64_t>{0, 2, 1, 3});
    w.Node("Reshape", {name + ".Y_tbdh", flat}, {name + ".out"});
    x = name + ".out";
    width = rnn.output_size();
    last = name;
  }
  // The last layer's final h of each direction, concatenated: [dirs, B, H] -> [B, dirs*H].
  AddAttribute(w.Node("Transpose", {last + ".Y_h"}, {"last_bdh"}), "perm",
               std::vector<int64_t>{1, 0, 2});
  w.Node("Reshape", {"last_bdh", w.Ints("shape.B_flat", {0, -1})}, {"last"});
  return std::string("last");
}

// The recurrent layers of a custom cell as Scans over the pre-padded sequence, a
// mask keeping each sequence's states at its padded steps; returns the summary's name.
absl::StatusOr<std::string> ScanLayers(GraphWriter& w, const TaskModel& model, std::string x) {
  // mask[t, b] = t >= T - sequence_lens[b], as float [T, B, 1].
  w.Node("Shape", {x}, {"input_shape"});
  Tensor zero = Tensor::Zeros({}, DType::kI64), one = Tensor::Zeros({}, DType::kI64);
  one.data<int64_t>()[0] = 1;
  w.Initializer("int.zero", zero);
  w.Initializer("int.one", one);
  w.Node("Gather", {"input_shape", "int.zero"}, {"steps"});
  w.Node("Range", {"int.zero", "steps", "int.one"}, {"step_index"});
  w.Node("Sub", {"steps", "lens64"}, {"first_step"});
  w.Node("Unsqueeze", {"step_index", w.Ints("axes.1", {1})}, {"step_index_t1"});
  w.Node("Unsqueeze", {"first_step", w.Ints("axes.0", {0})}, {"first_step_1b"});
  w.Node("GreaterOrEqual", {"step_index_t1", "first_step_1b"}, {"real_step"});
  AddAttribute(w.Node("Cast", {"real_step"}, {"mask_tb"}), "to", int64_t{onnx::TensorProto::FLOAT});
  w.Node("Unsqueeze", {"mask_tb", w.Ints("axes.2", {2})}, {"mask"});
  const Recurrent& rnn = model.recurrent();
  const int dirs = rnn.options().bidirectional ? 2 : 1;
  std::vector<std::string> lasts;
  for (int l = 0; l < rnn.options().num_layers; ++l) {
    std::vector<std::string> ys;
    lasts.clear();
    for (int d = 0; d < dirs; ++d) {
      const std::string scope = absl::StrCat("recurrent.l", l, d == 0 ? ".fwd" : ".bwd");
      std::map<std::string, Tensor> params;
      for (const auto& [name, v] : model.params()) {
        if (absl::StartsWith(name, scope + ".")) params[name.substr(scope.size() + 1)] = v.value();
      }
      absl::StatusOr<onnx_export::ScanDirection> r = onnx_export::ExportScanDirection(
          w, rnn.compiled_cell(l), params, scope, x, "mask", /*reverse=*/d == 1);
      if (!r.ok()) {
        return Refused(absl::StrCat("layer ", l, ": cell '", rnn.spec().DisplayName(), "': ",
                                    absl::StripPrefix(r.status().message(), "export: ")));
      }
      ys.push_back(r->y);
      lasts.push_back(r->final_states[0]);
    }
    const std::string out = absl::StrCat("recurrent.l", l, ".out");
    if (dirs == 1) {
      w.Node("Identity", ys, {out});
    } else {
      AddAttribute(w.Node("Concat", ys, {out}), "axis", int64_t{2});
    }
    x = out;
  }
  if (dirs == 1) {
    w.Node("Identity", lasts, {"last"});
  } else {
    AddAttribute(w.Node("Concat", lasts, {"last"}), "axis", int64_t{1});
  }
  return std::string("last");
}

}  // namespace

std::string ExportedInputName(const TaskModel& model) {
  return model.config().task == Task::kAdding ? "x" : "tokens";
}

std::vector<std::string> ExportedOutputNames(const TaskModel& model) {
  switch (model.config().task) {
    case Task::kSentiment: return {"logit", "probability"};
    case Task::kLm: return {"logits", "probabilities"};
    case Task::kAdding: return {"prediction"};
  }
  return {};
}

absl::StatusOr<onnx::ModelProto> ExportTaskModel(const TaskModel& model,
                                                 const OnnxExportOptions& options) {
  if (options.opset < 14 || options.opset > 17) {
    return Refused(absl::StrCat("--opset ", options.opset, ": the exporter writes opsets 14 to 17"));
  }
  if (model.recurrent().options().merge != "concat") {
    return Refused("bidirectional outputs summed (merge=sum) are not exported");
  }
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.set_producer_name("gatefuse");
  m.set_model_version(1);
  onnx::OperatorSetIdProto* opset = m.add_opset_import();
  opset->set_domain("");
  opset->set_version(options.opset);
  onnx::GraphProto* g = m.mutable_graph();
  g->set_name(absl::StrCat("gatefuse_", TaskName(model.config().task)));
  GraphWriter w(g);
  const std::map<std::string, Var>& params = model.params();
  const Recurrent& rnn = model.recurrent();
  std::string x = ExportedInputName(model);
  int64_t width = 2;
  if (model.config().task == Task::kAdding) {
    SetType(g->add_input(), x, onnx::TensorProto::FLOAT, {"T", "B", ""}, {0, 0, 2});
  } else {
    SetType(g->add_input(), x, onnx::TensorProto::INT64, {"T", "B"}, {0, 0});
    const Tensor& table = params.at("embedding.table").value();
    w.Initializer("embedding.table", table);
    w.Node("Gather", {"embedding.table", x}, {"embedded"});
    x = "embedded";
    width = table.shape()[1];
  }
  SetType(g->add_input(), "sequence_lens", onnx::TensorProto::INT32, {"B"}, {0});
  AddAttribute(w.Node("Cast", {"sequence_lens"}, {"lens64"}), "to",
               int64_t{onnx::TensorProto::INT64});
  const bool fused = rnn.fusion() != "custom";
  GF_ASSIGN_OR_RETURN(const std::string last,
                      fused ? FusedLayers(w, model, x, width) : ScanLayers(w, model, x));
  w.Initializer("dense.W", params.at("dense.W").value());
  w.Initializer("dense.b", params.at("dense.b").value());
  w.Node("MatMul", {"last", "dense.W"}, {"dense_xw"});
  const std::vector<std::string> outs = ExportedOutputNames(model);
  w.Node("Add", {"dense_xw", "dense.b"}, {outs[0]});
  const int64_t out_width = params.at("dense.W").value().shape()[1];
  if (model.config().task == Task::kSentiment) w.Node("Sigmoid", {outs[0]}, {outs[1]});
  if (model.config().task == Task::kLm) w.Node("Softmax", {outs[0]}, {outs[1]});
  for (const std::string& o : outs) {
    SetType(g->add_output(), o, onnx::TensorProto::FLOAT, {"B", ""}, {0, out_width});
  }
  try {
    onnx::checker::check_model(m);
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("export: the ONNX checker refuses the exported model: ", e.what()));
  }
  return m;
}

absl::StatusOr<std::map<std::string, Tensor>> ExportedOutputs(const TaskModel& model,
                                                              const Tensor& input,
                                                              const Tensor& lengths) {
  GF_ASSIGN_OR_RETURN(Var out, model.Forward({input, lengths}, /*training=*/false, 0));
  const std::vector<std::string> names = ExportedOutputNames(model);
  std::map<std::string, Tensor> result = {{names[0], out.value()}};
  if (names.size() == 1) return result;
  const Tensor& v = out.value();
  Tensor p = Tensor::Zeros(v.shape(), DType::kF32);
  const int64_t B = v.shape()[0], n = v.shape()[1];
  const float* a = v.data<float>();
  float* q = p.data<float>();
  for (int64_t b = 0; b < B; ++b) {
    if (model.config().task == Task::kSentiment) {
      for (int64_t j = 0; j < n; ++j) q[b * n + j] = 1 / (1 + std::exp(-a[b * n + j]));
      continue;
    }
    double top = a[b * n], sum = 0;
    for (int64_t j = 1; j < n; ++j) top = std::max<double>(top, a[b * n + j]);
    for (int64_t j = 0; j < n; ++j) sum += std::exp(a[b * n + j] - top);
    for (int64_t j = 0; j < n; ++j) q[b * n + j] = std::exp(a[b * n + j] - top) / sum;
  }
  result[names[1]] = p;
  return result;
}

}  // namespace gatefuse
