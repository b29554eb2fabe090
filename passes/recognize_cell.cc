#include "passes/recognize_cell.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status.h"
#include "graph/text.h"
#include "passes/dead_code_elimination.h"
#include "ops/cell_kinds.h"
#include "ops/fused_cell.h"
#include "passes/gemm_merge.h"

namespace gatefuse {
namespace {

// A candidate does not fit; the message says where and why.
absl::Status Miss(const std::string& why) { return absl::NotFoundError(why); }

// The terms of one gate's pre-activation, sorted by what they are.
struct GateTerms {
  std::optional<ValueRef> w, u;                       // x @ W, h @ U
  std::vector<ValueRef> bias;                         // parameter-only [H] terms
  std::vector<std::pair<ValueRef, ValueRef>> peepholes;  // (p, the state value p scales)
  std::vector<ValueRef> other;                        // left to the caller
};

class Matcher {
 public:
  explicit Matcher(const Graph& g) : g_(g) {}

  // Finds the per-step input, the states and their next values.
  absl::Status Init() {
    for (NodeId id : g_.Inputs()) {
      const NodeData& d = g_.node(id);
      if (d.role == InputRole::kInput) {
        if (x_ >= 0) return Miss("the cell has more than one per-step input");
        x_ = id;
      } else if (d.role == InputRole::kState) {
        states_.push_back(id);
      }
    }
    if (x_ < 0) return Miss("the graph has no per-step input");
    for (NodeId s : states_) {
      bool found = false;
      for (const GraphOutput& o : g_.outputs()) {
        if (o.name == g_.node(s).name) {
          next_[s] = o.value;
          found = true;
        }
      }
      if (!found) return Miss(absl::StrCat("state ", g_.node(s).name, " has no next value"));
    }
    auto order = g_.TopologicalOrder();
    if (!order.ok()) return order.status();
    param_only_ = ParameterOnly(g_, *order);
    H_ = states_.empty() ? 0 : g_.node(states_[0]).outputs[0].shape[1];
    return absl::OkStatus();
  }

  absl::StatusOr<CellMatch> MatchRnn(const CellKind& want);
  absl::StatusOr<CellMatch> MatchLstm(const CellKind& want);
  absl::StatusOr<CellMatch> MatchGru(const CellKind& want);

  // "%7 (Tanh)" or an input's name, for messages.
  std::string Describe(ValueRef v) const {
    const NodeData& d = g_.node(v.node);
    if (d.op == kInputOp) return d.name;
    if (d.op == "Slice" && param_only_[v.node]) {
      return absl::StrCat(Describe(d.inputs[0]), "[axis ", *d.attrs.GetInt("Slice", "axis"), ": ",
                          *d.attrs.GetInt("Slice", "start"), ":", *d.attrs.GetInt("Slice", "end"),
                          "]");
    }
    return absl::StrCat(NodeLabel(g_, v.node), " (", d.op, ")");
  }

 private:
  const std::string& Op(ValueRef v) const { return g_.node(v.node).op; }
  const std::vector<ValueRef>& Args(ValueRef v) const { return g_.node(v.node).inputs; }
  bool IsNode(ValueRef v, NodeId id) const { return v.node == id && v.index == 0; }
  bool IsVector(ValueRef v) const { return g_.spec(v).shape == Shape{H_}; }

  // Needs exactly the states `names` (in the graph's declaration order).
  absl::Status NeedStates(const CellKind& want) const {
    const size_t n = want.states.size();
    if (states_.size() != n) {
      return Miss(absl::StrCat(want.name, " has ", n, n == 1 ? " state (h)" : " states (h, c)",
                               ", this cell has ", states_.size()));
    }
    return absl::OkStatus();
  }

  // v = act(pre): returns pre, or a miss naming what v is.
  absl::StatusOr<ValueRef> Activation(ValueRef v, const std::string& act, const std::string& what,
                                      const std::string& kind) const {
    if (Op(v) != act) {
      return Miss(absl::StrCat(what, " uses ", Op(v) == kInputOp ? "no activation" : Op(v), ", ",
                               kind, " needs ", act, " at ", Describe(v)));
    }
    return Args(v)[0];
  }

  absl::StatusOr<GateTerms> Terms(ValueRef pre, const std::string& gate, bool allow_other) const {
    GateTerms t;
    const std::vector<ValueRef> terms = Op(pre) == "AddN" ? Args(pre) : std::vector<ValueRef>{pre};
    const std::string name = gate.empty() ? "the pre-activation" : "gate " + gate;
    for (const ValueRef& term : terms) {
      const NodeData& d = g_.node(term.node);
      if (d.op == "MatMul" && *d.attrs.GetInt("MatMul", "transpose_a") == 0 &&
          *d.attrs.GetInt("MatMul", "transpose_b") == 0 && param_only_[d.inputs[1].node]) {
        if (IsNode(d.inputs[0], x_)) {
          if (t.w) return Miss(absl::StrCat(name, " has two x @ W terms"));
          t.w = d.inputs[1];
          continue;
        }
        if (IsNode(d.inputs[0], states_[0])) {
          if (t.u) return Miss(absl::StrCat(name, " has two h @ U terms"));
          t.u = d.inputs[1];
          continue;
        }
      }
      if (param_only_[term.node]) {
        if (!IsVector(term)) {
          return Miss(absl::StrCat(name, ": bias term ", Describe(term), " has shape ",
                                   g_.spec(term).shape.ToString(), ", a fused kernel needs [",
                                   H_, "]"));
        }
        t.bias.push_back(term);
        continue;
      }
      if (d.op == "Mul") {
        // p * s with p a parameter vector and s a state or the new cell.
        bool peephole = false;
        for (int k = 0; k < 2 && !peephole; ++k) {
          const ValueRef p = d.inputs[k], s = d.inputs[1 - k];
          if (param_only_[p.node] && IsVector(p) && !param_only_[s.node] &&
              (Op(s) == kInputOp || s == next_c())) {
            t.peepholes.push_back({p, s});
            peephole = true;
          }
        }
        if (peephole) continue;
      }
      if (allow_other) {
        t.other.push_back(term);
        continue;
      }
      return Miss(absl::StrCat(name, " has a term the fused kernel cannot express: ",
                               Describe(term)));
    }
    if (!t.w) return Miss(absl::StrCat(name, " does not read the input (no x @ W term)"));
    if (!t.u && !allow_other) return Miss(absl::StrCat(name, " does not read h (no h @ U term)"));
    return t;
  }

  ValueRef next_c() const {
    return states_.size() == 2 ? next_.at(states_[1]) : ValueRef{-1, 0};
  }

  // Adds W_g, U_g, b_g roles of gate g.
  void AddGateRoles(CellMatch& m, const std::string& g, const GateTerms& t) const {
    m.roles.push_back({RoleName("W", g), {*t.w}});
    m.roles.push_back({RoleName("U", g), {*t.u}});
    if (!t.bias.empty()) m.roles.push_back({RoleName("b", g), t.bias});
  }

  // One weight value may serve one role only.
  absl::Status DistinctWeights(const CellMatch& m) const {
    std::map<ValueRef, std::string> seen;
    for (const RoleBinding& r : m.roles) {
      if (r.role[0] != 'W' && r.role[0] != 'U') continue;
      auto [it, fresh] = seen.emplace(r.terms[0], r.role);
      if (!fresh) {
        return Miss(absl::StrCat(Describe(r.terms[0]), " is the weight of both ", it->second,
                                 " and ", r.role, "; the fused kernel keeps one weight per gate"));
      }
    }
    return absl::OkStatus();
  }

  const Graph& g_;
  NodeId x_ = -1;
  std::vector<NodeId> states_;
  std::map<NodeId, ValueRef> next_;
  std::vector<bool> param_only_;
  int64_t H_ = 0;
};

absl::StatusOr<CellMatch> Matcher::MatchRnn(const CellKind& want) {
  GF_RETURN_IF_ERROR(NeedStates(want));
  GF_ASSIGN_OR_RETURN(ValueRef pre,
                      Activation(next_.at(states_[0]), want.activation, "h'", want.name));
  GF_ASSIGN_OR_RETURN(GateTerms t, Terms(pre, "", false));
  if (!t.peepholes.empty()) return Miss("the pre-activation has a peephole term");
  CellMatch m{want.name, {}};
  AddGateRoles(m, "", t);
  return m;
}

absl::StatusOr<CellMatch> Matcher::MatchLstm(const CellKind& want) {
  GF_RETURN_IF_ERROR(NeedStates(want));
  const bool coupled_kind = want.forget_is_one_minus_input;
  const bool peephole_kind = !want.peephole_gates.empty();
  const NodeId c = states_[1];
  const ValueRef h2 = next_.at(states_[0]), c2 = next_.at(c);
  // h' = o * tanh(c')
  if (Op(h2) != "Mul") return Miss(absl::StrCat("h' is not o * tanh(c'): it is ", Describe(h2)));
  int tanh_side = -1;
  for (int k = 0; k < 2; ++k) {
    const ValueRef a = Args(h2)[k];
    if (Args(a).size() == 1 && Args(a)[0] == c2) {
      GF_RETURN_IF_ERROR(Activation(a, "Tanh", "h' = o * act(c')", want.name).status());
      tanh_side = k;
    }
  }
  if (tanh_side < 0) return Miss("h' does not multiply an activation of the new cell c'");
  GF_ASSIGN_OR_RETURN(ValueRef pre_o,
                      Activation(Args(h2)[1 - tanh_side], "Sigmoid", "output gate o", want.name));
  // c' = f * c + i * g
  if (Op(c2) != "AddN" || Args(c2).size() != 2 || Op(Args(c2)[0]) != "Mul" ||
      Op(Args(c2)[1]) != "Mul") {
    return Miss(absl::StrCat("c' is not f * c + i * g: it is ", Describe(c2)));
  }
  int forget = -1;
  ValueRef f_val;
  for (int k = 0; k < 2 && forget < 0; ++k) {
    const auto& mul = Args(Args(c2)[k]);
    for (int j = 0; j < 2; ++j) {
      if (IsNode(mul[j], c)) {
        forget = k;
        f_val = mul[1 - j];
      }
    }
  }
  if (forget < 0) return Miss("c' has no f * c term (the old cell c is not carried over)");
  const auto& ig = Args(Args(c2)[1 - forget]);
  const int i_side = Op(ig[0]) == "Sigmoid" ? 0 : 1;
  GF_ASSIGN_OR_RETURN(ValueRef pre_i,
                      Activation(ig[i_side], "Sigmoid", "input gate i", want.name));
  GF_ASSIGN_OR_RETURN(ValueRef pre_g,
                      Activation(ig[1 - i_side], "Tanh", "candidate gate g", want.name));
  GF_ASSIGN_OR_RETURN(ValueRef pre_f, Activation(f_val, "Sigmoid", "forget gate f", want.name));
  const bool coupled = Op(pre_f) == "Neg";
  if (coupled_kind) {
    if (!coupled) {
      return Miss(absl::StrCat("the forget gate has its own pre-activation; ", want.name,
                               " needs f = 1 - i"));
    }
    if (Args(pre_f)[0] != pre_i) {
      return Miss(absl::StrCat("the forget gate is 1 - sigmoid of ", Describe(Args(pre_f)[0]),
                               ", not of the input gate's pre-activation ", Describe(pre_i)));
    }
  } else if (coupled && Args(pre_f)[0] == pre_i) {
    return Miss("the forget gate is 1 - i (coupled input and forget gates): that is cifg");
  }

  GF_ASSIGN_OR_RETURN(GateTerms ti, Terms(pre_i, "i", false));
  GF_ASSIGN_OR_RETURN(GateTerms tg, Terms(pre_g, "g", false));
  GF_ASSIGN_OR_RETURN(GateTerms to, Terms(pre_o, "o", false));
  std::optional<GateTerms> tf;
  if (!coupled_kind) {
    GF_ASSIGN_OR_RETURN(tf, Terms(pre_f, "f", false));
  }
  // Peepholes: i and f read c, o reads c' (Gers & Schmidhuber 2000), g none.
  const bool any_peephole = !ti.peepholes.empty() || !tg.peepholes.empty() ||
                            !to.peepholes.empty() || (tf && !tf->peepholes.empty());
  if (!peephole_kind && any_peephole) {
    return Miss(coupled_kind ? absl::StrCat(want.name, " with peepholes has no fused kernel")
                             : absl::StrCat("a gate has a peephole term; ", want.name, " has none"));
  }
  if (peephole_kind && !any_peephole) return Miss("no gate has a peephole term");
  if (!tg.peepholes.empty()) return Miss("the candidate gate g has a peephole term");
  auto check_peepholes = [&](const GateTerms& t, const std::string& gate,
                             ValueRef expected, const std::string& expected_name) -> absl::Status {
    if (t.peepholes.size() > 1) return Miss(absl::StrCat("gate ", gate, " has two peephole terms"));
    for (const auto& [p, s] : t.peepholes) {
      if (s != expected) {
        return Miss(absl::StrCat("the peephole of gate ", gate, " reads ", Describe(s),
                                 "; the fused kernel's ", gate, " reads ", expected_name));
      }
    }
    return absl::OkStatus();
  };
  GF_RETURN_IF_ERROR(check_peepholes(ti, "i", {c, 0}, "the old cell c"));
  if (tf) GF_RETURN_IF_ERROR(check_peepholes(*tf, "f", {c, 0}, "the old cell c"));
  GF_RETURN_IF_ERROR(check_peepholes(to, "o", c2, "the new cell c'"));

  CellMatch m{want.name, {}};
  AddGateRoles(m, "i", ti);
  if (tf) AddGateRoles(m, "f", *tf);
  AddGateRoles(m, "g", tg);
  AddGateRoles(m, "o", to);
  for (const auto& [gate, t] : std::vector<std::pair<std::string, const GateTerms*>>{
           {"i", &ti}, {"f", tf ? &*tf : nullptr}, {"o", &to}}) {
    if (t && !t->peepholes.empty()) m.roles.push_back({"p_" + gate, {t->peepholes[0].first}});
  }
  GF_RETURN_IF_ERROR(DistinctWeights(m));
  return m;
}

absl::StatusOr<CellMatch> Matcher::MatchGru(const CellKind& want) {
  GF_RETURN_IF_ERROR(NeedStates(want));
  const NodeId h = states_[0];
  const ValueRef h2 = next_.at(h);
  // h' = (1 - z) * n + z * h, with 1 - sigmoid(a) canonical as sigmoid(-a)
  if (Op(h2) != "AddN" || Args(h2).size() != 2 || Op(Args(h2)[0]) != "Mul" ||
      Op(Args(h2)[1]) != "Mul") {
    return Miss(absl::StrCat("h' is not (1 - z) * n + z * h: it is ", Describe(h2)));
  }
  int carry = -1;
  ValueRef z_val;
  for (int k = 0; k < 2 && carry < 0; ++k) {
    const auto& mul = Args(Args(h2)[k]);
    for (int j = 0; j < 2; ++j) {
      if (IsNode(mul[j], h)) {
        carry = k;
        z_val = mul[1 - j];
      }
    }
  }
  if (carry < 0) return Miss("h' has no z * h term (the old state is not carried over)");
  GF_ASSIGN_OR_RETURN(ValueRef pre_z, Activation(z_val, "Sigmoid", "update gate z", want.name));
  const auto& zn = Args(Args(h2)[1 - carry]);
  int zc = -1;
  for (int k = 0; k < 2; ++k) {
    if (Op(zn[k]) == "Sigmoid" && Op(Args(zn[k])[0]) == "Neg") zc = k;
  }
  if (zc < 0) return Miss("h' has no (1 - z) * n term");
  if (Args(Args(zn[zc])[0])[0] != pre_z) {
    return Miss(absl::StrCat("(1 - z) is 1 - sigmoid of ", Describe(Args(Args(zn[zc])[0])[0]),
                             ", not of the update gate's pre-activation ", Describe(pre_z)));
  }
  GF_ASSIGN_OR_RETURN(ValueRef pre_n, Activation(zn[1 - zc], "Tanh", "candidate n", want.name));

  GF_ASSIGN_OR_RETURN(GateTerms tz, Terms(pre_z, "z", false));
  GF_ASSIGN_OR_RETURN(GateTerms tn, Terms(pre_n, "n", true));
  if (tn.u) return Miss("candidate n reads h @ U without the reset gate");
  if (tn.other.size() != 1) {
    return Miss(absl::StrCat("candidate n needs exactly one recurrent term, found ",
                             tn.other.size()));
  }
  const ValueRef rec = tn.other[0];
  std::optional<ValueRef> reset, u_n;
  std::vector<ValueRef> bh_n;
  bool found_lbr = false;
  const NodeData& rd = g_.node(rec.node);
  if (rd.op == "MatMul" && Op(rd.inputs[0]) == "Mul" && param_only_[rd.inputs[1].node] &&
      *rd.attrs.GetInt("MatMul", "transpose_a") == 0 &&
      *rd.attrs.GetInt("MatMul", "transpose_b") == 0) {
    // (r * h) @ U_n
    const auto& rh = Args(rd.inputs[0]);
    for (int k = 0; k < 2; ++k) {
      if (IsNode(rh[k], h)) reset = rh[1 - k];
    }
    u_n = rd.inputs[1];
  } else if (rd.op == "Mul") {
    // r * (h @ U_n + bh_n)
    for (int k = 0; k < 2 && !u_n; ++k) {
      const ValueRef inner = rd.inputs[1 - k];
      std::vector<ValueRef> parts = Op(inner) == "AddN" ? Args(inner) : std::vector<ValueRef>{inner};
      std::optional<ValueRef> u;
      std::vector<ValueRef> bias;
      bool ok = true;
      for (const ValueRef& p : parts) {
        const NodeData& pd = g_.node(p.node);
        if (pd.op == "MatMul" && IsNode(pd.inputs[0], h) && param_only_[pd.inputs[1].node] &&
            *pd.attrs.GetInt("MatMul", "transpose_a") == 0 &&
            *pd.attrs.GetInt("MatMul", "transpose_b") == 0 && !u) {
          u = pd.inputs[1];
        } else if (param_only_[p.node] && IsVector(p)) {
          bias.push_back(p);
        } else {
          ok = false;
        }
      }
      if (ok && u) {
        reset = rd.inputs[k];
        u_n = u;
        bh_n = bias;
        found_lbr = true;
      }
    }
  }
  if (!reset || !u_n) {
    return Miss(absl::StrCat("candidate n's recurrent term ", Describe(rec),
                             " is neither (r * h) @ U_n nor r * (h @ U_n + b)"));
  }
  if (found_lbr != want.linear_before_reset) {
    return Miss(found_lbr ? "the reset gate scales h @ U_n (linear before reset): that is gru_lbr"
                          : "the reset gate scales h before h @ U_n: that is gru");
  }
  GF_ASSIGN_OR_RETURN(ValueRef pre_r, Activation(*reset, "Sigmoid", "reset gate r", want.name));
  GF_ASSIGN_OR_RETURN(GateTerms tr, Terms(pre_r, "r", false));
  if (!tr.peepholes.empty() || !tz.peepholes.empty() || !tn.peepholes.empty()) {
    return Miss("a GRU gate has a term that reads the state elementwise");
  }
  CellMatch m{want.name, {}};
  AddGateRoles(m, "r", tr);
  AddGateRoles(m, "z", tz);
  m.roles.push_back({"W_n", {*tn.w}});
  m.roles.push_back({"U_n", {*u_n}});
  if (!tn.bias.empty()) m.roles.push_back({"b_n", tn.bias});
  if (!bh_n.empty()) m.roles.push_back({"bh_n", bh_n});
  GF_RETURN_IF_ERROR(DistinctWeights(m));
  return m;
}

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
        for (const ValueRef& v : b.terms) terms.push_back(m.Describe(v));
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
  std::vector<std::string> roles;
  for (const RoleBinding& r : match->roles) {
    roles.push_back(r.role);
    if (r.terms.size() == 1) {
      inputs.push_back(r.terms[0]);
    } else {
      GF_ASSIGN_OR_RETURN(NodeId sum, g.AddNode("AddN", r.terms));
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
