// Reductions over axes (Sum, Mean) and the normalisations along one axis
// (Softmax, LogSoftmax).
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "ops/op_util.h"
#include "ops/ops.h"
#include "ops/register_all.h"

namespace gatefuse {
namespace {

struct Reduction {
  Shape kept;  // x's shape with reduced axes set to 1
  Shape out;   // `kept`, or without the reduced axes
  int64_t count = 1;  // elements summed into each output
};

absl::StatusOr<Reduction> GetReduction(const std::string& op, const std::vector<TensorSpec>& in,
                                       const Attrs& attrs) {
  GF_RETURN_IF_ERROR(ExpectFloat(op, in, 0));
  GF_ASSIGN_OR_RETURN(std::vector<int64_t> axes, attrs.GetInts(op, "axes"));
  GF_ASSIGN_OR_RETURN(int64_t keepdims, attrs.GetInt(op, "keepdims"));
  const Shape& s = in[0].shape;
  std::vector<bool> reduced(s.rank(), axes.empty());
  for (int64_t a : axes) {
    GF_ASSIGN_OR_RETURN(int ax, NormalizeAxis(a, s.rank(), op));
    if (reduced[ax]) return OpError(op, in, absl::StrCat("axis ", ax, " is listed twice"));
    reduced[ax] = true;
  }
  Reduction r;
  r.kept = s;
  std::vector<int64_t> out;
  for (int d = 0; d < s.rank(); ++d) {
    if (reduced[d]) {
      r.count *= s[d];
      r.kept[d] = 1;
      if (keepdims) out.push_back(1);
    } else {
      out.push_back(s[d]);
    }
  }
  r.out = Shape(out);
  return r;
}

// For the gradient: g reshaped to the kept shape and repeated over x.
VarOr Unreduce(const GradContext& c, const std::string& op) {
  auto r = GetReduction(op, {{c.inputs[0].shape(), c.inputs[0].dtype()}}, c.attrs);
  if (!r.ok()) return r.status();
  return BroadcastTo(Reshape(c.output_grads[0], r->kept), c.inputs[0].shape());
}

void DefineReduction(OpRegistry& reg, const std::string& name, bool mean) {
  OpDef& d = reg.Define(name, 1);
  d.shape_fn = [name, mean](const std::vector<TensorSpec>& in,
                            const Attrs& attrs) -> absl::StatusOr<std::vector<TensorSpec>> {
    GF_ASSIGN_OR_RETURN(Reduction r, GetReduction(name, in, attrs));
    if (mean && r.count == 0) return OpError(name, in, "the mean of no elements is undefined");
    return std::vector<TensorSpec>{{r.out, in[0].dtype}};
  };
  d.kernel = [name, mean](const KernelContext& c) -> absl::StatusOr<std::vector<Tensor>> {
    const Tensor& x = c.inputs[0];
    GF_ASSIGN_OR_RETURN(Reduction r, GetReduction(name, {{x.shape(), x.dtype()}}, c.attrs));
    Tensor sum = SumToShape(x, r.kept);
    if (mean) {
      DispatchFloat(x.dtype(), [&](auto t) {
        using T = decltype(t);
        T* p = sum.data<T>();
        for (int64_t i = 0; i < sum.num_elements(); ++i) p[i] /= static_cast<T>(r.count);
        return 0;
      });
    }
    GF_ASSIGN_OR_RETURN(Tensor out, sum.Reshape(r.out));
    return std::vector<Tensor>{out};
  };
  if (mean) {
    // y = sum(x) / n; dx = broadcast(g) / n
    d.gradient = [name](const GradContext& c) {
      const double n = static_cast<double>(c.inputs[0].value().num_elements()) /
                       std::max<int64_t>(1, c.outputs[0].value().num_elements());
      return CollectGrads({Unreduce(c, name) / n});
    };
  } else {
    // y = sum(x); dx = broadcast(g)
    d.gradient = [name](const GradContext& c) { return CollectGrads({Unreduce(c, name)}); };
  }
}

// Applies fn(base, step, n) to every line of x along `axis` (n elements, `step` apart).
template <typename Fn>
void ForEachLine(const Shape& s, int axis, Fn&& fn) {
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= s[d];
  for (int d = axis + 1; d < s.rank(); ++d) inner *= s[d];
  const int64_t n = s[axis];
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) fn(o * n * inner + i, inner, n);
  }
}

// softmax (log_output = false) or log-softmax along `axis`, stabilised by the maximum.
template <typename T>
Tensor SoftmaxKernel(const Tensor& x, int axis, bool log_output) {
  Tensor y = Tensor::Empty(x.shape(), x.dtype());
  const T* px = x.data<T>();
  T* py = y.data<T>();
  ForEachLine(x.shape(), axis, [&](int64_t base, int64_t step, int64_t n) {
    if (n == 0) return;
    T mx = px[base];
    for (int64_t j = 1; j < n; ++j) mx = std::max(mx, px[base + j * step]);
    T sum = 0;
    for (int64_t j = 0; j < n; ++j) sum += std::exp(px[base + j * step] - mx);
    const T log_sum = std::log(sum);
    for (int64_t j = 0; j < n; ++j) {
      const T z = px[base + j * step] - mx;
      py[base + j * step] = log_output ? z - log_sum : std::exp(z) / sum;
    }
  });
  return y;
}

void DefineSoftmax(OpRegistry& reg, const std::string& name, bool log_output) {
  OpDef& d = reg.Define(name, 1);
  d.shape_fn = [name](const std::vector<TensorSpec>& in,
                      const Attrs& attrs) -> absl::StatusOr<std::vector<TensorSpec>> {
    GF_RETURN_IF_ERROR(ExpectFloat(name, in, 0));
    GF_ASSIGN_OR_RETURN(int64_t axis, attrs.GetInt(name, "axis"));
    if (in[0].shape.rank() == 0) return OpError(name, in, "needs at least one axis");
    GF_RETURN_IF_ERROR(NormalizeAxis(axis, in[0].shape.rank(), name).status());
    return std::vector<TensorSpec>{in[0]};
  };
  d.kernel = [name, log_output](const KernelContext& c) {
    const int axis = *NormalizeAxis(*c.attrs.GetInt(name, "axis"), c.inputs[0].rank(), name);
    return FloatKernel(c, [&](auto t) {
      return SoftmaxKernel<decltype(t)>(c.inputs[0], axis, log_output);
    });
  };
  if (log_output) {
    // y = x - logsumexp(x); dx = g - exp(y) * sum(g)
    d.gradient = [name](const GradContext& c) {
      const int64_t axis = *c.attrs.GetInt(name, "axis");
      const Var& g = c.output_grads[0];
      return CollectGrads({g - Exp(c.outputs[0]) * Sum(g, {axis}, true)});
    };
  } else {
    // y = softmax(x); dx = y * (g - sum(g * y))
    d.gradient = [name](const GradContext& c) {
      const int64_t axis = *c.attrs.GetInt(name, "axis");
      const Var& g = c.output_grads[0];
      const Var& y = c.outputs[0];
      return CollectGrads({y * (g - Sum(g * y, {axis}, true))});
    };
  }
}

}  // namespace

void RegisterReduceOps(OpRegistry& r) {
  DefineReduction(r, "Sum", /*mean=*/false);
  DefineReduction(r, "Mean", /*mean=*/true);
  DefineSoftmax(r, "Softmax", /*log_output=*/false);
  DefineSoftmax(r, "LogSoftmax", /*log_output=*/true);
}

VarOr Sum(const VarOr& x, const std::vector<int64_t>& axes, bool keepdims) {
  return Apply("Sum", {x}, {{"axes", axes}, {"keepdims", int64_t{keepdims}}});
}
VarOr Mean(const VarOr& x, const std::vector<int64_t>& axes, bool keepdims) {
  return Apply("Mean", {x}, {{"axes", axes}, {"keepdims", int64_t{keepdims}}});
}
VarOr Softmax(const VarOr& x, int64_t axis) { return Apply("Softmax", {x}, {{"axis", axis}}); }
VarOr LogSoftmax(const VarOr& x, int64_t axis) {
  return Apply("LogSoftmax", {x}, {{"axis", axis}});
}

}  // namespace gatefuse
