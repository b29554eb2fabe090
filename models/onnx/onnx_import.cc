#include "models/onnx/onnx_import.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "core/status.h"
#include "graph/serialize.h"
#include "models/onnx/onnx_cells.h"
#include "models/onnx/onnx_tensor.h"
#include "onnx/checker.h"
#include "ops/ops.h"

namespace gatefuse {
namespace {

absl::Status Invalid(const std::string& what, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", problem));
}

// gatefuse's model file keeps names in proto3 strings, which must be UTF-8;
// ONNX's (proto2) are not checked, so a name that is not UTF-8 is refused here
// rather than written into a file that could not be read back.
bool IsUtf8(absl::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = s[i];
    int n;  // continuation bytes
    if (c < 0x80) {
      n = 0;
    } else if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
    } else {
      return false;
    }
    if (s.size() - i <= static_cast<size_t>(n)) return false;
    for (int k = 1; k <= n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    // Overlong forms, surrogates and code points past U+10FFFF.
    const unsigned char d = n > 0 ? static_cast<unsigned char>(s[i + 1]) : 0;
    if ((c == 0xe0 && d < 0xa0) || (c == 0xed && d >= 0xa0) || (c == 0xf0 && d < 0x90) ||
        (c == 0xf4 && d >= 0x90)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

// Every name of a network and of its subgraphs, with what it is.
void CollectNames(const NetworkProto& net, std::vector<std::pair<std::string, std::string>>& names) {
  for (const NetworkValueProto& v : net.inputs()) names.emplace_back("an input", v.name());
  for (const NetworkValueProto& v : net.outputs()) names.emplace_back("an output", v.name());
  for (const NetworkNodeProto& n : net.nodes()) {
    names.emplace_back("a node", n.name());
    names.emplace_back("an op type", n.op());
    for (const std::string& v : n.inputs()) names.emplace_back("a node input", v);
    for (const std::string& v : n.outputs()) names.emplace_back("a node output", v);
    for (const NetworkAttributeProto& a : n.attributes()) {
      names.emplace_back("an attribute", a.name());
      if (a.kind() == NetworkAttributeProto::GRAPH) CollectNames(a.g(), names);
    }
  }
}

absl::Status CheckNames(const std::string& what, const ModelFile& m) {
  std::vector<std::pair<std::string, std::string>> names;  // (what it is, the name)
  const NetworkProto& net = m.network();
  CollectNames(net, names);
  for (const TensorProto& t : m.parameters()) names.emplace_back("an initializer", t.name());
  names.emplace_back("the producer", net.producer());
  for (const auto& [kind, name] : names) {
    if (!IsUtf8(name)) {
      return Invalid(what, absl::StrCat("the name of ", kind, " is not valid UTF-8 (",
                                        absl::CHexEscape(name.substr(0, 40)), ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<NetworkValueProto> ValueInfo(const onnx::ValueInfoProto& v,
                                            const std::string& what) {
  NetworkValueProto out;
  out.set_name(v.name());
  if (!v.type().has_tensor_type()) {
    return Invalid(what, absl::StrCat("'", v.name(), "' is not a tensor (sequences, maps and "
                                      "optionals are not supported)"));
  }
  const onnx::TypeProto_Tensor& t = v.type().tensor_type();
  out.set_elem_type(OnnxElemTypeName(t.elem_type()));
  static const auto* known = new std::set<std::string>{"float", "double", "int64", "int32",
                                                        "int16", "int8",  "uint8", "bool"};
  if (!known->count(out.elem_type())) {
    return Invalid(what, absl::StrCat("'", v.name(), "' has element type ", out.elem_type(),
                                      ", which gatefuse does not compute with"));
  }
  if (t.has_shape()) {
    for (const onnx::TensorShapeProto_Dimension& d : t.shape().dim()) {
      out.add_dims(d.has_dim_value() ? d.dim_value() : -1);
    }
  }
  return out;
}

const onnx::AttributeProto* FindAttr(const onnx::NodeProto& n, const std::string& name) {
  for (const onnx::AttributeProto& a : n.attribute()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

struct Importer {
  std::string what;
  std::map<std::string, Tensor> initializers;
  std::map<std::string, Tensor> constant_outputs;  // of Constant nodes with a tensor value
  std::set<std::string> recurrent_weights;         // folded into cells
  std::map<std::string, Shape> input_shapes;       // graph inputs with fixed dims
  ModelFile out;
  std::map<std::string, Tensor> params;

  const Tensor* Constant(const std::string& name) const {
    auto it = initializers.find(name);
    if (it != initializers.end()) return &it->second;
    auto c = constant_outputs.find(name);
    return c == constant_outputs.end() ? nullptr : &c->second;
  }

  std::set<std::string> node_names;                // unique across the graph and its bodies

  absl::Status Recurrent(const onnx::NodeProto& n, NetworkNodeProto& node);
  // Node k of a graph (`in_body`: of a subgraph), appended to `net`.
  absl::Status Node(const onnx::NodeProto& n, int k, bool in_body, NetworkProto& net);
  absl::StatusOr<NetworkAttributeProto> Attribute(const onnx::AttributeProto& a,
                                                  const std::string& where);
  // A subgraph attribute (Scan's body): its initializers become Constant nodes.
  absl::Status Body(const onnx::GraphProto& g, const std::string& where, NetworkProto& body);
};

// How many times each name is read: node inputs and subgraph outputs, in the
// subgraphs too.
void CountReads(const NetworkProto& net, std::map<std::string, int>& reads) {
  for (const NetworkNodeProto& node : net.nodes()) {
    for (const std::string& in : node.inputs()) ++reads[in];
    for (const NetworkAttributeProto& a : node.attributes()) {
      if (a.kind() != NetworkAttributeProto::GRAPH) continue;
      for (const NetworkValueProto& out : a.g().outputs()) ++reads[out.name()];
      CountReads(a.g(), reads);
    }
  }
}

absl::Status Importer::Node(const onnx::NodeProto& n, int k, bool in_body, NetworkProto& net) {
  NetworkNodeProto& node = *net.add_nodes();
  std::string name = n.name().empty() ? absl::StrCat(n.op_type(), "_", k) : n.name();
  while (!node_names.insert(name).second) name = absl::StrCat(name, "_", k);
  node.set_name(name);
  node.set_op(n.op_type());
  const std::string where = absl::StrCat(what, ": ", n.op_type(), " node '", name, "'");
  if (!n.domain().empty() && n.domain() != "ai.onnx") {
    return Invalid(where, absl::StrCat("domain '", n.domain(), "' is not supported (only ONNX's "
                                       "default domain is)"));
  }
  for (const onnx::AttributeProto& a : n.attribute()) {
    GF_ASSIGN_OR_RETURN(*node.add_attributes(), Attribute(a, where));
  }
  for (const std::string& o : n.output()) node.add_outputs(o);
  if (IsRecurrentOp(n.op_type())) {
    if (in_body) return Invalid(where, "a recurrent node inside a subgraph is not supported");
    return Recurrent(n, node);
  }
  for (const std::string& in : n.input()) node.add_inputs(in);
  if (n.op_type() == "Constant" && n.output_size() == 1) {
    const onnx::AttributeProto* v = FindAttr(n, "value");
    if (v != nullptr && v->type() == onnx::AttributeProto::TENSOR) {
      GF_ASSIGN_OR_RETURN(constant_outputs[n.output(0)], TensorFromOnnx(v->t(), where));
    }
  }
  return absl::OkStatus();
}

absl::Status Importer::Body(const onnx::GraphProto& g, const std::string& where,
                            NetworkProto& body) {
  if (g.sparse_initializer_size() > 0) return Invalid(where, "sparse initializers are not supported");
  for (const onnx::TensorProto& t : g.initializer()) {
    NetworkNodeProto& node = *body.add_nodes();
    std::string name = absl::StrCat(g.name(), ".", t.name());
    while (!node_names.insert(name).second) name += "_";
    node.set_name(name);
    node.set_op("Constant");
    node.add_outputs(t.name());
    NetworkAttributeProto& value = *node.add_attributes();
    value.set_name("value");
    value.set_kind(NetworkAttributeProto::TENSOR);
    GF_ASSIGN_OR_RETURN(Tensor v, TensorFromOnnx(t, absl::StrCat(where, ": initializer '",
                                                                 t.name(), "'")));
    GF_ASSIGN_OR_RETURN(*value.mutable_t(), TensorToProto(v));
  }
  for (const onnx::ValueInfoProto& v : g.input()) {
    GF_ASSIGN_OR_RETURN(*body.add_inputs(), ValueInfo(v, where));
  }
  for (const onnx::ValueInfoProto& v : g.output()) {
    GF_ASSIGN_OR_RETURN(*body.add_outputs(), ValueInfo(v, where));
  }
  for (int k = 0; k < g.node_size(); ++k) {
    GF_RETURN_IF_ERROR(Node(g.node(k), k, /*in_body=*/true, body));
  }
  return absl::OkStatus();
}

absl::StatusOr<NetworkAttributeProto> Importer::Attribute(const onnx::AttributeProto& a,
                                                          const std::string& where) {
  NetworkAttributeProto out;
  out.set_name(a.name());
  switch (a.type()) {
    case onnx::AttributeProto::INT:
      out.set_kind(NetworkAttributeProto::INT);
      out.set_i(a.i());
      break;
    case onnx::AttributeProto::FLOAT:
      out.set_kind(NetworkAttributeProto::FLOAT);
      out.set_f(a.f());
      break;
    case onnx::AttributeProto::STRING:
      out.set_kind(NetworkAttributeProto::STRING);
      out.set_s(a.s());
      break;
    case onnx::AttributeProto::INTS:
      out.set_kind(NetworkAttributeProto::INTS);
      for (int64_t v : a.ints()) out.add_ints(v);
      break;
    case onnx::AttributeProto::FLOATS:
      out.set_kind(NetworkAttributeProto::FLOATS);
      for (float v : a.floats()) out.add_floats(v);
      break;
    case onnx::AttributeProto::STRINGS:
      out.set_kind(NetworkAttributeProto::STRINGS);
      for (const std::string& v : a.strings()) out.add_strings(v);
      break;
    case onnx::AttributeProto::TENSOR: {
      out.set_kind(NetworkAttributeProto::TENSOR);
      GF_ASSIGN_OR_RETURN(Tensor t,
                          TensorFromOnnx(a.t(), absl::StrCat(where, ": attribute '", a.name(), "'")));
      GF_ASSIGN_OR_RETURN(*out.mutable_t(), TensorToProto(t));
      break;
    }
    case onnx::AttributeProto::GRAPH:
      out.set_kind(NetworkAttributeProto::GRAPH);
      GF_RETURN_IF_ERROR(Body(a.g(), absl::StrCat(where, ": attribute '", a.name(), "'"),
                              *out.mutable_g()));
      break;
    default:
      return Invalid(where, absl::StrCat("attribute '", a.name(), "' is ",
                                         a.type() == onnx::AttributeProto::GRAPHS
                                             ? "a list of subgraphs, which gatefuse does not read"
                                             : "of a kind gatefuse does not read"));
  }
  return out;
}


absl::Status Importer::Recurrent(const onnx::NodeProto& n, NetworkNodeProto& node) {
  const std::string where = absl::StrCat(what, ": ", n.op_type(), " node '", node.name(), "'");
  const std::string& op = n.op_type();
  const int G = op == "LSTM" ? 4 : op == "GRU" ? 3 : 1;
  auto input = [&](int k) { return k < n.input_size() ? n.input(k) : std::string(); };
  if (input(0).empty() || input(1).empty() || input(2).empty()) {
    return Invalid(where, "needs X, W and R");
  }
  if (n.input_size() > (op == "LSTM" ? 8 : 6)) {
    return Invalid(where, absl::StrCat("has ", n.input_size(), " inputs"));
  }
  // The weights are folded into the cells' parameters when they are all known
  // here (initializers, Constant outputs: every exported model); otherwise (ONNX's
  // node tests feed them as graph inputs) the node converts them at each run.
  const bool has_p = op == "LSTM" && !input(7).empty();
  bool fold = true;
  for (int k : {1, 2, 3, 7}) {
    if (!input(k).empty() && (k != 7 || op == "LSTM")) fold = fold && Constant(input(k)) != nullptr;
  }
  auto shape_of = [&](int k) -> absl::StatusOr<Shape> {
    if (const Tensor* t = Constant(input(k))) return t->shape();
    auto it = input_shapes.find(input(k));
    if (it == input_shapes.end()) {
      return Invalid(where, absl::StrCat("the shape of input ", k, " '", input(k),
                                         "' must be known (a graph input with fixed dims or an "
                                         "initializer)"));
    }
    return it->second;
  };
  std::string direction = "forward";
  if (const onnx::AttributeProto* a = FindAttr(n, "direction")) direction = a->s();
  const int D = direction == "bidirectional" ? 2 : 1;
  GF_ASSIGN_OR_RETURN(const Shape w_shape, shape_of(1));
  if (w_shape.rank() != 3 || w_shape[0] != D || w_shape[1] % G != 0 || w_shape[1] == 0) {
    return Invalid(where, absl::StrCat("W must be [", D, ", ", G, "*H, I], got ",
                                       w_shape.ToString()));
  }
  const int64_t H = w_shape[1] / G, I = w_shape[2];
  int64_t hidden_size = H;
  if (const onnx::AttributeProto* a = FindAttr(n, "hidden_size")) hidden_size = a->i();
  if (hidden_size != H) {
    return Invalid(where, absl::StrCat("hidden_size ", hidden_size, " but W has ", G, "*", H,
                                       " rows"));
  }
  auto expect = [&](int k, const Shape& s, const char* name) -> absl::Status {
    if (input(k).empty()) return absl::OkStatus();
    GF_ASSIGN_OR_RETURN(const Shape got, shape_of(k));
    const Tensor* t = Constant(input(k));
    if (got != s || (t != nullptr && !IsFloating(t->dtype()))) {
      return Invalid(where, absl::StrCat(name, " must be floating ", s.ToString(), " (H=", H,
                                         ", I=", I, ", D=", D, "), got ", got.ToString()));
    }
    return absl::OkStatus();
  };
  GF_RETURN_IF_ERROR(expect(1, Shape{D, G * H, I}, "W"));
  GF_RETURN_IF_ERROR(expect(2, Shape{D, G * H, H}, "R"));
  GF_RETURN_IF_ERROR(expect(3, Shape{D, 2 * G * H}, "B"));
  if (op == "LSTM") GF_RETURN_IF_ERROR(expect(7, Shape{D, 3 * H}, "P"));

  std::vector<std::string> names;
  std::vector<double> alphas, betas;
  OnnxCellSpec base{.op = op};
  for (const onnx::AttributeProto& a : n.attribute()) {
    if (a.name() == "activations") names.assign(a.strings().begin(), a.strings().end());
    if (a.name() == "activation_alpha") alphas.assign(a.floats().begin(), a.floats().end());
    if (a.name() == "activation_beta") betas.assign(a.floats().begin(), a.floats().end());
    if (a.name() == "clip") {
      if (!(a.f() > 0)) return Invalid(where, absl::StrCat("clip ", a.f(), " must be positive"));
      base.clip = a.f();
    }
    if (a.name() == "input_forget") base.input_forget = a.i() != 0;
    if (a.name() == "linear_before_reset") base.linear_before_reset = a.i() != 0;
  }
  if (base.input_forget && op != "LSTM") return Invalid(where, "input_forget is an LSTM attribute");
  if (base.linear_before_reset && op != "GRU") {
    return Invalid(where, "linear_before_reset is a GRU attribute");
  }
  base.peepholes = has_p;
  absl::StatusOr<std::vector<std::vector<OnnxActivation>>> acts =
      ResolveActivations(op, D, names, alphas, betas);
  if (!acts.ok()) return Invalid(where, std::string(acts.status().message()));

  for (int d = 0; d < D; ++d) {
    OnnxCellSpec spec = base;
    spec.activations = (*acts)[d];
    CellSourceProto* cell = node.add_cells();
    cell->set_kind(absl::StrCat("onnx_", absl::AsciiStrToLower(op)));
    cell->set_cell_text(OnnxCellText(spec));
    cell->set_cell_filename(absl::StrCat(node.name(), d == 0 ? ".fwd" : ".bwd", ".cell"));
    (*cell->mutable_sizes())["I"] = I;
    (*cell->mutable_sizes())["H"] = H;
    if (!fold) continue;
    NoGradGuard no_grad;
    auto var = [&](int k) { return input(k).empty() ? Var() : Var::Constant(*Constant(input(k))); };
    absl::StatusOr<std::map<std::string, Var>> p =
        OnnxCellParamsFromWeights(spec, H, I, d, var(1), var(2), var(3), has_p ? var(7) : Var());
    if (!p.ok()) return Invalid(where, std::string(p.status().message()));
    const std::string prefix = absl::StrCat(node.name(), d == 0 ? ".fwd." : ".bwd.");
    for (const auto& [name, v] : *p) params[prefix + name] = v.value().Clone();
  }
  // ONNX's input positions; the weights folded into the cells are left empty.
  if (op != "LSTM" && n.input_size() > 6) return Invalid(where, "has more than 6 inputs");
  for (int k = 0; k < (op == "LSTM" ? 8 : 6); ++k) {
    const bool weight = k == 1 || k == 2 || k == 3 || k == 7;
    if (fold && weight) {
      if (!input(k).empty()) recurrent_weights.insert(input(k));
      node.add_inputs("");
    } else {
      node.add_inputs(input(k));
    }
  }
  // hidden_size is implied by the weights when the file leaves it out.
  bool has_hidden = false;
  for (const NetworkAttributeProto& a : node.attributes()) has_hidden |= a.name() == "hidden_size";
  if (!has_hidden) {
    NetworkAttributeProto* a = node.add_attributes();
    a->set_name("hidden_size");
    a->set_kind(NetworkAttributeProto::INT);
    a->set_i(H);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ModelFile> ImportOnnxModel(const onnx::ModelProto& model, const std::string& what) {
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    return Invalid(what, absl::StrCat("the ONNX checker refuses the model: ", e.what()));
  }
  Importer im{.what = what};
  NetworkProto& net = *im.out.mutable_network();
  for (const onnx::OperatorSetIdProto& o : model.opset_import()) {
    if (o.domain().empty() || o.domain() == "ai.onnx") net.set_opset(o.version());
  }
  if (net.opset() == 0) return Invalid(what, "imports no opset of the default ONNX domain");
  net.set_producer(absl::StrCat(model.producer_name(), " ", model.producer_version()));
  const onnx::GraphProto& g = model.graph();
  if (g.sparse_initializer_size() > 0) return Invalid(what, "sparse initializers are not supported");
  for (const onnx::TensorProto& t : g.initializer()) {
    GF_ASSIGN_OR_RETURN(im.initializers[t.name()],
                        TensorFromOnnx(t, absl::StrCat(what, ": initializer '", t.name(), "'")));
  }
  for (const onnx::ValueInfoProto& v : g.input()) {
    if (im.initializers.count(v.name())) continue;  // listed as an input by old exporters
    GF_ASSIGN_OR_RETURN(*net.add_inputs(), ValueInfo(v, what));
    const NetworkValueProto& in = net.inputs(net.inputs_size() - 1);
    std::vector<int64_t> dims(in.dims().begin(), in.dims().end());
    if (std::all_of(dims.begin(), dims.end(), [](int64_t d) { return d >= 0; })) {
      im.input_shapes[in.name()] = Shape(dims);
    }
  }
  for (const onnx::ValueInfoProto& v : g.output()) {
    GF_ASSIGN_OR_RETURN(*net.add_outputs(), ValueInfo(v, what));
  }
  for (int k = 0; k < g.node_size(); ++k) {
    GF_RETURN_IF_ERROR(im.Node(g.node(k), k, /*in_body=*/false, net));
  }
  // Initializers that only fed recurrent weights now live in the cells.
  std::map<std::string, int> reads;
  CountReads(net, reads);
  for (const auto& [name, t] : im.initializers) {
    if (im.recurrent_weights.count(name) && reads[name] == 0) continue;
    im.params[name] = t;
  }
  GF_RETURN_IF_ERROR(SetParameters(im.params, im.out));
  (*im.out.mutable_metadata())["source"] = "onnx";
  GF_RETURN_IF_ERROR(CheckNames(what, im.out));
  (*im.out.mutable_metadata())["onnx_producer"] = net.producer();
  GF_RETURN_IF_ERROR(ValidateModelFile(im.out));
  return im.out;
}

absl::StatusOr<ModelFile> ImportOnnxBytes(absl::string_view bytes, const std::string& what) {
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return Invalid(what, "larger than 2 GiB, which one protobuf message cannot hold");
  }
  onnx::ModelProto model;
  if (!model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError(absl::StrCat(what, ": not an ONNX model (protobuf parse failed)"));
  }
  return ImportOnnxModel(model, what);
}

absl::StatusOr<ModelFile> ImportOnnxFile(const std::string& path) {
  GF_ASSIGN_OR_RETURN(const std::string bytes, ReadFile(path));
  return ImportOnnxBytes(bytes, path);
}

absl::StatusOr<Network> LoadNetwork(const std::string& path, const NetworkOptions& options) {
  GF_ASSIGN_OR_RETURN(const std::string bytes, ReadFile(path));
  ModelFile model;
  if (absl::StartsWith(bytes, absl::string_view("GFMODEL\0", 8))) {
    absl::StatusOr<ModelFile> m = ParseModelFileBytes(bytes);
    if (!m.ok()) return absl::Status(m.status().code(), absl::StrCat(path, ": ", m.status().message()));
    model = *std::move(m);
  } else {
    GF_ASSIGN_OR_RETURN(model, ImportOnnxBytes(bytes, path));
  }
  absl::StatusOr<Network> net = Network::FromModelFile(model, options);
  if (!net.ok()) {
    return absl::Status(net.status().code(), absl::StrCat(path, ": ", net.status().message()));
  }
  return net;
}

}  // namespace gatefuse
