#include "ops/onednn.h"

#include <omp.h>

#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "absl/strings/str_cat.h"

// oneDNN is built on OpenMP here (DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP)
// and brings libgomp into the process. ops/ is not compiled with -fopenmp, so the
// two calls that set a GEMM's thread count bind weakly: to libgomp when it is
// loaded, and to nothing (no limit is set) when it is not.
#pragma weak omp_get_max_threads
#pragma weak omp_set_num_threads

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

// While alive, OpenMP regions this thread starts (oneDNN's) use `threads` threads;
// 0 leaves the count alone.
class ThreadLimit {
 public:
  explicit ThreadLimit(int threads) {
    if (threads <= 0 || omp_get_max_threads == nullptr || omp_set_num_threads == nullptr) return;
    previous_ = omp_get_max_threads();
    omp_set_num_threads(threads);
  }
  ~ThreadLimit() {
    if (previous_ > 0) omp_set_num_threads(previous_);
  }
  ThreadLimit(const ThreadLimit&) = delete;
  ThreadLimit& operator=(const ThreadLimit&) = delete;

 private:
  int previous_ = 0;  // 0: nothing to restore
};

// Logical [rows, cols]; a transposed operand is stored [cols, rows] with leading dimension ld.
memory::desc Matrix(int64_t rows, int64_t cols, int64_t ld, bool transposed) {
  return memory::desc({rows, cols}, memory::data_type::f32,
                      transposed ? memory::dims{1, ld} : memory::dims{ld, 1});
}

// The shape with its leading dimensions filled in, or InvalidArgument.
absl::StatusOr<MatMulShape> Normalize(MatMulShape s) {
  if (s.lda == 0) s.lda = s.transpose_a ? s.m : s.k;
  if (s.ldb == 0) s.ldb = s.transpose_b ? s.k : s.n;
  if (s.ldc == 0) s.ldc = s.n;
  const bool ok = s.m > 0 && s.k > 0 && s.n > 0 && s.threads >= 0 &&
                  s.lda >= (s.transpose_a ? s.m : s.k) && s.ldb >= (s.transpose_b ? s.k : s.n) &&
                  s.ldc >= s.n;
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat("oneDNN matmul: invalid shape ", s.ToString()));
  }
  return s;
}

}  // namespace

std::string MatMulShape::ToString() const {
  return absl::StrCat("[", m, ", ", k, "]", transpose_a ? "^T" : "", " x [", k, ", ", n, "]",
                      transpose_b ? "^T" : "", " (ld ", lda, "/", ldb, "/", ldc,
                      accumulate ? ", accumulating" : "", threads > 0 ? ", threads " : "",
                      threads > 0 ? absl::StrCat(threads) : "", ")");
}

struct MatMulPrimitive::Entry {
  MatMulShape shape;
  dnnl::matmul prim;
  memory a, b, c;                              // data handles set per call
  std::unordered_map<int, memory> args;        // built once: no allocation per call
  std::mutex mu;                               // the handles are shared by every caller
};

absl::StatusOr<MatMulPrimitive> MatMulPrimitive::Get(const MatMulShape& requested) {
  absl::StatusOr<MatMulShape> shape = Normalize(requested);
  if (!shape.ok()) return shape.status();
  const MatMulShape& s = *shape;
  static std::mutex mu;
  static auto* cache = new std::map<MatMulShape, std::unique_ptr<Entry>>;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache->find(s);
  if (it != cache->end()) return MatMulPrimitive(it->second.get());
  auto e = std::make_unique<Entry>();
  e->shape = s;
  const absl::Status created = Call("matmul", [&] {
    // Created under the thread count it runs with: oneDNN sizes per-thread scratch
    // and splits work by the count it sees at creation.
    ThreadLimit limit(s.threads);
    const memory::desc a = Matrix(s.m, s.k, s.lda, s.transpose_a);
    const memory::desc b = Matrix(s.k, s.n, s.ldb, s.transpose_b);
    const memory::desc c = Matrix(s.m, s.n, s.ldc, false);
    dnnl::primitive_attr attr;
    if (s.accumulate) {
      dnnl::post_ops ops;
      ops.append_sum(1.0f);
      attr.set_post_ops(ops);
    }
    e->prim = dnnl::matmul(
        dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, c), attr, Engine()));
    e->a = memory(a, Engine(), DNNL_MEMORY_NONE);
    e->b = memory(b, Engine(), DNNL_MEMORY_NONE);
    e->c = memory(c, Engine(), DNNL_MEMORY_NONE);
    e->args = {{DNNL_ARG_SRC, e->a}, {DNNL_ARG_WEIGHTS, e->b}, {DNNL_ARG_DST, e->c}};
  });
  if (!created.ok()) {
    return absl::Status(created.code(), absl::StrCat(created.message(), " for ", s.ToString()));
  }
  return MatMulPrimitive(cache->emplace(s, std::move(e)).first->second.get());
}

const MatMulShape& MatMulPrimitive::shape() const { return entry_->shape; }

absl::Status MatMulPrimitive::Run(const float* a, const float* b, float* c) const {
  ThreadLimit limit(entry_->shape.threads);
  std::lock_guard<std::mutex> lock(entry_->mu);
  return Call("matmul", [&] {
    entry_->a.set_data_handle(const_cast<float*>(a));
    entry_->b.set_data_handle(const_cast<float*>(b));
    entry_->c.set_data_handle(c);
    entry_->prim.execute(Stream(), entry_->args);
    Stream().wait();
  });
}

absl::Status MatMulF32(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n,
                       bool transpose_a, bool transpose_b) {
  MatMulShape shape;
  shape.m = m;
  shape.k = k;
  shape.n = n;
  shape.transpose_a = transpose_a;
  shape.transpose_b = transpose_b;
  absl::StatusOr<MatMulPrimitive> mm = MatMulPrimitive::Get(shape);
  if (!mm.ok()) return mm.status();
  return mm->Run(a, b, c);
}

}  // namespace gatefuse::onednn
