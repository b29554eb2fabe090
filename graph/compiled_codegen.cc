#include "graph/compiled_codegen.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "graph/text.h"
#include "ops/registry.h"

namespace gatefuse::compiled {

using pointwise::Instr;
using pointwise::Op;

const pointwise::Lowering* LoweringOf(const std::string& op) {
  absl::StatusOr<const OpDef*> def = OpRegistry::Global().Find(op);
  if (!def.ok() || !(*def)->lowering) return nullptr;
  return &*(*def)->lowering;
}

namespace {

// An instruction with the immediates it uses; the others stay 0, so a program's
// text and equality do not depend on attributes the instruction ignores.
Instr WithImmediates(Instr i, Immediates imm) {
  const int n = pointwise::NumScalars(i.op);
  i.imm = n >= 1 ? imm.s : 0.0f;
  i.imm2 = n >= 2 ? imm.t : 0.0f;
  return i;
}

}  // namespace

int EmitForward(const pointwise::Lowering& l, const std::vector<int>& in, Immediates imm,
                pointwise::Program& p) {
  int out = p.num_registers++;
  if (l.variadic && in.size() == 1) {
    p.code.push_back({Op::kCopy, out, in[0]});
    return out;
  }
  p.code.push_back(
      WithImmediates({l.forward, out, in[0], in.size() > 1 ? in[1] : -1, -1}, imm));
  // A variadic op folds: ((x0 op x1) op x2) op ...
  for (size_t k = 2; k < in.size(); ++k) {
    const int next = p.num_registers++;
    p.code.push_back(WithImmediates({l.forward, next, out, in[k], -1}, imm));
    out = next;
  }
  return out;
}

void EmitAdjoint(const pointwise::Lowering& l, int gy, int y, const std::vector<int>& x,
                 const std::vector<int>& dx, Immediates imm, pointwise::Program& p) {
  for (size_t k = 0; k < x.size(); ++k) {
    for (const pointwise::AdjointInstr& a : l.adjoints[l.variadic ? 0 : k]) {
      int regs[3] = {-1, -1, -1};
      for (size_t i = 0; i < a.args.size(); ++i) {
        const pointwise::Ref& r = a.args[i];
        regs[i] = r.kind == pointwise::Ref::kGrad     ? gy
                  : r.kind == pointwise::Ref::kOutput ? y
                                                      : x[r.input];
      }
      p.code.push_back(WithImmediates({a.op, dx[k], regs[0], regs[1], regs[2]}, imm));
    }
  }
}

namespace {

// Emits into one program and its operand list.
struct Emitter {
  pointwise::Program* prog;
  std::vector<OperandDef>* operands;
  int NewReg() { return prog->num_registers++; }
  void Add(Instr i) { prog->code.push_back(i); }
  int AddOperand(const OperandDef& o) {
    operands->push_back(o);
    return static_cast<int>(operands->size()) - 1;
  }
};

// The immediates of node `d` lowered as `l` (its scalar attributes, as f32).
absl::StatusOr<Immediates> ImmediatesOf(const NodeData& d, const pointwise::Lowering& l) {
  Immediates imm;
  if (!l.scalar_attr.empty()) {
    GF_ASSIGN_OR_RETURN(const double s, d.attrs.GetFloat(d.op, l.scalar_attr));
    imm.s = static_cast<float>(s);
  }
  if (!l.scalar_attr2.empty()) {
    GF_ASSIGN_OR_RETURN(const double t, d.attrs.GetFloat(d.op, l.scalar_attr2));
    imm.t = static_cast<float>(t);
  }
  return imm;
}

// The forward instructions of a group; `regs` maps values (group values and
// loaded operands) to registers. With `store`, materialized values are written.
absl::Status EmitGroupForward(Layout& layout, const GroupDef& group, Emitter e,
                              std::map<ValueRef, int>& regs, std::vector<ValueRef>& loaded,
                              bool store) {
  const Graph& g = layout.graph;
  for (NodeId id : group.nodes) {
    const NodeData& d = g.node(id);
    std::vector<int> in;
    for (const ValueRef& v : d.inputs) {
      auto it = regs.find(v);
      if (it == regs.end()) {
        const int r = e.NewReg();
        OperandDef op;
        const Slot& s = layout.slots[v.node];
        if (s.kind == Slot::kBoundary) {
          op.kind = OperandDef::kBroadcast;
          op.boundary = layout.boundary_of.at(v.node);
        } else {
          if (s.kind == Slot::kRegister) layout.Materialize(v.node);
          op.kind = OperandDef::kRegion;
          op.region = layout.slots[v.node].region;
        }
        e.Add({Op::kLoad, r, -1, -1, -1, 0, e.AddOperand(op)});
        it = regs.emplace(v, r).first;
        loaded.push_back(v);
      }
      in.push_back(it->second);
    }
    const pointwise::Lowering* l = LoweringOf(d.op);
    if (l == nullptr) {
      return layout.Unsupported(absl::StrCat("op ", d.op, " (node ", NodeLabel(g, id),
                                             ") has no pointwise lowering"));
    }
    GF_ASSIGN_OR_RETURN(const Immediates imm, ImmediatesOf(d, *l));
    const int out = EmitForward(*l, in, imm, *e.prog);
    regs[{id, 0}] = out;
    if (store && layout.slots[id].materialized) {
      const int dst = e.AddOperand({OperandDef::kRegion, layout.slots[id].region});
      e.Add({Op::kStore, -1, out, -1, -1, 0, dst});
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status EmitGroup(Layout& layout, GroupDef& group) {
  const Graph& g = layout.graph;
  // Forward. (Materializing an operand here may add buffers, never groups.)
  {
    std::map<ValueRef, int> regs;
    std::vector<ValueRef> loaded;
    GF_RETURN_IF_ERROR(EmitGroupForward(layout, group, {&group.forward, &group.forward_operands},
                                        regs, loaded, /*store=*/true));
    group.forward.width = group.width;
  }
  // Backward: recompute in registers, then the adjoints in reverse order.
  std::map<ValueRef, int> regs;
  std::vector<ValueRef> loaded;
  Emitter e{&group.backward, &group.backward_operands};
  GF_RETURN_IF_ERROR(EmitGroupForward(layout, group, e, regs, loaded, /*store=*/false));
  group.backward.width = group.width;
  // Adjoint registers: a materialized value starts from its adjoint in memory
  // (what later groups and GEMMs added), every other value from zero.
  std::map<ValueRef, int> adj;
  for (NodeId id : group.nodes) {
    const int r = e.NewReg();
    adj[{id, 0}] = r;
    if (layout.slots[id].materialized) {
      const int src = e.AddOperand({OperandDef::kAdjoint, layout.slots[id].region});
      e.Add({Op::kLoad, r, -1, -1, -1, 0, src});
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
    const NodeData& d = g.node(*it);
    std::vector<int> dx, x;
    for (const ValueRef& v : d.inputs) {
      dx.push_back(adj.at(v));
      x.push_back(regs.at(v));
    }
    const pointwise::Lowering* l = LoweringOf(d.op);  // not null: the forward emitted it
    GF_ASSIGN_OR_RETURN(const Immediates imm, ImmediatesOf(d, *l));
    EmitAdjoint(*l, adj.at({*it, 0}), regs.at({*it, 0}), x, dx, imm, *e.prog);
  }
  // The adjoints of the loaded operands go back to memory: to the adjoint of a
  // region, or to the per-row accumulator of a broadcast boundary value (summed
  // over the rows after the loop); a constant gets none.
  for (const ValueRef& v : loaded) {
    const Slot& s = layout.slots[v.node];
    OperandDef dst;
    if (s.kind == Slot::kBoundary) {
      const int b = layout.boundary_of.at(v.node);
      if (layout.s.boundary[b].constant) continue;
      dst.kind = OperandDef::kAccumulator;
      dst.boundary = b;
      dst.accumulator = static_cast<int>(layout.s.accumulators.size());
      layout.s.accumulators.push_back({b, group.width});
    } else {
      dst.kind = OperandDef::kAdjoint;
      dst.region = s.region;
    }
    e.Add({Op::kAccStore, -1, adj.at(v), -1, -1, 0, e.AddOperand(dst)});
  }
  if (group.backward.num_registers > pointwise::kMaxRegisters) {
    return layout.Unsupported(absl::StrCat("a pointwise group needs ",
                                           group.backward.num_registers, " registers (at most ",
                                           pointwise::kMaxRegisters, ")"));
  }
  return absl::OkStatus();
}

}  // namespace gatefuse::compiled
