#include "ops/testing/gradient_check.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "ops/ops.h"

namespace gatefuse::testing {
namespace {

// sum(w * f(xs)) as a double, or the error f returned.
absl::StatusOr<double> WeightedLoss(const TapeFunction& f, const std::vector<Var>& xs,
                                    const Tensor& w) {
  NoGradGuard no_grad;
  GF_ASSIGN_OR_RETURN(Var y, f(xs));
  if (y.shape() != w.shape()) return absl::InternalError("output shape changed");
  const std::vector<double> yv = y.value().ToVector(), wv = w.ToVector();
  double s = 0;
  for (size_t i = 0; i < yv.size(); ++i) s += yv[i] * wv[i];
  return s;
}

}  // namespace

Tensor RandomF64(const Shape& shape, uint64_t salt, double lo, double hi) {
  uint64_t seed = 0x51ED + salt * 7919;
  for (int64_t d : shape.dims()) seed = seed * 31 + static_cast<uint64_t>(d);
  return Tensor::Uniform(shape, DType::kF64, seed, lo, hi);
}

absl::Status CheckGradients(const TapeFunction& f, const std::vector<Tensor>& inputs,
                            GradientCheckOptions options) {
  std::vector<Var> xs;
  for (const Tensor& t : inputs) {
    if (t.dtype() == DType::kF32) {
      return absl::InvalidArgumentError("CheckGradients: pass f64 inputs for a tight check");
    }
    xs.push_back(Var::Leaf(t.Clone(), t.dtype() == DType::kF64));
  }
  GF_ASSIGN_OR_RETURN(Var y, f(xs));
  const Tensor w = Tensor::Uniform(y.shape(), DType::kF64, options.seed, -1, 1);
  GF_ASSIGN_OR_RETURN(Var loss, Sum(Mul(y, Var::Constant(w))));
  GF_RETURN_IF_ERROR(Backward(loss));

  for (size_t k = 0; k < xs.size(); ++k) {
    if (xs[k].dtype() != DType::kF64) continue;
    Tensor x = xs[k].value();  // perturbed in place: the leaves share its storage
    const Tensor analytic =
        xs[k].grad().defined() ? xs[k].grad() : Tensor::Zeros(x.shape(), DType::kF64);
    double* px = x.data<double>();
    for (int64_t i = 0; i < x.num_elements(); ++i) {
      const double saved = px[i];
      px[i] = saved + options.eps;
      GF_ASSIGN_OR_RETURN(double up, WeightedLoss(f, xs, w));
      px[i] = saved - options.eps;
      GF_ASSIGN_OR_RETURN(double down, WeightedLoss(f, xs, w));
      px[i] = saved;
      const double numeric = (up - down) / (2 * options.eps);
      const double a = analytic.At(i);
      if (!(std::abs(a - numeric) <= options.atol + options.rtol * std::abs(numeric))) {
        return absl::InternalError(absl::StrCat("gradient of input ", k, " ",
                                                x.shape().ToString(), " at element ", i,
                                                ": tape ", a, ", finite differences ", numeric));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace gatefuse::testing
