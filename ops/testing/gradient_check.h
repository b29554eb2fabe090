// Finite-difference gradient checking in f64 (test-only).
//
// CheckGradients(f, inputs) evaluates loss = sum(w * f(inputs)) for fixed random
// weights w, takes the tape's gradient with respect to every float input, and
// compares it with central differences (loss(x + eps) - loss(x - eps)) / 2 eps,
// element by element. i64 inputs (indices, labels) are passed through unchanged.
#ifndef GATEFUSE_OPS_TESTING_GRADIENT_CHECK_H_
#define GATEFUSE_OPS_TESTING_GRADIENT_CHECK_H_

#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "core/tape.h"
#include "core/tensor.h"

namespace gatefuse::testing {

using TapeFunction = std::function<VarOr(const std::vector<Var>&)>;

struct GradientCheckOptions {
  double eps = 1e-6;
  // |analytic - numeric| <= atol + rtol * |numeric|, element by element.
  double atol = 1e-7;
  double rtol = 1e-6;
  uint64_t seed = 1234;
};

// OK, or an error naming the first input and element that disagrees.
absl::Status CheckGradients(const TapeFunction& f, const std::vector<Tensor>& inputs,
                            GradientCheckOptions options = {});

// f64 uniform in [lo, hi) with a seed derived from `shape` and `salt`.
Tensor RandomF64(const Shape& shape, uint64_t salt = 0, double lo = -1, double hi = 1);

}  // namespace gatefuse::testing

#endif  // GATEFUSE_OPS_TESTING_GRADIENT_CHECK_H_
