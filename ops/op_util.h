// Helpers shared by the op definitions: input checks for shape functions,
// and the broadcast iteration the elementwise kernels use.
#ifndef GATEFUSE_OPS_OP_UTIL_H_
#define GATEFUSE_OPS_OP_UTIL_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tensor.h"
#include "ops/registry.h"

namespace gatefuse {

// InvalidArgument "<op>: <what>; inputs: f32[2,3], f32[4]".
absl::Status OpError(const std::string& op, const std::vector<TensorSpec>& inputs,
                     const std::string& what);

// Input `i` must be f32 or f64.
absl::Status ExpectFloat(const std::string& op, const std::vector<TensorSpec>& in, int i);
// All inputs must be floating and of one dtype.
absl::Status ExpectSameFloat(const std::string& op, const std::vector<TensorSpec>& in);
absl::Status ExpectRank(const std::string& op, const std::vector<TensorSpec>& in, int i, int rank);
// Input `i` must have at least one element.
absl::Status ExpectNonEmpty(const std::string& op, const std::vector<TensorSpec>& in, int i);

// Shape function of unary float ops: one float input, output like it.
absl::StatusOr<std::vector<TensorSpec>> UnaryFloatShape(const std::string& op,
                                                        const std::vector<TensorSpec>& in);

// Visits the elements of a broadcast `out` shape in row-major runs along the last
// axis: fn(out_offset, a_offset, b_offset, run_length, a_step, b_step), where steps
// are 0 for a broadcast axis and 1 otherwise. `a` and `b` broadcast to `out`.
template <typename Fn>
void ForEachBroadcastRun(const Shape& out, const Shape& a, const Shape& b, Fn&& fn) {
  const int rank = out.rank();
  const int64_t total = out.num_elements();
  if (total == 0) return;
  if (rank == 0) {
    fn(0, 0, 0, 1, 0, 0);
    return;
  }
  auto strides_for = [&](const Shape& s) {
    std::vector<int64_t> st(rank, 0);
    int64_t step = 1;
    for (int i = s.rank() - 1; i >= 0; --i) {
      const int o = rank - s.rank() + i;
      st[o] = s[i] == 1 ? 0 : step;
      step *= s[i];
    }
    return st;
  };
  const std::vector<int64_t> sa = strides_for(a), sb = strides_for(b);
  const int64_t inner = out[rank - 1];
  std::vector<int64_t> idx(rank, 0);
  int64_t ia = 0, ib = 0;
  for (int64_t o = 0; o < total; o += inner) {
    fn(o, ia, ib, inner, sa[rank - 1], sb[rank - 1]);
    for (int d = rank - 2; d >= 0; --d) {
      ia += sa[d];
      ib += sb[d];
      if (++idx[d] < out[d]) break;
      ia -= sa[d] * out[d];
      ib -= sb[d] * out[d];
      idx[d] = 0;
    }
  }
}

}  // namespace gatefuse


namespace gatefuse {

// Sums x down to `target`, a shape that broadcasts to x's (same rank or lower).
Tensor SumToShape(const Tensor& x, const Shape& target);

// Unwraps a gradient rule's results; an undefined Var means "no gradient".
absl::StatusOr<std::vector<Var>> CollectGrads(std::vector<VarOr> grads);

// Runs fn(T{}) for the C++ type of a float kernel's first input, returning its tensors.
template <typename Fn>
absl::StatusOr<std::vector<Tensor>> FloatKernel(const KernelContext& c, Fn&& fn) {
  return DispatchFloat(c.outputs[0].dtype, [&](auto t) -> absl::StatusOr<std::vector<Tensor>> {
    return std::vector<Tensor>{fn(t)};
  });
}

}  // namespace gatefuse

#endif  // GATEFUSE_OPS_OP_UTIL_H_
