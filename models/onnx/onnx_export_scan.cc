// A custom cell's direction as an ONNX Scan (models/onnx/onnx_export_internal.h).
#include <set>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "graph/executor.h"
#include "graph/text.h"
#include "models/onnx/onnx_attributes.h"
#include "models/onnx/onnx_export_internal.h"

namespace gatefuse::onnx_export {
namespace {

absl::Status NoOnnxForm(const Graph& g, NodeId id, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("export: op ", g.node(id).op, " (node ",
                                                 NodeLabel(g, id), ") ", why));
}

// An axis of a per-step value ([B, n]) as ONNX reads it both in the body ([B, n])
// and outside the loop ([T, B, n]): counted from the end.
int64_t FromEnd(int64_t axis, int rank) { return axis < 0 ? axis : axis - rank; }

std::vector<int64_t> AxesFromEnd(const std::vector<int64_t>& axes, int rank) {
  std::vector<int64_t> out;
  for (int64_t a : axes) out.push_back(FromEnd(a, rank));
  return out;
}

const std::set<std::string>& SameNameOps() {
  static const std::set<std::string> ops = {"Add",  "Sub",  "Mul",      "Div",      "Neg",
                                            "Sigmoid", "Tanh", "Relu", "Exp",      "Log",
                                            "Sqrt", "Abs",  "Softsign", "Softplus", "Min",
                                            "Max"};
  return ops;
}

// One gatefuse node as ONNX nodes writing `out`. `per_step`: the node's value has
// the batch (and, outside the loop, the time) axes in front, so its axes count
// from the end.
absl::Status EmitNode(GraphWriter& w, const Graph& g, NodeId id, const std::vector<std::string>& in,
                      const std::string& out, bool per_step) {
  const NodeData& d = g.node(id);
  const std::string& op = d.op;
  const int rank = d.outputs[0].shape.rank();
  auto attr = [&](const char* name) { return static_cast<float>(*d.attrs.GetFloat(op, name)); };
  auto scalar = [&](const char* name) {
    return w.Scalar(absl::StrCat(out, ".", name), *d.attrs.GetFloat(op, name));
  };
  auto axis = [&](int64_t a) { return per_step ? FromEnd(a, rank) : a; };
  if (SameNameOps().count(op)) {
    w.Node(op, in, {out});
  } else if (op == "AddN") {
    w.Node(in.size() == 1 ? "Identity" : "Sum", in, {out});
  } else if (op == "AddScalar") {
    w.Node("Add", {in[0], scalar("value")}, {out});
  } else if (op == "MulScalar") {
    w.Node("Mul", {in[0], scalar("value")}, {out});
  } else if (op == "RSubScalar") {
    w.Node("Sub", {scalar("value"), in[0]}, {out});
  } else if (op == "LeakyRelu" || op == "Elu" || op == "ThresholdedRelu") {
    AddAttribute(w.Node(op, in, {out}), "alpha", attr("alpha"));
  } else if (op == "HardSigmoid") {
    onnx::NodeProto* n = w.Node(op, in, {out});
    AddAttribute(n, "alpha", attr("alpha"));
    AddAttribute(n, "beta", attr("beta"));
  } else if (op == "Clip") {
    w.Node("Clip", {in[0], scalar("lo"), scalar("hi")}, {out});
  } else if (op == "MatMul") {
    std::vector<std::string> operands = in;
    for (int k = 0; k < 2; ++k) {
      if (*d.attrs.GetInt(op, k == 0 ? "transpose_a" : "transpose_b") == 0) continue;
      if (g.spec(d.inputs[k]).shape.rank() != 2) {
        return NoOnnxForm(g, id, "transposes an operand of rank other than 2");
      }
      operands[k] = absl::StrCat(out, ".t", k);
      AddAttribute(w.Node("Transpose", {in[k]}, {operands[k]}), "perm", std::vector<int64_t>{1, 0});
    }
    w.Node("MatMul", operands, {out});
  } else if (op == "Slice") {
    const int64_t a = axis(*d.attrs.GetInt(op, "axis"));
    w.Node("Slice",
           {in[0], w.Ints(out + ".starts", {*d.attrs.GetInt(op, "start")}),
            w.Ints(out + ".ends", {*d.attrs.GetInt(op, "end")}), w.Ints(out + ".axes", {a})},
           {out});
  } else if (op == "Concat") {
    AddAttribute(w.Node("Concat", in, {out}), "axis", axis(*d.attrs.GetInt(op, "axis")));
  } else if (op == "Mean" || op == "Sum") {
    std::vector<int64_t> axes = *d.attrs.GetInts(op, "axes");
    if (axes.empty()) return NoOnnxForm(g, id, "reduces over all axes");
    const int64_t keepdims = *d.attrs.GetInt(op, "keepdims");
    const int in_rank = g.spec(d.inputs[0]).shape.rank();
    if (per_step) axes = AxesFromEnd(axes, in_rank);
    onnx::NodeProto* n;
    if (op == "Mean") {
      n = w.Node("ReduceMean", in, {out});
      AddAttribute(n, "axes", axes);
    } else {  // opset 13 and later: ReduceSum's axes are an input
      n = w.Node("ReduceSum", {in[0], w.Ints(out + ".axes", axes)}, {out});
    }
    AddAttribute(n, "keepdims", keepdims);
  } else {
    return NoOnnxForm(g, id, "has no ONNX form in the exporter");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ScanDirection> ExportScanDirection(GraphWriter& w, const Graph& cell,
                                                  const std::map<std::string, Tensor>& params,
                                                  const std::string& scope, const std::string& x,
                                                  const std::string& mask, bool reverse) {
  GF_ASSIGN_OR_RETURN(const CellSignature sig, GetCellSignature(cell));
  GF_ASSIGN_OR_RETURN(const std::vector<NodeId> order, cell.StableOrder());
  std::map<ValueRef, std::string> name;  // outer-scope or body names
  auto label = [&](NodeId id) { return absl::StrCat(scope, ".n", id); };
  onnx::GraphProto body;
  body.set_name(scope + ".step");
  GraphWriter bw(&body, scope + ".step.");
  // Body inputs: the states, then the scan inputs (x_t where a step node reads x,
  // each outer per-step value a step node reads, and the mask).
  std::map<std::string, int64_t> state_width;
  for (NodeId id : cell.Inputs()) {
    const NodeData& d = cell.node(id);
    if (d.role == InputRole::kParam) {
      const std::string n = absl::StrCat(scope, ".", d.name);
      auto it = params.find(d.name);
      if (it == params.end()) return absl::InternalError("no parameter " + d.name);
      w.Initializer(n, it->second);
      name[{id, 0}] = n;
    } else if (d.role == InputRole::kState) {
      state_width[d.name] = d.outputs[0].shape[1];
    }
  }
  for (const std::string& s : sig.states) {
    const std::string n = absl::StrCat(scope, ".", s, "_in");
    SetType(body.add_input(), n, onnx::TensorProto::FLOAT, {"B", ""}, {0, state_width[s]});
    name[{cell.FindInput(s), 0}] = n;
  }
  std::vector<std::string> scan_outer, scan_inner;
  auto scan_input = [&](const std::string& outer, const std::string& inner, int64_t width) {
    scan_outer.push_back(outer);
    scan_inner.push_back(inner);
    SetType(body.add_input(), inner, onnx::TensorProto::FLOAT, {"B", ""}, {0, width});
  };
  const NodeId x_node = cell.FindInput(sig.input);
  // Outside the loop: constants, what depends on parameters only, and the values
  // batched over the whole sequence (the input projection).
  for (NodeId id : order) {
    const NodeData& d = cell.node(id);
    if (d.op == kInputOp) continue;
    const std::string out = label(id);
    if (d.op == kConstantOp) {
      w.Initializer(out, d.value);
      name[{id, 0}] = out;
      continue;
    }
    if (d.placement == Placement::kStep) continue;
    std::vector<std::string> in;
    for (const ValueRef& v : d.inputs) in.push_back(v.node == x_node ? x : name.at(v));
    GF_RETURN_IF_ERROR(EmitNode(w, cell, id, in, out, d.placement == Placement::kTimeBatched));
    name[{id, 0}] = out;
  }
  // The step's nodes, in the body; an outer per-step value becomes a scan input.
  std::map<ValueRef, std::string> inner_of;
  for (NodeId id : order) {
    const NodeData& d = cell.node(id);
    if (d.op == kInputOp || d.op == kConstantOp || d.placement != Placement::kStep) continue;
    std::vector<std::string> in;
    for (const ValueRef& v : d.inputs) {
      const NodeData& src = cell.node(v.node);
      const bool per_step_outer =
          v.node == x_node || (src.op != kInputOp && src.placement == Placement::kTimeBatched);
      if (!per_step_outer) {
        in.push_back(name.at(v));
        continue;
      }
      auto it = inner_of.find(v);
      if (it == inner_of.end()) {
        const std::string inner = absl::StrCat(scope, ".step_in", inner_of.size());
        scan_input(v.node == x_node ? x : name.at(v), inner, cell.spec(v).shape[1]);
        it = inner_of.emplace(v, inner).first;
      }
      in.push_back(it->second);
    }
    const std::string out = absl::StrCat(label(id), ".step");
    GF_RETURN_IF_ERROR(EmitNode(bw, cell, id, in, out, /*per_step=*/true));
    name[{id, 0}] = out;
  }
  const std::string m = scope + ".mask_t";
  scan_input(mask, m, 1);
  // Next states kept at padded steps (s + m (s' - s)); the output zero there.
  std::map<std::string, std::string> next;
  for (const GraphOutput& o : cell.outputs()) next[o.name] = name.at(o.value);
  std::vector<std::string> body_outputs;
  for (const std::string& s : sig.states) {
    const std::string in = absl::StrCat(scope, ".", s, "_in"), base = absl::StrCat(scope, ".", s);
    bw.Node("Sub", {next.at(s), in}, {base + "_delta"});
    bw.Node("Mul", {m, base + "_delta"}, {base + "_step"});
    bw.Node("Add", {in, base + "_step"}, {base + "_out"});
    body_outputs.push_back(base + "_out");
  }
  const std::string y_t = scope + ".y_t";
  bw.Node("Mul", {m, next.at(sig.states[0])}, {y_t});
  body_outputs.push_back(y_t);
  for (size_t k = 0; k < body_outputs.size(); ++k) {
    const int64_t width = state_width[sig.states[k < sig.states.size() ? k : 0]];
    SetType(body.add_output(), body_outputs[k], onnx::TensorProto::FLOAT, {"B", ""}, {0, width});
  }
  // Zero initial states [B, H] from x's batch size.
  w.Node("Shape", {x}, {scope + ".x_shape"});
  w.Node("Gather", {scope + ".x_shape", w.Ints(scope + ".index.batch", {1})}, {scope + ".batch"});
  ScanDirection result;
  std::vector<std::string> scan_in;
  for (const std::string& s : sig.states) {
    const std::string base = absl::StrCat(scope, ".", s);
    AddAttribute(w.Node("Concat", {scope + ".batch", w.Ints(base + ".width", {state_width[s]})},
                        {base + "_shape"}),
                 "axis", int64_t{0});
    onnx::NodeProto* zeros = w.Node("ConstantOfShape", {base + "_shape"}, {base + "_0"});
    onnx::AttributeProto* value = zeros->add_attribute();
    value->set_name("value");
    value->set_type(onnx::AttributeProto::TENSOR);
    *value->mutable_t() = TensorToOnnx(Tensor::Zeros({1}, DType::kF32), "");
    scan_in.push_back(base + "_0");
    result.final_states.push_back(base + "_final");
  }
  scan_in.insert(scan_in.end(), scan_outer.begin(), scan_outer.end());
  std::vector<std::string> scan_out = result.final_states;
  result.y = scope + ".y";
  scan_out.push_back(result.y);
  onnx::NodeProto* scan = w.Node("Scan", scan_in, scan_out);
  onnx::AttributeProto* b = scan->add_attribute();
  b->set_name("body");
  b->set_type(onnx::AttributeProto::GRAPH);
  *b->mutable_g() = std::move(body);
  AddAttribute(scan, "num_scan_inputs", static_cast<int64_t>(scan_outer.size()));
  AddAttribute(scan, "scan_input_directions",
               std::vector<int64_t>(scan_outer.size(), reverse ? 1 : 0));
  AddAttribute(scan, "scan_output_directions", std::vector<int64_t>{reverse ? 1 : 0});
  return result;
}

}  // namespace gatefuse::onnx_export
