#include <dnnl.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include "core/tensor.h"
#include "ops/onednn.h"
using namespace dnnl;
int main() {
  setvbuf(stdout, nullptr, _IONBF, 0);
  int m = 64, k = 512, n = 2048, T = 100;
  engine& eng = gatefuse::onednn::Engine();
  stream& s = gatefuse::onednn::Stream();
  auto ad = memory::desc({m, k}, memory::data_type::f32, memory::dims{k, 1});
  auto bd = memory::desc({k, n}, memory::data_type::f32, memory::dims{n, 1});
  auto dd = memory::desc({m, n}, memory::data_type::f32, memory::dims{n, 1});
  primitive_attr attr;
  attr.set_scratchpad_mode(scratchpad_mode::user);
  matmul::primitive_desc pd(matmul::desc(ad, bd, dd), attr, eng);
  matmul p(pd);
  size_t sp = pd.scratchpad_desc().get_size();
  std::printf("scratch %zu\n", sp);
  for (int variant = 0; variant < 4; ++variant) {
    std::vector<float> Av(size_t(T+1)*m*k, 0.01f), Bv(k*n, 0.01f), Dv(size_t(T)*m*n, 0.f);
    gatefuse::Tensor At = gatefuse::Tensor::Full({(T+1)*m, k}, gatefuse::DType::kF32, 0.01);
    gatefuse::Tensor Bt = gatefuse::Tensor::Full({k, n}, gatefuse::DType::kF32, 0.01);
    gatefuse::Tensor Dt = gatefuse::Tensor::Zeros({T*m, n}, gatefuse::DType::kF32);
    float* A = variant & 1 ? At.data<float>() : Av.data();
    float* B = variant & 2 ? Bt.data<float>() : Bv.data();
    float* D = variant & 1 ? Dt.data<float>() : Dv.data();
    memory am(ad, eng, DNNL_MEMORY_NONE), bm(bd, eng, DNNL_MEMORY_NONE), dm(dd, eng, DNNL_MEMORY_NONE);
    double best = 1e9;
    for (int rep = 0; rep < 5; ++rep) {
      auto t0 = std::chrono::steady_clock::now();
      for (int t = 0; t < T; ++t) {
        am.set_data_handle(A + size_t(t)*m*k); bm.set_data_handle(B); dm.set_data_handle(D + size_t(t)*m*n);
        p.execute(s, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, dm}});
        s.wait();
      }
      best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::printf("variant %d (1: tensor A/D, 2: tensor B): %.1f ms %.1f GFLOP/s  B=%p\n", variant, best, 2.0*m*k*n*T/best/1e6, (void*)B);
  }
}
