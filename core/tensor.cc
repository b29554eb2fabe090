#include "core/tensor.h"

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gatefuse {

absl::StatusOr<DType> ParseDType(absl::string_view name) {
  if (name == "f32" || name == "float32") return DType::kF32;
  if (name == "f64" || name == "float64") return DType::kF64;
  if (name == "i64" || name == "int64") return DType::kI64;
  return absl::InvalidArgumentError(absl::StrCat("unknown dtype '", name, "'"));
}

void CheckDTypeOrDie(DType have, DType want) {
  if (have != want) {
    std::fprintf(stderr, "gatefuse: tensor of dtype %s read as %s\n",
                 std::string(DTypeName(have)).c_str(), std::string(DTypeName(want)).c_str());
    std::abort();
  }
}

namespace {

// Large blocks are kept after their last tensor dies and handed to the next
// request of the same size: a training loop allocates the same shapes every
// step, and fresh pages from the kernel (zeroed, faulted in one by one) cost
// more than the work on them for sequence-sized buffers. Blocks below kMinBytes
// go straight to malloc; at most kMaxCachedBytes are kept. Under AddressSanitizer
// nothing is cached, so every use after free is still seen.
class BlockCache {
 public:
  static constexpr size_t kMinBytes = size_t{1} << 20;
  static constexpr size_t kMaxCachedBytes = size_t{1} << 30;

  static BlockCache& Get() {
    static BlockCache* cache = new BlockCache;  // never destroyed: tensors may outlive statics
    return *cache;
  }
  void* Allocate(size_t bytes) {
    if (Enabled() && bytes >= kMinBytes) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(bytes);
      if (it != free_.end()) {
        void* p = it->second;
        free_.erase(it);
        cached_bytes_ -= bytes;
        return p;
      }
    }
    return std::aligned_alloc(64, bytes);
  }
  void Free(void* p, size_t bytes) {
    if (Enabled() && bytes >= kMinBytes) {
      std::lock_guard<std::mutex> lock(mu_);
      if (cached_bytes_ + bytes <= kMaxCachedBytes) {
        free_.emplace(bytes, p);
        cached_bytes_ += bytes;
        return;
      }
    }
    std::free(p);
  }

 private:
  static bool Enabled() {
#if defined(__SANITIZE_ADDRESS__)
    return false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return false;
#else
    return true;
#endif
#else
    return true;
#endif
  }
  std::mutex mu_;
  std::multimap<size_t, void*> free_;
  size_t cached_bytes_ = 0;
};

std::atomic<uint64_t> next_stamp{1};

}  // namespace

struct Tensor::Storage {
  explicit Storage(int64_t bytes)
      : size(static_cast<size_t>((bytes + 63) / 64 * 64)),
        stamp(next_stamp.fetch_add(1, std::memory_order_relaxed)) {
    if (size == 0) size = 64;
    ptr = BlockCache::Get().Allocate(size);
    if (ptr == nullptr) std::abort();  // out of memory is not recoverable here
  }
  ~Storage() { BlockCache::Get().Free(ptr, size); }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* ptr;
  size_t size;
  // A process-wide unique number for the storage's current contents: new at
  // creation and at every mutable access (see Tensor::write_stamp()).
  std::atomic<uint64_t> stamp;
};

Tensor Tensor::Empty(const Shape& shape, DType dtype) {
  Tensor t;
  t.storage_ = std::make_shared<Storage>(shape.num_elements() * SizeOf(dtype));
  t.shape_ = shape;
  t.strides_ = shape.RowMajorStrides();
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::Zeros(const Shape& shape, DType dtype) {
  Tensor t = Empty(shape, dtype);
  std::memset(t.raw_data(), 0, shape.num_elements() * SizeOf(dtype));
  return t;
}

namespace {
template <typename T>
void FillFrom(Tensor& t, absl::Span<const double> v) {
  T* p = t.data<T>();
  for (size_t i = 0; i < v.size(); ++i) p[i] = static_cast<T>(v[i]);
}
void FillAll(Tensor& t, absl::Span<const double> v) {
  switch (t.dtype()) {
    case DType::kF32: FillFrom<float>(t, v); break;
    case DType::kF64: FillFrom<double>(t, v); break;
    case DType::kI64: FillFrom<int64_t>(t, v); break;
  }
}
}  // namespace

Tensor Tensor::Full(const Shape& shape, DType dtype, double value) {
  Tensor t = Empty(shape, dtype);
  FillAll(t, std::vector<double>(shape.num_elements(), value));
  return t;
}

absl::StatusOr<Tensor> Tensor::FromValues(const Shape& shape, absl::Span<const double> values,
                                          DType dtype) {
  if (static_cast<int64_t>(values.size()) != shape.num_elements()) {
    return absl::InvalidArgumentError(absl::StrCat("tensor of shape ", shape.ToString(), " needs ",
                                                   shape.num_elements(), " values, got ",
                                                   values.size()));
  }
  Tensor t = Empty(shape, dtype);
  FillAll(t, values);
  return t;
}

Tensor Tensor::Uniform(const Shape& shape, DType dtype, uint64_t seed, double lo, double hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(shape.num_elements());
  for (double& x : v) x = dist(rng);
  Tensor t = Empty(shape, dtype);
  FillAll(t, v);
  return t;
}

bool Tensor::is_contiguous() const { return strides_ == shape_.RowMajorStrides(); }

void* Tensor::raw_data() {
  storage_->stamp.store(next_stamp.fetch_add(1, std::memory_order_relaxed),
                        std::memory_order_relaxed);
  return static_cast<char*>(storage_->ptr) + offset_ * SizeOf(dtype_);
}
uint64_t Tensor::write_stamp() const {
  return storage_ == nullptr ? 0 : storage_->stamp.load(std::memory_order_relaxed);
}

const void* Tensor::raw_data() const {
  return static_cast<const char*>(storage_->ptr) + offset_ * SizeOf(dtype_);
}

namespace {
// Copies a strided view element by element into contiguous `dst`.
template <typename T>
void GatherStrided(const T* src, const Shape& shape, const std::vector<int64_t>& strides, T* dst) {
  const int rank = shape.rank();
  const int64_t n = shape.num_elements();
  if (n == 0) return;
  if (rank == 0) {
    dst[0] = src[0];
    return;
  }
  std::vector<int64_t> idx(rank, 0);
  const int64_t inner = shape[rank - 1], inner_stride = strides[rank - 1];
  int64_t src_off = 0;
  for (int64_t out = 0; out < n; out += inner) {
    for (int64_t j = 0; j < inner; ++j) dst[out + j] = src[src_off + j * inner_stride];
    for (int d = rank - 2; d >= 0; --d) {  // advance the outer index like an odometer
      src_off += strides[d];
      if (++idx[d] < shape[d]) break;
      src_off -= strides[d] * shape[d];
      idx[d] = 0;
    }
  }
}
}  // namespace

Tensor Tensor::Contiguous() const {
  if (!defined() || is_contiguous()) return *this;
  Tensor out = Empty(shape_, dtype_);
  switch (dtype_) {
    case DType::kF32: GatherStrided(data<float>(), shape_, strides_, out.data<float>()); break;
    case DType::kF64: GatherStrided(data<double>(), shape_, strides_, out.data<double>()); break;
    case DType::kI64: GatherStrided(data<int64_t>(), shape_, strides_, out.data<int64_t>()); break;
  }
  return out;
}

Tensor Tensor::Clone() const {
  if (!defined()) return *this;
  if (!is_contiguous()) return Contiguous();
  Tensor out = Empty(shape_, dtype_);
  std::memcpy(out.raw_data(), raw_data(), num_elements() * SizeOf(dtype_));
  return out;
}

Tensor Tensor::Cast(DType to) const {
  if (to == dtype_) return *this;
  Tensor out = Empty(shape_, to);
  FillAll(out, ToVector());
  return out;
}

absl::StatusOr<Tensor> Tensor::Reshape(const Shape& shape) const {
  std::vector<int64_t> dims = shape.dims();
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < static_cast<int>(dims.size()); ++i) {
    if (dims[i] == -1 && infer < 0) {
      infer = i;
    } else if (dims[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("Reshape: invalid target shape ", shape.ToString()));
    } else {
      known *= dims[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || num_elements() % known != 0) {
      return absl::InvalidArgumentError(absl::StrCat("Reshape: cannot reshape ",
                                                     shape_.ToString(), " to ", shape.ToString()));
    }
    dims[infer] = num_elements() / known;
  }
  Shape target(std::move(dims));
  if (target.num_elements() != num_elements()) {
    return absl::InvalidArgumentError(absl::StrCat("Reshape: cannot reshape ", shape_.ToString(),
                                                   " (", num_elements(), " elements) to ",
                                                   target.ToString()));
  }
  Tensor out = Contiguous();
  out.shape_ = target;
  out.strides_ = target.RowMajorStrides();
  return out;
}

absl::StatusOr<Tensor> Tensor::Slice(int64_t axis, int64_t start, int64_t end) const {
  if (rank() == 0) return absl::InvalidArgumentError("Slice: cannot slice a scalar");
  auto ax = NormalizeAxis(axis, rank(), "Slice");
  if (!ax.ok()) return ax.status();
  const int a = *ax;
  if (start < 0 || end > shape_[a] || start > end) {
    return absl::InvalidArgumentError(absl::StrCat("Slice: range [", start, ", ", end,
                                                   ") is out of bounds for axis ", a,
                                                   " of shape ", shape_.ToString()));
  }
  Tensor out = *this;
  out.offset_ += start * strides_[a];
  out.shape_[a] = end - start;
  return out;
}

double Tensor::At(int64_t i) const {
  int64_t off = 0;
  for (int d = rank() - 1; d >= 0; --d) {
    off += (i % shape_[d]) * strides_[d];
    i /= shape_[d];
  }
  switch (dtype_) {
    case DType::kF32: return data<float>()[off];
    case DType::kF64: return data<double>()[off];
    case DType::kI64: return static_cast<double>(data<int64_t>()[off]);
  }
  return 0;
}

std::vector<double> Tensor::ToVector() const {
  const Tensor c = Contiguous();
  std::vector<double> v(num_elements());
  for (int64_t i = 0; i < num_elements(); ++i) {
    switch (dtype_) {
      case DType::kF32: v[i] = c.data<float>()[i]; break;
      case DType::kF64: v[i] = c.data<double>()[i]; break;
      case DType::kI64: v[i] = static_cast<double>(c.data<int64_t>()[i]); break;
    }
  }
  return v;
}

std::string Tensor::DebugString(int max_values) const {
  if (!defined()) return "Tensor(undefined)";
  std::string s = absl::StrCat("Tensor(", DTypeName(dtype_), shape_.ToString(), " {");
  const int64_t n = std::min<int64_t>(num_elements(), max_values);
  for (int64_t i = 0; i < n; ++i) absl::StrAppendFormat(&s, "%s%g", i ? ", " : "", At(i));
  if (num_elements() > n) s += ", ...";
  return s + "})";
}

}  // namespace gatefuse
