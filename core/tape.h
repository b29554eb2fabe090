// The tape: reverse-mode automatic differentiation over Vars.
//
// A Var holds a tensor value. Every op applied to Vars that require gradients is
// recorded as a tape Node (the op, its attributes, its inputs); Backward(loss)
// walks the recorded nodes in reverse topological order, calls each op's gradient
// rule, sums the gradients of values used several times, and accumulates the
// result into the grad() of every leaf that requires it.
//
//   Var w = Var::Leaf(Tensor::Uniform({3, 2}, DType::kF64, 1, -1, 1), true);
//   VarOr loss = Sum(Tanh(MatMul(x, w)));        // ops/: every op is recorded
//   GF_RETURN_IF_ERROR(Backward(*loss));         // w.grad() is now d loss / d w
//
// Gradient rules are written with ops on Vars, so with create_graph the backward
// pass is itself recorded (and can be traced or differentiated again).
#ifndef GATEFUSE_CORE_TAPE_H_
#define GATEFUSE_CORE_TAPE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/attrs.h"
#include "core/tensor.h"

namespace gatefuse {

class Var;
struct GradContext;
struct VarImpl;

// What the tape needs from an op (ops/ implements it in its registry).
class TapeOp {
 public:
  virtual ~TapeOp() = default;
  virtual const std::string& name() const = 0;
  // One entry per input: its gradient, or an undefined Var where the input gets none.
  virtual absl::StatusOr<std::vector<Var>> Gradient(const GradContext& ctx) const = 0;
  // False for an output no gradient can flow back from (e.g. a kernel's scratch
  // space): Backward passes an undefined Var for it instead of a zero tensor.
  virtual bool OutputHasGradient(size_t output, const Attrs& attrs) const { return true; }
};

// One recorded op application.
struct Node {
  const TapeOp* op = nullptr;
  Attrs attrs;
  std::vector<std::shared_ptr<VarImpl>> inputs;   // emptied when the tape is released
  std::vector<std::weak_ptr<VarImpl>> outputs;    // weak: outputs own their node
  std::vector<Tensor> output_values;              // for rules that read outputs
  bool released = false;
  uint64_t sequence = 0;  // creation order on this thread's tape
};

class Var {
 public:
  Var() = default;
  // A leaf: a value the user owns. Gradients accumulate into grad() if requires_grad.
  static Var Leaf(Tensor value, bool requires_grad = false, std::string name = "");
  static Var Constant(Tensor value) { return Leaf(std::move(value), false); }

  bool defined() const { return impl_ != nullptr; }
  const Tensor& value() const;
  const Shape& shape() const { return value().shape(); }
  DType dtype() const { return value().dtype(); }
  bool requires_grad() const;
  bool is_leaf() const;
  // The accumulated gradient of a leaf; undefined until a Backward reaches it.
  const Tensor& grad() const;
  void ZeroGrad();
  // Replaces a leaf's accumulated gradient (a data-parallel run's reduced one);
  // an undefined tensor clears it like ZeroGrad.
  void SetGrad(Tensor grad);
  // Replaces a leaf's value (an optimizer step); keeps its identity and gradient.
  void SetValue(Tensor value);

  const std::string& name() const;
  void set_name(std::string name);

  // The node that produced this value (null for a leaf) and which of its outputs it is.
  const std::shared_ptr<Node>& producer() const;
  int output_index() const;
  // Identity: two Vars are the same value iff their ids are equal.
  const VarImpl* id() const { return impl_.get(); }

 private:
  friend std::vector<Var> RecordOp(const TapeOp*, Attrs, const std::vector<Var>&,
                                   std::vector<Tensor>);
  friend class VarAccess;
  explicit Var(std::shared_ptr<VarImpl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<VarImpl> impl_;
};

// Every op function takes and returns VarOr, so an error anywhere in an expression
// propagates to its result: Sigmoid(MatMul(x, w) + b) is InvalidArgument if the
// shapes do not fit, and the first error is the one reported.
using VarOr = absl::StatusOr<Var>;

// Whether ops record onto the tape (thread-local; on by default).
bool GradEnabled();

// Turns recording off for its lifetime (inference, optimizer updates).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Sets recording on or off for its lifetime (a gradient rule that differentiates
// a recomputation turns it on inside Backward).
class GradModeGuard {
 public:
  explicit GradModeGuard(bool enabled);
  ~GradModeGuard();
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool previous_;
};

// Wraps kernel results as Vars; links them to a new Node when recording is on and
// some input requires a gradient.
std::vector<Var> RecordOp(const TapeOp* op, Attrs attrs, const std::vector<Var>& inputs,
                          std::vector<Tensor> outputs);

// The inputs of a recorded node, as Vars (empty once the tape was released).
std::vector<Var> NodeInputs(const Node& node);

// What a gradient rule sees.
struct GradContext {
  const Attrs& attrs;
  std::vector<Var> inputs;
  std::vector<Var> outputs;
  // Zeros where an output received no gradient; undefined where it has none
  // (TapeOp::OutputHasGradient).
  std::vector<Var> output_grads;
};

struct BackwardOptions {
  bool retain_graph = false;  // keep the tape for another Backward through it
  bool create_graph = false;  // record the backward pass itself (implies retain_graph)
};

// d loss / d leaf, accumulated into every reached leaf's grad(). `loss` must have one
// element; otherwise use the seeded form.
absl::Status Backward(const Var& loss, BackwardOptions options = {});
absl::Status Backward(const Var& root, const Tensor& seed, BackwardOptions options = {});

// Functional form: the gradients of sum(seed_k * roots_k) with respect to `wrt`,
// returned rather than accumulated (an undefined Var where a wrt is unreached).
absl::StatusOr<std::vector<Var>> Gradients(const std::vector<Var>& roots,
                                           const std::vector<Tensor>& seeds,
                                           const std::vector<Var>& wrt,
                                           BackwardOptions options = {});

// How gradients of a value used several times are summed. ops/ installs its Add
// when its registry is first built, which is before any node can exist.
using GradAdder = VarOr (*)(const Var& a, const Var& b);
void SetGradAdder(GradAdder adder);

}  // namespace gatefuse

#endif  // GATEFUSE_CORE_TAPE_H_
