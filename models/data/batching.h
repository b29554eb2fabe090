// Batching: pre-padded time-major id batches with masks, seeded shuffles, batches of
// indices and a seeded train/test split.
//
//   PadSequences({{5, 6, 7}, {8}}, /*max_len=*/2) ->
//     ids  [T=2, B=2] = [[6, 0],      mask = [[1, 0],      lengths = {2, 1}
//                        [7, 8]]              [1, 1]]
//
// Padding goes in front ('pre') and truncation keeps the last max_len tokens, so the
// last time step always holds the last real token of every sequence: a recurrent
// model reads its answer at t = T-1, and multiplying each state update by mask[t]
// (h_t = m_t * step(h_{t-1}, x_t) + (1 - m_t) * h_{t-1}) keeps the padding from
// changing the state. Shuffles draw from std::mt19937_64 with an explicit seed
// through our own unbiased bounded draw (not std::uniform_int_distribution, whose
// algorithm differs between standard libraries), so the same seed gives the same
// order on every platform.
#ifndef GATEFUSE_MODELS_DATA_BATCHING_H_
#define GATEFUSE_MODELS_DATA_BATCHING_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/tensor.h"

namespace gatefuse {

struct PaddedSequences {
  Tensor ids;                    // i64 [T, B]; Vocabulary::kPadId (0) where padded
  Tensor mask;                   // float [T, B]; 1 at real tokens, 0 at padding
  std::vector<int64_t> lengths;  // [B]; real tokens per column, after truncation
};

// InvalidArgument if there are no sequences, max_len < 1, an id is negative or
// mask_dtype is not a float type.
absl::StatusOr<PaddedSequences> PadSequences(absl::Span<const std::vector<int64_t>> sequences,
                                             int64_t max_len, DType mask_dtype = DType::kF32);

// Examples for a sequence -> class task: a sentence and its label, or a context and
// its next word. sequences[i] belongs with targets[i].
struct SequenceDataset {
  std::vector<std::vector<int64_t>> sequences;
  std::vector<int64_t> targets;
  int64_t size() const { return static_cast<int64_t>(targets.size()); }
};

struct SequenceBatch {
  PaddedSequences inputs;
  Tensor targets;  // i64 [B], as SparseSoftmaxCrossEntropy takes them
};

// The examples data[indices[0]], data[indices[1]], ... as one batch.
absl::StatusOr<SequenceBatch> MakeBatch(const SequenceDataset& data,
                                        absl::Span<const int64_t> indices, int64_t max_len,
                                        DType mask_dtype = DType::kF32);
// The examples at `indices`, in that order.
absl::StatusOr<SequenceDataset> Subset(const SequenceDataset& data,
                                       absl::Span<const int64_t> indices);

// A permutation of 0..n-1, a pure function of (n, seed). For a new order every epoch,
// vary the seed (e.g. seed + epoch).
absl::StatusOr<std::vector<int64_t>> ShuffledIndices(int64_t n, uint64_t seed);
// `order` cut into consecutive batches of batch_size; the last one may be smaller.
absl::StatusOr<std::vector<std::vector<int64_t>>> BatchIndices(absl::Span<const int64_t> order,
                                                               int64_t batch_size);
// BatchIndices(ShuffledIndices(n, seed), batch_size).
absl::StatusOr<std::vector<std::vector<int64_t>>> ShuffledBatches(int64_t n, int64_t batch_size,
                                                                  uint64_t seed);

struct TrainTestSplit {
  std::vector<int64_t> train;  // ascending
  std::vector<int64_t> test;   // ascending; round(n * test_fraction) indices
};
// A seeded random partition of 0..n-1; InvalidArgument unless 0 <= test_fraction <= 1.
absl::StatusOr<TrainTestSplit> SplitTrainTest(int64_t n, double test_fraction, uint64_t seed);

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_DATA_BATCHING_H_
