#include "passes/graph_util.h"

#include <algorithm>
#include <functional>

#include "ops/registry.h"

namespace gatefuse {
namespace {

uint64_t Mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
  return h;
}

uint64_t HashString(const std::string& s) { return std::hash<std::string>{}(s); }

}  // namespace

bool IsCommutative(const std::string& op) {
  auto def = OpRegistry::Global().Find(op);
  return def.ok() && (*def)->commutative;
}

std::vector<uint64_t> StructuralHashes(const Graph& g, const std::vector<NodeId>& topo_order) {
  std::vector<uint64_t> h(g.num_node_slots(), 0);
  for (NodeId id : topo_order) {
    const NodeData& d = g.node(id);
    uint64_t x = HashString(d.op);
    if (d.op == kInputOp) {
      x = Mix(Mix(x, static_cast<uint64_t>(d.role)), HashString(d.name));
    } else if (d.op == kConstantOp) {
      x = Mix(x, HashString(d.outputs[0].ToString()));
      for (double v : d.value.ToVector()) x = Mix(x, std::hash<double>{}(v));
    } else {
      x = Mix(x, HashString(d.attrs.ToString()));
      std::vector<uint64_t> in;
      for (const ValueRef& v : d.inputs) in.push_back(ValueHash(h, v));
      if (IsCommutative(d.op)) std::sort(in.begin(), in.end());
      for (uint64_t v : in) x = Mix(x, v);
    }
    h[id] = x;
  }
  return h;
}

uint64_t ValueHash(const std::vector<uint64_t>& node_hashes, ValueRef v) {
  return Mix(node_hashes[v.node], static_cast<uint64_t>(v.index));
}

bool IsConstantEqualTo(const Graph& g, ValueRef v, double x) {
  const NodeData& d = g.node(v.node);
  if (d.op != kConstantOp) return false;
  for (double e : d.value.ToVector()) {
    if (e != x) return false;
  }
  return true;
}

const std::string& OpOf(const Graph& g, ValueRef v) {
  static const std::string kNone;
  if (v.node < 0 || v.node >= g.num_node_slots()) return kNone;
  return g.node(v.node).op;
}

}  // namespace gatefuse
