// The oneDNN backend: one CPU engine and stream per process, primitives cached by
// shape, and dnnl::error turned into absl::Status here, once.
#ifndef GATEFUSE_OPS_ONEDNN_H_
#define GATEFUSE_OPS_ONEDNN_H_

#include <cstdint>

#include "absl/status/status.h"
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

// c[M,N] = op(a) @ op(b) in f32, op = transpose where asked; a is [M,K] (or [K,M]
// transposed), b is [K,N] (or [N,K]); all row-major and dense.
absl::Status MatMulF32(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n,
                       bool transpose_a, bool transpose_b);

}  // namespace gatefuse::onednn

#endif  // GATEFUSE_OPS_ONEDNN_H_
