#include "graph/compiled_schedule.h"

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status.h"
#include "graph/compiled_codegen.h"
#include "graph/text.h"

namespace gatefuse::compiled {

void Layout::Materialize(NodeId id) {
  Slot& slot = slots[id];
  if (slot.kind != Slot::kRegister || slot.materialized) return;
  slot.materialized = true;
  slot.region = {static_cast<int>(s.buffers.size()), 0, 0, graph.node(id).outputs[0].shape[1]};
  s.buffers.push_back({BufferKind::kValue, NodeLabel(graph, id), slot.region.width});
}

absl::Status Layout::Unsupported(const std::string& why) const {
  return absl::InvalidArgumentError(
      absl::StrCat("cell ", graph.name(), ": no compiled plan: ", why));
}

bool IsRowReduction(const std::string& op) { return op == "Sum" || op == "Mean"; }

namespace {

// The width n of a [B, n] value; 0 for any other shape.
int64_t RowWidth(const Shape& s) { return s.rank() == 2 ? s[1] : 0; }

// Whether a boundary value of this shape broadcasts over [rows, width].
bool Broadcasts(const Shape& s, int64_t width) {
  const int64_t n = s.rank() == 0 ? 1 : s[s.rank() - 1];
  if (s.rank() > 2 || (s.rank() == 2 && s[0] != 1)) return false;
  return n == width || n == 1;
}

class Builder {
 public:
  explicit Builder(const Graph& g) : l_(g), g_(g) {}

  absl::StatusOr<Structure> Build() {
    GF_ASSIGN_OR_RETURN(l_.s.sig, GetCellSignature(g_));
    l_.s.name = g_.name();
    GF_ASSIGN_OR_RETURN(std::vector<NodeId> order, g_.TopologicalOrder());
    // A graph no pass has placed is the unfused equations: it stays the op-by-op
    // reference (what `compile --verify` and CompareCellGraphs compare against).
    bool placed = false;
    for (NodeId id : order) {
      if (g_.node(id).op == "FusedCell") {
        return Unsupported(absl::StrCat("node ", NodeLabel(g_, id),
                                        " is a recognised FusedCell (its kernel runs instead)"));
      }
      placed = placed || g_.node(id).placement != Placement::kStep;
    }
    if (!placed) {
      return Unsupported("no node is @hoisted or @invariant (the hoist-time-loop pass has not run)");
    }
    l_.slots.assign(g_.num_node_slots(), {});
    const NodeId x = g_.FindInput(l_.s.sig.input);
    l_.s.I = g_.node(x).outputs[0].shape[1];
    l_.s.buffers.push_back({BufferKind::kInput, l_.s.sig.input, l_.s.I});
    for (const std::string& st : l_.s.sig.states) {
      const int64_t h = g_.node(g_.FindInput(st)).outputs[0].shape[1];
      l_.s.state_width.push_back(h);
      l_.s.state_buffer.push_back(static_cast<int>(l_.s.buffers.size()));
      l_.s.buffers.push_back({BufferKind::kState, st, h});
    }
    GF_RETURN_IF_ERROR(FindStateOutputs());
    ComputeLevels(order, x);
    for (NodeId id : order) GF_RETURN_IF_ERROR(Visit(id));
    for (size_t k = 0; k < l_.s.sig.states.size(); ++k) {
      const ValueRef v = next_[k];
      if (l_.slots[v.node].kind != Slot::kRegister && !concat_next_.count(v.node)) {
        return Unsupported(absl::StrCat("the next value of state ", l_.s.sig.states[k], " (",
                                        NodeLabel(g_, v.node),
                                        ", ", g_.node(v.node).op,
                                        ") is not computed by an elementwise op, a reduction "
                                        "or a Concat"));
      }
    }
    for (GroupDef& group : l_.s.groups) GF_RETURN_IF_ERROR(EmitGroup(l_, group));
    StoreSoleAdjoints(l_.s);
    return std::move(l_.s);
  }

 private:
  absl::Status Unsupported(const std::string& why) const { return l_.Unsupported(why); }

  absl::Status FindStateOutputs() {
    for (const std::string& st : l_.s.sig.states) {
      for (const GraphOutput& o : g_.outputs()) {
        if (o.name == st) next_.push_back(o.value);
      }
    }
    for (size_t a = 0; a < next_.size(); ++a) {
      if (next_[a].index != 0) {
        return Unsupported(absl::StrCat("the next value of state ", l_.s.sig.states[a],
                                        " is output ", next_[a].index, " of node ",
                                        NodeLabel(g_, next_[a].node), " (",
                                        g_.node(next_[a].node).op, ")"));
      }
      for (size_t b = 0; b < a; ++b) {
        if (next_[a] == next_[b]) {
          return Unsupported(absl::StrCat("states ", l_.s.sig.states[b], " and ",
                                          l_.s.sig.states[a], " share one next value"));
        }
      }
    }
    return absl::OkStatus();
  }

  // The level each pointwise node runs at: the highest level of its row inputs
  // (a GEMM of level L consumes level L - 1; a slice of a pointwise value waits one
  // level, and so does a pointwise value of another home width or a Concat, which
  // another group writes); then, in reverse, a node read only by pointwise nodes of
  // its home width sinks to the lowest of their levels, so x@W + b is added in the
  // pass that uses it. A Concat runs at the level after its parts (its copies).
  void ComputeLevels(const std::vector<NodeId>& order, NodeId x) {
    std::vector<int> level(g_.num_node_slots(), 0);
    std::vector<bool> pw(g_.num_node_slots(), false);
    std::vector<int64_t> hw(g_.num_node_slots(), 0);
    for (NodeId id : order) {
      const NodeData& d = g_.node(id);
      if (d.op == kInputOp || d.op == kConstantOp || d.placement == Placement::kInvariant ||
          d.inputs.empty()) {
        continue;
      }
      if (d.op == "MatMul") {
        const bool hoisted =
            d.placement == Placement::kTimeBatched && d.inputs[0] == ValueRef{x, 0};
        level[id] = hoisted ? 0 : level[d.inputs[0].node] + 1;
      } else if (d.op == "Slice") {
        level[id] = level[d.inputs[0].node] + (pw[d.inputs[0].node] ? 1 : 0);
      } else if (d.op == "Concat") {
        level[id] = 1;
        for (const ValueRef& v : d.inputs) {
          level[id] = std::max(level[id], level[v.node] + (pw[v.node] ? 1 : 0));
        }
        pw[id] = true;
        hw[id] = -1;  // no group's: its readers wait a level
      } else if (LoweringOf(d.op) != nullptr || IsRowReduction(d.op)) {
        hw[id] = HomeWidth(id, pw, hw);
        level[id] = 1;
        for (const ValueRef& v : d.inputs) {
          const bool other_group = pw[v.node] && hw[v.node] != hw[id];
          level[id] = std::max(level[id], level[v.node] + (other_group ? 1 : 0));
        }
        pw[id] = true;
      }
    }
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      if (!pw[*it] || StateOf(*it) >= 0 || g_.node(*it).op == "Concat") continue;
      const std::vector<std::pair<NodeId, int>> uses = g_.Uses(*it);
      int lowest = -1;
      bool all_pointwise = !uses.empty();
      for (const auto& [user, slot] : uses) {
        all_pointwise = all_pointwise && pw[user] && hw[user] == hw[*it];
        lowest = lowest < 0 ? level[user] : std::min(lowest, level[user]);
      }
      if (all_pointwise) level[*it] = std::max(level[*it], lowest);
    }
    level_ = std::move(level);
    home_width_ = std::move(hw);
  }

  // The row width of the group a pointwise node joins: its own width n for a
  // [B, n] value, the reduced width for a reduction, and for any other [B, 1]
  // value the widest home width of the pointwise values it is computed from (1
  // if none: a group of [B, 1] values).
  int64_t HomeWidth(NodeId id, const std::vector<bool>& pw, const std::vector<int64_t>& hw) const {
    const NodeData& d = g_.node(id);
    if (IsRowReduction(d.op)) return d.inputs.empty() ? 0 : RowWidth(g_.spec(d.inputs[0]).shape);
    const int64_t width = RowWidth(d.outputs[0].shape);
    if (width != 1) return width;
    int64_t home = 1;
    for (const ValueRef& v : d.inputs) {
      if (pw[v.node]) home = std::max(home, hw[v.node]);
    }
    return home;
  }

  int StateOf(NodeId id) const {
    for (size_t k = 0; k < next_.size(); ++k) {
      if (next_[k].node == id) return static_cast<int>(k);
    }
    return -1;
  }

  int AddBoundary(NodeId id) {
    auto it = l_.boundary_of.find(id);
    if (it != l_.boundary_of.end()) return it->second;
    const NodeData& d = g_.node(id);
    BoundaryDef b{{id, 0}, NodeLabel(g_, id), d.outputs[0].shape, d.op == kConstantOp};
    l_.s.boundary.push_back(b);
    const int k = static_cast<int>(l_.s.boundary.size()) - 1;
    l_.boundary_of[id] = k;
    return k;
  }

  // A row-valued operand (in memory, or a register to materialize) for a GEMM or slice.
  absl::StatusOr<Slot> RowOperand(const ValueRef& v, NodeId user) {
    Slot& s = l_.slots[v.node];
    if (s.kind == Slot::kRegister) l_.Materialize(v.node);
    if (s.kind != Slot::kRegion && s.kind != Slot::kRegister) {
      return Unsupported(absl::StrCat("node ", NodeLabel(g_, user), " (", g_.node(user).op,
                                      ") reads ", NodeLabel(g_, v.node),
                                      " as a per-row value"));
    }
    return s;
  }

  absl::Status Visit(NodeId id) {
    const NodeData& d = g_.node(id);
    Slot& slot = l_.slots[id];
    if (d.op == kInputOp) {
      if (d.role == InputRole::kInput) {
        slot.kind = Slot::kRegion;
        slot.region = {0, 0, 0, l_.s.I};
      } else if (d.role == InputRole::kState) {
        for (size_t k = 0; k < l_.s.sig.states.size(); ++k) {
          if (l_.s.sig.states[k] == d.name) {
            slot.kind = Slot::kRegion;
            slot.region = {l_.s.state_buffer[k], 0, 0, l_.s.state_width[k]};
          }
        }
      } else {
        slot.kind = Slot::kBoundary;
      }
      return absl::OkStatus();
    }
    if (d.op == kConstantOp) {
      slot.kind = Slot::kBoundary;
      return absl::OkStatus();
    }
    if (d.placement == Placement::kInvariant) {
      slot.kind = Slot::kBoundary;
      l_.s.invariant_nodes.push_back(id);
      return absl::OkStatus();
    }
    const bool reduction = IsRowReduction(d.op);
    if (reduction) GF_RETURN_IF_ERROR(CheckRowReduction(id));
    if (d.outputs.size() != 1 || d.outputs[0].shape.rank() != 2) {
      return Unsupported(absl::StrCat("node ", NodeLabel(g_, id), " (", d.op,
                                      ") is not one [B, n] value"));
    }
    if (d.outputs[0].dtype != DType::kF32) {
      return Unsupported(absl::StrCat("node ", NodeLabel(g_, id), " (", d.op, ") is ",
                                      DTypeName(d.outputs[0].dtype), ", the plan runs f32"));
    }
    const int64_t width = d.outputs[0].shape[1];
    if (d.op == "MatMul") return VisitMatMul(id, width);
    if (d.op == "Concat") return VisitConcat(id, width);
    if (d.op == "Slice") {
      GF_ASSIGN_OR_RETURN(const int64_t axis, d.attrs.GetInt("Slice", "axis"));
      GF_ASSIGN_OR_RETURN(const int64_t start, d.attrs.GetInt("Slice", "start"));
      if (axis != 1 && axis != -1) {
        return Unsupported(absl::StrCat("node ", NodeLabel(g_, id), " slices the batch axis"));
      }
      GF_ASSIGN_OR_RETURN(const Slot src, RowOperand(d.inputs[0], id));
      slot.kind = Slot::kRegion;
      slot.region = src.region;
      slot.region.col += start;
      slot.region.width = width;
      slot.level = src.level + (src.pointwise ? 1 : 0);
      return absl::OkStatus();
    }
    if (!reduction && LoweringOf(d.op) == nullptr) {
      return Unsupported(absl::StrCat("op ", d.op, " (node ", NodeLabel(g_, id),
                                      ") has no compiled form"));
    }
    const int level = level_[id];
    for (const ValueRef& v : d.inputs) {
      const Slot& in = l_.slots[v.node];
      if (v.index != 0) {
        return Unsupported(absl::StrCat("node ", NodeLabel(g_, id), " reads output ", v.index,
                                        " of a multi-output node"));
      }
      if (in.kind == Slot::kBoundary && !reduction) {
        if (!Broadcasts(g_.spec(v).shape, width)) {
          return Unsupported(absl::StrCat("node ", NodeLabel(g_, id), " broadcasts ",
                                          NodeLabel(g_, v.node), " ",
                                          g_.spec(v).shape.ToString(), " over [B, ", width,
                                          "]"));
        }
        AddBoundary(v.node);
        continue;
      }
      const int64_t in_width = RowWidth(g_.spec(v).shape);
      if ((in.kind != Slot::kRegion && in.kind != Slot::kRegister) || in_width == 0) {
        return Unsupported(absl::StrCat("node ", NodeLabel(g_, id), " (", d.op, ") reads ",
                                        NodeLabel(g_, v.node), " ", g_.spec(v).shape.ToString(),
                                        ", which is no [B, n] value of the step"));
      }
      if (!reduction && in_width != width && in_width != 1) {
        return Unsupported(absl::StrCat("node ", NodeLabel(g_, id), " (", d.op, ") reads ",
                                        NodeLabel(g_, v.node), " [B, ", in_width,
                                        "] against [B, ", width,
                                        "]: only [B, 1] values broadcast over the features"));
      }
    }
    slot.kind = Slot::kRegister;
    slot.level = level;
    slot.pointwise = true;
    slot.group = GroupFor(level, home_width_[id]);
    // A value of another group is read from memory.
    for (const ValueRef& v : d.inputs) {
      if (l_.slots[v.node].kind == Slot::kRegister && l_.slots[v.node].group != slot.group) {
        l_.Materialize(v.node);
      }
    }
    l_.s.groups[slot.group].nodes.push_back(id);
    l_.s.max_level = std::max(l_.s.max_level, level);
    l_.s.op_by_op_floats += width;
    const int state = StateOf(id);
    if (state >= 0) {
      slot.materialized = true;
      slot.region = {l_.s.state_buffer[state], 1, 0, width};
    }
    // A row sum is saved ([T, B, 1]): the backward reads it instead of sweeping
    // the row again to recompute it.
    if (reduction) l_.Materialize(id);
    return absl::OkStatus();
  }

  absl::Status CheckRowReduction(NodeId id) const {
    const NodeData& d = g_.node(id);
    GF_ASSIGN_OR_RETURN(const std::vector<int64_t> axes, d.attrs.GetInts(d.op, "axes"));
    GF_ASSIGN_OR_RETURN(const int64_t keepdims, d.attrs.GetInt(d.op, "keepdims"));
    const Shape& in = g_.spec(d.inputs[0]).shape;
    const bool features = in.rank() == 2 && axes.size() == 1 && (axes[0] == 1 || axes[0] == -1);
    if (features && keepdims != 0) return absl::OkStatus();
    return Unsupported(absl::StrCat(
        "node ", NodeLabel(g_, id), " (", d.op, ") reduces ",
        axes.empty() ? std::string("all axes")
                     : absl::StrCat("axes {", absl::StrJoin(axes, ", "), "}"),
        keepdims != 0 ? "" : " without keepdims", " of ", in.ToString(),
        ": the plan takes reductions over the features only (axes {1}, keepdims: [B, n] -> "
        "[B, 1])"));
  }

  // A Concat along the features is a buffer of its own (or, as a state's next
  // value, the state's history): a part a pointwise group computes is stored into
  // its columns by that group; any other part is copied there by a copy group.
  absl::Status VisitConcat(NodeId id, int64_t width) {
    const NodeData& d = g_.node(id);
    GF_ASSIGN_OR_RETURN(const int64_t axis, d.attrs.GetInt("Concat", "axis"));
    if (axis != 1 && axis != -1) {
      return Unsupported(absl::StrCat("node ", NodeLabel(g_, id),
                                      " (Concat) concatenates along the batch axis"));
    }
    const int state = StateOf(id);
    Region out{static_cast<int>(l_.s.buffers.size()), 0, 0, width};
    if (state >= 0) {
      out = {l_.s.state_buffer[state], 1, 0, width};
      concat_next_.insert(id);
    } else {
      l_.s.buffers.push_back({BufferKind::kValue, NodeLabel(g_, id), width});
    }
    const int level = level_[id];
    int64_t col = 0;
    for (const ValueRef& v : d.inputs) {
      Slot& in = l_.slots[v.node];
      const int64_t w = RowWidth(g_.spec(v).shape);
      if (v.index != 0 || w == 0 || (in.kind != Slot::kRegion && in.kind != Slot::kRegister)) {
        return Unsupported(absl::StrCat("node ", NodeLabel(g_, id), " (Concat) joins ",
                                        NodeLabel(g_, v.node), " ", g_.spec(v).shape.ToString(),
                                        ", which is no [B, n] value of the step"));
      }
      Region to = out;
      to.col += col;
      to.width = w;
      col += w;
      if (in.kind == Slot::kRegister && !in.materialized) {
        in.materialized = true;
        in.region = to;
        continue;
      }
      GroupDef copy;
      copy.level = level;
      copy.width = w;
      copy.copy = CopyDef{id, v, in.region, to};
      l_.s.groups.push_back(std::move(copy));
    }
    Slot& slot = l_.slots[id];
    slot.kind = Slot::kRegion;
    slot.region = out;
    slot.level = level;
    slot.pointwise = true;
    l_.s.max_level = std::max(l_.s.max_level, level);
    l_.s.op_by_op_floats += width;
    return absl::OkStatus();
  }

  absl::Status VisitMatMul(NodeId id, int64_t width) {
    const NodeData& d = g_.node(id);
    GF_ASSIGN_OR_RETURN(const int64_t ta, d.attrs.GetInt("MatMul", "transpose_a"));
    GF_ASSIGN_OR_RETURN(const int64_t tb, d.attrs.GetInt("MatMul", "transpose_b"));
    if (ta != 0) return Unsupported(absl::StrCat("MatMul ", NodeLabel(g_, id), " transposes its left operand"));
    const ValueRef rhs = d.inputs[1];
    if (rhs.index != 0 || d.inputs[0].index != 0) {
      return Unsupported(absl::StrCat("MatMul ", NodeLabel(g_, id), " reads a multi-output node"));
    }
    if (l_.slots[rhs.node].kind != Slot::kBoundary || g_.spec(rhs).shape.rank() != 2) {
      return Unsupported(absl::StrCat("MatMul ", NodeLabel(g_, id),
                                      " multiplies by a value that changes per step"));
    }
    GF_ASSIGN_OR_RETURN(const Slot lhs, RowOperand(d.inputs[0], id));
    GemmDef gemm;
    gemm.node = id;
    gemm.hoisted = d.placement == Placement::kTimeBatched && lhs.region.buffer == 0 &&
                   lhs.kind == Slot::kRegion;
    gemm.level = gemm.hoisted ? 0 : lhs.level + 1;
    gemm.lhs = lhs.region;
    gemm.weight = AddBoundary(rhs.node);
    gemm.transpose_b = tb != 0;
    gemm.K = lhs.region.width;
    gemm.N = width;
    gemm.out_buffer = static_cast<int>(l_.s.buffers.size());
    l_.s.buffers.push_back({gemm.hoisted ? BufferKind::kHoisted : BufferKind::kGemm,
                            NodeLabel(g_, id), width});
    l_.s.gemms.push_back(gemm);
    l_.s.max_level = std::max(l_.s.max_level, gemm.level);
    l_.s.op_by_op_floats += width;
    Slot& slot = l_.slots[id];
    slot.kind = Slot::kRegion;
    slot.region = {gemm.out_buffer, 0, 0, width};
    slot.level = gemm.level;
    return absl::OkStatus();
  }

  int GroupFor(int level, int64_t width) {
    for (size_t k = 0; k < l_.s.groups.size(); ++k) {
      const GroupDef& g = l_.s.groups[k];
      if (!g.copy && g.level == level && g.width == width) return static_cast<int>(k);
    }
    GroupDef group;
    group.level = level;
    group.width = width;
    l_.s.groups.push_back(std::move(group));
    return static_cast<int>(l_.s.groups.size()) - 1;
  }

  Layout l_;
  const Graph& g_;
  std::vector<ValueRef> next_;      // per state
  std::vector<int> level_;          // per node: the level of a pointwise node
  std::vector<int64_t> home_width_; // per node: the row width of a pointwise node's group
  std::set<NodeId> concat_next_;    // Concats that are a state's next value
};

}  // namespace

// The structures of the graphs seen so far (or why they have none), by text form.
absl::StatusOr<std::shared_ptr<const Structure>> StructureOf(const Graph& cell,
                                                             const std::string& text) {
  static std::mutex mu;
  static auto* cache = new std::map<std::string, absl::StatusOr<std::shared_ptr<const Structure>>>;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache->find(text);
  if (it == cache->end()) {
    absl::StatusOr<Structure> s = Builder(cell).Build();
    absl::StatusOr<std::shared_ptr<const Structure>> entry =
        s.ok() ? absl::StatusOr<std::shared_ptr<const Structure>>(
                     std::make_shared<const Structure>(*std::move(s)))
               : absl::StatusOr<std::shared_ptr<const Structure>>(s.status());
    it = cache->emplace(text, std::move(entry)).first;
  }
  return it->second;
}

absl::StatusOr<std::shared_ptr<const Structure>> StructureOf(const Graph& cell) {
  return StructureOf(cell, PrintGraph(cell));
}

}  // namespace gatefuse::compiled
