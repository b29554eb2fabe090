#include "models/nn/optimizer.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/status.h"

namespace gatefuse {
namespace {

// The parameter's storage, written in place (a copy of a Tensor shares it).
absl::StatusOr<Tensor> Writable(const Var& p) {
  Tensor t = p.value();
  if (!t.is_contiguous() || !IsFloating(t.dtype())) {
    return absl::InvalidArgumentError(
        absl::StrCat("optimizer: parameter '", p.name(), "' must be a contiguous float tensor"));
  }
  return t;
}

// fn(i, g) for every element of p's gradient, in double.
template <typename Fn>
absl::Status ForEachGrad(const Var& p, Tensor& value, Fn&& fn) {
  const Tensor g = p.grad().Contiguous();
  return DispatchFloat(value.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* w = value.data<T>();
    const T* pg = g.data<T>();
    for (int64_t i = 0; i < value.num_elements(); ++i) w[i] = static_cast<T>(fn(i, w[i], pg[i]));
    return absl::OkStatus();
  });
}

// One f64 tensor per parameter, each of the parameter's shape.
absl::Status CheckState(const std::vector<Var>& params, const std::vector<Tensor>& state,
                        absl::string_view what) {
  if (state.size() != params.size()) {
    return absl::InvalidArgumentError(absl::StrCat("optimizer state '", what, "' has ",
                                                   state.size(), " tensors for ", params.size(),
                                                   " parameters"));
  }
  for (size_t k = 0; k < state.size(); ++k) {
    if (!state[k].defined() || state[k].dtype() != DType::kF64 ||
        state[k].shape() != params[k].shape()) {
      return absl::InvalidArgumentError(
          absl::StrCat("optimizer state '", what, "' tensor ", k, " does not match parameter '",
                       params[k].name(), "' (want f64 ", params[k].shape().ToString(), ")"));
    }
  }
  return absl::OkStatus();
}

std::vector<Tensor> CloneAll(const std::vector<Tensor>& tensors) {
  std::vector<Tensor> out;
  out.reserve(tensors.size());
  for (const Tensor& t : tensors) out.push_back(t.Clone());
  return out;
}

}  // namespace

void Optimizer::ZeroGrad() {
  for (Var& p : params_) p.ZeroGrad();
}

Sgd::Sgd(std::vector<Var> params, double lr, double momentum)
    : Optimizer(std::move(params)), lr_(lr), momentum_(momentum) {
  for (const Var& p : params_) velocity_.push_back(Tensor::Zeros(p.shape(), DType::kF64));
}

absl::Status Sgd::Step() {
  for (size_t k = 0; k < params_.size(); ++k) {
    if (!params_[k].grad().defined()) continue;
    absl::StatusOr<Tensor> value = Writable(params_[k]);
    if (!value.ok()) return value.status();
    double* v = velocity_[k].data<double>();
    absl::Status s = ForEachGrad(params_[k], *value, [&](int64_t i, double w, double g) {
      v[i] = momentum_ * v[i] + g;
      return w - lr_ * v[i];
    });
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Sgd::SetVelocity(std::vector<Tensor> velocity) {
  GF_RETURN_IF_ERROR(CheckState(params_, velocity, "velocity"));
  velocity_ = CloneAll(velocity);
  return absl::OkStatus();
}

Adam::Adam(std::vector<Var> params, AdamOptions options)
    : Optimizer(std::move(params)), options_(options) {
  for (const Var& p : params_) {
    m_.push_back(Tensor::Zeros(p.shape(), DType::kF64));
    v_.push_back(Tensor::Zeros(p.shape(), DType::kF64));
  }
}

absl::Status Adam::Step() {
  ++steps_;
  const double c1 = 1 - std::pow(options_.beta1, static_cast<double>(steps_));
  const double c2 = 1 - std::pow(options_.beta2, static_cast<double>(steps_));
  for (size_t k = 0; k < params_.size(); ++k) {
    if (!params_[k].grad().defined()) continue;
    absl::StatusOr<Tensor> value = Writable(params_[k]);
    if (!value.ok()) return value.status();
    double* m = m_[k].data<double>();
    double* v = v_[k].data<double>();
    absl::Status s = ForEachGrad(params_[k], *value, [&](int64_t i, double w, double g) {
      m[i] = options_.beta1 * m[i] + (1 - options_.beta1) * g;
      v[i] = options_.beta2 * v[i] + (1 - options_.beta2) * g * g;
      return w - options_.lr * (m[i] / c1) / (std::sqrt(v[i] / c2) + options_.eps);
    });
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Adam::SetState(int64_t steps, const std::vector<Tensor>& m,
                            const std::vector<Tensor>& v) {
  if (steps < 0) {
    return absl::InvalidArgumentError(absl::StrCat("Adam: step count ", steps, " is negative"));
  }
  GF_RETURN_IF_ERROR(CheckState(params_, m, "m"));
  GF_RETURN_IF_ERROR(CheckState(params_, v, "v"));
  steps_ = steps;
  m_ = CloneAll(m);
  v_ = CloneAll(v);
  return absl::OkStatus();
}

absl::StatusOr<double> ClipGradNorm(const std::vector<Var>& params, double max_norm) {
  double sq = 0;
  for (const Var& p : params) {
    if (!p.grad().defined()) continue;
    for (double g : p.grad().ToVector()) sq += g * g;
  }
  const double norm = std::sqrt(sq);
  if (!(norm > max_norm)) return norm;
  const double scale = max_norm / norm;
  for (const Var& p : params) {
    if (!p.grad().defined()) continue;
    Tensor g = p.grad();
    DispatchFloat(g.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* pg = g.data<T>();
      for (int64_t i = 0; i < g.num_elements(); ++i) pg[i] = static_cast<T>(pg[i] * scale);
      return 0;
    });
  }
  return norm;
}

}  // namespace gatefuse
