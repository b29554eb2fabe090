// Small queries on graphs shared by the passes.
#ifndef GATEFUSE_PASSES_GRAPH_UTIL_H_
#define GATEFUSE_PASSES_GRAPH_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "graph/graph.h"

namespace gatefuse {

// A hash of what each node computes, independent of node ids and of the operand
// order of commutative ops: inputs hash by role and name, constants by value.
// Indexed by node id (0 for dead nodes). Needs an acyclic graph.
std::vector<uint64_t> StructuralHashes(const Graph& g, const std::vector<NodeId>& topo_order);
uint64_t ValueHash(const std::vector<uint64_t>& node_hashes, ValueRef v);

// Whether `op` is a registered commutative op.
bool IsCommutative(const std::string& op);

// The value is a Constant whose every element equals `x`.
bool IsConstantEqualTo(const Graph& g, ValueRef v, double x);

// Node `id`'s op, or "" for an out-of-range id.
const std::string& OpOf(const Graph& g, ValueRef v);

}  // namespace gatefuse

#endif  // GATEFUSE_PASSES_GRAPH_UTIL_H_
