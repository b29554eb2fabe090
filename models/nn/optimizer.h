// Optimizers: update parameter leaves in place from their accumulated gradients.
//
//   Adam adam(params, {.lr = 1e-2});
//   for (...) { adam.ZeroGrad(); Backward(loss); ClipGradNorm(params, 1.0); adam.Step(); }
//
// Parameters without a gradient (unused in this step) are left unchanged.
#ifndef GATEFUSE_MODELS_NN_OPTIMIZER_H_
#define GATEFUSE_MODELS_NN_OPTIMIZER_H_

#include <vector>

#include "absl/status/statusor.h"
#include "core/tape.h"

namespace gatefuse {

class Optimizer {
 public:
  explicit Optimizer(std::vector<Var> params) : params_(std::move(params)) {}
  virtual ~Optimizer() = default;
  virtual absl::Status Step() = 0;
  void ZeroGrad();
  const std::vector<Var>& params() const { return params_; }

 protected:
  std::vector<Var> params_;
};

// p -= lr * v, v = momentum * v + g (heavy ball; plain SGD at momentum 0).
class Sgd : public Optimizer {
 public:
  Sgd(std::vector<Var> params, double lr, double momentum = 0);
  absl::Status Step() override;
  void set_lr(double lr) { lr_ = lr; }

  // The state, for checkpoints: one f64 velocity per parameter, in params() order.
  const std::vector<Tensor>& velocity() const { return velocity_; }
  // InvalidArgument unless there is one tensor per parameter, each f64 of its shape.
  absl::Status SetVelocity(std::vector<Tensor> velocity);

 private:
  double lr_, momentum_;
  std::vector<Tensor> velocity_;
};

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
};

// Kingma & Ba (2015), with bias correction.
class Adam : public Optimizer {
 public:
  Adam(std::vector<Var> params, AdamOptions options);
  absl::Status Step() override;
  void set_lr(double lr) { options_.lr = lr; }
  int64_t steps() const { return steps_; }
  const AdamOptions& options() const { return options_; }

  // The state, for checkpoints: the f64 moment estimates, one per parameter in
  // params() order, and the step count that drives the bias correction.
  const std::vector<Tensor>& first_moments() const { return m_; }
  const std::vector<Tensor>& second_moments() const { return v_; }
  // InvalidArgument unless steps >= 0 and each list has one f64 tensor per
  // parameter, of its shape. Copies the tensors, so later steps leave them alone.
  absl::Status SetState(int64_t steps, const std::vector<Tensor>& m,
                        const std::vector<Tensor>& v);

 private:
  AdamOptions options_;
  int64_t steps_ = 0;
  std::vector<Tensor> m_, v_;
};

// Scales all gradients so their joint L2 norm is at most max_norm; returns the norm
// before clipping.
absl::StatusOr<double> ClipGradNorm(const std::vector<Var>& params, double max_norm);

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_NN_OPTIMIZER_H_
