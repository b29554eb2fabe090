// MatMul: [M,K] @ [K,N] with optional transposes; oneDNN in f32, a plain loop in f64
// (oneDNN's CPU matmul has no f64).
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "ops/onednn.h"
#include "ops/op_util.h"
#include "ops/ops.h"
#include "ops/register_all.h"

namespace gatefuse {
namespace {

struct MatMulDims {
  int64_t m, k, n;
  bool ta, tb;
};

absl::StatusOr<MatMulDims> GetDims(const std::vector<TensorSpec>& in, const Attrs& attrs) {
  GF_RETURN_IF_ERROR(ExpectSameFloat("MatMul", in));
  GF_ASSIGN_OR_RETURN(int64_t ta, attrs.GetInt("MatMul", "transpose_a"));
  GF_ASSIGN_OR_RETURN(int64_t tb, attrs.GetInt("MatMul", "transpose_b"));
  if (in[0].shape.rank() != 2 || in[1].shape.rank() != 2) {
    return OpError("MatMul", in, "both operands must be matrices (rank 2)");
  }
  MatMulDims d;
  d.ta = ta != 0;
  d.tb = tb != 0;
  d.m = in[0].shape[d.ta ? 1 : 0];
  d.k = in[0].shape[d.ta ? 0 : 1];
  const int64_t kb = in[1].shape[d.tb ? 1 : 0];
  d.n = in[1].shape[d.tb ? 0 : 1];
  if (d.k != kb) {
    return OpError("MatMul", in,
                   absl::StrCat("inner dimensions differ (", d.k, " vs ", kb, ")",
                                d.ta || d.tb ? absl::StrCat(" with transpose_a=", ta,
                                                            " transpose_b=", tb)
                                             : ""));
  }
  return d;
}

// c = op(a) @ op(b) in f64, i-k-j order over contiguous rows.
void MatMulF64(const Tensor& a, const Tensor& b, Tensor& c, const MatMulDims& d) {
  const double* pa = a.data<double>();
  const double* pb = b.data<double>();
  double* pc = c.data<double>();
  std::fill(pc, pc + d.m * d.n, 0.0);
  std::vector<double> brow(d.n);
  for (int64_t i = 0; i < d.m; ++i) {
    for (int64_t p = 0; p < d.k; ++p) {
      const double av = d.ta ? pa[p * d.m + i] : pa[i * d.k + p];
      const double* bp;
      if (d.tb) {
        for (int64_t j = 0; j < d.n; ++j) brow[j] = pb[j * d.k + p];
        bp = brow.data();
      } else {
        bp = pb + p * d.n;
      }
      double* cp = pc + i * d.n;
      for (int64_t j = 0; j < d.n; ++j) cp[j] += av * bp[j];
    }
  }
}

}  // namespace

void RegisterMatMulOps(OpRegistry& r) {
  OpDef& d = r.Define("MatMul", 2);
  d.shape_fn = [](const std::vector<TensorSpec>& in,
                  const Attrs& attrs) -> absl::StatusOr<std::vector<TensorSpec>> {
    GF_ASSIGN_OR_RETURN(MatMulDims dims, GetDims(in, attrs));
    return std::vector<TensorSpec>{{Shape{dims.m, dims.n}, in[0].dtype}};
  };
  d.kernel = [](const KernelContext& c) -> absl::StatusOr<std::vector<Tensor>> {
    GF_ASSIGN_OR_RETURN(MatMulDims dims, GetDims({{c.inputs[0].shape(), c.inputs[0].dtype()},
                                                  {c.inputs[1].shape(), c.inputs[1].dtype()}},
                                                 c.attrs));
    Tensor out = Tensor::Empty(c.outputs[0].shape, c.outputs[0].dtype);
    if (out.num_elements() == 0) return std::vector<Tensor>{out};
    if (dims.k == 0) return std::vector<Tensor>{Tensor::Zeros(out.shape(), out.dtype())};
    if (out.dtype() == DType::kF64) {
      MatMulF64(c.inputs[0], c.inputs[1], out, dims);
    } else {
      GF_RETURN_IF_ERROR(onednn::MatMulF32(c.inputs[0].data<float>(), c.inputs[1].data<float>(),
                                           out.data<float>(), dims.m, dims.k, dims.n, dims.ta,
                                           dims.tb));
    }
    return std::vector<Tensor>{out};
  };
  // C = op(A) op(B). With G = dC:
  //   C = A B     : dA = G B^T,   dB = A^T G
  //   C = A^T B   : dA = B G^T,   dB = A G
  //   C = A B^T   : dA = G B,     dB = G^T A
  //   C = A^T B^T : dA = B^T G^T, dB = G^T A^T
  d.gradient = [](const GradContext& c) -> absl::StatusOr<std::vector<Var>> {
    const bool ta = *c.attrs.GetInt("MatMul", "transpose_a") != 0;
    const bool tb = *c.attrs.GetInt("MatMul", "transpose_b") != 0;
    const Var& a = c.inputs[0];
    const Var& b = c.inputs[1];
    const Var& g = c.output_grads[0];
    if (!ta && !tb) return CollectGrads({MatMul(g, b, false, true), MatMul(a, g, true, false)});
    if (ta && !tb) return CollectGrads({MatMul(b, g, false, true), MatMul(a, g)});
    if (!ta && tb) return CollectGrads({MatMul(g, b), MatMul(g, a, true, false)});
    return CollectGrads({MatMul(b, g, true, true), MatMul(g, a, true, true)});
  };
}

VarOr MatMul(const VarOr& a, const VarOr& b, bool transpose_a, bool transpose_b) {
  return Apply("MatMul", {a, b},
               {{"transpose_a", int64_t{transpose_a}}, {"transpose_b", int64_t{transpose_b}}});
}

}  // namespace gatefuse
