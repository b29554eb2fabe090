#include "core/tape.h"

#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "core/status.h"

namespace gatefuse {

struct VarImpl {
  Tensor value;
  Tensor grad;
  bool requires_grad = false;
  std::shared_ptr<Node> producer;
  int output_index = 0;
  std::string name;

  ~VarImpl();
};

// A value owns its producer, which owns its inputs, which own theirs: left to the
// default destructors, freeing the last value of a chain of n ops recurses n deep
// and overflows the stack (n ~ 10^5). The nodes that die with this value are
// unlinked here one at a time instead.
VarImpl::~VarImpl() {
  std::vector<std::shared_ptr<Node>> dying;
  if (producer.use_count() == 1) dying.push_back(std::move(producer));
  while (!dying.empty()) {
    std::shared_ptr<Node> node = std::move(dying.back());
    dying.pop_back();
    std::vector<std::shared_ptr<VarImpl>> inputs = std::move(node->inputs);
    node.reset();
    for (std::shared_ptr<VarImpl>& in : inputs) {
      // The last owner of an input takes over its producer before letting it go.
      if (in.use_count() == 1 && in->producer.use_count() == 1) {
        dying.push_back(std::move(in->producer));
      }
      in.reset();
    }
  }
}

// Builds Vars from impls inside this file.
class VarAccess {
 public:
  static Var Wrap(std::shared_ptr<VarImpl> impl) { return Var(std::move(impl)); }
  static const std::shared_ptr<VarImpl>& Impl(const Var& v) { return v.impl_; }
};

namespace {
thread_local bool grad_enabled = true;
thread_local uint64_t next_sequence = 0;
GradAdder grad_adder = nullptr;
const Tensor kUndefinedTensor;
const std::shared_ptr<Node> kNoNode;
const std::string kNoName;
}  // namespace

Var Var::Leaf(Tensor value, bool requires_grad, std::string name) {
  auto impl = std::make_shared<VarImpl>();
  impl->value = std::move(value);
  impl->requires_grad = requires_grad;
  impl->name = std::move(name);
  return Var(std::move(impl));
}

const Tensor& Var::value() const { return impl_ ? impl_->value : kUndefinedTensor; }
bool Var::requires_grad() const { return impl_ && impl_->requires_grad; }
bool Var::is_leaf() const { return impl_ && impl_->producer == nullptr; }
const Tensor& Var::grad() const { return impl_ ? impl_->grad : kUndefinedTensor; }
void Var::ZeroGrad() {
  if (impl_) impl_->grad = Tensor();
}
void Var::SetGrad(Tensor grad) { impl_->grad = std::move(grad); }
void Var::SetValue(Tensor value) { impl_->value = std::move(value); }
const std::string& Var::name() const { return impl_ ? impl_->name : kNoName; }
void Var::set_name(std::string name) { impl_->name = std::move(name); }
const std::shared_ptr<Node>& Var::producer() const { return impl_ ? impl_->producer : kNoNode; }
int Var::output_index() const { return impl_ ? impl_->output_index : 0; }

std::vector<Var> NodeInputs(const Node& node) {
  std::vector<Var> inputs;
  for (const auto& in : node.inputs) inputs.push_back(VarAccess::Wrap(in));
  return inputs;
}

bool GradEnabled() { return grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(grad_enabled) { grad_enabled = false; }
NoGradGuard::~NoGradGuard() { grad_enabled = previous_; }
GradModeGuard::GradModeGuard(bool enabled) : previous_(grad_enabled) { grad_enabled = enabled; }
GradModeGuard::~GradModeGuard() { grad_enabled = previous_; }

void SetGradAdder(GradAdder adder) { grad_adder = adder; }

std::vector<Var> RecordOp(const TapeOp* op, Attrs attrs, const std::vector<Var>& inputs,
                          std::vector<Tensor> outputs) {
  bool record = false;
  if (grad_enabled) {
    for (const Var& v : inputs) record = record || v.requires_grad();
  }
  std::shared_ptr<Node> node;
  if (record) {
    node = std::make_shared<Node>();
    node->op = op;
    node->sequence = next_sequence++;
    node->attrs = std::move(attrs);
    for (const Var& v : inputs) node->inputs.push_back(v.impl_);
    node->output_values = outputs;
  }
  std::vector<Var> result;
  for (size_t i = 0; i < outputs.size(); ++i) {
    auto impl = std::make_shared<VarImpl>();
    impl->value = std::move(outputs[i]);
    impl->requires_grad = record;
    impl->producer = node;
    impl->output_index = static_cast<int>(i);
    if (node) node->outputs.push_back(impl);
    result.push_back(Var(std::move(impl)));
  }
  return result;
}

namespace {

absl::Status FreedError(const Node& node) {
  return absl::FailedPreconditionError(absl::StrCat(
      "Backward: the tape through op '", node.op->name(),
      "' was freed by an earlier Backward; pass retain_graph=true to the first call to run "
      "backward through it again"));
}

// Nodes reachable from `roots` through values that require gradients, in an order
// where every node comes after all nodes that consume its outputs.
absl::StatusOr<std::vector<std::shared_ptr<Node>>> ReverseTopologicalOrder(
    const std::vector<Var>& roots) {
  std::vector<std::shared_ptr<Node>> postorder;
  std::unordered_set<Node*> seen;
  std::vector<std::pair<std::shared_ptr<Node>, size_t>> stack;  // node, next input to visit
  for (const Var& root : roots) {
    const std::shared_ptr<Node>& start = root.producer();
    if (start == nullptr || !seen.insert(start.get()).second) continue;
    stack.push_back({start, 0});
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      if (node->released) return FreedError(*node);
      if (next < node->inputs.size()) {
        const auto& in = node->inputs[next++];
        const std::shared_ptr<Node>& child = in->producer;
        if (in->requires_grad && child != nullptr && seen.insert(child.get()).second) {
          stack.push_back({child, 0});
        }
        continue;
      }
      postorder.push_back(node);
      stack.pop_back();
    }
  }
  return std::vector<std::shared_ptr<Node>>(postorder.rbegin(), postorder.rend());
}

absl::Status CheckGradShape(const Var& grad, const Tensor& value, absl::string_view what) {
  if (grad.shape() != value.shape() || grad.dtype() != value.dtype()) {
    return absl::InternalError(absl::StrCat(what, ": gradient ", DTypeName(grad.dtype()),
                                            grad.shape().ToString(), " does not match value ",
                                            DTypeName(value.dtype()), value.shape().ToString()));
  }
  return absl::OkStatus();
}

// The gradient of each value reached so far. An entry owns its value, so a value
// stays alive (and its address unique) while its gradient is pending, even after
// the tape that held it is released.
struct GradEntry {
  std::shared_ptr<VarImpl> value;
  Var grad;
};
using GradMap = std::unordered_map<const VarImpl*, GradEntry>;

absl::Status Accumulate(GradMap& grads, const std::shared_ptr<VarImpl>& value, const Var& g) {
  auto [it, inserted] = grads.emplace(value.get(), GradEntry{value, g});
  if (inserted) return absl::OkStatus();
  if (grad_adder == nullptr) return absl::InternalError("Backward: no gradient adder installed");
  GF_ASSIGN_OR_RETURN(it->second.grad, grad_adder(it->second.grad, g));
  return absl::OkStatus();
}

// Runs the gradient rules from `roots` (seeded) down to every reachable value.
// Gradients of intermediate values are dropped once used, except those in `keep`.
absl::StatusOr<GradMap> RunBackward(const std::vector<Var>& roots,
                                    const std::vector<Tensor>& seeds, BackwardOptions options,
                                    const std::unordered_set<const VarImpl*>& keep) {
  if (roots.size() != seeds.size()) {
    return absl::InvalidArgumentError("Backward: need one seed gradient per root");
  }
  GradMap grads;
  for (size_t i = 0; i < roots.size(); ++i) {
    if (!roots[i].defined()) return absl::InvalidArgumentError("Backward: undefined root");
    if (!roots[i].requires_grad()) {
      return absl::InvalidArgumentError(
          "Backward: the root does not require a gradient (no input of its computation "
          "requires one, or it was computed under NoGradGuard)");
    }
    if (seeds[i].shape() != roots[i].shape() || seeds[i].dtype() != roots[i].dtype()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Backward: seed gradient ", DTypeName(seeds[i].dtype()), seeds[i].shape().ToString(),
          " does not match the root ", DTypeName(roots[i].dtype()),
          roots[i].shape().ToString()));
    }
    GF_RETURN_IF_ERROR(
        Accumulate(grads, VarAccess::Impl(roots[i]), Var::Constant(seeds[i])));
  }
  GF_ASSIGN_OR_RETURN(auto order, ReverseTopologicalOrder(roots));

  std::optional<NoGradGuard> no_grad;
  if (!options.create_graph) no_grad.emplace();
  const bool release = !options.retain_graph && !options.create_graph;

  for (const std::shared_ptr<Node>& node : order) {
    GradContext ctx{node->attrs, {}, {}, {}};
    bool any = false;
    for (size_t k = 0; k < node->outputs.size(); ++k) {
      std::shared_ptr<VarImpl> out = node->outputs[k].lock();
      if (out == nullptr) {  // dropped by the user: rebuild a handle on the saved value
        out = std::make_shared<VarImpl>();
        out->value = node->output_values[k];
        out->requires_grad = true;
        out->producer = node;
        out->output_index = static_cast<int>(k);
      }
      auto it = grads.find(out.get());
      if (it != grads.end()) {
        any = true;
        ctx.output_grads.push_back(it->second.grad);
        if (!keep.count(it->first)) grads.erase(it);
      } else if (!node->op->OutputHasGradient(k, node->attrs)) {
        ctx.output_grads.push_back(Var());
      } else {
        ctx.output_grads.push_back(
            Var::Constant(Tensor::Zeros(out->value.shape(), out->value.dtype())));
      }
      ctx.outputs.push_back(VarAccess::Wrap(std::move(out)));
    }
    if (!any) continue;
    for (const auto& in : node->inputs) ctx.inputs.push_back(VarAccess::Wrap(in));
    auto input_grads = node->op->Gradient(ctx);
    if (!input_grads.ok()) {
      return absl::Status(input_grads.status().code(),
                          absl::StrCat("gradient of ", node->op->name(), ": ",
                                       input_grads.status().message()));
    }
    if (input_grads->size() != node->inputs.size()) {
      return absl::InternalError(absl::StrCat("gradient of ", node->op->name(), " returned ",
                                              input_grads->size(), " gradients for ",
                                              node->inputs.size(), " inputs"));
    }
    for (size_t k = 0; k < node->inputs.size(); ++k) {
      const Var& g = (*input_grads)[k];
      const auto& in = node->inputs[k];
      if (!g.defined() || !in->requires_grad) continue;
      GF_RETURN_IF_ERROR(
          CheckGradShape(g, in->value, absl::StrCat("gradient of ", node->op->name())));
      GF_RETURN_IF_ERROR(Accumulate(grads, in, g));
    }
    if (release) {
      node->inputs.clear();
      node->output_values.clear();
      node->released = true;
    }
  }
  return grads;
}

}  // namespace

absl::Status Backward(const Var& loss, BackwardOptions options) {
  if (!loss.defined()) return absl::InvalidArgumentError("Backward: undefined loss");
  if (loss.value().num_elements() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Backward: the loss has shape ", loss.shape().ToString(),
        ", not a single element; pass a seed gradient of that shape to Backward(root, seed)"));
  }
  return Backward(loss, Tensor::Full(loss.shape(), loss.dtype(), 1.0), options);
}

absl::Status Backward(const Var& root, const Tensor& seed, BackwardOptions options) {
  GF_ASSIGN_OR_RETURN(GradMap grads, RunBackward({root}, {seed}, options, {}));
  NoGradGuard no_grad;
  for (auto& [key, entry] : grads) {
    VarImpl* impl = entry.value.get();
    if (impl->producer != nullptr || !impl->requires_grad) continue;
    if (!impl->grad.defined()) {
      // A fresh copy: a rule may hand the same tensor to several inputs, and a leaf's
      // gradient is the user's to modify in place (clipping, say).
      impl->grad = entry.grad.value().Clone();
    } else {
      GF_ASSIGN_OR_RETURN(Var sum, grad_adder(Var::Constant(impl->grad), entry.grad));
      impl->grad = sum.value();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Var>> Gradients(const std::vector<Var>& roots,
                                           const std::vector<Tensor>& seeds,
                                           const std::vector<Var>& wrt,
                                           BackwardOptions options) {
  std::unordered_set<const VarImpl*> keep;
  for (const Var& v : wrt) keep.insert(v.id());
  GF_ASSIGN_OR_RETURN(GradMap grads, RunBackward(roots, seeds, options, keep));
  std::vector<Var> result;
  for (const Var& v : wrt) {
    auto it = grads.find(v.id());
    result.push_back(it == grads.end() ? Var() : it->second.grad);
  }
  return result;
}

}  // namespace gatefuse
