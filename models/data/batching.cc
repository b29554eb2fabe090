#include "models/data/batching.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status.h"

namespace gatefuse {
namespace {

// Uniform in [0, bound), bound >= 1: rejects the low 2^64 mod bound draws so that
// the remainder is unbiased.
uint64_t UniformBelow(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t threshold = (0 - bound) % bound;
  uint64_t r = rng();
  while (r < threshold) r = rng();
  return r % bound;
}

absl::Status CheckIndices(absl::Span<const int64_t> indices, int64_t n, absl::string_view what) {
  for (size_t i = 0; i < indices.size(); ++i) {
    if (indices[i] < 0 || indices[i] >= n) {
      return absl::OutOfRangeError(absl::StrCat(what, ": index ", indices[i], " (position ", i,
                                                ") is outside [0, ", n, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckDataset(const SequenceDataset& data) {
  if (data.sequences.size() != data.targets.size()) {
    return absl::InvalidArgumentError(absl::StrCat("dataset has ", data.sequences.size(),
                                                   " sequences but ", data.targets.size(),
                                                   " targets"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PaddedSequences> PadSequences(absl::Span<const std::vector<int64_t>> sequences,
                                             int64_t max_len, DType mask_dtype) {
  if (sequences.empty()) return absl::InvalidArgumentError("PadSequences: no sequences");
  if (max_len < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("PadSequences: max_len must be >= 1, got ", max_len));
  }
  if (!IsFloating(mask_dtype)) {
    return absl::InvalidArgumentError(absl::StrCat("PadSequences: mask dtype must be f32 or f64, got ",
                                                   DTypeName(mask_dtype)));
  }
  const int64_t T = max_len, B = static_cast<int64_t>(sequences.size());
  PaddedSequences out{Tensor::Zeros({T, B}, DType::kI64), Tensor::Zeros({T, B}, mask_dtype), {}};
  out.lengths.reserve(B);
  int64_t* ids = out.ids.data<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    const std::vector<int64_t>& seq = sequences[b];
    const int64_t n = static_cast<int64_t>(seq.size()), len = std::min(n, T);
    for (int64_t k = 0; k < len; ++k) {
      const int64_t id = seq[n - len + k];
      if (id < 0) {
        return absl::InvalidArgumentError(absl::StrCat("PadSequences: sequence ", b,
                                                       " has a negative id ", id, " at position ",
                                                       n - len + k));
      }
      ids[(T - len + k) * B + b] = id;
    }
    out.lengths.push_back(len);
  }
  DispatchFloat(mask_dtype, [&](auto zero) {
    using F = decltype(zero);
    F* mask = out.mask.data<F>();
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t t = T - out.lengths[b]; t < T; ++t) mask[t * B + b] = F(1);
    }
  });
  return out;
}

absl::StatusOr<SequenceBatch> MakeBatch(const SequenceDataset& data,
                                        absl::Span<const int64_t> indices, int64_t max_len,
                                        DType mask_dtype) {
  GF_ASSIGN_OR_RETURN(SequenceDataset picked, Subset(data, indices));
  GF_ASSIGN_OR_RETURN(PaddedSequences inputs, PadSequences(picked.sequences, max_len, mask_dtype));
  Tensor targets = Tensor::Empty({picked.size()}, DType::kI64);
  std::copy(picked.targets.begin(), picked.targets.end(), targets.data<int64_t>());
  return SequenceBatch{std::move(inputs), std::move(targets)};
}

absl::StatusOr<SequenceDataset> Subset(const SequenceDataset& data,
                                       absl::Span<const int64_t> indices) {
  GF_RETURN_IF_ERROR(CheckDataset(data));
  GF_RETURN_IF_ERROR(CheckIndices(indices, data.size(), "dataset subset"));
  SequenceDataset out;
  out.sequences.reserve(indices.size());
  out.targets.reserve(indices.size());
  for (int64_t i : indices) {
    out.sequences.push_back(data.sequences[i]);
    out.targets.push_back(data.targets[i]);
  }
  return out;
}

absl::StatusOr<std::vector<int64_t>> ShuffledIndices(int64_t n, uint64_t seed) {
  if (n < 0) return absl::InvalidArgumentError(absl::StrCat("cannot shuffle ", n, " items"));
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  std::mt19937_64 rng(seed);
  for (int64_t i = n - 1; i > 0; --i) {  // Fisher-Yates
    std::swap(order[i], order[UniformBelow(rng, static_cast<uint64_t>(i) + 1)]);
  }
  return order;
}

absl::StatusOr<std::vector<std::vector<int64_t>>> BatchIndices(absl::Span<const int64_t> order,
                                                               int64_t batch_size) {
  if (batch_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("batch size must be >= 1, got ", batch_size));
  }
  std::vector<std::vector<int64_t>> batches;
  for (size_t start = 0; start < order.size(); start += batch_size) {
    const size_t end = std::min(order.size(), start + static_cast<size_t>(batch_size));
    batches.emplace_back(order.begin() + start, order.begin() + end);
  }
  return batches;
}

absl::StatusOr<std::vector<std::vector<int64_t>>> ShuffledBatches(int64_t n, int64_t batch_size,
                                                                  uint64_t seed) {
  GF_ASSIGN_OR_RETURN(std::vector<int64_t> order, ShuffledIndices(n, seed));
  return BatchIndices(order, batch_size);
}

absl::StatusOr<TrainTestSplit> SplitTrainTest(int64_t n, double test_fraction, uint64_t seed) {
  if (!(test_fraction >= 0.0 && test_fraction <= 1.0)) {  // also rejects NaN
    return absl::InvalidArgumentError(
        absl::StrCat("test fraction must be in [0, 1], got ", test_fraction));
  }
  GF_ASSIGN_OR_RETURN(std::vector<int64_t> order, ShuffledIndices(n, seed));
  const int64_t n_test = std::llround(static_cast<double>(n) * test_fraction);
  TrainTestSplit split;
  split.test.assign(order.begin(), order.begin() + n_test);
  split.train.assign(order.begin() + n_test, order.end());
  std::sort(split.test.begin(), split.test.end());
  std::sort(split.train.begin(), split.train.end());
  return split;
}

}  // namespace gatefuse
