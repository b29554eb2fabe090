#include "passes/distribute_slices.h"

#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "passes/graph_util.h"

namespace gatefuse {
namespace {

constexpr int kMaxRounds = 20;

const std::set<std::string>& UnaryElementwise() {
  static const auto* ops = new std::set<std::string>{"Sigmoid", "Tanh", "Relu", "Exp", "Log",
                                                     "Neg", "AddScalar", "MulScalar",
                                                     "RSubScalar", "Step"};
  return *ops;
}

struct SliceSpec {
  int axis_from_end;  // -1 for the last axis
  int64_t start, end;
};

// The slice node `id` as an axis counted from the end, if it is a slice.
std::optional<SliceSpec> AsSlice(const Graph& g, NodeId id) {
  const NodeData& d = g.node(id);
  if (d.op != "Slice") return std::nullopt;
  const int rank = g.spec(d.inputs[0]).shape.rank();
  auto axis = NormalizeAxis(*d.attrs.GetInt("Slice", "axis"), rank, "Slice");
  if (!axis.ok()) return std::nullopt;
  return SliceSpec{*axis - rank, *d.attrs.GetInt("Slice", "start"),
                   *d.attrs.GetInt("Slice", "end")};
}

// Every use of node `id` is a Slice along the last axis (and it has some).
bool OnlySlicedAlongLastAxis(const Graph& g, NodeId id) {
  const auto uses = g.Uses(id);
  if (uses.empty()) return false;
  for (const GraphOutput& o : g.outputs()) {
    if (o.value.node == id) return false;
  }
  for (const auto& [consumer, slot] : uses) {
    auto s = AsSlice(g, consumer);
    if (!s || s->axis_from_end != -1) return false;
  }
  return true;
}

absl::StatusOr<ValueRef> SliceLast(Graph& g, ValueRef v, int64_t start, int64_t end) {
  const Shape& s = g.spec(v).shape;
  GF_ASSIGN_OR_RETURN(NodeId n, g.AddNode("Slice", {v}, {{"axis", int64_t{s.rank() - 1}},
                                                         {"start", start},
                                                         {"end", end}}));
  return ValueRef{n, 0};
}

// Rewrites slice node `id` of a distributable producer; true if it did.
absl::StatusOr<bool> PushSlice(Graph& g, NodeId id) {
  const NodeData& slice = g.node(id);
  const ValueRef src = slice.inputs[0];
  const NodeData& p = g.node(src.node);
  const std::optional<SliceSpec> spec = AsSlice(g, id);
  if (!spec || spec->axis_from_end != -1 || !OnlySlicedAlongLastAxis(g, src.node)) return false;
  const int64_t full = g.spec(src).shape[g.spec(src).shape.rank() - 1];
  ValueRef result;
  if (p.op == "AddN") {
    std::vector<ValueRef> terms;
    for (const ValueRef& t : p.inputs) {
      const Shape& s = g.spec(t).shape;
      if (s.rank() >= 1 && s[s.rank() - 1] == full) {
        GF_ASSIGN_OR_RETURN(ValueRef sliced, SliceLast(g, t, spec->start, spec->end));
        terms.push_back(sliced);
      } else if (s.rank() == 0 || s[s.rank() - 1] == 1) {
        terms.push_back(t);  // broadcast along the sliced axis: unchanged
      } else {
        return false;
      }
    }
    GF_ASSIGN_OR_RETURN(NodeId n, g.AddNode("AddN", terms));
    result = {n, 0};
  } else if (p.op == "MatMul") {
    const int64_t tb = *p.attrs.GetInt("MatMul", "transpose_b");
    const ValueRef w = p.inputs[1];
    GF_ASSIGN_OR_RETURN(NodeId ws, g.AddNode("Slice", {w}, {{"axis", tb ? int64_t{0} : int64_t{1}},
                                                            {"start", spec->start},
                                                            {"end", spec->end}}));
    GF_ASSIGN_OR_RETURN(NodeId n, g.AddNode("MatMul", {p.inputs[0], {ws, 0}}, p.attrs));
    result = {n, 0};
  } else if (UnaryElementwise().count(p.op)) {
    GF_ASSIGN_OR_RETURN(ValueRef inner, SliceLast(g, p.inputs[0], spec->start, spec->end));
    GF_ASSIGN_OR_RETURN(NodeId n, g.AddNode(p.op, {inner}, p.attrs));
    result = {n, 0};
  } else {
    return false;
  }
  g.ReplaceAllUses({id, 0}, result);
  g.RemoveNode(id);
  return true;
}

// MatMul(Concat(a, b, ...; last axis), W) -> AddN(MatMul(a, W rows), MatMul(b, W rows), ...)
absl::StatusOr<bool> SplitConcatMatMul(Graph& g, NodeId id) {
  const NodeData& mm = g.node(id);
  if (mm.op != "MatMul" || *mm.attrs.GetInt("MatMul", "transpose_a") != 0) return false;
  const NodeData& cat = g.node(mm.inputs[0].node);
  if (cat.op != "Concat") return false;
  const int rank = g.spec(mm.inputs[0]).shape.rank();
  auto axis = NormalizeAxis(*cat.attrs.GetInt("Concat", "axis"), rank, "Concat");
  if (!axis.ok() || *axis != rank - 1) return false;
  const int64_t tb = *mm.attrs.GetInt("MatMul", "transpose_b");
  const ValueRef w = mm.inputs[1];
  const Attrs attrs = mm.attrs;
  const std::vector<ValueRef> parts = cat.inputs;
  std::vector<ValueRef> terms;
  int64_t row = 0;
  for (const ValueRef& part : parts) {
    const int64_t k = g.spec(part).shape[rank - 1];
    GF_ASSIGN_OR_RETURN(NodeId ws, g.AddNode("Slice", {w}, {{"axis", tb ? int64_t{1} : int64_t{0}},
                                                            {"start", row},
                                                            {"end", row + k}}));
    GF_ASSIGN_OR_RETURN(NodeId t, g.AddNode("MatMul", {part, {ws, 0}}, attrs));
    terms.push_back({t, 0});
    row += k;
  }
  GF_ASSIGN_OR_RETURN(NodeId sum, g.AddNode("AddN", terms));
  g.ReplaceAllUses({id, 0}, {sum, 0});
  g.RemoveNode(id);
  return true;
}

}  // namespace

absl::StatusOr<bool> DistributeSlices::Run(Graph& g) {
  bool changed = false;
  for (int round = 0; round < kMaxRounds; ++round) {
    GF_ASSIGN_OR_RETURN(std::vector<NodeId> order, g.TopologicalOrder());
    bool any = false;
    for (NodeId id : order) {
      if (g.node(id).dead) continue;
      GF_ASSIGN_OR_RETURN(bool a, SplitConcatMatMul(g, id));
      bool b = false;
      if (!a && g.node(id).op == "Slice") {
        GF_ASSIGN_OR_RETURN(b, PushSlice(g, id));
      }
      any = any || a || b;
    }
    // Producers whose slices all moved down are now unused.
    for (NodeId id = 0; id < g.num_node_slots(); ++id) {
      const NodeData& d = g.node(id);
      if (!d.dead && d.op != kInputOp && g.Uses(id).empty()) {
        bool is_output = false;
        for (const GraphOutput& o : g.outputs()) is_output = is_output || o.value.node == id;
        if (!is_output) g.RemoveNode(id);
      }
    }
    changed = changed || any;
    if (!any) return changed;
  }
  return absl::InternalError(absl::StrCat("distribute-slices did not settle in ", kMaxRounds,
                                          " rounds"));
}

}  // namespace gatefuse
