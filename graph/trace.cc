#include "graph/trace.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "graph/verifier.h"

namespace gatefuse {

absl::StatusOr<Graph> TraceGraph(const std::string& name, const std::vector<TracedInput>& inputs,
                                 const std::vector<TracedOutput>& outputs) {
  Graph g(name);
  std::unordered_map<const VarImpl*, ValueRef> values;
  std::unordered_map<const Node*, NodeId> traced;
  for (const TracedInput& in : inputs) {
    if (!in.var.defined()) return absl::InvalidArgumentError(absl::StrCat("trace: input ", in.name, " is undefined"));
    if (!in.var.requires_grad()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "trace: input ", in.name,
          " does not require a gradient, so the ops applied to it were not recorded"));
    }
    if (values.count(in.var.id())) {
      return absl::InvalidArgumentError(absl::StrCat("trace: input ", in.name, " is declared twice"));
    }
    values[in.var.id()] = {g.AddInput(in.name, in.role, {in.var.shape(), in.var.dtype()}), 0};
  }

  // The graph value of a Var whose producer (if any) is already traced.
  auto value_of = [&](const Var& v) -> ValueRef {
    auto it = values.find(v.id());
    if (it != values.end()) return it->second;
    if (v.producer() != nullptr) return {traced.at(v.producer().get()), v.output_index()};
    const ValueRef c{g.AddConstant(v.value()), 0};
    values[v.id()] = c;
    return c;
  };

  // Every recorded node the outputs depend on, added in the order the ops ran
  // (a topological order), so node numbers follow the source.
  std::vector<std::shared_ptr<Node>> nodes, stack;
  std::unordered_set<const Node*> seen;
  for (const TracedOutput& out : outputs) {
    if (!out.var.defined()) {
      return absl::InvalidArgumentError(absl::StrCat("trace: output ", out.name, " is undefined"));
    }
    if (!values.count(out.var.id()) && out.var.producer()) stack.push_back(out.var.producer());
  }
  while (!stack.empty()) {
    std::shared_ptr<Node> node = stack.back();
    stack.pop_back();
    if (!seen.insert(node.get()).second) continue;
    if (node->released) {
      return absl::FailedPreconditionError(absl::StrCat(
          "trace: the tape through op ", node->op->name(), " was released by a Backward"));
    }
    nodes.push_back(node);
    for (const Var& v : NodeInputs(*node)) {
      if (!values.count(v.id()) && v.producer()) stack.push_back(v.producer());
    }
  }
  std::sort(nodes.begin(), nodes.end(),
            [](const auto& a, const auto& b) { return a->sequence < b->sequence; });
  for (const std::shared_ptr<Node>& node : nodes) {
    NodeData d;
    d.op = node->op->name();
    d.attrs = node->attrs;
    for (const Var& v : NodeInputs(*node)) d.inputs.push_back(value_of(v));
    for (const Tensor& t : node->output_values) d.outputs.push_back({t.shape(), t.dtype()});
    traced[node.get()] = g.AddNodeUnchecked(std::move(d));
  }
  for (const TracedOutput& out : outputs) g.AddOutput(out.name, value_of(out.var));
  GF_RETURN_IF_ERROR(Verify(g));
  return g;
}

}  // namespace gatefuse
