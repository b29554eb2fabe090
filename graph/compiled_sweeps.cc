#include "graph/compiled_sweeps.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "graph/compiled_codegen.h"
#include "graph/compiled_peephole.h"
#include "graph/text.h"

namespace gatefuse::compiled {
namespace {

using pointwise::Instr;
using pointwise::Op;
using pointwise::Program;

// A value the group's programs read (an operand) or compute (a node).
struct Value {
  ValueRef ref;
  bool node = false;
  bool scalar = false;     // [B, 1] against the group's rows: every lane the same
  bool reduction = false;  // a Sum or Mean of the features
  float scale = 1;         // a reduction: 1 (Sum) or 1 / n (Mean)
  int phase = 0;
  int sweep = 0;           // a vector node: the forward sweep that computes it
  OperandDef operand;      // an operand: where it is read
  bool has_adjoint = true; // an operand: false for a constant
  std::vector<int> inputs; // a node: its inputs' value indices
  std::vector<int> users;  // the group's nodes that read it (once per read)
  bool vector_users = false;
  const pointwise::Lowering* lowering = nullptr;
  Immediates imm;
  bool materialized = false;  // a node the plan keeps in `region`
  Region region;
};

struct Analysis {
  std::vector<Value> values;  // in the order the forward meets them (topological)
  int num_sweeps = 1;
  int64_t width = 0;
};

absl::StatusOr<Analysis> Analyse(Layout& layout, const GroupDef& group) {
  const Graph& g = layout.graph;
  Analysis a;
  a.width = group.width;
  const bool wide = group.width > 1;
  std::map<ValueRef, int> index;
  std::vector<Value>& v = a.values;
  auto add_operand = [&](const ValueRef& r) {
    Value x;
    x.ref = r;
    const Slot& s = layout.slots[r.node];
    int64_t width;
    if (s.kind == Slot::kBoundary) {
      const int b = layout.boundary_of.at(r.node);
      x.operand.kind = OperandDef::kBroadcast;
      x.operand.boundary = b;
      x.has_adjoint = !layout.s.boundary[b].constant;
      const Shape& shape = g.spec(r).shape;
      width = shape.rank() == 0 ? 1 : shape[shape.rank() - 1];
    } else {
      if (s.kind == Slot::kRegister) layout.Materialize(r.node);
      x.operand.kind = OperandDef::kRegion;
      x.operand.region = layout.slots[r.node].region;
      width = x.operand.region.width;
    }
    x.scalar = wide && width == 1;
    x.operand.column_broadcast = x.scalar && x.operand.kind == OperandDef::kRegion;
    v.push_back(x);
    index[r] = static_cast<int>(v.size()) - 1;
  };
  for (NodeId id : group.nodes) {
    const NodeData& d = g.node(id);
    Value x;
    x.ref = {id, 0};
    x.node = true;
    x.reduction = IsRowReduction(d.op);
    x.scalar = x.reduction || (wide && d.outputs[0].shape[1] == 1);
    if (x.reduction) {
      const int64_t n = g.spec(d.inputs[0]).shape[1];
      x.scale = d.op == "Mean" ? 1.0f / static_cast<float>(n) : 1.0f;
    } else {
      x.lowering = LoweringOf(d.op);
      if (x.lowering == nullptr) {
        return layout.Unsupported(absl::StrCat("op ", d.op, " (node ", NodeLabel(g, id),
                                               ") has no pointwise lowering"));
      }
      GF_ASSIGN_OR_RETURN(x.imm, ImmediatesOf(d, *x.lowering));
    }
    for (const ValueRef& r : d.inputs) {
      if (!index.count(r)) add_operand(r);
      const int k = index.at(r);
      x.inputs.push_back(k);
      x.phase = std::max(x.phase, v[k].phase + (x.reduction ? 1 : 0));
    }
    x.materialized = layout.slots[id].materialized;
    x.region = layout.slots[id].region;
    v.push_back(x);
    index[x.ref] = static_cast<int>(v.size()) - 1;
  }
  for (size_t k = 0; k < v.size(); ++k) {
    for (int in : v[k].inputs) {
      v[in].users.push_back(static_cast<int>(k));
      v[in].vector_users = v[in].vector_users || !v[k].scalar;
    }
    if (v[k].node) a.num_sweeps = std::max(a.num_sweeps, v[k].phase + 1);
  }
  // A vector node runs in the earliest sweep that reads it; a sum reads it in its
  // own phase.
  for (size_t k = v.size(); k-- > 0;) {
    Value& x = v[k];
    if (!x.node || x.scalar) continue;
    x.sweep = -1;
    for (int u : x.users) {
      const int at = v[u].reduction ? x.phase : v[u].sweep;
      x.sweep = x.sweep < 0 ? at : std::min(x.sweep, at);
    }
    if (x.sweep < 0) x.sweep = x.phase;
  }
  return a;
}

// The forward values an op's adjoint rules read: its output, and inputs by index.
struct RuleReads {
  bool output = false;
  std::set<int> inputs;
};

RuleReads ReadsOf(const pointwise::Lowering& l) {
  RuleReads r;
  for (const std::vector<pointwise::AdjointInstr>& rule : l.adjoints) {
    for (const pointwise::AdjointInstr& a : rule) {
      for (const pointwise::Ref& ref : a.args) {
        if (ref.kind == pointwise::Ref::kOutput) r.output = true;
        if (ref.kind == pointwise::Ref::kInput) r.inputs.insert(ref.input);
      }
    }
  }
  return r;
}

// Writes one program, sweep by sweep. Each program is written twice: the first
// time only to learn in which sweeps each value is read (`last_read`), so that
// the second time a value computed in one sweep and read in a later one is
// spilled to the row scratch when it is computed.
class Writer {
 public:
  Writer(const Analysis& a, std::vector<int> last_read)
      : a_(a), last_read_(std::move(last_read)) {
    const size_t n = a.values.size();
    reg_.assign(n, -1);
    adj_.assign(n, -1);
    acc_.assign(n, -1);
    tmp_.assign(n, -1);
    valid_.assign(n, -1);
    computed_.assign(n, -1);
    slot_.assign(n, -1);
    adj_slot_.assign(n, -1);
    if (last_read_.empty()) last_read_.assign(n, -1);
    read_.assign(n, -1);
    p_.width = a.width;
  }

  // The forward program: sweeps 0, 1, ...
  void Forward() {
    for (int p = 0; p < a_.num_sweeps; ++p) {
      NewSweep();
      if (p == 0) LoadScalarOperands();
      for (size_t k = 0; k < a_.values.size(); ++k) {
        const Value& x = a_.values[k];
        if (!x.node || !x.scalar || x.phase != p) continue;
        ComputeScalar(static_cast<int>(k));
        if (x.materialized) Add({Op::kStore, -1, reg_[k], -1, -1, 0, ScalarRegion(x.region)});
      }
      for (int r : ReductionsOfPhase(p + 1)) {
        acc_[r] = Reg();
        Add({Op::kZero, acc_[r]});
      }
      row_ = false;
      for (size_t k = 0; k < a_.values.size(); ++k) {
        const Value& x = a_.values[k];
        if (x.node && !x.scalar && x.sweep == p) Ensure(static_cast<int>(k), /*store=*/true);
      }
      for (int r : ReductionsOfPhase(p + 1)) {
        const int in = a_.values[r].inputs[0];
        Ensure(in, true);
        Add({Op::kRowAcc, acc_[r], reg_[in]});
      }
    }
  }

  // The backward program: the scalars once, then sweeps S-1, ..., 0, then the
  // scalar operands' adjoints.
  void Backward() {
    NewSweep();
    LoadScalarOperands();
    for (size_t k = 0; k < a_.values.size(); ++k) {
      const Value& x = a_.values[k];
      if (!x.scalar) continue;
      if (x.node) {
        if (x.reduction) {
          reg_[k] = Reg();
          Add({Op::kLoad, reg_[k], -1, -1, -1, 0, ScalarRegion(x.region)});
        } else {
          ComputeScalar(static_cast<int>(k));
        }
      }
      adj_[k] = Reg();
      if (x.node && x.materialized) {
        Add({Op::kLoad, adj_[k], -1, -1, -1, 0, ScalarRegion(x.region, OperandDef::kAdjoint)});
      } else {
        Add({Op::kZero, adj_[k]});
      }
      if (x.vector_users) {
        acc_[k] = Reg();
        Add({Op::kZero, acc_[k]});
      }
    }
    for (int p = a_.num_sweeps - 1; p >= 0; --p) {
      if (p < a_.num_sweeps - 1) {
        NewSweep();
        FinishScalars(p + 1);
      }
      row_ = false;
      ChunkAdjoints(p);
    }
    NewSweep();
    FinishScalars(0);
    for (size_t k = 0; k < a_.values.size(); ++k) {
      const Value& x = a_.values[k];
      if (x.node || !x.scalar || !x.has_adjoint) continue;
      FinishRowSum(static_cast<int>(k));
      Add({Op::kAccStore, -1, adj_[k], -1, -1, 0, AdjointOf(x, /*width=*/1)});
    }
  }

  // The program in its canonical form: one sweep without a row block is `code`.
  Program TakeProgram() {
    std::vector<std::vector<Instr>*> blocks;
    for (pointwise::Sweep& w : p_.sweeps) {
      FoldZeros(w.row);
      FoldZeros(w.chunk);
      blocks.push_back(&w.row);
      blocks.push_back(&w.chunk);
    }
    PropagateCopies(blocks);
    std::vector<pointwise::Sweep> kept;
    for (pointwise::Sweep& w : p_.sweeps) {
      if (!w.row.empty() || !w.chunk.empty()) kept.push_back(std::move(w));
    }
    p_.sweeps.clear();
    if (kept.size() == 1 && kept[0].row.empty()) {
      p_.code = std::move(kept[0].chunk);
    } else {
      p_.sweeps = std::move(kept);
    }
    return std::move(p_);
  }
  std::vector<OperandDef> TakeOperands() { return std::move(operands_); }
  std::vector<AccumulatorDef> TakeAccumulators() { return std::move(accumulators_); }
  const std::vector<int>& reads() const { return read_; }
  void set_accumulator_base(int base) { accumulator_base_ = base; }

 private:
  int Reg() { return p_.num_registers++; }
  void Add(const Instr& i) { Block().push_back(i); }
  std::vector<Instr>& Block() { return row_ ? p_.sweeps.back().row : p_.sweeps.back().chunk; }
  int& NumRegisters() { return p_.num_registers; }
  void NewSweep() {
    p_.sweeps.emplace_back();
    row_ = true;
    ++sweep_;
  }

  int Operand(const OperandDef& o) {
    for (size_t k = 0; k < operands_.size(); ++k) {
      if (operands_[k] == o) return static_cast<int>(k);
    }
    operands_.push_back(o);
    return static_cast<int>(operands_.size()) - 1;
  }
  // The region of a [B, 1] value, read or written one value per row.
  int ScalarRegion(const Region& r, OperandDef::Kind kind = OperandDef::kRegion) {
    OperandDef o{kind, r};
    o.column_broadcast = a_.width > 1;
    return Operand(o);
  }
  int RegionOperand(const Region& r, OperandDef::Kind kind) { return Operand({kind, r}); }

  // Where the adjoint of operand x goes: its region's adjoint or the per-row
  // accumulator of a boundary value (`width` columns, summed after the loop).
  int AdjointOf(const Value& x, int64_t width) {
    if (x.operand.kind == OperandDef::kRegion) {
      OperandDef o = x.operand;
      o.kind = OperandDef::kAdjoint;
      return Operand(o);
    }
    const std::pair<int, int64_t> key{x.operand.boundary, width};
    auto it = accumulator_of_.find(key);
    if (it == accumulator_of_.end()) {
      accumulators_.push_back({x.operand.boundary, width});
      const int index = accumulator_base_ + static_cast<int>(accumulators_.size()) - 1;
      it = accumulator_of_.emplace(key, index).first;
    }
    OperandDef o{OperandDef::kAccumulator};
    o.boundary = x.operand.boundary;
    o.accumulator = it->second;
    return Operand(o);
  }

  std::vector<int> ReductionsOfPhase(int phase) const {
    std::vector<int> r;
    for (size_t k = 0; k < a_.values.size(); ++k) {
      if (a_.values[k].reduction && a_.values[k].phase == phase) r.push_back(static_cast<int>(k));
    }
    return r;
  }

  void LoadScalarOperands() {
    for (size_t k = 0; k < a_.values.size(); ++k) {
      const Value& x = a_.values[k];
      if (x.node || !x.scalar) continue;
      reg_[k] = Reg();
      Add({Op::kLoad, reg_[k], -1, -1, -1, 0, Operand(x.operand)});
    }
  }

  // A scalar node in a row block: a sum finished from its lane accumulator, or
  // an op on scalars computed before it.
  void ComputeScalar(int k) {
    const Value& x = a_.values[k];
    if (x.reduction) {
      reg_[k] = Reg();
      Add({Op::kRowSum, reg_[k], acc_[k], -1, -1, x.scale});
      return;
    }
    std::vector<int> in;
    for (int i : x.inputs) in.push_back(reg_[i]);
    reg_[k] = EmitForward(*x.lowering, in, x.imm, NumRegisters(), Block());
  }

  // Makes reg_[k] hold value k on this sweep's chunks (a vector value) by loading,
  // reloading or computing it; `store` (forward) writes what the plan keeps.
  void Ensure(int k, bool store) {
    const Value& x = a_.values[k];
    if (x.scalar || valid_[k] == sweep_) return;
    valid_[k] = sweep_;
    read_[k] = std::max(read_[k], sweep_);
    if (!x.node) {
      if (reg_[k] < 0) reg_[k] = Reg();
      Add({Op::kLoad, reg_[k], -1, -1, -1, 0, Operand(x.operand)});
      return;
    }
    if (x.materialized && (computed_[k] >= 0 || !store)) {
      // Kept by the plan: in memory since the forward wrote it.
      if (reg_[k] < 0) reg_[k] = Reg();
      Add({Op::kLoad, reg_[k], -1, -1, -1, 0, RegionOperand(x.region, OperandDef::kRegion)});
      return;
    }
    if (computed_[k] >= 0) {
      Add({Op::kReload, reg_[k], -1, -1, -1, 0, slot_[k]});
      return;
    }
    std::vector<int> in;
    for (int i : x.inputs) {
      Ensure(i, store);
      in.push_back(reg_[i]);
    }
    reg_[k] = EmitForward(*x.lowering, in, x.imm, NumRegisters(), Block());
    computed_[k] = sweep_;
    if (store && x.materialized) {
      Add({Op::kStore, -1, reg_[k], -1, -1, 0, RegionOperand(x.region, OperandDef::kRegion)});
    } else if (last_read_[k] > sweep_) {
      slot_[k] = p_.scratch_slots++;
      Add({Op::kSpill, -1, reg_[k], -1, -1, 0, slot_[k]});
    }
  }

  // adj_s += the row sum of its lane accumulator (the vector nodes' contributions).
  void FinishRowSum(int k) {
    if (acc_[k] < 0) return;
    if (sum_ < 0) sum_ = Reg();
    Add({Op::kRowSum, sum_, acc_[k], -1, -1, 1.0f});
    Add({Op::kAcc, adj_[k], sum_});
  }

  // The row block after the chunks of sweep `phase`: the scalars of that phase
  // have their whole adjoint; each runs its rule into its (scalar) inputs.
  void FinishScalars(int phase) {
    for (size_t k = a_.values.size(); k-- > 0;) {
      const Value& x = a_.values[k];
      if (!x.node || !x.scalar || x.phase != phase) continue;
      FinishRowSum(static_cast<int>(k));
      if (x.reduction) continue;  // its rule runs on its input's chunks
      std::vector<int> in, din;
      for (int i : x.inputs) {
        in.push_back(reg_[i]);
        din.push_back(adj_[i]);
      }
      EmitAdjoint(*x.lowering, adj_[k], reg_[k], in, din, x.imm, Block());
    }
  }

  // The register an adjoint contribution to value i goes to in the chunks of the
  // current sweep: zeroed once per chunk unless it is a node of this sweep.
  int Target(int i, std::set<int>& zeroed) {
    const Value& x = a_.values[i];
    std::vector<int>& r = x.scalar ? tmp_ : adj_;
    if (r[i] < 0) r[i] = Reg();
    if (zeroed.insert(i).second) Add({Op::kZero, r[i]});
    return r[i];
  }

  void ChunkAdjoints(int p) {
    std::vector<int> nodes;  // the vector nodes of sweep p, in order
    for (size_t k = 0; k < a_.values.size(); ++k) {
      const Value& x = a_.values[k];
      if (x.node && !x.scalar && x.sweep == p) nodes.push_back(static_cast<int>(k));
    }
    const std::vector<int> sums = ReductionsOfPhase(p + 1);
    if (nodes.empty() && sums.empty()) return;
    for (int k : nodes) {
      const Value& x = a_.values[k];
      const RuleReads reads = ReadsOf(*x.lowering);
      if (reads.output) Ensure(k, false);
      for (size_t i = 0; i < x.inputs.size(); ++i) {
        if (reads.inputs.count(static_cast<int>(i))) Ensure(x.inputs[i], false);
      }
    }
    // The adjoints of this sweep's nodes start from what the plan's later users
    // added in memory and what later sweeps summed in the row scratch.
    std::set<int> targets;
    for (int k : nodes) {
      const Value& x = a_.values[k];
      if (adj_[k] < 0) adj_[k] = Reg();
      targets.insert(k);
      if (x.materialized) {
        Add({Op::kLoad, adj_[k], -1, -1, -1, 0, RegionOperand(x.region, OperandDef::kAdjoint)});
      } else if (adj_slot_[k] >= 0) {
        Add({Op::kReload, adj_[k], -1, -1, -1, 0, adj_slot_[k]});
        continue;
      } else {
        Add({Op::kZero, adj_[k]});
      }
      if (adj_slot_[k] >= 0) {
        if (sum_ < 0) sum_ = Reg();
        Add({Op::kReload, sum_, -1, -1, -1, 0, adj_slot_[k]});
        Add({Op::kAcc, adj_[k], sum_});
      }
    }
    for (int r : sums) {
      const int t = Target(a_.values[r].inputs[0], targets);
      const float s = a_.values[r].scale;
      Add(s == 1.0f ? Instr{Op::kAcc, t, adj_[r]} : Instr{Op::kAccScale, t, adj_[r], -1, -1, s});
    }
    for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
      const Value& x = a_.values[*it];
      std::vector<int> in, din;
      for (int i : x.inputs) {
        in.push_back(reg_[i]);
        din.push_back(Target(i, targets));
      }
      EmitAdjoint(*x.lowering, adj_[*it], reg_[*it], in, din, x.imm, Block());
    }
    // Contributions that outlive the chunk: to a vector node of an earlier sweep
    // (row scratch), to an operand (memory), to a scalar (its lane accumulator).
    for (int i : targets) {
      const Value& x = a_.values[i];
      if (x.node && !x.scalar && x.sweep == p) continue;
      if (x.node && !x.scalar) {
        const bool first = adj_slot_[i] < 0;
        if (first) adj_slot_[i] = p_.scratch_slots++;
        Add({first ? Op::kSpill : Op::kSpillAcc, -1, adj_[i], -1, -1, 0, adj_slot_[i]});
      } else if (x.scalar) {
        if (!x.node && !x.has_adjoint) continue;
        Add({Op::kRowAcc, acc_[i], tmp_[i]});
      } else if (x.has_adjoint) {
        Add({Op::kAccStore, -1, adj_[i], -1, -1, 0, AdjointOf(x, a_.width)});
      }
    }
  }

  const Analysis& a_;
  Program p_;
  std::vector<OperandDef> operands_;
  std::vector<AccumulatorDef> accumulators_;
  std::map<std::pair<int, int64_t>, int> accumulator_of_;
  int accumulator_base_ = 0;
  bool row_ = true;
  int sweep_ = -1;  // the sweep being written, counted in the order they run
  int sum_ = -1;    // a temporary of the row blocks and the adjoint reloads
  std::vector<int> reg_, adj_, acc_, tmp_;  // per value: its registers
  std::vector<int> valid_;     // the sweep in whose chunks reg_ holds the value
  std::vector<int> computed_;  // the sweep that computed a node
  std::vector<int> slot_;      // its row-scratch slot, if a later sweep reloads it
  std::vector<int> adj_slot_;  // the row-scratch slot of a vector node's partial adjoint
  std::vector<int> last_read_, read_;  // the last sweep that reads each value
};

}  // namespace

absl::Status EmitSweeps(Layout& layout, GroupDef& group) {
  GF_ASSIGN_OR_RETURN(const Analysis a, Analyse(layout, group));
  for (bool forward : {true, false}) {
    Writer probe(a, {});
    forward ? probe.Forward() : probe.Backward();
    Writer w(a, probe.reads());
    w.set_accumulator_base(static_cast<int>(layout.s.accumulators.size()));
    forward ? w.Forward() : w.Backward();
    (forward ? group.forward : group.backward) = w.TakeProgram();
    (forward ? group.forward_operands : group.backward_operands) = w.TakeOperands();
    for (const AccumulatorDef& acc : w.TakeAccumulators()) layout.s.accumulators.push_back(acc);
  }
  return absl::OkStatus();
}

}  // namespace gatefuse::compiled
