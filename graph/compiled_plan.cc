#include "graph/compiled_plan.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "graph/text.h"

namespace gatefuse::compiled {
namespace {

using pointwise::Instr;
using pointwise::Op;

// The interpreter op of each elementwise op but Add/AddN (a chain of adds);
// binary ops read registers a and b, *Scalar ops the attribute "value".
const std::map<std::string, Op>& PointwiseOps() {
  static const auto* ops = new std::map<std::string, Op>{
      {"Sub", Op::kSub},           {"Mul", Op::kMul},           {"Div", Op::kDiv},
      {"Neg", Op::kNeg},           {"AddScalar", Op::kAddScalar}, {"MulScalar", Op::kMulScalar},
      {"RSubScalar", Op::kRSubScalar}, {"Sigmoid", Op::kSigmoid}, {"Tanh", Op::kTanh},
      {"Relu", Op::kRelu},         {"Step", Op::kStep},         {"Exp", Op::kExp},
      {"Log", Op::kLog}};
  return *ops;
}

bool IsElementwise(const std::string& op) {
  return op == "Add" || op == "AddN" || PointwiseOps().count(op) > 0;
}

// Whether a boundary value of this shape broadcasts over [rows, width].
bool Broadcasts(const Shape& s, int64_t width) {
  const int64_t n = s.rank() == 0 ? 1 : s[s.rank() - 1];
  if (s.rank() > 2 || (s.rank() == 2 && s[0] != 1)) return false;
  return n == width || n == 1;
}

class Builder {
 public:
  explicit Builder(const Graph& g) : g_(g) {}

  absl::StatusOr<Structure> Build() {
    GF_ASSIGN_OR_RETURN(s_.sig, GetCellSignature(g_));
    s_.name = g_.name();
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
    slots_.assign(g_.num_node_slots(), {});
    const NodeId x = g_.FindInput(s_.sig.input);
    s_.I = g_.node(x).outputs[0].shape[1];
    s_.buffers.push_back({BufferKind::kInput, s_.sig.input, s_.I});
    for (const std::string& st : s_.sig.states) {
      const int64_t h = g_.node(g_.FindInput(st)).outputs[0].shape[1];
      s_.state_width.push_back(h);
      s_.state_buffer.push_back(static_cast<int>(s_.buffers.size()));
      s_.buffers.push_back({BufferKind::kState, st, h});
    }
    GF_RETURN_IF_ERROR(FindStateOutputs());
    ComputeLevels(order, x);
    for (NodeId id : order) GF_RETURN_IF_ERROR(Visit(id));
    for (size_t k = 0; k < s_.sig.states.size(); ++k) {
      const ValueRef v = next_[k];
      if (slots_[v.node].kind != Slot::kRegister) {
        return Unsupported(absl::StrCat("the next value of state ", s_.sig.states[k], " (",
                                        NodeLabel(g_, v.node),
                                        ") is not computed by an elementwise op"));
      }
    }
    for (GroupDef& group : s_.groups) GF_RETURN_IF_ERROR(Emit(group));
    return std::move(s_);
  }

 private:
  absl::Status Unsupported(const std::string& why) const {
    return absl::InvalidArgumentError(
        absl::StrCat("cell ", g_.name(), ": no compiled plan: ", why));
  }

  absl::Status FindStateOutputs() {
    for (const std::string& st : s_.sig.states) {
      for (const GraphOutput& o : g_.outputs()) {
        if (o.name == st) next_.push_back(o.value);
      }
    }
    for (size_t a = 0; a < next_.size(); ++a) {
      if (next_[a].index != 0) return Unsupported("a state's next value is a multi-output op");
      for (size_t b = 0; b < a; ++b) {
        if (next_[a] == next_[b]) {
          return Unsupported(absl::StrCat("states ", s_.sig.states[b], " and ",
                                          s_.sig.states[a], " share one next value"));
        }
      }
    }
    return absl::OkStatus();
  }

  // The level each pointwise node runs at: the highest level of its row inputs
  // (a GEMM of level L consumes level L - 1; a slice of a pointwise value waits one
  // level); then, in reverse, a node read only by elementwise ops of its width sinks
  // to the lowest of their levels, so x@W + b is added in the pass that uses it.
  void ComputeLevels(const std::vector<NodeId>& order, NodeId x) {
    std::vector<int> level(g_.num_node_slots(), 0);
    std::vector<bool> pw(g_.num_node_slots(), false);
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
      } else if (IsElementwise(d.op)) {
        level[id] = 1;
        for (const ValueRef& v : d.inputs) level[id] = std::max(level[id], level[v.node]);
        pw[id] = true;
      }
    }
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      const NodeData& d = g_.node(*it);
      if (!pw[*it] || StateOf(*it) >= 0) continue;
      const std::vector<std::pair<NodeId, int>> uses = g_.Uses(*it);
      int lowest = -1;
      bool all_pointwise = !uses.empty();
      for (const auto& [user, slot] : uses) {
        const NodeData& u = g_.node(user);
        all_pointwise = all_pointwise && pw[user] && u.outputs[0].shape == d.outputs[0].shape;
        lowest = lowest < 0 ? level[user] : std::min(lowest, level[user]);
      }
      if (all_pointwise) level[*it] = std::max(level[*it], lowest);
    }
    level_ = std::move(level);
  }

  int StateOf(NodeId id) const {
    for (size_t k = 0; k < next_.size(); ++k) {
      if (next_[k].node == id) return static_cast<int>(k);
    }
    return -1;
  }

  int AddBoundary(NodeId id) {
    auto it = boundary_of_.find(id);
    if (it != boundary_of_.end()) return it->second;
    const NodeData& d = g_.node(id);
    BoundaryDef b{{id, 0}, NodeLabel(g_, id), d.outputs[0].shape, d.op == kConstantOp};
    s_.boundary.push_back(b);
    const int k = static_cast<int>(s_.boundary.size()) - 1;
    boundary_of_[id] = k;
    return k;
  }

  // Makes a pointwise value readable from memory ([T, B, n] of its own, or the
  // state history it is the next value of).
  void Materialize(NodeId id) {
    Slot& s = slots_[id];
    if (s.kind != Slot::kRegister || s.materialized) return;
    s.materialized = true;
    s.region = {static_cast<int>(s_.buffers.size()), 0, 0, g_.node(id).outputs[0].shape[1]};
    s_.buffers.push_back({BufferKind::kValue, NodeLabel(g_, id), s.region.width});
  }

  // A row-valued operand (in memory, or a register to materialize) for a GEMM or slice.
  absl::StatusOr<Slot> RowOperand(const ValueRef& v, NodeId user) {
    Slot& s = slots_[v.node];
    if (s.kind == Slot::kRegister) Materialize(v.node);
    if (s.kind != Slot::kRegion && s.kind != Slot::kRegister) {
      return Unsupported(absl::StrCat("node ", NodeLabel(g_, user), " (", g_.node(user).op,
                                      ") reads ", NodeLabel(g_, v.node),
                                      " as a per-row value"));
    }
    return s;
  }

  absl::Status Visit(NodeId id) {
    const NodeData& d = g_.node(id);
    Slot& slot = slots_[id];
    if (d.op == kInputOp) {
      if (d.role == InputRole::kInput) {
        slot.kind = Slot::kRegion;
        slot.region = {0, 0, 0, s_.I};
      } else if (d.role == InputRole::kState) {
        for (size_t k = 0; k < s_.sig.states.size(); ++k) {
          if (s_.sig.states[k] == d.name) {
            slot.kind = Slot::kRegion;
            slot.region = {s_.state_buffer[k], 0, 0, s_.state_width[k]};
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
      s_.invariant_nodes.push_back(id);
      return absl::OkStatus();
    }
    if (d.outputs.size() != 1 || d.outputs[0].shape.rank() != 2) {
      return Unsupported(absl::StrCat("node ", NodeLabel(g_, id), " (", d.op,
                                      ") is not one [B, n] value"));
    }
    if (d.outputs[0].dtype != DType::kF32) return Unsupported("the graph is not f32");
    const int64_t width = d.outputs[0].shape[1];
    if (d.op == "MatMul") return VisitMatMul(id, width);
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
    if (!IsElementwise(d.op)) {
      return Unsupported(absl::StrCat("op ", d.op, " (node ", NodeLabel(g_, id),
                                      ") has no compiled form"));
    }
    const int level = level_[id];
    for (const ValueRef& v : d.inputs) {
      const Slot& in = slots_[v.node];
      if (v.index != 0) {
        return Unsupported(absl::StrCat("node ", NodeLabel(g_, id), " reads output ", v.index,
                                        " of a multi-output node"));
      }
      if (in.kind == Slot::kBoundary) {
        if (!Broadcasts(g_.spec(v).shape, width)) {
          return Unsupported(absl::StrCat("node ", NodeLabel(g_, id), " broadcasts ",
                                          NodeLabel(g_, v.node), " ",
                                          g_.spec(v).shape.ToString(), " over [B, ", width,
                                          "]"));
        }
        AddBoundary(v.node);
        continue;
      }
      if (in.kind == Slot::kNone || g_.spec(v).shape.rank() != 2 ||
          g_.spec(v).shape[1] != width) {
        return Unsupported(absl::StrCat("node ", NodeLabel(g_, id), " (", d.op, ") reads ",
                                        NodeLabel(g_, v.node), " of another width"));
      }
    }
    slot.kind = Slot::kRegister;
    slot.level = level;
    slot.pointwise = true;
    slot.group = GroupFor(level, width);
    // A value of another group is read from memory.
    for (const ValueRef& v : d.inputs) {
      if (slots_[v.node].kind == Slot::kRegister && slots_[v.node].group != slot.group) {
        Materialize(v.node);
      }
    }
    s_.groups[slot.group].nodes.push_back(id);
    s_.max_level = std::max(s_.max_level, level);
    s_.op_by_op_floats += width;
    const int state = StateOf(id);
    if (state >= 0) {
      slot.materialized = true;
      slot.region = {s_.state_buffer[state], 1, 0, width};
    }
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
    if (slots_[rhs.node].kind != Slot::kBoundary || g_.spec(rhs).shape.rank() != 2) {
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
    gemm.out_buffer = static_cast<int>(s_.buffers.size());
    s_.buffers.push_back({gemm.hoisted ? BufferKind::kHoisted : BufferKind::kGemm,
                          NodeLabel(g_, id), width});
    s_.gemms.push_back(gemm);
    s_.max_level = std::max(s_.max_level, gemm.level);
    s_.op_by_op_floats += width;
    Slot& slot = slots_[id];
    slot.kind = Slot::kRegion;
    slot.region = {gemm.out_buffer, 0, 0, width};
    slot.level = gemm.level;
    return absl::OkStatus();
  }

  int GroupFor(int level, int64_t width) {
    for (size_t k = 0; k < s_.groups.size(); ++k) {
      if (s_.groups[k].level == level && s_.groups[k].width == width) return static_cast<int>(k);
    }
    s_.groups.push_back({level, width, {}, {}, {}, {}, {}});
    return static_cast<int>(s_.groups.size()) - 1;
  }

  // ---- bytecode ----

  struct Emitter {
    pointwise::Program* prog;
    std::vector<OperandDef>* operands;
    int NewReg() { return prog->num_registers++; }
    void Add(Instr i) { prog->code.push_back(i); }
  };

  // The forward instructions of a group; `regs` maps values (group values and
  // loaded operands) to registers. With `store`, materialized values are written.
  absl::Status EmitForward(GroupDef& group, Emitter e, std::map<ValueRef, int>& regs,
                           std::vector<ValueRef>& loaded, bool store) {
    for (NodeId id : group.nodes) {
      const NodeData& d = g_.node(id);
      std::vector<int> in;
      for (const ValueRef& v : d.inputs) {
        auto it = regs.find(v);
        if (it == regs.end()) {
          const int r = e.NewReg();
          OperandDef op;
          const Slot& s = slots_[v.node];
          if (s.kind == Slot::kBoundary) {
            op.kind = OperandDef::kBroadcast;
            op.boundary = boundary_of_.at(v.node);
          } else {
            if (s.kind == Slot::kRegister) Materialize(v.node);
            op.kind = OperandDef::kRegion;
            op.region = slots_[v.node].region;
          }
          e.operands->push_back(op);
          e.Add({Op::kLoad, r, -1, -1, -1, 0, static_cast<int>(e.operands->size()) - 1});
          it = regs.emplace(v, r).first;
          loaded.push_back(v);
        }
        in.push_back(it->second);
      }
      int out = e.NewReg();
      const std::string& op = d.op;
      if (op == "AddN" || op == "Add") {
        if (in.size() == 1) {
          e.Add({Op::kCopy, out, in[0]});
        } else {
          e.Add({Op::kAdd, out, in[0], in[1]});
          for (size_t k = 2; k < in.size(); ++k) {
            const int next = e.NewReg();
            e.Add({Op::kAdd, next, out, in[k]});
            out = next;
          }
        }
      } else if (auto it = PointwiseOps().find(op); it != PointwiseOps().end()) {
        float imm = 0;
        if (d.attrs.Has("value")) {
          GF_ASSIGN_OR_RETURN(const double value, d.attrs.GetFloat(op, "value"));
          imm = static_cast<float>(value);
        }
        e.Add({it->second, out, in[0], in.size() > 1 ? in[1] : -1, -1, imm});
      } else {
        return Unsupported(absl::StrCat("op ", op, " has no pointwise form"));
      }
      regs[{id, 0}] = out;
      if (store && slots_[id].materialized) {
        OperandDef dst{OperandDef::kRegion, slots_[id].region};
        e.operands->push_back(dst);
        e.Add({Op::kStore, -1, out, -1, -1, 0, static_cast<int>(e.operands->size()) - 1});
      }
    }
    return absl::OkStatus();
  }

  absl::Status Emit(GroupDef& group) {
    // Forward. (Materializing an operand here may add buffers, never groups.)
    {
      std::map<ValueRef, int> regs;
      std::vector<ValueRef> loaded;
      GF_RETURN_IF_ERROR(EmitForward(group, {&group.forward, &group.forward_operands}, regs,
                                     loaded, /*store=*/true));
      group.forward.width = group.width;
    }
    // Backward: recompute in registers, then the adjoints in reverse order.
    std::map<ValueRef, int> regs;
    std::vector<ValueRef> loaded;
    Emitter e{&group.backward, &group.backward_operands};
    GF_RETURN_IF_ERROR(EmitForward(group, e, regs, loaded, /*store=*/false));
    group.backward.width = group.width;
    std::map<ValueRef, int> adj;
    for (NodeId id : group.nodes) {
      const int r = e.NewReg();
      adj[{id, 0}] = r;
      if (slots_[id].materialized) {
        group.backward_operands.push_back({OperandDef::kAdjoint, slots_[id].region});
        e.Add({Op::kLoad, r, -1, -1, -1, 0,
               static_cast<int>(group.backward_operands.size()) - 1});
      } else {
        e.Add({Op::kZero, r});
      }
    }
    for (const ValueRef& v : loaded) {
      const int r = e.NewReg();
      adj[v] = r;
      e.Add({Op::kZero, r});
    }
    for (auto it = group.nodes.rbegin(); it != group.nodes.rend(); ++it) {
      const NodeData& d = g_.node(*it);
      const int gy = adj.at({*it, 0}), y = regs.at({*it, 0});
      std::vector<int> a, x;
      for (const ValueRef& v : d.inputs) {
        a.push_back(adj.at(v));
        x.push_back(regs.at(v));
      }
      const std::string& op = d.op;
      float s = 0;
      if (d.attrs.Has("value")) {
        GF_ASSIGN_OR_RETURN(const double value, d.attrs.GetFloat(op, "value"));
        s = static_cast<float>(value);
      }
      // The rules of ops/elementwise.cc, one chunk at a time.
      if (op == "AddN" || op == "Add" || op == "AddScalar") {
        for (int k : a) e.Add({Op::kAcc, k, gy});                 // dx_k = g
      } else if (op == "Sub") {                                     // y = p - q
        e.Add({Op::kAcc, a[0], gy});
        e.Add({Op::kNegAcc, a[1], gy});
      } else if (op == "Mul") {                                     // dp = g q, dq = g p
        e.Add({Op::kAccMul, a[0], gy, x[1]});
        e.Add({Op::kAccMul, a[1], gy, x[0]});
      } else if (op == "Div") {                                     // dp = g / q, dq = -g y / q
        e.Add({Op::kAccDiv, a[0], gy, x[1]});
        e.Add({Op::kAccDivRhs, a[1], gy, y, x[1]});
      } else if (op == "Neg" || op == "RSubScalar") {              // dx = -g
        e.Add({Op::kNegAcc, a[0], gy});
      } else if (op == "MulScalar") {                               // dx = s g
        e.Add({Op::kAccScale, a[0], gy, -1, -1, s});
      } else if (op == "Sigmoid") {                                 // dx = g y (1 - y)
        e.Add({Op::kAccSigmoid, a[0], gy, y});
      } else if (op == "Tanh") {                                    // dx = g (1 - y^2)
        e.Add({Op::kAccTanh, a[0], gy, y});
      } else if (op == "Relu") {                                    // dx = g [x > 0]
        e.Add({Op::kAccStep, a[0], gy, x[0]});
      } else if (op == "Exp") {                                     // dx = g y
        e.Add({Op::kAccMul, a[0], gy, y});
      } else if (op == "Log") {                                     // dx = g / x
        e.Add({Op::kAccDiv, a[0], gy, x[0]});
      }                                                             // Step: dx = 0
    }
    for (const ValueRef& v : loaded) {
      const Slot& s = slots_[v.node];
      OperandDef dst;
      if (s.kind == Slot::kBoundary) {
        const int b = boundary_of_.at(v.node);
        if (s_.boundary[b].constant) continue;
        dst.kind = OperandDef::kAccumulator;
        dst.boundary = b;
        dst.accumulator = static_cast<int>(s_.accumulators.size());
        s_.accumulators.push_back({b, group.width});
      } else {
        dst.kind = OperandDef::kAdjoint;
        dst.region = s.region;
      }
      group.backward_operands.push_back(dst);
      e.Add({Op::kAccStore, -1, adj.at(v), -1, -1, 0,
             static_cast<int>(group.backward_operands.size()) - 1});
    }
    if (group.backward.num_registers > pointwise::kMaxRegisters) {
      return Unsupported(absl::StrCat("a pointwise group needs ", group.backward.num_registers,
                                      " registers (at most ", pointwise::kMaxRegisters, ")"));
    }
    return absl::OkStatus();
  }

  const Graph& g_;
  Structure s_;
  std::vector<Slot> slots_;
  std::vector<ValueRef> next_;  // per state
  std::vector<int> level_;      // per node: the level of a pointwise node
  std::map<NodeId, int> boundary_of_;
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
