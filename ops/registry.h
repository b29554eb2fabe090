// The op registry: one OpDef per op holds its schema (arity, shape function),
// its CPU kernel and its gradient rule, side by side.
//
//   OpDef& def = registry.Define("Tanh", 1);
//   def.shape_fn = SameAsInput;                      // checks dtypes and shapes
//   def.kernel   = [](const KernelContext& c) {...};  // tensors in, tensors out
//   def.gradient = [](const GradContext& c) {...};    // written with ops on Vars
//
// An elementwise op instead gives its forward and local derivatives in the
// pointwise instruction set (ops/pointwise_lowering.h); its gradient rule is read
// from them, and the compiled plan fuses the op from the same description:
//
//   def.SetPointwise({pointwise::Op::kTanh, {{{pointwise::Op::kAccTanh,
//                                               {pointwise::kGrad, pointwise::kOutput}}}}});
//
// ApplyOp runs an op by name on Vars: it checks the inputs with the shape function,
// runs the kernel and records the application on the tape.
#ifndef GATEFUSE_OPS_REGISTRY_H_
#define GATEFUSE_OPS_REGISTRY_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/attrs.h"
#include "core/tape.h"
#include "core/tensor.h"
#include "ops/pointwise_lowering.h"

namespace gatefuse {

// Type and shape of a value, without its data.
struct TensorSpec {
  Shape shape;
  DType dtype = DType::kF32;
  bool operator==(const TensorSpec& o) const { return shape == o.shape && dtype == o.dtype; }
  bool operator!=(const TensorSpec& o) const { return !(*this == o); }
  std::string ToString() const;
};

struct KernelContext {
  const std::vector<Tensor>& inputs;  // contiguous
  const Attrs& attrs;
  const std::vector<TensorSpec>& outputs;  // what the shape function promised
};

// Validates inputs and attributes; returns the output specs or InvalidArgument
// naming the op and the offending shapes.
using ShapeFn = std::function<absl::StatusOr<std::vector<TensorSpec>>(
    const std::vector<TensorSpec>& inputs, const Attrs& attrs)>;
using KernelFn = std::function<absl::StatusOr<std::vector<Tensor>>(const KernelContext&)>;
using GradientFn = std::function<absl::StatusOr<std::vector<Var>>(const GradContext&)>;

class OpDef : public TapeOp {
 public:
  OpDef(std::string name, int num_inputs) : name_(std::move(name)), num_inputs_(num_inputs) {}

  const std::string& name() const override { return name_; }
  // -1 for any number (at least one).
  int num_inputs() const { return num_inputs_; }
  absl::StatusOr<std::vector<Var>> Gradient(const GradContext& ctx) const override;
  bool OutputHasGradient(size_t output, const Attrs& attrs) const override {
    return !output_has_gradient || output_has_gradient(output, attrs);
  }

  ShapeFn shape_fn;
  KernelFn kernel;
  // Null only where `no_gradient` says why.
  GradientFn gradient;
  std::string no_gradient;
  // Null: every output can carry a gradient (see TapeOp::OutputHasGradient).
  std::function<bool(size_t output, const Attrs& attrs)> output_has_gradient;
  // a op b == b op a (used by the graph passes).
  bool commutative = false;
  // Set for an elementwise op the compiled plan can fuse (SetPointwise).
  std::optional<pointwise::Lowering> lowering;

  // Makes this an elementwise op lowered as `l`: sets `lowering`, and `gradient`
  // to the rule read from l's adjoint instructions (pointwise::LoweredGradient).
  void SetPointwise(pointwise::Lowering l);

 private:
  std::string name_;
  int num_inputs_;
};

class OpRegistry {
 public:
  // The registry with every op of ops/ defined.
  static const OpRegistry& Global();

  OpDef& Define(const std::string& name, int num_inputs);
  // NotFound naming the op if it is not registered.
  absl::StatusOr<const OpDef*> Find(const std::string& name) const;
  std::vector<std::string> Names() const;

 private:
  std::map<std::string, std::unique_ptr<OpDef>> ops_;
};

// Checks arity and runs the shape function.
absl::StatusOr<std::vector<TensorSpec>> InferOutputs(const OpDef& op,
                                                     const std::vector<TensorSpec>& inputs,
                                                     const Attrs& attrs);

// Runs an op's kernel on tensors (validated by its shape function), no tape.
absl::StatusOr<std::vector<Tensor>> RunOp(const OpDef& op, const std::vector<Tensor>& inputs,
                                          const Attrs& attrs);

// Runs an op on Vars and records it on the tape. The first error among the inputs
// is returned as is.
absl::StatusOr<std::vector<Var>> ApplyOp(const std::string& name,
                                         const std::vector<VarOr>& inputs, Attrs attrs = {});
// For ops with one output.
VarOr Apply(const std::string& name, const std::vector<VarOr>& inputs, Attrs attrs = {});

}  // namespace gatefuse

#endif  // GATEFUSE_OPS_REGISTRY_H_
