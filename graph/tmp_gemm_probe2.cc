#include <dnnl.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>
using namespace dnnl;
using tag = memory::format_tag;
int main() {
  setvbuf(stdout, nullptr, _IONBF, 0);
  engine eng(engine::kind::cpu, 0);
  stream s(eng);
  int m = 64, k = 512, n = 2048, T = 100;
  auto ad = memory::desc({m, k}, memory::data_type::f32, memory::dims{k, 1});
  auto bd = memory::desc({k, n}, memory::data_type::f32, memory::dims{n, 1});
  auto dd = memory::desc({m, n}, memory::data_type::f32, memory::dims{n, 1});
  for (int user = 0; user < 2; ++user) {
    primitive_attr attr;
    if (user) attr.set_scratchpad_mode(scratchpad_mode::user);
    matmul::primitive_desc pd(matmul::desc(ad, bd, dd), attr, eng);
    matmul p(pd);
    size_t sp = pd.scratchpad_desc().get_size();
    void* spbuf = aligned_alloc(64, (sp + 4095) / 4096 * 4096 + 4096);
    memory spm(pd.scratchpad_desc(), eng, spbuf);
    std::vector<float> A(size_t(T+1)*m*k), B(k*n), D(size_t(T)*m*n, 0.f); for (auto& v : A) v = (rand() / (float)RAND_MAX) * 2 - 1; for (auto& v : B) v = ((rand() / (float)RAND_MAX) * 2 - 1) * 0.05f;
    double best = 1e9;
    for (int rep = 0; rep < 6; ++rep) {
      auto t0 = std::chrono::steady_clock::now();
      for (int t = 0; t < T; ++t) {
        memory am(ad, eng, A.data() + (1 ? size_t(t)*m*k : 0)), bm(bd, eng, B.data()), dm(dd, eng, D.data() + size_t(t)*m*n);
        if (user) p.execute(s, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, dm}, {DNNL_ARG_SCRATCHPAD, spm}});
        else p.execute(s, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, dm}});
        s.wait();
      }
      best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    printf("user=%d scratch=%zu bytes: %.1f ms, %.1f GFLOP/s\n", user, sp, best, 2.0*m*k*n*T/best/1e6);
  }
}
