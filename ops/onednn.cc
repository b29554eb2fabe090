#include "ops/onednn.h"

#include <map>
#include <mutex>
#include <tuple>

namespace gatefuse::onednn {

using dnnl::memory;

dnnl::engine& Engine() {
  static dnnl::engine* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

dnnl::stream& Stream() {
  static dnnl::stream* stream = new dnnl::stream(Engine());
  return *stream;
}

namespace {

struct MatMulPlan {
  memory::desc a, b, c;
  dnnl::matmul prim;
};

memory::desc Matrix(int64_t rows, int64_t cols, bool transposed) {
  // A transposed operand is read in place: logical [rows, cols] with column-major strides.
  return memory::desc({rows, cols}, memory::data_type::f32,
                      transposed ? memory::dims{1, rows} : memory::dims{cols, 1});
}

}  // namespace

absl::Status MatMulF32(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n,
                       bool transpose_a, bool transpose_b) {
  using Key = std::tuple<int64_t, int64_t, int64_t, bool, bool>;
  static std::mutex mu;
  static auto* cache = new std::map<Key, MatMulPlan>;
  return Call("matmul", [&] {
    const MatMulPlan* plan;
    {
      std::lock_guard<std::mutex> lock(mu);
      const Key key{m, k, n, transpose_a, transpose_b};
      auto it = cache->find(key);
      if (it == cache->end()) {
        MatMulPlan p{Matrix(m, k, transpose_a), Matrix(k, n, transpose_b), Matrix(m, n, false),
                     {}};
        p.prim = dnnl::matmul(dnnl::matmul::primitive_desc(
            dnnl::matmul::desc(p.a, p.b, p.c), Engine()));
        it = cache->emplace(key, std::move(p)).first;
      }
      plan = &it->second;
    }
    memory am(plan->a, Engine(), const_cast<float*>(a));
    memory bm(plan->b, Engine(), const_cast<float*>(b));
    memory cm(plan->c, Engine(), c);
    plan->prim.execute(Stream(), {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
    Stream().wait();
  });
}

}  // namespace gatefuse::onednn
