#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sys/mman.h>
#include "core/tensor.h"
#include "ops/onednn.h"
using namespace gatefuse;
int main() {
  const int64_t m = 64, k = 512, n = 2048, T = 100;
  onednn::MatMulShape s; s.m = m; s.k = k; s.n = n; s.lda = k; s.ldb = n; s.ldc = n;
  auto mm = *onednn::MatMulPrimitive::Get(s);
  Tensor A = getenv("CONST") ? Tensor::Full({(T + 1) * m, k}, DType::kF32, 0.01) : Tensor::Uniform({(T + 1) * m, k}, DType::kF32, 1, -1, 1);
  Tensor W = getenv("CONST") ? Tensor::Full({k, n}, DType::kF32, 0.01) : Tensor::Uniform({k, n}, DType::kF32, 2, -0.05, 0.05);
  std::printf("A %p W %p\n", (void*)A.data<float>(), (void*)W.data<float>());
  for (int mode = 0; mode < 3; ++mode) {
    double best = 1e9;
    for (int rep = 0; rep < 5; ++rep) {
      Tensor out = Tensor::Empty({T * m * n + 64}, DType::kF32);
      float* o = out.data<float>();
      if (mode >= 1) {
        uintptr_t p = (uintptr_t)o, b = (p + (2 << 20) - 1) & ~uintptr_t((2 << 20) - 1), e = (p + T*m*n*4) & ~uintptr_t((2 << 20) - 1);
        madvise((void*)b, e - b, MADV_HUGEPAGE);
      }
      if (mode == 2) for (int64_t i = 0; i < T*m*n; ++i) o[i] = 0;
      auto t0 = std::chrono::steady_clock::now();
      for (int64_t t = 0; t < T; ++t) {
        if (!mm.Run(A.data<float>() + t * m * k, W.data<float>(), o + t * m * n).ok()) return 1;
      }
      best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::printf("mode %d: %.1f ms %.1f GFLOP/s\n", mode, best, 2.0 * m * k * n * T / best / 1e6);
  }
}
