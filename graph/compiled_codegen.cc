#include "graph/compiled_codegen.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "graph/compiled_sweeps.h"
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
                int& num_registers, std::vector<Instr>& code) {
  int out = num_registers++;
  if (l.variadic && in.size() == 1) {
    code.push_back({Op::kCopy, out, in[0]});
    return out;
  }
  code.push_back(WithImmediates({l.forward, out, in[0], in.size() > 1 ? in[1] : -1, -1}, imm));
  // A variadic op folds: ((x0 op x1) op x2) op ...
  for (size_t k = 2; k < in.size(); ++k) {
    const int next = num_registers++;
    code.push_back(WithImmediates({l.forward, next, out, in[k], -1}, imm));
    out = next;
  }
  return out;
}

void EmitAdjoint(const pointwise::Lowering& l, int gy, int y, const std::vector<int>& x,
                 const std::vector<int>& dx, Immediates imm, std::vector<Instr>& code) {
  for (size_t k = 0; k < x.size(); ++k) {
    for (const pointwise::AdjointInstr& a : l.adjoints[l.variadic ? 0 : k]) {
      int regs[3] = {-1, -1, -1};
      for (size_t i = 0; i < a.args.size(); ++i) {
        const pointwise::Ref& r = a.args[i];
        regs[i] = r.kind == pointwise::Ref::kGrad     ? gy
                  : r.kind == pointwise::Ref::kOutput ? y
                                                      : x[r.input];
      }
      code.push_back(WithImmediates({a.op, dx[k], regs[0], regs[1], regs[2]}, imm));
    }
  }
}

int EmitForward(const pointwise::Lowering& l, const std::vector<int>& in, Immediates imm,
                pointwise::Program& p) {
  return EmitForward(l, in, imm, p.num_registers, p.code);
}

void EmitAdjoint(const pointwise::Lowering& l, int gy, int y, const std::vector<int>& x,
                 const std::vector<int>& dx, Immediates imm, pointwise::Program& p) {
  EmitAdjoint(l, gy, y, x, dx, imm, p.code);
}

namespace {

// A Concat part copied into its columns: y[:, a:b] = part; backward d part += dy[:, a:b].
void EmitCopy(GroupDef& group) {
  const CopyDef& c = *group.copy;
  group.forward = pointwise::Program();
  group.forward.width = group.width;
  group.forward.num_registers = 1;
  group.forward_operands = {{OperandDef::kRegion, c.from}, {OperandDef::kRegion, c.to}};
  group.forward.code = {{Op::kLoad, 0, -1, -1, -1, 0, 0}, {Op::kStore, -1, 0, -1, -1, 0, 1}};
  group.backward = pointwise::Program();
  group.backward.width = group.width;
  group.backward.num_registers = 1;
  group.backward_operands = {{OperandDef::kAdjoint, c.to}, {OperandDef::kAdjoint, c.from}};
  group.backward.code = {{Op::kLoad, 0, -1, -1, -1, 0, 0}, {Op::kAccStore, -1, 0, -1, -1, 0, 1}};
}

}  // namespace

void StoreSoleAdjoints(Structure& s) {
  // Per buffer and column: how many writes its adjoint gets per step (a GEMM's
  // accumulation, or a write of another step's block, counts as two: the buffer
  // keeps its zeroing). The only reads of an adjoint come after every write to it:
  // a GEMM's backward reads dZ after the groups of its level and above, a group
  // loads a kept value's adjoint after the groups of later levels that read it.
  std::vector<std::vector<int>> writes(s.buffers.size());
  for (size_t b = 0; b < s.buffers.size(); ++b) writes[b].assign(s.buffers[b].cols, 0);
  auto count = [&](const Region& r, int n) {
    for (int64_t c = r.col; c < r.col + r.width; ++c) writes[r.buffer][c] += r.dt == 0 ? n : 2;
  };
  // fn(instruction, its operand) for every instruction of g's backward on an adjoint.
  auto each_adjoint_access = [](GroupDef& g, auto&& fn) {
    auto visit = [&](std::vector<Instr>& code) {
      for (Instr& i : code) {
        if ((i.op == Op::kAccStore || i.op == Op::kLoad) &&
            g.backward_operands[i.operand].kind == OperandDef::kAdjoint) {
          fn(i, g.backward_operands[i.operand]);
        }
      }
    };
    visit(g.backward.code);
    for (pointwise::Sweep& w : g.backward.sweeps) {
      visit(w.row);
      visit(w.chunk);
    }
  };
  for (GroupDef& g : s.groups) {
    each_adjoint_access(g, [&](Instr& i, const OperandDef& o) {
      count(o.region, i.op == Op::kAccStore ? 1 : 0);
    });
  }
  for (const GemmDef& g : s.gemms) count(g.lhs, 2);  // d lhs += dZ W^T accumulates
  for (size_t b = 0; b < s.buffers.size(); ++b) {
    BufferDef& buf = s.buffers[b];
    if (buf.kind == BufferKind::kInput || buf.kind == BufferKind::kState) continue;
    buf.stored_adjoint = std::all_of(writes[b].begin(), writes[b].end(),
                                     [](int n) { return n == 1; });
  }
  for (GroupDef& g : s.groups) {
    each_adjoint_access(g, [&](Instr& i, const OperandDef& o) {
      if (i.op == Op::kAccStore && s.buffers[o.region.buffer].stored_adjoint) i.op = Op::kStore;
    });
  }
}

absl::Status EmitGroup(Layout& layout, GroupDef& group) {
  if (group.copy) {
    EmitCopy(group);
    return absl::OkStatus();
  }
  GF_RETURN_IF_ERROR(EmitSweeps(layout, group));
  for (const pointwise::Program* p : {&group.forward, &group.backward}) {
    if (p->num_registers > pointwise::kMaxRegisters) {
      std::string first = group.nodes.empty() ? "" : NodeLabel(layout.graph, group.nodes[0]);
      return layout.Unsupported(absl::StrCat(
          "the pointwise group of ", group.nodes.size(), " ops from node ", first, " (level ",
          group.level, ", [B, ", group.width, "]) needs ", p->num_registers,
          " registers (at most ", pointwise::kMaxRegisters, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace gatefuse::compiled
