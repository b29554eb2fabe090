#include "models/nn/layers.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "ops/ops.h"

namespace gatefuse {

absl::StatusOr<EmbeddingLayer> EmbeddingLayer::Create(int64_t vocab_size, int64_t dim,
                                                      uint64_t seed, DType dtype) {
  if (vocab_size < 1 || dim < 1) {
    return absl::InvalidArgumentError(absl::StrCat("Embedding: vocabulary size ", vocab_size,
                                                   " and dimension ", dim, " must be >= 1"));
  }
  EmbeddingLayer layer;
  layer.table_ = Var::Leaf(Tensor::Uniform({vocab_size, dim}, dtype, seed, -0.1, 0.1), true,
                           "embedding.table");
  return layer;
}

VarOr EmbeddingLayer::Forward(const Var& ids) const { return Embedding(table_, ids); }

absl::StatusOr<DenseLayer> DenseLayer::Create(int64_t in, int64_t out, uint64_t seed, DType dtype) {
  if (in < 1 || out < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("Dense: input size ", in, " and output size ", out, " must be >= 1"));
  }
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  DenseLayer layer;
  layer.w_ = Var::Leaf(Tensor::Uniform({in, out}, dtype, seed, -bound, bound), true, "dense.W");
  layer.b_ = Var::Leaf(Tensor::Zeros({out}, dtype), true, "dense.b");
  return layer;
}

VarOr DenseLayer::Forward(const Var& x) const {
  const Shape& s = x.shape();
  if (s.rank() < 2 || s[s.rank() - 1] != in()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Dense: input shape ", s.ToString(), " does not end in the layer's input size ", in()));
  }
  if (s.rank() == 2) return MatMul(x, w_) + b_;
  std::vector<int64_t> dims(s.dims().begin(), s.dims().end());
  dims.back() = out();
  GF_ASSIGN_OR_RETURN(Var flat, Reshape(x, Shape({-1, in()})));
  return Reshape(MatMul(flat, w_) + b_, Shape(dims));
}

absl::StatusOr<DropoutLayer> DropoutLayer::Create(double rate) {
  if (!(rate >= 0 && rate < 1)) {
    return absl::InvalidArgumentError(absl::StrCat("Dropout: rate ", rate, " is outside [0, 1)"));
  }
  return DropoutLayer(rate);
}

VarOr DropoutLayer::Forward(const Var& x, uint64_t seed, bool training) const {
  if (!training || rate_ == 0) return x;
  return Dropout(x, rate_, seed, training);
}

void AddParams(const std::string& prefix, const std::map<std::string, Var>& params,
               std::map<std::string, Var>& all) {
  for (const auto& [name, var] : params) all[absl::StrCat(prefix, ".", name)] = var;
}

absl::Status LrSchedule::Validate() const {
  auto bad = [](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("learning-rate schedule: ", what));
  };
  if (!(lr > 0) || !std::isfinite(lr)) return bad(absl::StrCat("lr ", lr, " must be > 0"));
  if (kind == "constant") return absl::OkStatus();
  if (kind == "step") {
    if (step_size < 1) return bad(absl::StrCat("step_size ", step_size, " must be >= 1"));
    if (!(gamma > 0 && gamma <= 1)) return bad(absl::StrCat("gamma ", gamma, " not in (0, 1]"));
    return absl::OkStatus();
  }
  if (kind == "warmup") {
    if (warmup_steps < 0 || total_steps <= warmup_steps) {
      return bad(absl::StrCat("warmup needs 0 <= warmup_steps (", warmup_steps, ") < total_steps (",
                              total_steps, ")"));
    }
    if (!(final_fraction >= 0 && final_fraction <= 1)) {
      return bad(absl::StrCat("final_fraction ", final_fraction, " not in [0, 1]"));
    }
    return absl::OkStatus();
  }
  return bad(absl::StrCat("unknown kind '", kind, "' (constant, step, warmup)"));
}

double LrSchedule::At(int64_t step) const {
  if (kind == "step") return lr * std::pow(gamma, static_cast<double>(step / step_size));
  if (kind != "warmup") return lr;
  if (step < warmup_steps) return lr * static_cast<double>(step + 1) / warmup_steps;
  const double progress =
      std::min(1.0, static_cast<double>(step - warmup_steps) / (total_steps - warmup_steps));
  return lr * (1.0 - (1.0 - final_fraction) * progress);
}

}  // namespace gatefuse
