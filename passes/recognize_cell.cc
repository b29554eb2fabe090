#include "passes/recognize_cell.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status.h"
#include "ops/cell_kinds.h"
#include "passes/cell_matcher.h"
#include "passes/dead_code_elimination.h"

namespace gatefuse {
namespace {

using recognition::Matcher;
using recognition::Miss;

// The candidates: every kind of the table with a fused kernel, in table order. The
// matchers of two kinds never both succeed, so the order only orders explanations.
std::vector<const CellKind*> CandidateKinds() {
  std::vector<const CellKind*> kinds;
  for (const CellKind& k : CellKinds()) {
    if (k.fused) kinds.push_back(&k);
  }
  return kinds;
}

absl::StatusOr<CellMatch> TryKind(const CellKind& kind, Matcher& m) {
  switch (kind.family) {
    case CellFamily::kRnn:
      return m.MatchRnn(kind);
    case CellFamily::kLstm:
      return m.MatchLstm(kind);
    case CellFamily::kGru:
      return m.MatchGru(kind);
    case CellFamily::kMgu:
      break;
  }
  return Miss(absl::StrCat(kind.name, " has no pattern"));
}

}  // namespace

std::vector<CandidateReport> ExplainRecognition(const Graph& g) {
  std::vector<CandidateReport> reports;
  Matcher m(g);
  const absl::Status init = m.Init();
  for (const CellKind* kind : CandidateKinds()) {
    CandidateReport r{kind->name, false, ""};
    absl::StatusOr<CellMatch> match = init.ok() ? TryKind(*kind, m) : init;
    if (match.ok()) {
      r.matched = true;
      std::vector<std::string> roles;
      for (const RoleBinding& b : match->roles) {
        std::vector<std::string> terms;
        for (const RoleTerm& t : b.terms) {
          terms.push_back(t.scale == 1 ? m.Describe(t.value)
                                       : absl::StrCat(t.scale, "·", m.Describe(t.value)));
        }
        if (b.constant != 0) terms.push_back(absl::StrCat(b.constant));
        roles.push_back(absl::StrCat(b.role, "=", absl::StrJoin(terms, " + ")));
      }
      r.detail = absl::StrJoin(roles, " ");
    } else {
      r.detail = std::string(match.status().message());
    }
    reports.push_back(std::move(r));
  }
  return reports;
}

std::optional<CellMatch> MatchCell(const Graph& g) {
  Matcher m(g);
  if (!m.Init().ok()) return std::nullopt;
  for (const CellKind* kind : CandidateKinds()) {
    absl::StatusOr<CellMatch> match = TryKind(*kind, m);
    if (match.ok()) return *std::move(match);
  }
  return std::nullopt;
}

absl::StatusOr<bool> RecognizeCell::Run(Graph& g) {
  std::optional<CellMatch> match = MatchCell(g);
  if (!match) return false;
  std::vector<ValueRef> inputs;
  NodeId x = -1;
  std::vector<NodeId> states;
  for (NodeId id : g.Inputs()) {
    if (g.node(id).role == InputRole::kInput) x = id;
    if (g.node(id).role == InputRole::kState) states.push_back(id);
  }
  inputs.push_back({x, 0});
  for (NodeId s : states) inputs.push_back({s, 0});
  const DType dtype = g.node(x).outputs[0].dtype;
  const int64_t H = g.node(states[0]).outputs[0].shape[1];
  std::vector<std::string> roles;
  for (const RoleBinding& r : match->roles) {
    roles.push_back(r.role);
    // The role's value: its terms, each scaled, plus the constant as an [H] vector.
    std::vector<ValueRef> terms;
    for (const RoleTerm& t : r.terms) {
      if (t.scale == 1) {
        terms.push_back(t.value);
        continue;
      }
      GF_ASSIGN_OR_RETURN(NodeId scaled, g.AddNode("MulScalar", {t.value}, {{"value", t.scale}}));
      terms.push_back({scaled, 0});
    }
    if (r.constant != 0) terms.push_back({g.AddConstant(Tensor::Full({H}, dtype, r.constant)), 0});
    if (terms.size() == 1) {
      inputs.push_back(terms[0]);
    } else {
      GF_ASSIGN_OR_RETURN(NodeId sum, g.AddNode("AddN", terms));
      inputs.push_back({sum, 0});
    }
  }
  GF_ASSIGN_OR_RETURN(NodeId fused, g.AddNode("FusedCell", inputs,
                                              {{"kind", match->kind},
                                               {"roles", absl::StrJoin(roles, ",")}}));
  for (GraphOutput& o : g.mutable_outputs()) {
    for (size_t k = 0; k < states.size(); ++k) {
      if (o.name == g.node(states[k]).name) o.value = {fused, static_cast<int>(k)};
    }
  }
  GF_RETURN_IF_ERROR(DeadCodeElimination().Run(g).status());
  return true;
}

std::string FusionKind(const Graph& g) {
  for (NodeId id = 0; id < g.num_node_slots(); ++id) {
    const NodeData& d = g.node(id);
    // Canonical even for a graph whose FusedCell names its kind by an old alias.
    if (!d.dead && d.op == "FusedCell") {
      return CanonicalCellKind(*d.attrs.GetString("FusedCell", "kind"));
    }
  }
  return "custom";
}

}  // namespace gatefuse
