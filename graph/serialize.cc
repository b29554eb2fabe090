#include "graph/serialize.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/config.h"
#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "graph/verifier.h"

namespace gatefuse {
namespace {

// Tensor storage is in host order; the format is little-endian. On a big-endian
// host each element's bytes are reversed on the way in and out.
void CopyLittleEndian(const char* src, char* dst, int64_t num_bytes, int64_t elem_size) {
  std::memcpy(dst, src, num_bytes);
#ifdef ABSL_IS_BIG_ENDIAN
  for (int64_t i = 0; i + elem_size <= num_bytes; i += elem_size) {
    std::reverse(dst + i, dst + i + elem_size);
  }
#else
  (void)elem_size;
#endif
}

absl::StatusOr<TensorSpec> SpecFromProto(const TensorSpecProto& p, absl::string_view what) {
  GF_ASSIGN_OR_RETURN(DType dtype, DTypeFromProto(p.dtype()));
  GF_ASSIGN_OR_RETURN(Shape shape, ShapeFromProto(p.dims(), what));
  return TensorSpec{std::move(shape), dtype};
}

void SpecToProto(const TensorSpec& s, TensorSpecProto* p) {
  p->set_dtype(DTypeToProto(s.dtype));
  for (int64_t d : s.shape.dims()) p->add_dims(d);
}

void AttrToProto(const std::string& name, const AttrValue& v, AttrProto* p) {
  p->set_name(name);
  if (auto* i = std::get_if<int64_t>(&v)) {
    p->set_i(*i);
  } else if (auto* d = std::get_if<double>(&v)) {
    p->set_f(*d);
  } else if (auto* l = std::get_if<std::vector<int64_t>>(&v)) {
    IntListProto* ints = p->mutable_ints();
    for (int64_t x : *l) ints->add_values(x);
  } else {
    p->set_s(std::get<std::string>(v));
  }
}

absl::StatusOr<AttrValue> AttrFromProto(const AttrProto& p) {
  switch (p.value_case()) {
    case AttrProto::kI: return AttrValue(p.i());
    case AttrProto::kF: return AttrValue(p.f());
    case AttrProto::kInts:
      return AttrValue(std::vector<int64_t>(p.ints().values().begin(), p.ints().values().end()));
    case AttrProto::kS: return AttrValue(p.s());
    case AttrProto::VALUE_NOT_SET: break;
  }
  return absl::InvalidArgumentError("has no value");
}

InputRoleProto RoleToProto(InputRole r) {
  switch (r) {
    case InputRole::kInput: return ROLE_INPUT;
    case InputRole::kState: return ROLE_STATE;
    case InputRole::kParam: return ROLE_PARAM;
  }
  return ROLE_UNSPECIFIED;
}

PlacementProto PlacementToProto(Placement p) {
  switch (p) {
    case Placement::kStep: return PLACEMENT_STEP;
    case Placement::kInvariant: return PLACEMENT_INVARIANT;
    case Placement::kTimeBatched: return PLACEMENT_HOISTED;
  }
  return PLACEMENT_STEP;
}

// Errors of FromProto: "GraphProto NAME: node K (OP): what".
class ProtoErrors {
 public:
  explicit ProtoErrors(const GraphProto& p) : p_(p) {}
  absl::Status Node(int k, absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("GraphProto ", p_.name(), ": node ", k, " (", p_.nodes(k).op(), "): ", what));
  }
  absl::Status Graph(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("GraphProto ", p_.name(), ": ", what));
  }

 private:
  const GraphProto& p_;
};

// A reference into `outputs_per_node` (the arity of every node), or an error.
absl::StatusOr<ValueRef> RefFromProto(const ValueRefProto& r,
                                      const std::vector<int>& outputs_per_node) {
  const int n = static_cast<int>(outputs_per_node.size());
  if (r.node() < 0 || r.node() >= n) {
    return absl::InvalidArgumentError(
        absl::StrCat("refers to node ", r.node(), " but the graph has ", n, " nodes"));
  }
  if (r.index() < 0 || r.index() >= outputs_per_node[r.node()]) {
    return absl::InvalidArgumentError(absl::StrCat("refers to output ", r.index(), " of node ",
                                                   r.node(), ", which has ",
                                                   outputs_per_node[r.node()], " outputs"));
  }
  return ValueRef{r.node(), r.index()};
}

}  // namespace

DTypeProto DTypeToProto(DType dtype) {
  switch (dtype) {
    case DType::kF32: return DTYPE_F32;
    case DType::kF64: return DTYPE_F64;
    case DType::kI64: return DTYPE_I64;
  }
  return DTYPE_UNSPECIFIED;
}

absl::StatusOr<DType> DTypeFromProto(int dtype) {
  switch (dtype) {
    case DTYPE_F32: return DType::kF32;
    case DTYPE_F64: return DType::kF64;
    case DTYPE_I64: return DType::kI64;
    case DTYPE_UNSPECIFIED: return absl::InvalidArgumentError("dtype is not set");
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown dtype ", dtype, " (this binary knows f32=1, f64=2, i64=3)"));
}

absl::StatusOr<Shape> ShapeFromProto(const google::protobuf::RepeatedField<int64_t>& dims,
                                     absl::string_view what) {
  if (dims.size() > kMaxProtoRank) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": rank ", dims.size(),
                                                   " is above the limit of ", kMaxProtoRank));
  }
  std::vector<int64_t> out(dims.begin(), dims.end());
  int64_t product = 1;  // of max(d, 1): bounds the product of any subset of dims
  for (int64_t d : out) {
    if (d < 0 || d > kMaxProtoDim) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": dimension ", d, " in ", Shape(out).ToString(),
          d < 0 ? " is negative" : absl::StrCat(" is above the limit of ", kMaxProtoDim)));
    }
    product *= std::max<int64_t>(d, 1);  // < 2^40 * 2^31: no overflow
    if (product > kMaxProtoElements) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": shape ", Shape(out).ToString(),
                                                     " has more than 2^40 elements"));
    }
  }
  return Shape(std::move(out));
}

absl::StatusOr<TensorProto> TensorToProto(const Tensor& t, const std::string& name) {
  if (!t.defined()) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' is undefined"));
  }
  TensorProto p;
  p.set_name(name);
  p.set_dtype(DTypeToProto(t.dtype()));
  for (int64_t d : t.shape().dims()) p.add_dims(d);
  const Tensor c = t.Contiguous();
  const int64_t bytes = c.num_elements() * SizeOf(c.dtype());
  std::string* data = p.mutable_data();
  data->resize(bytes);
  if (bytes > 0) {
    CopyLittleEndian(static_cast<const char*>(c.raw_data()), data->data(), bytes,
                     SizeOf(c.dtype()));
  }
  return p;
}

absl::StatusOr<TensorSpec> TensorProtoSpec(const TensorProto& p, absl::string_view what) {
  const std::string label =
      what.empty() ? absl::StrCat("tensor '", p.name(), "'") : std::string(what);
  absl::StatusOr<DType> dtype = DTypeFromProto(p.dtype());
  if (!dtype.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(label, ": ", dtype.status().message()));
  }
  GF_ASSIGN_OR_RETURN(Shape shape, ShapeFromProto(p.dims(), label));
  // Below 2^40 * 8: no overflow.
  const int64_t want = shape.num_elements() * SizeOf(*dtype);
  if (static_cast<int64_t>(p.data().size()) != want) {
    return absl::InvalidArgumentError(absl::StrCat(label, ": ", DTypeName(*dtype),
                                                   shape.ToString(), " needs ", want,
                                                   " bytes of data, has ", p.data().size()));
  }
  return TensorSpec{std::move(shape), *dtype};
}

absl::StatusOr<Tensor> TensorFromProto(const TensorProto& p, absl::string_view what) {
  GF_ASSIGN_OR_RETURN(TensorSpec spec, TensorProtoSpec(p, what));
  Tensor t = Tensor::Empty(spec.shape, spec.dtype);
  const int64_t bytes = static_cast<int64_t>(p.data().size());
  if (bytes > 0) {
    CopyLittleEndian(p.data().data(), static_cast<char*>(t.raw_data()), bytes,
                     SizeOf(spec.dtype));
  }
  return t;
}

absl::StatusOr<GraphProto> ToProto(const Graph& g) {
  GraphProto p;
  p.set_name(g.name());
  std::vector<int> index(g.num_node_slots(), -1);
  int live = 0;
  for (NodeId id = 0; id < g.num_node_slots(); ++id) {
    if (!g.node(id).dead) index[id] = live++;
  }
  auto ref = [&](ValueRef v, ValueRefProto* r, absl::string_view where) -> absl::Status {
    if (v.node < 0 || v.node >= g.num_node_slots() || index[v.node] < 0) {
      return absl::InvalidArgumentError(absl::StrCat("graph ", g.name(), ": ", where,
                                                     " refers to a dead or missing node ", v.node));
    }
    r->set_node(index[v.node]);
    r->set_index(v.index);
    return absl::OkStatus();
  };
  for (NodeId id = 0; id < g.num_node_slots(); ++id) {
    const NodeData& d = g.node(id);
    if (d.dead) continue;
    NodeProto* n = p.add_nodes();
    n->set_op(d.op);
    for (const auto& [name, v] : d.attrs.values()) AttrToProto(name, v, n->add_attrs());
    for (const ValueRef& v : d.inputs) {
      GF_RETURN_IF_ERROR(ref(v, n->add_inputs(), absl::StrCat("node ", id, " (", d.op, ")")));
    }
    for (const TensorSpec& s : d.outputs) SpecToProto(s, n->add_outputs());
    n->set_name(d.name);
    if (d.op == kInputOp) n->set_role(RoleToProto(d.role));
    if (d.op == kConstantOp) {
      GF_ASSIGN_OR_RETURN(*n->mutable_value(), TensorToProto(d.value));
    }
    n->set_placement(PlacementToProto(d.placement));
  }
  for (const GraphOutput& o : g.outputs()) {
    GraphOutputProto* out = p.add_outputs();
    out->set_name(o.name);
    GF_RETURN_IF_ERROR(ref(o.value, out->mutable_value(), absl::StrCat("output ", o.name)));
  }
  return p;
}

absl::StatusOr<Graph> FromProto(const GraphProto& p) {
  const ProtoErrors err(p);
  const int n = p.nodes_size();
  // Every node's specs first: inputs may refer forwards (the verifier then
  // reports the cycle), so arities must be known before any reference is read.
  std::vector<std::vector<TensorSpec>> specs(n);
  std::vector<int> arity(n);
  for (int k = 0; k < n; ++k) {
    const NodeProto& np = p.nodes(k);
    for (int j = 0; j < np.outputs_size(); ++j) {
      absl::StatusOr<TensorSpec> s = SpecFromProto(np.outputs(j), absl::StrCat("output ", j));
      if (!s.ok()) return err.Node(k, s.status().message());
      specs[k].push_back(*std::move(s));
    }
    arity[k] = np.outputs_size();
  }
  Graph g(p.name());
  // Inputs are set once every node exists: a forward reference (a cycle) must
  // become an edge too, or the verifier would not see the cycle.
  std::vector<std::vector<ValueRef>> inputs(n);
  for (int k = 0; k < n; ++k) {
    const NodeProto& np = p.nodes(k);
    NodeData d;
    if (np.op().empty()) return err.Node(k, "has no op");
    d.op = np.op();
    for (const AttrProto& a : np.attrs()) {
      if (a.name().empty()) return err.Node(k, "an attribute has no name");
      if (d.attrs.Has(a.name())) {
        return err.Node(k, absl::StrCat("attribute '", a.name(), "' is given twice"));
      }
      absl::StatusOr<AttrValue> v = AttrFromProto(a);
      if (!v.ok()) {
        return err.Node(k, absl::StrCat("attribute '", a.name(), "' ", v.status().message()));
      }
      d.attrs.Set(a.name(), *std::move(v));
    }
    for (int j = 0; j < np.inputs_size(); ++j) {
      absl::StatusOr<ValueRef> v = RefFromProto(np.inputs(j), arity);
      if (!v.ok()) return err.Node(k, absl::StrCat("input ", j, " ", v.status().message()));
      inputs[k].push_back(*v);
    }
    d.outputs = std::move(specs[k]);
    d.name = np.name();
    if (d.op == kInputOp) {
      switch (np.role()) {
        case ROLE_INPUT: d.role = InputRole::kInput; break;
        case ROLE_STATE: d.role = InputRole::kState; break;
        case ROLE_PARAM: d.role = InputRole::kParam; break;
        default: return err.Node(k, absl::StrCat("an input needs a role, got ", np.role()));
      }
    } else if (np.role() != ROLE_UNSPECIFIED) {
      return err.Node(k, "only an Input node has a role");
    }
    if (d.op == kConstantOp) {
      if (!np.has_value()) return err.Node(k, "a constant needs a value");
      absl::StatusOr<Tensor> t = TensorFromProto(np.value(), "value");
      if (!t.ok()) return err.Node(k, t.status().message());
      d.value = *std::move(t);
    } else if (np.has_value()) {
      return err.Node(k, "only a Constant node has a value");
    }
    switch (np.placement()) {
      case PLACEMENT_STEP: d.placement = Placement::kStep; break;
      case PLACEMENT_INVARIANT: d.placement = Placement::kInvariant; break;
      case PLACEMENT_HOISTED: d.placement = Placement::kTimeBatched; break;
      default: return err.Node(k, absl::StrCat("unknown placement ", np.placement()));
    }
    g.AddNodeUnchecked(std::move(d));
  }
  for (int k = 0; k < n; ++k) {
    if (!inputs[k].empty()) g.SetInputs(k, std::move(inputs[k]));
  }
  for (int k = 0; k < p.outputs_size(); ++k) {
    const GraphOutputProto& o = p.outputs(k);
    if (!o.has_value()) return err.Graph(absl::StrCat("output ", o.name(), " has no value"));
    absl::StatusOr<ValueRef> v = RefFromProto(o.value(), arity);
    if (!v.ok()) return err.Graph(absl::StrCat("output ", o.name(), " ", v.status().message()));
    g.AddOutput(o.name(), *v);
  }
  const absl::Status verified = Verify(g);
  // A cycle is FailedPrecondition for a graph in memory; in a proto it is bad input.
  if (!verified.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("GraphProto: ", verified.message()));
  }
  return g;
}

}  // namespace gatefuse
