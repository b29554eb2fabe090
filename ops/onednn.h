// The oneDNN backend: one CPU engine and stream per process, primitives cached by
// shape, and dnnl::error turned into absl::Status here, once.
//
//   MatMulF32(a, b, c, m, k, n, false, false);               // dense, one call
//   auto mm = MatMulPrimitive::Get({.m = B, .k = K, .n = N, .ldc = ld,
//                                   .accumulate = true, .threads = 1});
//   for (t ...) GF_RETURN_IF_ERROR(mm->Run(a_t, w, c_t));     // no lookup per call
#ifndef GATEFUSE_OPS_ONEDNN_H_
#define GATEFUSE_OPS_ONEDNN_H_

#include <cstdint>
#include <string>
#include <tuple>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace gatefuse::onednn {

dnnl::engine& Engine();
dnnl::stream& Stream();

// Runs fn(), converting a dnnl::error it throws into Internal naming `what`.
template <typename Fn>
absl::Status Call(const char* what, Fn&& fn) {
  try {
    fn();
    return absl::OkStatus();
  } catch (const dnnl::error& e) {
    return absl::InternalError(std::string("oneDNN ") + what + ": " + e.what());
  }
}

// One f32 GEMM: c[m, n] = op(a) op(b), or c += op(a) op(b) with `accumulate`, where
// op transposes where asked. Operands are row-major with leading dimensions lda,
// ldb, ldc (0: dense); a transposed operand is read in place, so a is stored
// [k, m] (b [n, k]) with that leading dimension.
struct MatMulShape {
  int64_t m = 0, k = 0, n = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;
  bool transpose_a = false, transpose_b = false;
  bool accumulate = false;
  // OpenMP threads the primitive is created and run with; 0: the process default.
  // A small GEMM run every step is faster on one thread than waking a second one.
  int threads = 0;

  auto Tie() const {
    return std::tie(m, k, n, lda, ldb, ldc, transpose_a, transpose_b, accumulate, threads);
  }
  bool operator<(const MatMulShape& o) const { return Tie() < o.Tie(); }
  std::string ToString() const;
};

// The process's cached matmul primitive of one MatMulShape: created on the first
// Get of its shape, never freed, so a handle stays valid; Run binds the data
// pointers per call and allocates nothing. Calls on one shape are serialised.
class MatMulPrimitive {
 public:
  // InvalidArgument naming the shape if it is not a valid GEMM; Internal if
  // oneDNN refuses it.
  static absl::StatusOr<MatMulPrimitive> Get(const MatMulShape& shape);

  const MatMulShape& shape() const;
  absl::Status Run(const float* a, const float* b, float* c) const;

 private:
  struct Entry;
  explicit MatMulPrimitive(Entry* entry) : entry_(entry) {}
  Entry* entry_;
};

// c[M,N] = op(a) @ op(b) in f32, op = transpose where asked; a is [M,K] (or [K,M]
// transposed), b is [K,N] (or [N,K]); all row-major and dense.
absl::Status MatMulF32(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n,
                       bool transpose_a, bool transpose_b);

}  // namespace gatefuse::onednn

#endif  // GATEFUSE_OPS_ONEDNN_H_
