// Neural-network ops: embedding lookup and its scatter-add adjoint, one-hot,
// the losses, and seeded dropout.
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "ops/op_util.h"
#include "ops/ops.h"
#include "ops/register_all.h"

namespace gatefuse {
namespace {

absl::Status ExpectIndices(const std::string& op, const std::vector<TensorSpec>& in, int i) {
  if (in[i].dtype != DType::kI64) {
    return OpError(op, in, absl::StrCat("input ", i, " must hold i64 indices"));
  }
  return absl::OkStatus();
}

// Every index in [0, limit), or InvalidArgument naming the first one that is not.
absl::Status CheckIndices(const std::string& op, const Tensor& indices, int64_t limit,
                          const std::string& what) {
  const int64_t* p = indices.data<int64_t>();
  for (int64_t i = 0; i < indices.num_elements(); ++i) {
    if (p[i] < 0 || p[i] >= limit) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": index ", p[i], " at position ", i,
                                                     " is out of range for ", limit, " ", what));
    }
  }
  return absl::OkStatus();
}

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Shape function of the mean losses: two float inputs of one shape, scalar output.
absl::StatusOr<std::vector<TensorSpec>> PairLossShape(const std::string& op,
                                                      const std::vector<TensorSpec>& in) {
  GF_RETURN_IF_ERROR(ExpectSameFloat(op, in));
  if (in[0].shape != in[1].shape) return OpError(op, in, "inputs must have the same shape");
  GF_RETURN_IF_ERROR(ExpectNonEmpty(op, in, 0));
  return std::vector<TensorSpec>{{Shape{}, in[0].dtype}};
}

// mean over elements of f(a_i, b_i), as a scalar tensor.
template <typename F>
absl::StatusOr<std::vector<Tensor>> MeanOfPairs(const KernelContext& c, F f) {
  return FloatKernel(c, [&](auto t) {
    using T = decltype(t);
    const T* a = c.inputs[0].data<T>();
    const T* b = c.inputs[1].data<T>();
    const int64_t n = c.inputs[0].num_elements();
    T sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += f(a[i], b[i]);
    return Tensor::Scalar(static_cast<double>(sum / static_cast<T>(n)), c.outputs[0].dtype);
  });
}

void RegisterEmbedding(OpRegistry& r) {
  // y[..., :] = table[indices[...], :]; dtable = scatter_add(g, indices)
  OpDef& emb = r.Define("Embedding", 2);
  emb.shape_fn = [](const std::vector<TensorSpec>& in,
                    const Attrs&) -> absl::StatusOr<std::vector<TensorSpec>> {
    GF_RETURN_IF_ERROR(ExpectFloat("Embedding", in, 0));
    GF_RETURN_IF_ERROR(ExpectRank("Embedding", in, 0, 2));
    GF_RETURN_IF_ERROR(ExpectIndices("Embedding", in, 1));
    std::vector<int64_t> out = in[1].shape.dims();
    out.push_back(in[0].shape[1]);
    return std::vector<TensorSpec>{{Shape(out), in[0].dtype}};
  };
  emb.kernel = [](const KernelContext& c) -> absl::StatusOr<std::vector<Tensor>> {
    const Tensor& table = c.inputs[0];
    const Tensor& idx = c.inputs[1];
    GF_RETURN_IF_ERROR(CheckIndices("Embedding", idx, table.dim(0), "table rows"));
    Tensor out = Tensor::Empty(c.outputs[0].shape, table.dtype());
    const int64_t row = table.dim(1) * SizeOf(table.dtype());
    const char* src = static_cast<const char*>(table.raw_data());
    char* dst = static_cast<char*>(out.raw_data());
    const int64_t* p = idx.data<int64_t>();
    for (int64_t i = 0; i < idx.num_elements(); ++i) {
      std::copy(src + p[i] * row, src + (p[i] + 1) * row, dst + i * row);
    }
    return std::vector<Tensor>{out};
  };
  emb.gradient = [](const GradContext& c) {
    return CollectGrads(
        {EmbeddingGrad(c.output_grads[0], c.inputs[1], c.inputs[0].shape()[0]), Var()});
  };

  // y = zeros[num_rows, D]; y[indices[i]] += g[i]; dg = embedding(gy, indices)
  OpDef& grad = r.Define("EmbeddingGrad", 2);
  grad.shape_fn = [](const std::vector<TensorSpec>& in,
                     const Attrs& attrs) -> absl::StatusOr<std::vector<TensorSpec>> {
    GF_RETURN_IF_ERROR(ExpectFloat("EmbeddingGrad", in, 0));
    GF_RETURN_IF_ERROR(ExpectIndices("EmbeddingGrad", in, 1));
    GF_ASSIGN_OR_RETURN(int64_t rows, attrs.GetInt("EmbeddingGrad", "num_rows"));
    if (rows < 0) {
      return OpError("EmbeddingGrad", in, absl::StrCat("num_rows ", rows, " is negative"));
    }
    const Shape& g = in[0].shape;
    const Shape& idx = in[1].shape;
    bool fits = g.rank() == idx.rank() + 1;
    for (int d = 0; fits && d < idx.rank(); ++d) fits = g[d] == idx[d];
    if (!fits) return OpError("EmbeddingGrad", in, "g must be shaped [indices..., D]");
    return std::vector<TensorSpec>{{Shape{rows, g[g.rank() - 1]}, in[0].dtype}};
  };
  grad.kernel = [](const KernelContext& c) -> absl::StatusOr<std::vector<Tensor>> {
    const Tensor& idx = c.inputs[1];
    const int64_t rows = c.outputs[0].shape[0];
    GF_RETURN_IF_ERROR(CheckIndices("EmbeddingGrad", idx, rows, "table rows"));
    return FloatKernel(c, [&](auto t) {
      using T = decltype(t);
      Tensor out = Tensor::Zeros(c.outputs[0].shape, c.outputs[0].dtype);
      const int64_t dim = c.outputs[0].shape[1];
      const T* g = c.inputs[0].data<T>();
      const int64_t* p = idx.data<int64_t>();
      T* y = out.data<T>();
      for (int64_t i = 0; i < idx.num_elements(); ++i) {
        for (int64_t j = 0; j < dim; ++j) y[p[i] * dim + j] += g[i * dim + j];
      }
      return out;
    });
  };
  grad.gradient = [](const GradContext& c) {
    return CollectGrads({Embedding(c.output_grads[0], c.inputs[1]), Var()});
  };

  OpDef& one_hot = r.Define("OneHot", 1);
  one_hot.shape_fn = [](const std::vector<TensorSpec>& in,
                        const Attrs& attrs) -> absl::StatusOr<std::vector<TensorSpec>> {
    GF_RETURN_IF_ERROR(ExpectIndices("OneHot", in, 0));
    GF_ASSIGN_OR_RETURN(int64_t depth, attrs.GetInt("OneHot", "depth"));
    GF_ASSIGN_OR_RETURN(std::string dtype_name, attrs.GetString("OneHot", "dtype"));
    GF_ASSIGN_OR_RETURN(DType dtype, ParseDType(dtype_name));
    if (depth <= 0 || !IsFloating(dtype)) {
      return OpError("OneHot", in, "needs depth > 0 and a float dtype");
    }
    std::vector<int64_t> out = in[0].shape.dims();
    out.push_back(depth);
    return std::vector<TensorSpec>{{Shape(out), dtype}};
  };
  one_hot.kernel = [](const KernelContext& c) -> absl::StatusOr<std::vector<Tensor>> {
    const Tensor& labels = c.inputs[0];
    const int64_t depth = c.outputs[0].shape[c.outputs[0].shape.rank() - 1];
    GF_RETURN_IF_ERROR(CheckIndices("OneHot", labels, depth, "classes"));
    return FloatKernel(c, [&](auto t) {
      using T = decltype(t);
      Tensor out = Tensor::Zeros(c.outputs[0].shape, c.outputs[0].dtype);
      const int64_t* p = labels.data<int64_t>();
      for (int64_t i = 0; i < labels.num_elements(); ++i) out.data<T>()[i * depth + p[i]] = 1;
      return out;
    });
  };
  one_hot.no_gradient = "its input holds integer labels";
}

void RegisterLosses(OpRegistry& r) {
  // loss = mean_n(logsumexp(x_n) - x_n[label_n]); dx = (softmax(x) - onehot) * g / N
  OpDef& ce = r.Define("SparseSoftmaxCrossEntropy", 2);
  ce.shape_fn = [](const std::vector<TensorSpec>& in,
                   const Attrs&) -> absl::StatusOr<std::vector<TensorSpec>> {
    const std::string op = "SparseSoftmaxCrossEntropy";
    GF_RETURN_IF_ERROR(ExpectFloat(op, in, 0));
    GF_RETURN_IF_ERROR(ExpectRank(op, in, 0, 2));
    GF_RETURN_IF_ERROR(ExpectIndices(op, in, 1));
    GF_RETURN_IF_ERROR(ExpectRank(op, in, 1, 1));
    GF_RETURN_IF_ERROR(ExpectNonEmpty(op, in, 0));
    if (in[1].shape[0] != in[0].shape[0]) {
      return OpError(op, in, "needs one label per row of logits");
    }
    return std::vector<TensorSpec>{{Shape{}, in[0].dtype}};
  };
  ce.kernel = [](const KernelContext& c) -> absl::StatusOr<std::vector<Tensor>> {
    const Tensor& x = c.inputs[0];
    const int64_t n = x.dim(0), k = x.dim(1);
    GF_RETURN_IF_ERROR(CheckIndices("SparseSoftmaxCrossEntropy", c.inputs[1], k, "classes"));
    const int64_t* labels = c.inputs[1].data<int64_t>();
    return FloatKernel(c, [&](auto t) {
      using T = decltype(t);
      const T* p = x.data<T>();
      T total = 0;
      for (int64_t i = 0; i < n; ++i) {
        const T* row = p + i * k;
        const T mx = *std::max_element(row, row + k);
        T sum = 0;
        for (int64_t j = 0; j < k; ++j) sum += std::exp(row[j] - mx);
        total += mx + std::log(sum) - row[labels[i]];
      }
      return Tensor::Scalar(static_cast<double>(total / static_cast<T>(n)), x.dtype());
    });
  };
  ce.gradient = [](const GradContext& c) {
    const Var& x = c.inputs[0];
    const double n = static_cast<double>(x.shape()[0]);
    return CollectGrads({(Softmax(x) - OneHot(c.inputs[1], x.shape()[1], x.dtype())) *
                             (c.output_grads[0] / n),
                         Var()});
  };

  // loss = mean(max(x,0) - x t + log(1 + exp(-|x|)));
  // dx = (sigmoid(x) - t) g / n, dt = -x g / n
  OpDef& bce = r.Define("BinaryCrossEntropyWithLogits", 2);
  bce.shape_fn = [](const std::vector<TensorSpec>& in, const Attrs&) {
    return PairLossShape("BinaryCrossEntropyWithLogits", in);
  };
  bce.kernel = [](const KernelContext& c) {
    return MeanOfPairs(c, [](auto x, auto t) {
      return std::max(x, decltype(x)(0)) - x * t + std::log1p(std::exp(-std::abs(x)));
    });
  };
  bce.gradient = [](const GradContext& c) {
    const Var& x = c.inputs[0];
    const VarOr scale = c.output_grads[0] / static_cast<double>(x.value().num_elements());
    return CollectGrads({(Sigmoid(x) - c.inputs[1]) * scale, -x * scale});
  };

  // loss = mean((a - b)^2); da = 2 (a - b) g / n, db = -da
  OpDef& mse = r.Define("MeanSquaredError", 2);
  mse.shape_fn = [](const std::vector<TensorSpec>& in, const Attrs&) {
    return PairLossShape("MeanSquaredError", in);
  };
  mse.kernel = [](const KernelContext& c) {
    return MeanOfPairs(c, [](auto a, auto b) { return (a - b) * (a - b); });
  };
  mse.gradient = [](const GradContext& c) {
    const double n = static_cast<double>(c.inputs[0].value().num_elements());
    const VarOr da = (c.inputs[0] - c.inputs[1]) * (c.output_grads[0] * (2.0 / n));
    return CollectGrads({da, -da});
  };
}

void RegisterDropout(OpRegistry& r) {
  // y = x * mask / (1 - rate), mask fixed by (seed, index); linear in x, so
  // dx = dropout(g) with the same seed.
  OpDef& d = r.Define("Dropout", 1);
  d.shape_fn = [](const std::vector<TensorSpec>& in,
                  const Attrs& attrs) -> absl::StatusOr<std::vector<TensorSpec>> {
    GF_ASSIGN_OR_RETURN(double rate, attrs.GetFloat("Dropout", "rate"));
    GF_RETURN_IF_ERROR(attrs.GetInt("Dropout", "seed").status());
    if (!(rate >= 0 && rate < 1)) {
      return OpError("Dropout", in, absl::StrCat("rate ", rate, " is not in [0, 1)"));
    }
    return UnaryFloatShape("Dropout", in);
  };
  d.kernel = [](const KernelContext& c) {
    const double rate = *c.attrs.GetFloat("Dropout", "rate");
    const uint64_t seed = static_cast<uint64_t>(*c.attrs.GetInt("Dropout", "seed"));
    return FloatKernel(c, [&](auto t) {
      using T = decltype(t);
      const Tensor& x = c.inputs[0];
      Tensor y = Tensor::Empty(x.shape(), x.dtype());
      const T* px = x.data<T>();
      T* py = y.data<T>();
      const T scale = static_cast<T>(1.0 / (1.0 - rate));
      const uint64_t key = SplitMix64(seed);
      for (int64_t i = 0; i < x.num_elements(); ++i) {
        const double u = (SplitMix64(key ^ static_cast<uint64_t>(i)) >> 11) * 0x1.0p-53;
        py[i] = u < rate ? T(0) : px[i] * scale;
      }
      return y;
    });
  };
  d.gradient = [](const GradContext& c) {
    return CollectGrads({Apply("Dropout", {c.output_grads[0]}, c.attrs)});
  };
}

}  // namespace

void RegisterNnOps(OpRegistry& r) {
  RegisterEmbedding(r);
  RegisterLosses(r);
  RegisterDropout(r);
}

VarOr Embedding(const VarOr& table, const VarOr& indices) {
  return Apply("Embedding", {table, indices});
}
VarOr EmbeddingGrad(const VarOr& g, const VarOr& indices, int64_t num_rows) {
  return Apply("EmbeddingGrad", {g, indices}, {{"num_rows", num_rows}});
}
VarOr OneHot(const VarOr& labels, int64_t depth, DType dtype) {
  return Apply("OneHot", {labels},
               {{"depth", depth}, {"dtype", std::string(DTypeName(dtype))}});
}
VarOr SparseSoftmaxCrossEntropy(const VarOr& logits, const VarOr& labels) {
  return Apply("SparseSoftmaxCrossEntropy", {logits, labels});
}
VarOr BinaryCrossEntropyWithLogits(const VarOr& logits, const VarOr& targets) {
  return Apply("BinaryCrossEntropyWithLogits", {logits, targets});
}
VarOr MeanSquaredError(const VarOr& a, const VarOr& b) {
  return Apply("MeanSquaredError", {a, b});
}
VarOr Dropout(const VarOr& x, double rate, uint64_t seed, bool training) {
  if (!training) return x;
  return Apply("Dropout", {x}, {{"rate", rate}, {"seed", static_cast<int64_t>(seed)}});
}

}  // namespace gatefuse
