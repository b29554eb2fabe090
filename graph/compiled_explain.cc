// Descriptions of a compiled sequence plan (graph/compiled_sequence.h): the
// `gatefuse compile --explain` text, and the GEMMs it runs (for `gatefuse bench`).
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status.h"
#include "graph/compiled_plan.h"
#include "graph/compiled_sequence.h"
#include "graph/text.h"

namespace gatefuse {
namespace {

using compiled::BufferDef;
using compiled::BufferKind;
using compiled::GemmDef;
using compiled::GroupDef;
using compiled::Structure;
using compiled::StructureOf;

std::string GemmLabel(const Structure& s, const GemmDef& g) {
  return absl::StrCat(s.buffers[g.lhs.buffer].label, " @ ", s.boundary[g.weight].label,
                      g.transpose_b ? "^T" : "");
}

}  // namespace

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
  absl::StrAppend(&text, "  backward GEMMs:\n");
  for (const GemmDef& g : s->gemms) {
    const std::string rows = g.hoisted ? "T*B" : "B";
    absl::StrAppend(&text, "    d", s->buffers[g.lhs.buffer].label, " += dZ W^T  [", rows, ", ",
                    g.N, "] x [", g.N, ", ", g.K, "]", g.hoisted ? "  once" : "  every step",
                    "; d", s->boundary[g.weight].label, " += lhs^T dZ  [", g.K, ", T*B] x [T*B, ",
                    g.N, "]  once after the loop\n");
  }
  absl::StrAppend(&text,
                  "  fused pointwise groups (one pass over memory each; with row sums, a few "
                  "sweeps over each row in cache):\n");
  int64_t kept = 0;
  for (const BufferDef& b : s->buffers) {
    if (b.kind != BufferKind::kInput) kept += b.cols;
  }
  auto sweeps = [](const pointwise::Program& p) {
    return std::max<size_t>(1, p.sweeps.size());
  };
  for (size_t k = 0; k < s->groups.size(); ++k) {
    const GroupDef& g = s->groups[k];
    if (g.copy) {
      absl::StrAppend(&text, "    group ", k, " (level ", g.level, ", [B, ", g.width,
                      "]): copy ", NodeLabel(cell, g.copy->part.node), " into ",
                      NodeLabel(cell, g.copy->concat), "[:, ", g.copy->to.col, ":",
                      g.copy->to.col + g.copy->to.width, "]\n");
      continue;
    }
    std::vector<std::string> ops;
    for (NodeId id : g.nodes) {
      ops.push_back(absl::StrCat(NodeLabel(cell, id), "=", cell.node(id).op));
    }
    absl::StrAppend(&text, "    group ", k, " (level ", g.level, ", [B, ", g.width, "], ",
                    g.nodes.size(), " ops, ", g.forward.NumInstructions(), " forward / ",
                    g.backward.NumInstructions(), " backward instructions");
    if (!g.forward.sweeps.empty() || !g.backward.sweeps.empty()) {
      absl::StrAppend(&text, ", ", sweeps(g.forward), " forward / ", sweeps(g.backward),
                      " backward sweeps over each row, ",
                      std::max(g.forward.scratch_slots, g.backward.scratch_slots),
                      " rows of scratch");
    }
    absl::StrAppend(&text, "): ", absl::StrJoin(ops, " "), "\n");
  }
  absl::StrAppend(&text, "  memory per step and batch row: op by op ", s->op_by_op_floats,
                  " floats (one tensor per op), compiled ", kept,
                  " floats (GEMM outputs, values read across groups, states): saves ",
                  (s->op_by_op_floats - kept) * 4, " bytes per batch row per step\n");
  return text;
}

}  // namespace gatefuse
