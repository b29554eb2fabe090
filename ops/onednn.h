// The oneDNN backend: one CPU engine per process and one stream per thread,
// primitives cached by shape, and dnnl::error turned into absl::Status here, once.
//
// Every compute path is reentrant: any number of threads may run the same cached
// primitive at once. oneDNN primitives are immutable once created and may execute
// concurrently when each execution has its own memory arguments and scratchpad
// (scratchpad_mode::user; see ScratchpadAttr); streams must not be shared, so each
// thread has its own. Cache locks are held only to look up or insert.
//
//   MatMulF32(a, b, c, m, k, n, false, false);               // dense, one call
//   auto mm = MatMulPrimitive::Get({.m = B, .k = K, .n = N, .ldc = ld,
//                                   .accumulate = true, .threads = 1});
//   for (t ...) GF_RETURN_IF_ERROR(mm->Run(a_t, w, c_t));     // no lookup per call
#ifndef GATEFUSE_OPS_ONEDNN_H_
#define GATEFUSE_OPS_ONEDNN_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <tuple>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace gatefuse::onednn {

dnnl::engine& Engine();
// The instruction set oneDNN's kernels use on this CPU ("avx2", "avx512_core_bf16",
// ...; lowered by DNNL_MAX_CPU_ISA), for benchmark output.
std::string EffectiveIsa();
// The calling thread's stream (created on its first use, destroyed with the thread).
dnnl::stream& Stream();

// Attributes for a primitive run from many threads at once: the caller provides the
// scratchpad (ThreadScratchpad) instead of the library's one, which this oneDNN
// build (DNNL_ENABLE_CONCURRENT_EXEC off) shares in ways that bind a primitive to
// the thread that created it.
dnnl::primitive_attr ScratchpadAttr();

// The calling thread's scratchpad: at least `bytes` bytes, 64-byte aligned, kept for
// the thread's next call (one primitive runs at a time on a thread, so every
// primitive it runs shares it). Valid until the thread's next call asking for more.
void* ThreadScratchpad(size_t bytes);

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
// pointers per call to the calling thread's own memory objects (made on that
// thread's first Run of the shape) and allocates nothing after that. Run is
// reentrant: calls on one shape from several threads run concurrently.
class MatMulPrimitive {
 public:
  // InvalidArgument naming the shape if it is not a valid GEMM; Internal if
  // oneDNN refuses it.
  static absl::StatusOr<MatMulPrimitive> Get(const MatMulShape& shape);

  const MatMulShape& shape() const;
  absl::Status Run(const float* a, const float* b, float* c) const;

  struct Entry;  // opaque: the cache's immutable record of one shape (onednn.cc)

 private:
  explicit MatMulPrimitive(Entry* entry) : entry_(entry) {}
  Entry* entry_;
};

// c[M,N] = op(a) @ op(b) in f32, op = transpose where asked; a is [M,K] (or [K,M]
// transposed), b is [K,N] (or [N,K]); all row-major and dense.
absl::Status MatMulF32(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n,
                       bool transpose_a, bool transpose_b);

}  // namespace gatefuse::onednn

#endif  // GATEFUSE_OPS_ONEDNN_H_
