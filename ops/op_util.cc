#include "ops/op_util.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace gatefuse {

absl::Status OpError(const std::string& op, const std::vector<TensorSpec>& inputs,
                     const std::string& what) {
  std::vector<std::string> specs;
  for (const TensorSpec& s : inputs) specs.push_back(s.ToString());
  return absl::InvalidArgumentError(
      absl::StrCat(op, ": ", what, "; inputs: ", absl::StrJoin(specs, ", ")));
}

absl::Status ExpectFloat(const std::string& op, const std::vector<TensorSpec>& in, int i) {
  if (!IsFloating(in[i].dtype)) {
    return OpError(op, in, absl::StrCat("input ", i, " must be f32 or f64, not ",
                                        DTypeName(in[i].dtype)));
  }
  return absl::OkStatus();
}

absl::Status ExpectSameFloat(const std::string& op, const std::vector<TensorSpec>& in) {
  for (int i = 0; i < static_cast<int>(in.size()); ++i) {
    if (!IsFloating(in[i].dtype)) return ExpectFloat(op, in, i);
    if (in[i].dtype != in[0].dtype) return OpError(op, in, "inputs must have one dtype");
  }
  return absl::OkStatus();
}

absl::Status ExpectRank(const std::string& op, const std::vector<TensorSpec>& in, int i,
                        int rank) {
  if (in[i].shape.rank() != rank) {
    return OpError(op, in, absl::StrCat("input ", i, " must have rank ", rank));
  }
  return absl::OkStatus();
}

absl::Status ExpectNonEmpty(const std::string& op, const std::vector<TensorSpec>& in, int i) {
  if (in[i].shape.num_elements() == 0) {
    return OpError(op, in, absl::StrCat("input ", i, " must not be empty"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<TensorSpec>> UnaryFloatShape(const std::string& op,
                                                        const std::vector<TensorSpec>& in) {
  if (absl::Status s = ExpectFloat(op, in, 0); !s.ok()) return s;
  return std::vector<TensorSpec>{in[0]};
}

}  // namespace gatefuse

namespace gatefuse {

Tensor SumToShape(const Tensor& x, const Shape& target) {
  return DispatchFloat(x.dtype(), [&](auto t) {
    using T = decltype(t);
    Tensor y = Tensor::Zeros(target, x.dtype());
    const T* px = x.data<T>();
    T* py = y.data<T>();
    ForEachBroadcastRun(x.shape(), x.shape(), target,
                        [&](int64_t o, int64_t, int64_t iy, int64_t n, int64_t, int64_t sy) {
                          for (int64_t j = 0; j < n; ++j) py[iy + j * sy] += px[o + j];
                        });
    return y;
  });
}

absl::StatusOr<std::vector<Var>> CollectGrads(std::vector<VarOr> grads) {
  std::vector<Var> out;
  for (VarOr& g : grads) {
    if (!g.ok()) return g.status();
    out.push_back(*std::move(g));
  }
  return out;
}

}  // namespace gatefuse
