#include "graph/compiled_sequence.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <tuple>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status.h"
#include "graph/compiled_pointwise.h"
#include "graph/text.h"
#include "ops/onednn.h"
#include "ops/ops.h"

namespace gatefuse {
namespace {

using pointwise::Instr;
using pointwise::Op;

constexpr char kOpName[] = "CompiledSequence";
constexpr char kGradOpName[] = "CompiledSequenceGrad";

// ---------------------------------------------------------------------------
// The plan's structure (independent of T and B).

// A [blocks, B, cols] f32 array: blocks = T, or T + 1 for a state's history
// (block t holds the state before step t).
enum class BufferKind { kInput, kState, kHoisted, kGemm, kValue };
struct BufferDef {
  BufferKind kind;
  std::string label;
  int64_t cols;
};

// Columns [col, col + width) of block t + dt of a buffer.
struct Region {
  int buffer = -1;
  int dt = 0;
  int64_t col = 0;
  int64_t width = 0;
};

// A value computed before the op (a parameter, an @invariant node, a constant):
// an input of the CompiledSequence node.
struct BoundaryDef {
  ValueRef value;
  std::string label;
  Shape shape;
  bool constant = false;
};

// Where the plan finds a graph value.
struct Slot {
  enum Kind { kNone, kRegion, kBoundary, kRegister } kind = kNone;
  Region region;          // kRegion, and a kRegister that is materialized
  bool materialized = false;
  int boundary = -1;
  int group = -1;
  int level = 0;
  bool pointwise = false;  // written by a pointwise group: readers by view wait a level
};

struct GemmDef {
  NodeId node;
  bool hoisted;
  int level;
  Region lhs;
  int weight;         // boundary index
  bool transpose_b;
  int64_t K, N;
  int out_buffer;
};

// An operand of a pointwise program, resolved per step.
struct OperandDef {
  enum Kind { kRegion, kAdjoint, kBroadcast, kAccumulator } kind;
  Region region;
  int boundary = -1;
  int accumulator = -1;
};

struct GroupDef {
  int level;
  int64_t width;
  std::vector<NodeId> nodes;
  pointwise::Program forward, backward;
  std::vector<OperandDef> forward_operands, backward_operands;
};

// Row adjoints of a broadcast boundary value [B, width], summed after the loop.
struct AccumulatorDef {
  int boundary;
  int64_t width;
};

// Scratch of the backward pass, shared by the plans of one structure (one per
// (T, B)), so that many sequence lengths do not keep many arenas.
struct Workspace {
  std::mutex mu;
  Tensor adjoint;                  // the adjoint arena, as large as the largest plan's
  std::vector<Tensor> transposed;  // per GEMM: W^T [N, K] if W is given [K, N]
};

struct Structure {
  std::shared_ptr<Workspace> workspace = std::make_shared<Workspace>();
  std::string name;
  CellSignature sig;
  int64_t I = 0;
  std::vector<int64_t> state_width;
  std::vector<int> state_buffer;
  std::vector<BufferDef> buffers;  // buffers[0] is x
  std::vector<BoundaryDef> boundary;
  std::vector<GemmDef> gemms;
  std::vector<GroupDef> groups;
  std::vector<AccumulatorDef> accumulators;
  std::vector<NodeId> invariant_nodes;  // run on the tape first, in order
  int max_level = 0;
  int64_t op_by_op_floats = 0;  // per step and batch row
};


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

// ---------------------------------------------------------------------------
// GEMMs: oneDNN matmul on strided row-major operands, optionally accumulating
// into c (a sum post-op). Primitives are cached by shape and strides.

struct GemmShape {
  int64_t m, k, n, lda, ldb, ldc;
  bool ta, tb, accumulate;
  bool operator<(const GemmShape& o) const {
    return std::tie(m, k, n, lda, ldb, ldc, ta, tb, accumulate) <
           std::tie(o.m, o.k, o.n, o.lda, o.ldb, o.ldc, o.ta, o.tb, o.accumulate);
  }
};

struct GemmPrimitive {
  dnnl::memory a, b, c;  // data handles set per call
  dnnl::matmul prim;
  std::unordered_map<int, dnnl::memory> args;  // built once: no allocation per call
  std::mutex mu;  // plans share primitives by shape; the data handles are per call
};

absl::StatusOr<GemmPrimitive*> FindGemm(const GemmShape& s) {
  static std::mutex mu;
  static auto* cache = new std::map<GemmShape, std::unique_ptr<GemmPrimitive>>;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache->find(s);
  if (it != cache->end()) return it->second.get();
  auto p = std::make_unique<GemmPrimitive>();
  using dnnl::memory;
  auto md = [](int64_t rows, int64_t cols, int64_t ld, bool transposed) {
    // Logical [rows, cols]; a transposed operand is stored [cols, rows] with leading dim ld.
    return memory::desc({rows, cols}, memory::data_type::f32,
                        transposed ? memory::dims{1, ld} : memory::dims{ld, 1});
  };
  GF_RETURN_IF_ERROR(onednn::Call("compiled sequence matmul", [&] {
    const memory::desc a = md(s.m, s.k, s.lda, s.ta), b = md(s.k, s.n, s.ldb, s.tb),
                       c = md(s.m, s.n, s.ldc, false);
    dnnl::primitive_attr attr;
    if (s.accumulate) {
      dnnl::post_ops ops;
      ops.append_sum(1.0f);
      attr.set_post_ops(ops);
    }
    p->prim = dnnl::matmul(
        dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, c), attr, onednn::Engine()));
    p->a = memory(a, onednn::Engine(), DNNL_MEMORY_NONE);
    p->b = memory(b, onednn::Engine(), DNNL_MEMORY_NONE);
    p->c = memory(c, onednn::Engine(), DNNL_MEMORY_NONE);
    p->args = {{DNNL_ARG_SRC, p->a}, {DNNL_ARG_WEIGHTS, p->b}, {DNNL_ARG_DST, p->c}};
  }));
  return cache->emplace(s, std::move(p)).first->second.get();
}

// A GEMM call site of a plan: its primitive, found once.
struct GemmCall {
  GemmPrimitive* prim = nullptr;
  bool single_threaded = false;
  absl::Status Run(const float* a, const float* b, float* c) const {
    std::optional<pointwise::SingleThreaded> one;
    if (single_threaded) one.emplace();
    std::lock_guard<std::mutex> lock(prim->mu);
    return onednn::Call("compiled sequence matmul", [&] {
      prim->a.set_data_handle(const_cast<float*>(a));
      prim->b.set_data_handle(const_cast<float*>(b));
      prim->c.set_data_handle(c);
      prim->prim.execute(onednn::Stream(), prim->args);
      onednn::Stream().wait();
    });
  }
};

absl::StatusOr<GemmCall> MakeGemm(const GemmShape& s) {
  GF_ASSIGN_OR_RETURN(GemmPrimitive * p, FindGemm(s));
  // Below ~4 MFLOP (a per-step GEMM of a small layer) one thread is faster.
  return GemmCall{p, s.m * s.k * s.n < (int64_t{1} << 21)};
}

// ---------------------------------------------------------------------------
// A plan: the structure at one (T, B), with its buffers laid out, its GEMM call
// sites resolved and its two tape ops.

class Plan;

class SequenceOp : public TapeOp {
 public:
  explicit SequenceOp(const Plan* plan) : plan_(plan) {}
  const std::string& name() const override {
    static const std::string* n = new std::string(kOpName);
    return *n;
  }
  absl::StatusOr<std::vector<Var>> Gradient(const GradContext& ctx) const override;

 private:
  const Plan* plan_;
};

class SequenceGradOp : public TapeOp {
 public:
  const std::string& name() const override {
    static const std::string* n = new std::string(kGradOpName);
    return *n;
  }
  absl::StatusOr<std::vector<Var>> Gradient(const GradContext&) const override {
    return absl::FailedPreconditionError(
        absl::StrCat("op ", kGradOpName,
                     " has no gradient: it is the hand-derived backward pass of a compiled "
                     "sequence; for second derivatives run the cell op by op"));
  }
};

struct GemmSites {
  GemmCall forward, backward_data, backward_weight;
};

class Plan {
 public:
  static absl::StatusOr<std::unique_ptr<Plan>> Make(std::shared_ptr<const Structure> s,
                                                    int64_t T, int64_t B) {
    auto p = std::unique_ptr<Plan>(new Plan(std::move(s), T, B));
    GF_RETURN_IF_ERROR(p->Resolve());
    return p;
  }

  const Structure& structure() const { return *s_; }
  const TapeOp* op() const { return &op_; }
  const TapeOp* grad_op() const { return &grad_op_; }
  int64_t saved_floats() const { return saved_floats_; }

  // Outputs: y [T, B, H0] and the final states, views of one arena that holds
  // every value backward reads.
  absl::StatusOr<std::vector<Tensor>> Forward(const std::vector<Tensor>& in) const;
  // Gradients of every input, from the inputs, the outputs and their gradients.
  absl::StatusOr<std::vector<Tensor>> Backward(const std::vector<Tensor>& in,
                                               const std::vector<Tensor>& out,
                                               const std::vector<Tensor>& out_grads) const;

 private:
  Plan(std::shared_ptr<const Structure> s, int64_t T, int64_t B)
      : s_(std::move(s)), T_(T), B_(B), op_(this) {}

  int64_t Blocks(int buffer) const {
    return s_->buffers[buffer].kind == BufferKind::kState ? T_ + 1 : T_;
  }

  absl::Status Resolve() {
    const Structure& s = *s_;
    offset_.assign(s.buffers.size(), 0);
    for (size_t b = 1; b < s.buffers.size(); ++b) {
      offset_[b] = saved_floats_;
      saved_floats_ += Blocks(b) * B_ * s.buffers[b].cols;
    }
    adjoint_floats_ = saved_floats_;
    for (const AccumulatorDef& a : s.accumulators) {
      accumulator_offset_.push_back(adjoint_floats_);
      adjoint_floats_ += B_ * a.width;
    }
    for (const GemmDef& g : s.gemms) {
      const int64_t lda = s.buffers[g.lhs.buffer].cols, ldz = g.N;
      const int64_t ldw = g.transpose_b ? g.K : g.N;
      const int64_t rows = g.hoisted ? T_ * B_ : B_;
      GemmSites site;
      GF_ASSIGN_OR_RETURN(site.forward,
                          MakeGemm({rows, g.K, g.N, lda, ldw, ldz, false, g.transpose_b, false}));
      // dlhs += dZ op(W)^T, with op(W)^T [N, K] dense: W^T stored as given, or W
      // transposed once per backward pass (a transposed weight operand makes
      // oneDNN's GEMM markedly slower at these shapes).
      GF_ASSIGN_OR_RETURN(site.backward_data,
                          MakeGemm({rows, g.N, g.K, ldz, g.K, lda, false, false, true}));
      // dW += lhs^T dZ over all T*B rows (or dW^T += dZ^T lhs).
      if (g.transpose_b) {
        GF_ASSIGN_OR_RETURN(site.backward_weight,
                            MakeGemm({g.N, T_ * B_, g.K, ldz, lda, g.K, true, false, true}));
      } else {
        GF_ASSIGN_OR_RETURN(site.backward_weight,
                            MakeGemm({g.K, T_ * B_, g.N, lda, ldz, g.N, true, false, true}));
      }
      gemms_.push_back(site);
    }
    size_t max_operands = 0;
    for (const GroupDef& g : s.groups) {
      max_operands = std::max({max_operands, g.forward_operands.size(), g.backward_operands.size()});
    }
    operands_.resize(max_operands);
    return absl::OkStatus();
  }

  // Base of a region at step t in an arena of [blocks, B, cols] buffers (x: `x`).
  float* At(float* arena, float* x, const Region& r, int64_t t) const {
    float* base = r.buffer == 0 ? x : arena + offset_[r.buffer];
    return base + ((t + r.dt) * B_) * s_->buffers[r.buffer].cols + r.col;
  }
  int64_t Ld(const Region& r) const { return s_->buffers[r.buffer].cols; }

  const float* Weight(const std::vector<Tensor>& in, int boundary) const {
    return in[1 + s_->sig.states.size() + boundary].data<float>();
  }

  void ResolveOperands(const std::vector<OperandDef>& defs, const std::vector<Tensor>& in,
                       float* arena, float* x, float* adjoint, float* dx, int64_t t) const {
    for (size_t k = 0; k < defs.size(); ++k) {
      const OperandDef& d = defs[k];
      pointwise::Operand& o = operands_[k];
      switch (d.kind) {
        case OperandDef::kRegion:
          o = {At(arena, x, d.region, t), Ld(d.region), 1};
          break;
        case OperandDef::kAdjoint:
          o = {At(adjoint, dx, d.region, t), Ld(d.region), 1};
          break;
        case OperandDef::kBroadcast: {
          const Tensor& b = in[1 + s_->sig.states.size() + d.boundary];
          o = {const_cast<float*>(b.data<float>()), 0, b.num_elements() == 1 ? 0 : 1};
          break;
        }
        case OperandDef::kAccumulator:
          o = {adjoint + accumulator_offset_[d.accumulator], s_->accumulators[d.accumulator].width,
               1};
          break;
      }
    }
  }

  std::shared_ptr<const Structure> s_;
  int64_t T_, B_;
  SequenceOp op_;
  SequenceGradOp grad_op_;
  std::vector<int64_t> offset_;  // per buffer, in the saved (and adjoint) arena
  std::vector<int64_t> accumulator_offset_;
  int64_t saved_floats_ = 0, adjoint_floats_ = 0;
  std::vector<GemmSites> gemms_;
  mutable std::mutex mu_;  // one run at a time: operands_ and the GEMM handles are shared
  mutable std::vector<pointwise::Operand> operands_;
};

absl::StatusOr<std::vector<Tensor>> Plan::Forward(const std::vector<Tensor>& in) const {
  std::lock_guard<std::mutex> lock(mu_);
  const Structure& s = *s_;
  const size_t n_states = s.sig.states.size();
  Tensor saved = Tensor::Empty({saved_floats_}, DType::kF32);
  float* arena = saved.data<float>();
  float* x = const_cast<float*>(in[0].data<float>());
  for (size_t k = 0; k < n_states; ++k) {
    const Region r{s.state_buffer[k], 0, 0, s.state_width[k]};
    std::memcpy(At(arena, x, r, 0), in[1 + k].data<float>(), B_ * s.state_width[k] * 4);
  }
  for (size_t k = 0; k < s.gemms.size(); ++k) {
    const GemmDef& g = s.gemms[k];
    if (!g.hoisted) continue;
    GF_RETURN_IF_ERROR(gemms_[k].forward.Run(At(arena, x, g.lhs, 0), Weight(in, g.weight),
                                             arena + offset_[g.out_buffer]));
  }
  for (int64_t t = 0; t < T_; ++t) {
    for (int level = 1; level <= s.max_level; ++level) {
      for (size_t k = 0; k < s.gemms.size(); ++k) {
        const GemmDef& g = s.gemms[k];
        if (g.hoisted || g.level != level) continue;
        GF_RETURN_IF_ERROR(gemms_[k].forward.Run(At(arena, x, g.lhs, t), Weight(in, g.weight),
                                                 At(arena, x, {g.out_buffer, 0, 0, g.N}, t)));
      }
      for (const GroupDef& group : s.groups) {
        if (group.level != level) continue;
        ResolveOperands(group.forward_operands, in, arena, x, nullptr, nullptr, t);
        pointwise::Run(group.forward, B_, operands_.data());
      }
    }
  }
  // y is the first state's history after every step; the final states its last block.
  std::vector<Tensor> out;
  const int64_t h0 = s.state_width[0];
  GF_ASSIGN_OR_RETURN(Tensor y, saved.Slice(0, offset_[s.state_buffer[0]] + B_ * h0,
                                            offset_[s.state_buffer[0]] + (T_ + 1) * B_ * h0));
  GF_ASSIGN_OR_RETURN(y, y.Reshape({T_, B_, h0}));
  out.push_back(y);
  for (size_t k = 0; k < n_states; ++k) {
    const int64_t h = s.state_width[k], end = offset_[s.state_buffer[k]] + (T_ + 1) * B_ * h;
    GF_ASSIGN_OR_RETURN(Tensor last, saved.Slice(0, end - B_ * h, end));
    GF_ASSIGN_OR_RETURN(last, last.Reshape({B_, h}));
    out.push_back(last);
  }
  // `saved` itself is no output: the views keep it alive for the gradient rule,
  // and the tape does not build a zero gradient of its size.
  return out;
}

absl::StatusOr<std::vector<Tensor>> Plan::Backward(const std::vector<Tensor>& in,
                                                   const std::vector<Tensor>& out,
                                                   const std::vector<Tensor>& out_grads) const {
  std::lock_guard<std::mutex> lock(mu_);
  const Structure& s = *s_;
  const size_t n_states = s.sig.states.size();
  // y is a view of the saved arena, starting after block 0 of state 0's history
  // (buffer 1, at offset 0): the arena starts B * H0 floats before it.
  float* arena = const_cast<float*>(out[0].data<float>()) - B_ * s.state_width[0];
  float* x = const_cast<float*>(in[0].data<float>());
  // The adjoints live in one arena kept across calls (fresh pages would cost a page
  // fault each); zeroed per call since every write accumulates.
  Workspace& ws = *s.workspace;
  std::lock_guard<std::mutex> ws_lock(ws.mu);
  if (!ws.adjoint.defined() || ws.adjoint.num_elements() < adjoint_floats_) {
    ws.adjoint = Tensor::Empty({adjoint_floats_}, DType::kF32);
  }
  if (ws.transposed.empty()) {
    for (const GemmDef& g : s.gemms) {
      ws.transposed.push_back(g.transpose_b ? Tensor() : Tensor::Empty({g.N, g.K}, DType::kF32));
    }
  }
  float* adjoint = ws.adjoint.data<float>();
  std::memset(adjoint, 0, adjoint_floats_ * sizeof(float));
  std::vector<Tensor> grads;
  for (const Tensor& t : in) grads.push_back(Tensor::Zeros(t.shape(), DType::kF32));
  float* dx = grads[0].data<float>();
  // d(history block t + 1 of state 0) starts at dy_t; the last blocks at d final state.
  {
    const Tensor dy = out_grads[0].Contiguous();
    float* d0 = adjoint + offset_[s.state_buffer[0]] + B_ * s.state_width[0];
    std::memcpy(d0, dy.data<float>(), T_ * B_ * s.state_width[0] * 4);
    for (size_t k = 0; k < n_states; ++k) {
      const Tensor dfinal = out_grads[1 + k].Contiguous();
      const int64_t h = s.state_width[k];
      float* d = adjoint + offset_[s.state_buffer[k]] + T_ * B_ * h;
      const float* g = dfinal.data<float>();
      for (int64_t i = 0; i < B_ * h; ++i) d[i] += g[i];
    }
  }
  // op(W)^T [N, K] of every GEMM, for dlhs += dZ op(W)^T.
  std::vector<const float*> weight_t(s.gemms.size());
  for (size_t k = 0; k < s.gemms.size(); ++k) {
    const GemmDef& g = s.gemms[k];
    const float* w = Weight(in, g.weight);
    if (g.transpose_b) {
      weight_t[k] = w;
      continue;
    }
    float* wt = ws.transposed[k].data<float>();
    constexpr int64_t kTile = 32;
    for (int64_t i0 = 0; i0 < g.K; i0 += kTile) {
      for (int64_t j0 = 0; j0 < g.N; j0 += kTile) {
        for (int64_t i = i0; i < std::min(g.K, i0 + kTile); ++i) {
          for (int64_t j = j0; j < std::min(g.N, j0 + kTile); ++j) wt[j * g.K + i] = w[i * g.N + j];
        }
      }
    }
    weight_t[k] = wt;
  }
  for (int64_t t = T_ - 1; t >= 0; --t) {
    for (int level = s.max_level; level >= 1; --level) {
      for (const GroupDef& group : s.groups) {
        if (group.level != level) continue;
        ResolveOperands(group.backward_operands, in, arena, x, adjoint, dx, t);
        pointwise::Run(group.backward, B_, operands_.data());
      }
      for (size_t k = 0; k < s.gemms.size(); ++k) {
        const GemmDef& g = s.gemms[k];
        if (g.hoisted || g.level != level) continue;
        GF_RETURN_IF_ERROR(gemms_[k].backward_data.Run(
            At(adjoint, dx, {g.out_buffer, 0, 0, g.N}, t), weight_t[k], At(adjoint, dx, g.lhs, t)));
      }
    }
  }
  // Weight gradients as one GEMM over all T*B rows each; the hoisted GEMMs' dx.
  for (size_t k = 0; k < s.gemms.size(); ++k) {
    const GemmDef& g = s.gemms[k];
    const float* lhs = At(arena, x, g.lhs, 0);
    const float* dz = adjoint + offset_[g.out_buffer];
    float* dw = grads[1 + n_states + g.weight].data<float>();
    if (g.transpose_b) {
      GF_RETURN_IF_ERROR(gemms_[k].backward_weight.Run(dz, lhs, dw));
    } else {
      GF_RETURN_IF_ERROR(gemms_[k].backward_weight.Run(lhs, dz, dw));
    }
    if (g.hoisted) {
      GF_RETURN_IF_ERROR(gemms_[k].backward_data.Run(dz, weight_t[k], At(adjoint, dx, g.lhs, 0)));
    }
  }
  for (size_t k = 0; k < s.accumulators.size(); ++k) {
    const AccumulatorDef& a = s.accumulators[k];
    const float* acc = adjoint + accumulator_offset_[k];
    Tensor& g = grads[1 + n_states + a.boundary];
    float* d = g.data<float>();
    const bool scalar = g.num_elements() == 1;
    for (int64_t r = 0; r < B_; ++r) {
      for (int64_t j = 0; j < a.width; ++j) d[scalar ? 0 : j] += acc[r * a.width + j];
    }
  }
  for (size_t k = 0; k < n_states; ++k) {
    std::memcpy(grads[1 + k].data<float>(), adjoint + offset_[s.state_buffer[k]],
                B_ * s.state_width[k] * 4);
  }
  return grads;
}

// y, s' = CompiledSequence(x, s, θ); its rule runs the plan's backward pass:
//   dx, ds, dθ = CompiledSequenceGrad(x, s, θ, y, s', dy, ds')
// (y and s' are views of the arena of saved values, which they keep alive.)
absl::StatusOr<std::vector<Var>> SequenceOp::Gradient(const GradContext& c) const {
  std::vector<Tensor> in, out, out_grads;
  for (const Var& v : c.inputs) in.push_back(v.value().Contiguous());
  for (const Var& v : c.outputs) out.push_back(v.value());
  for (const Var& v : c.output_grads) out_grads.push_back(v.value());
  GF_ASSIGN_OR_RETURN(std::vector<Tensor> grads, plan_->Backward(in, out, out_grads));
  std::vector<Var> record_in = c.inputs;
  record_in.insert(record_in.end(), c.outputs.begin(), c.outputs.end());
  record_in.insert(record_in.end(), c.output_grads.begin(), c.output_grads.end());
  return RecordOp(plan_->grad_op(), {}, record_in, std::move(grads));
}

absl::StatusOr<const Plan*> PlanFor(std::shared_ptr<const Structure> s, const std::string& text,
                                    int64_t T, int64_t B) {
  static std::mutex mu;
  static auto* cache = new std::map<std::string, std::unique_ptr<Plan>>;
  const std::string key = absl::StrCat(text, "\nT=", T, " B=", B);
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache->find(key);
  if (it == cache->end()) {
    GF_ASSIGN_OR_RETURN(std::unique_ptr<Plan> plan, Plan::Make(std::move(s), T, B));
    it = cache->emplace(key, std::move(plan)).first;
  }
  return it->second.get();
}

std::string GemmLabel(const Structure& s, const GemmDef& g) {
  return absl::StrCat(s.buffers[g.lhs.buffer].label, " @ ", s.boundary[g.weight].label,
                      g.transpose_b ? "^T" : "");
}

}  // namespace

absl::Status CanCompileSequence(const Graph& cell) { return StructureOf(cell).status(); }

absl::StatusOr<std::vector<PlanGemm>> CompiledSequenceGemms(const Graph& cell, int64_t T,
                                                            int64_t B, bool training) {
  GF_ASSIGN_OR_RETURN(std::shared_ptr<const Structure> s, StructureOf(cell));
  std::vector<PlanGemm> out;
  for (const GemmDef& g : s->gemms) {
    const std::string label = GemmLabel(*s, g);
    if (g.hoisted) {
      out.push_back({absl::StrCat("forward hoisted ", label), T * B, g.K, g.N, 1});
    } else {
      out.push_back({absl::StrCat("forward recurrent ", label), B, g.K, g.N, T});
    }
  }
  if (!training) return out;
  for (const GemmDef& g : s->gemms) {
    const std::string label = GemmLabel(*s, g);
    const std::string lhs = s->buffers[g.lhs.buffer].label;
    if (g.hoisted) {
      out.push_back({absl::StrCat("backward d", lhs, " of ", label), T * B, g.N, g.K, 1});
    } else {
      out.push_back({absl::StrCat("backward d", lhs, " of ", label), B, g.N, g.K, T});
    }
    out.push_back({absl::StrCat("backward d", s->boundary[g.weight].label, " of ", label), g.K,
                   T * B, g.N, 1});
  }
  return out;
}

absl::StatusOr<std::string> ExplainCompiledSequence(const Graph& cell) {
  GF_ASSIGN_OR_RETURN(std::shared_ptr<const Structure> s, StructureOf(cell));
  std::string text = "compiled plan:\n  GEMMs:\n";
  for (const GemmDef& g : s->gemms) {
    const std::string shape =
        absl::StrCat("[", g.hoisted ? "T*B" : "B", ", ", g.K, "] x [", g.K, ", ", g.N, "]");
    absl::StrAppend(&text, "    ", g.hoisted ? "hoisted   " : "recurrent ", GemmLabel(*s, g),
                    "  ", shape, g.hoisted ? "  once before the loop" : "  every step",
                    g.hoisted ? "" : absl::StrCat(" (level ", g.level, ")"), "\n");
  }
  absl::StrAppend(&text, "  fused pointwise groups (one pass over memory each):\n");
  int64_t kept = 0;
  for (const BufferDef& b : s->buffers) {
    if (b.kind != BufferKind::kInput) kept += b.cols;
  }
  for (size_t k = 0; k < s->groups.size(); ++k) {
    const GroupDef& g = s->groups[k];
    std::vector<std::string> ops;
    for (NodeId id : g.nodes) {
      ops.push_back(absl::StrCat(NodeLabel(cell, id), "=", cell.node(id).op));
    }
    absl::StrAppend(&text, "    group ", k, " (level ", g.level, ", [B, ", g.width, "], ",
                    g.nodes.size(), " ops, ", g.forward.code.size(), " forward / ",
                    g.backward.code.size(), " backward instructions): ",
                    absl::StrJoin(ops, " "), "\n");
  }
  absl::StrAppend(&text, "  memory per step and batch row: op by op ", s->op_by_op_floats,
                  " floats (one tensor per op), compiled ", kept,
                  " floats (GEMM outputs, values read across groups, states): saves ",
                  (s->op_by_op_floats - kept) * 4, " bytes per batch row per step\n");
  return text;
}

absl::StatusOr<std::optional<GraphSequenceResult>> RunCompiledSequence(
    const Graph& cell, const Var& x, const std::map<std::string, Var>& initial_states,
    const std::map<std::string, Var>& params) {
  if (x.dtype() != DType::kF32) return std::nullopt;
  const std::string text = PrintGraph(cell);
  absl::StatusOr<std::shared_ptr<const Structure>> structure = StructureOf(cell, text);
  if (!structure.ok()) return std::nullopt;
  const Structure& s = **structure;
  const std::string where = absl::StrCat("cell ", cell.name(), " (compiled sequence)");
  if (x.shape().rank() != 3 || x.shape()[2] != s.I || x.shape()[0] <= 0 || x.shape()[1] <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": input ", s.sig.input,
                                                   " must be [T, B, ", s.I, "], got ",
                                                   x.shape().ToString()));
  }
  const int64_t T = x.shape()[0], B = x.shape()[1];
  std::vector<Var> inputs = {x};
  for (size_t k = 0; k < s.sig.states.size(); ++k) {
    const std::string& name = s.sig.states[k];
    auto it = initial_states.find(name);
    if (it == initial_states.end()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": no initial value for state ", name));
    }
    if (it->second.dtype() != DType::kF32 || it->second.shape() != Shape{B, s.state_width[k]}) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": state ", name, " must be f32[", B, ",", s.state_width[k],
                       "], got ", DTypeName(it->second.dtype()), it->second.shape().ToString()));
    }
    inputs.push_back(it->second);
  }
  // Parameters and @invariant nodes (on the tape, so their rules give d params).
  std::vector<Var> values(cell.num_node_slots());
  auto value_of = [&](NodeId id) -> absl::StatusOr<Var> {
    const NodeData& d = cell.node(id);
    if (d.op == kConstantOp) return Var::Constant(d.value);
    if (d.op == kInputOp) {
      auto it = params.find(d.name);
      if (it == params.end()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": no value given for param ", d.name));
      }
      if (it->second.dtype() != DType::kF32 || it->second.shape() != d.outputs[0].shape) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": param ", d.name, " must be ", d.outputs[0].ToString(), ", got ",
            DTypeName(it->second.dtype()), it->second.shape().ToString()));
      }
      return it->second;
    }
    if (!values[id].defined()) {
      return absl::InternalError(absl::StrCat(where, ": ", NodeLabel(cell, id), " not computed"));
    }
    return values[id];
  };
  for (NodeId id : s.invariant_nodes) {
    const NodeData& d = cell.node(id);
    std::vector<VarOr> in;
    for (const ValueRef& v : d.inputs) in.push_back(value_of(v.node));
    absl::StatusOr<std::vector<Var>> out = ApplyOp(d.op, in, d.attrs);
    if (!out.ok()) {
      return absl::Status(out.status().code(), absl::StrCat(where, ": node ", NodeLabel(cell, id),
                                                            ": ", out.status().message()));
    }
    values[id] = (*out)[0];
  }
  for (const BoundaryDef& b : s.boundary) {
    GF_ASSIGN_OR_RETURN(Var v, value_of(b.value.node));
    if (v.shape() != b.shape) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", b.label, " is ",
                                                     v.shape().ToString(), ", the graph has ",
                                                     b.shape.ToString()));
    }
    inputs.push_back(v);
  }
  GF_ASSIGN_OR_RETURN(const Plan* plan, PlanFor(*structure, text, T, B));
  std::vector<Tensor> in;
  for (const Var& v : inputs) in.push_back(v.value().Contiguous());
  GF_ASSIGN_OR_RETURN(std::vector<Tensor> out, plan->Forward(in));
  std::vector<Var> vars = RecordOp(plan->op(), {}, inputs, std::move(out));
  GraphSequenceResult result;
  result.y = vars[0];
  for (size_t k = 0; k < s.sig.states.size(); ++k) {
    result.final_states[s.sig.states[k]] = vars[1 + k];
  }
  return result;
}

}  // namespace gatefuse
