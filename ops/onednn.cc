#include "ops/onednn.h"

#include <omp.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"

// oneDNN is built on OpenMP here (DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP)
// and brings libgomp into the process. ops/ is not compiled with -fopenmp, so the
// two calls that set a GEMM's thread count bind weakly: to libgomp when it is
// loaded, and to nothing (no limit is set) when it is not.
#pragma weak omp_get_max_threads
#pragma weak omp_set_num_threads

namespace gatefuse::onednn {

using dnnl::memory;

std::string EffectiveIsa() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

dnnl::engine& Engine() {
  static dnnl::engine* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

dnnl::stream& Stream() {
  // A stream is not safe to use from two threads at once; one per thread is.
  thread_local dnnl::stream stream(Engine());
  return stream;
}

dnnl::primitive_attr ScratchpadAttr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

namespace {

// One growable block per thread; freed with the thread.
class ScratchBlock {
 public:
  ~ScratchBlock() { std::free(data_); }
  void* Get(size_t bytes) {
    if (bytes > size_) {
      std::free(data_);
      size_ = (bytes + 4095) / 4096 * 4096;
      data_ = std::aligned_alloc(64, size_);
      if (data_ == nullptr) std::abort();  // out of memory is not recoverable here
    }
    return data_;
  }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace

void* ThreadScratchpad(size_t bytes) {
  thread_local ScratchBlock block;
  return block.Get(bytes);
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

// Immutable once in the cache: shared by every thread.
struct MatMulPrimitive::Entry {
  MatMulShape shape;
  dnnl::matmul prim;
  memory::desc a, b, c, scratchpad;
  size_t scratchpad_bytes = 0;
  size_t index = 0;  // of the entry in the cache's creation order
};

namespace {

// One thread's memory objects for one entry: the data handles are set per call,
// so no two threads may share them.
struct ThreadArgs {
  memory a, b, c, scratchpad;
  void* scratchpad_data = nullptr;  // what `scratchpad` points at
};

// Only inside Call: memory creation throws dnnl::error.
ThreadArgs& ArgsOf(const MatMulPrimitive::Entry& e) {
  thread_local std::vector<std::unique_ptr<ThreadArgs>> per_entry;
  if (e.index >= per_entry.size()) per_entry.resize(e.index + 1);
  std::unique_ptr<ThreadArgs>& slot = per_entry[e.index];
  if (slot == nullptr) {
    auto t = std::make_unique<ThreadArgs>();
    t->a = memory(e.a, Engine(), DNNL_MEMORY_NONE);
    t->b = memory(e.b, Engine(), DNNL_MEMORY_NONE);
    t->c = memory(e.c, Engine(), DNNL_MEMORY_NONE);
    if (e.scratchpad_bytes > 0) t->scratchpad = memory(e.scratchpad, Engine(), DNNL_MEMORY_NONE);
    slot = std::move(t);
  }
  return *slot;
}

}  // namespace

absl::StatusOr<MatMulPrimitive> MatMulPrimitive::Get(const MatMulShape& requested) {
  absl::StatusOr<MatMulShape> shape = Normalize(requested);
  if (!shape.ok()) return shape.status();
  const MatMulShape& s = *shape;
  static std::mutex mu;
  static auto* cache = new std::map<MatMulShape, std::unique_ptr<Entry>>;
  std::lock_guard<std::mutex> lock(mu);  // the lookup and the insertion only
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
    dnnl::primitive_attr attr = ScratchpadAttr();
    if (s.accumulate) {
      dnnl::post_ops ops;
      ops.append_sum(1.0f);
      attr.set_post_ops(ops);
    }
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), attr, Engine());
    e->prim = dnnl::matmul(pd);
    e->a = a;
    e->b = b;
    e->c = c;
    e->scratchpad = pd.scratchpad_desc();
    e->scratchpad_bytes = e->scratchpad.get_size();
    e->index = cache->size();
  });
  if (!created.ok()) {
    return absl::Status(created.code(), absl::StrCat(created.message(), " for ", s.ToString()));
  }
  return MatMulPrimitive(cache->emplace(s, std::move(e)).first->second.get());
}

const MatMulShape& MatMulPrimitive::shape() const { return entry_->shape; }

absl::Status MatMulPrimitive::Run(const float* a, const float* b, float* c) const {
  const Entry& e = *entry_;
  ThreadLimit limit(e.shape.threads);  // OpenMP's thread count is per calling thread
  return Call("matmul", [&] {
    ThreadArgs& t = ArgsOf(e);
    t.a.set_data_handle(const_cast<float*>(a));
    t.b.set_data_handle(const_cast<float*>(b));
    t.c.set_data_handle(c);
    // The C entry point with the arguments on the stack: the C++ one copies an
    // unordered_map into a new vector every call.
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, t.a.get()},
                               {DNNL_ARG_WEIGHTS, t.b.get()},
                               {DNNL_ARG_DST, t.c.get()},
                               {DNNL_ARG_SCRATCHPAD, nullptr}};
    int n = 3;
    if (e.scratchpad_bytes > 0) {
      void* data = ThreadScratchpad(e.scratchpad_bytes);
      if (data != t.scratchpad_data) {
        t.scratchpad.set_data_handle(data);
        t.scratchpad_data = data;
      }
      args[n++].memory = t.scratchpad.get();
    }
    dnnl::stream& stream = Stream();
    dnnl::error::wrap_c_api(dnnl_primitive_execute(e.prim.get(), stream.get(), n, args),
                            "could not execute a primitive");
    stream.wait();
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
