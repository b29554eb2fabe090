#include "graph/verifier.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "graph/text.h"

namespace gatefuse {
namespace {

absl::Status NodeError(const Graph& g, NodeId id, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("graph ", g.name(), ": node ",
                                                 NodeLabel(g, id), " (", g.node(id).op, "): ",
                                                 what));
}

bool ValidRef(const Graph& g, ValueRef v) {
  return v.node >= 0 && v.node < g.num_node_slots() && !g.node(v.node).dead && v.index >= 0 &&
         v.index < static_cast<int>(g.node(v.node).outputs.size());
}

}  // namespace

absl::Status VerifyNode(const Graph& g, NodeId id) {
  const NodeData& d = g.node(id);
  for (size_t k = 0; k < d.inputs.size(); ++k) {
    if (!ValidRef(g, d.inputs[k])) {
      return NodeError(g, id, absl::StrCat("input ", k, " refers to no value (dangling edge)"));
    }
  }
  if (d.op == kInputOp) {
    if (!d.inputs.empty()) return NodeError(g, id, "an input takes no operands");
    if (d.name.empty()) return NodeError(g, id, "an input needs a name");
    if (d.outputs.size() != 1) return NodeError(g, id, "an input has one value");
    return absl::OkStatus();
  }
  if (d.op == kConstantOp) {
    if (!d.inputs.empty() || d.outputs.size() != 1 || !d.value.defined() ||
        d.value.shape() != d.outputs[0].shape || d.value.dtype() != d.outputs[0].dtype) {
      return NodeError(g, id, "a constant has no operands and one value matching its type");
    }
    return absl::OkStatus();
  }
  absl::StatusOr<const OpDef*> def = OpRegistry::Global().Find(d.op);
  if (!def.ok()) return NodeError(g, id, std::string(def.status().message()));
  std::vector<TensorSpec> in;
  for (const ValueRef& v : d.inputs) in.push_back(g.spec(v));
  absl::StatusOr<std::vector<TensorSpec>> out = InferOutputs(**def, in, d.attrs);
  if (!out.ok()) return NodeError(g, id, std::string(out.status().message()));
  if (*out != d.outputs) {
    std::string want, have;
    for (const TensorSpec& s : *out) absl::StrAppend(&want, want.empty() ? "" : ", ", s.ToString());
    for (const TensorSpec& s : d.outputs) absl::StrAppend(&have, have.empty() ? "" : ", ", s.ToString());
    return NodeError(g, id, absl::StrCat("declared ", have, " but the op gives ", want));
  }
  return absl::OkStatus();
}

absl::Status Verify(const Graph& g) {
  std::set<std::string> input_names;
  for (NodeId id = 0; id < g.num_node_slots(); ++id) {
    const NodeData& d = g.node(id);
    if (d.dead) continue;
    GF_RETURN_IF_ERROR(VerifyNode(g, id));
    if (d.op == kInputOp && !input_names.insert(d.name).second) {
      return NodeError(g, id, absl::StrCat("input name '", d.name, "' is used twice"));
    }
  }
  std::set<std::string> output_names;
  for (const GraphOutput& o : g.outputs()) {
    if (!ValidRef(g, o.value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("graph ", g.name(), ": output ", o.name, " refers to no value"));
    }
    if (!output_names.insert(o.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("graph ", g.name(), ": output name '", o.name, "' is used twice"));
    }
  }
  const NodeId on_cycle = g.NodeOnCycle();
  if (on_cycle >= 0) {
    return absl::FailedPreconditionError(NodeError(g, on_cycle, "is on a cycle").message());
  }
  return absl::OkStatus();
}

}  // namespace gatefuse
