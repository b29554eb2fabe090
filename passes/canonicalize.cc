#include "passes/canonicalize.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "passes/graph_util.h"

namespace gatefuse {
namespace {

constexpr int kMaxRounds = 50;

// Replaces every use of node `id`'s value with `to` when their types agree.
bool Forward(Graph& g, NodeId id, ValueRef to) {
  if (g.node(id).outputs[0] != g.spec(to)) return false;
  g.ReplaceAllUses({id, 0}, to);
  g.RemoveNode(id);
  return true;
}

void Become(Graph& g, NodeId id, const std::string& op, std::vector<ValueRef> inputs,
            Attrs attrs = {}) {
  NodeData& d = g.mutable_node(id);
  d.op = op;
  d.attrs = std::move(attrs);
  g.SetInputs(id, std::move(inputs));
}

absl::StatusOr<ValueRef> AddUnary(Graph& g, const std::string& op, ValueRef x, Attrs attrs = {}) {
  GF_ASSIGN_OR_RETURN(NodeId n, g.AddNode(op, {x}, std::move(attrs)));
  return ValueRef{n, 0};
}

// The single value of a constant whose elements are all equal, if it is one.
std::optional<double> UniformConstant(const Graph& g, ValueRef v) {
  const NodeData& d = g.node(v.node);
  if (d.op != kConstantOp || d.value.num_elements() == 0) return std::nullopt;
  const double first = d.value.At(0);
  return IsConstantEqualTo(g, v, first) ? std::optional<double>(first) : std::nullopt;
}

double ScalarAttr(const NodeData& d) { return *d.attrs.GetFloat(d.op, "value"); }

// One rewrite of node `id`, if a rule applies.
absl::StatusOr<bool> Rewrite(Graph& g, NodeId id) {
  const NodeData& d = g.node(id);
  const std::string op = d.op;
  const std::vector<ValueRef> in = d.inputs;
  const TensorSpec out = d.outputs.empty() ? TensorSpec{} : d.outputs[0];

  if (op == "Add") {
    Become(g, id, "AddN", in);
    return true;
  }
  if (op == "Sub") {
    GF_ASSIGN_OR_RETURN(ValueRef neg, AddUnary(g, "Neg", in[1]));
    Become(g, id, "AddN", {in[0], neg});
    return true;
  }
  if (op == "AddN") {
    std::vector<ValueRef> flat;
    bool changed = false;
    for (const ValueRef& v : in) {
      if (OpOf(g, v) == "AddN" && g.NumUses(v) == 1) {
        const std::vector<ValueRef> inner = g.node(v.node).inputs;
        flat.insert(flat.end(), inner.begin(), inner.end());
        changed = true;
      } else {
        flat.push_back(v);
      }
    }
    if (changed) {
      std::vector<NodeId> spliced;
      for (const ValueRef& v : in) {
        if (OpOf(g, v) == "AddN" && g.NumUses(v) == 1) spliced.push_back(v.node);
      }
      Become(g, id, "AddN", flat);
      for (NodeId n : spliced) g.RemoveNode(n);
      return true;
    }
    // Drop zeros that do not decide the result's shape.
    for (size_t k = 0; k < in.size() && in.size() > 1; ++k) {
      if (!IsConstantEqualTo(g, in[k], 0.0)) continue;
      std::vector<ValueRef> rest = in;
      rest.erase(rest.begin() + k);
      Shape s = g.spec(rest[0]).shape;
      for (const ValueRef& v : rest) s = BroadcastShapes(s, g.spec(v).shape, "AddN").value_or(s);
      if (s != out.shape) continue;
      Become(g, id, "AddN", rest);
      return true;
    }
    if (in.size() == 1) return Forward(g, id, in[0]);
    if (in.size() == 2) {
      for (int k = 0; k < 2; ++k) {
        std::optional<double> c = UniformConstant(g, in[k]);
        if (c && g.spec(in[1 - k]) == out) {
          Become(g, id, "AddScalar", {in[1 - k]}, {{"value", *c}});
          return true;
        }
      }
    }
    return false;
  }
  if (op == "Mul") {
    for (int k = 0; k < 2; ++k) {
      std::optional<double> c = UniformConstant(g, in[k]);
      if (c && g.spec(in[1 - k]) == out) {
        Become(g, id, "MulScalar", {in[1 - k]}, {{"value", *c}});
        return true;
      }
    }
    return false;
  }
  if (op == "MulScalar") {
    const double s = ScalarAttr(d);
    if (s == 1.0) return Forward(g, id, in[0]);
    if (s == -1.0) {
      Become(g, id, "Neg", in);
      return true;
    }
    if (OpOf(g, in[0]) == "MulScalar" && g.NumUses(in[0]) == 1) {  // (x * a) * b  ->  x * (a b)
      const NodeData& inner = g.node(in[0].node);
      const double a = ScalarAttr(inner);
      const ValueRef x = inner.inputs[0];
      const NodeId dead = in[0].node;
      Become(g, id, "MulScalar", {x}, {{"value", a * s}});
      g.RemoveNode(dead);
      return true;
    }
    return false;
  }
  if (op == "MatMul" && g.NumUses(in[0]) == 1 &&
      (OpOf(g, in[0]) == "MulScalar" || OpOf(g, in[0]) == "Neg")) {
    // (a * s) @ W  ->  (a @ W) * s, and (-a) @ W  ->  -(a @ W): the matmul then reads
    // a itself (a concat(x, h) the slices can distribute, h, x).
    const NodeData& inner = g.node(in[0].node);
    const double scale = inner.op == "Neg" ? -1.0 : ScalarAttr(inner);
    const ValueRef a = inner.inputs[0];
    const NodeId dead = in[0].node;
    GF_ASSIGN_OR_RETURN(NodeId mm, g.AddNode("MatMul", {a, in[1]}, d.attrs));
    Become(g, id, "MulScalar", {{mm, 0}}, {{"value", scale}});
    g.RemoveNode(dead);
    return true;
  }
  if (op == "AddScalar") {
    const double s = ScalarAttr(d);
    if (s == 0.0) return Forward(g, id, in[0]);
    if (OpOf(g, in[0]) == "Neg") {  // -x + s  ->  s - x
      Become(g, id, "RSubScalar", {g.node(in[0].node).inputs[0]}, {{"value", s}});
      return true;
    }
    return false;
  }
  if (op == "RSubScalar" && ScalarAttr(d) == 1.0 && OpOf(g, in[0]) == "Sigmoid") {
    // 1 - sigmoid(a) = sigmoid(-a)
    GF_ASSIGN_OR_RETURN(ValueRef neg, AddUnary(g, "Neg", g.node(in[0].node).inputs[0]));
    Become(g, id, "Sigmoid", {neg});
    return true;
  }
  if (op == "Neg" && OpOf(g, in[0]) == "Neg") {
    return Forward(g, id, g.node(in[0].node).inputs[0]);
  }
  return false;
}

// Sorts the operands of commutative ops by structural hash.
absl::StatusOr<bool> SortOperands(Graph& g) {
  GF_ASSIGN_OR_RETURN(std::vector<NodeId> order, g.TopologicalOrder());
  const std::vector<uint64_t> hashes = StructuralHashes(g, order);
  bool changed = false;
  for (NodeId id : order) {
    const NodeData& d = g.node(id);
    if (d.inputs.size() < 2 || !IsCommutative(d.op)) continue;
    std::vector<ValueRef> sorted = d.inputs;
    std::stable_sort(sorted.begin(), sorted.end(), [&](const ValueRef& a, const ValueRef& b) {
      return ValueHash(hashes, a) < ValueHash(hashes, b);
    });
    if (sorted != d.inputs) {
      g.SetInputs(id, std::move(sorted));
      changed = true;
    }
  }
  return changed;
}

}  // namespace

absl::StatusOr<bool> Canonicalize::Run(Graph& g) {
  bool changed = false;
  for (int round = 0; round < kMaxRounds; ++round) {
    GF_ASSIGN_OR_RETURN(std::vector<NodeId> order, g.TopologicalOrder());
    bool rewrote = false;
    for (NodeId id : order) {
      if (g.node(id).dead || g.node(id).op == kInputOp || g.node(id).op == kConstantOp) continue;
      GF_ASSIGN_OR_RETURN(bool r, Rewrite(g, id));
      rewrote = rewrote || r;
    }
    GF_ASSIGN_OR_RETURN(bool sorted, SortOperands(g));
    changed = changed || rewrote || sorted;
    if (!rewrote && !sorted) return changed;
  }
  return absl::InternalError(absl::StrCat("canonicalize did not settle in ", kMaxRounds, " rounds"));
}

}  // namespace gatefuse
