#include "models/data/batching.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatefuse {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

TEST(PadSequencesTest, PrePadsShortAndKeepsLastTokensOfLongSequences) {
  // Columns: [5 6 7 8 9] truncated to its last 3; [3] padded; [4 2] padded; [] all padding.
  absl::StatusOr<PaddedSequences> padded = PadSequences({{5, 6, 7, 8, 9}, {3}, {4, 2}, {}}, 3);
  ASSERT_TRUE(padded.ok()) << padded.status();
  EXPECT_EQ(padded->ids.shape(), Shape({3, 4}));
  EXPECT_EQ(padded->ids.dtype(), DType::kI64);
  EXPECT_EQ(padded->mask.shape(), Shape({3, 4}));
  EXPECT_EQ(padded->mask.dtype(), DType::kF32);
  // Row-major [T, B]: row t holds time step t of every column.
  EXPECT_THAT(padded->ids.ToVector(), ElementsAre(7, 0, 0, 0,  //
                                                  8, 0, 4, 0,  //
                                                  9, 3, 2, 0));
  EXPECT_THAT(padded->mask.ToVector(), ElementsAre(1, 0, 0, 0,  //
                                                   1, 0, 1, 0,  //
                                                   1, 1, 1, 0));
  EXPECT_THAT(padded->lengths, ElementsAre(3, 1, 2, 0));
}

TEST(PadSequencesTest, ExactLengthNeedsNoPaddingAndMaskMayBeF64) {
  absl::StatusOr<PaddedSequences> padded = PadSequences({{1, 2}, {3, 4}}, 2, DType::kF64);
  ASSERT_TRUE(padded.ok()) << padded.status();
  EXPECT_THAT(padded->ids.ToVector(), ElementsAre(1, 3, 2, 4));
  EXPECT_EQ(padded->mask.dtype(), DType::kF64);
  EXPECT_THAT(padded->mask.ToVector(), ElementsAre(1, 1, 1, 1));
  EXPECT_THAT(padded->lengths, ElementsAre(2, 2));
}

TEST(PadSequencesTest, RejectsBadInput) {
  EXPECT_EQ(PadSequences({}, 3).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PadSequences({{1}}, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PadSequences({{1}}, 2, DType::kI64).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status negative = PadSequences({{1}, {2, -4}}, 2).status();
  EXPECT_EQ(negative.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(negative.message()), HasSubstr("sequence 1"));
  // A negative id that truncation drops is not looked at.
  EXPECT_TRUE(PadSequences({{-1, 2, 3}}, 2).ok());
}

SequenceDataset ThreeExamples() {
  SequenceDataset data;
  data.sequences = {{2, 3}, {4}, {5, 6, 7}};
  data.targets = {1, 0, 1};
  return data;
}

TEST(MakeBatchTest, GathersPadsAndCarriesTargets) {
  absl::StatusOr<SequenceBatch> batch = MakeBatch(ThreeExamples(), {2, 1}, 2);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_THAT(batch->inputs.ids.ToVector(), ElementsAre(6, 0, 7, 4));
  EXPECT_THAT(batch->inputs.mask.ToVector(), ElementsAre(1, 0, 1, 1));
  EXPECT_THAT(batch->inputs.lengths, ElementsAre(2, 1));
  EXPECT_EQ(batch->targets.shape(), Shape({2}));
  EXPECT_EQ(batch->targets.dtype(), DType::kI64);
  EXPECT_THAT(batch->targets.ToVector(), ElementsAre(1, 0));
}

TEST(MakeBatchTest, RejectsBadIndicesAndInconsistentData) {
  EXPECT_EQ(MakeBatch(ThreeExamples(), {0, 3}, 2).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(MakeBatch(ThreeExamples(), {-1}, 2).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(MakeBatch(ThreeExamples(), {}, 2).status().code(), absl::StatusCode::kInvalidArgument);
  SequenceDataset broken = ThreeExamples();
  broken.targets.pop_back();
  EXPECT_EQ(MakeBatch(broken, {0}, 2).status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<SequenceDataset> subset = Subset(ThreeExamples(), {2, 2, 0});
  ASSERT_TRUE(subset.ok());
  EXPECT_THAT(subset->targets, ElementsAre(1, 1, 1));
  EXPECT_THAT(subset->sequences, ElementsAre(ElementsAre(5, 6, 7), ElementsAre(5, 6, 7),
                                             ElementsAre(2, 3)));
}

TEST(ShuffleTest, SameSeedSameOrderAndAPermutation) {
  absl::StatusOr<std::vector<int64_t>> a = ShuffledIndices(100, 42);
  absl::StatusOr<std::vector<int64_t>> b = ShuffledIndices(100, 42);
  absl::StatusOr<std::vector<int64_t>> c = ShuffledIndices(100, 43);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
  std::vector<int64_t> sorted = *a, identity(100);
  std::sort(sorted.begin(), sorted.end());
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_EQ(sorted, identity);
  EXPECT_NE(*a, identity);
  EXPECT_TRUE(ShuffledIndices(0, 1)->empty());
  EXPECT_THAT(*ShuffledIndices(1, 1), ElementsAre(0));
  EXPECT_EQ(ShuffledIndices(-1, 1).status().code(), absl::StatusCode::kInvalidArgument);
}

// The order is fixed by mt19937_64 and our own bounded draw, so it is the same with
// any standard library; a change here changes every experiment's data order.
TEST(ShuffleTest, OrderIsPinned) {
  EXPECT_THAT(*ShuffledIndices(8, 7), ElementsAre(2, 3, 5, 6, 1, 0, 4, 7));
}

TEST(BatchIndicesTest, FixedSizeWithPartialLastBatch) {
  const std::vector<int64_t> order = {4, 2, 0, 1, 3, 6, 5};
  EXPECT_THAT(*BatchIndices(order, 3),
              ElementsAre(ElementsAre(4, 2, 0), ElementsAre(1, 3, 6), ElementsAre(5)));
  EXPECT_THAT(*BatchIndices(order, 7), ElementsAre(ElementsAreArray(order)));
  EXPECT_EQ(BatchIndices(order, 100)->size(), 1u);
  EXPECT_TRUE(BatchIndices({}, 4)->empty());
  EXPECT_EQ(BatchIndices(order, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BatchIndicesTest, ShuffledBatchesCoverEveryIndexOnce) {
  absl::StatusOr<std::vector<std::vector<int64_t>>> batches = ShuffledBatches(10, 4, 9);
  ASSERT_TRUE(batches.ok());
  ASSERT_EQ(batches->size(), 3u);
  EXPECT_EQ((*batches)[2].size(), 2u);
  std::vector<int64_t> all;
  for (const auto& batch : *batches) all.insert(all.end(), batch.begin(), batch.end());
  EXPECT_EQ(all, *ShuffledIndices(10, 9));
  EXPECT_EQ(*ShuffledBatches(10, 4, 9), *batches);
}

TEST(SplitTrainTestTest, SizesDeterminismAndDisjointness) {
  absl::StatusOr<TrainTestSplit> split = SplitTrainTest(1000, 0.2, 5);
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_EQ(split->train.size(), 800u);
  EXPECT_EQ(split->test.size(), 200u);
  EXPECT_TRUE(std::is_sorted(split->train.begin(), split->train.end()));
  EXPECT_TRUE(std::is_sorted(split->test.begin(), split->test.end()));
  std::set<int64_t> all(split->train.begin(), split->train.end());
  all.insert(split->test.begin(), split->test.end());
  EXPECT_EQ(all.size(), 1000u);
  EXPECT_EQ(*all.begin(), 0);
  EXPECT_EQ(*all.rbegin(), 999);

  absl::StatusOr<TrainTestSplit> again = SplitTrainTest(1000, 0.2, 5);
  EXPECT_EQ(again->test, split->test);
  EXPECT_NE(SplitTrainTest(1000, 0.2, 6)->test, split->test);
}

TEST(SplitTrainTestTest, RoundingAndEdgeFractions) {
  EXPECT_EQ(SplitTrainTest(7, 0.2, 1)->test.size(), 1u);   // 1.4 -> 1
  EXPECT_EQ(SplitTrainTest(9, 0.25, 1)->test.size(), 2u);  // 2.25 -> 2
  EXPECT_EQ(SplitTrainTest(10, 0.0, 1)->test.size(), 0u);
  EXPECT_EQ(SplitTrainTest(10, 1.0, 1)->train.size(), 0u);
  EXPECT_TRUE(SplitTrainTest(0, 0.5, 1)->test.empty());
  EXPECT_EQ(SplitTrainTest(10, -0.1, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SplitTrainTest(10, 1.5, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SplitTrainTest(10, std::nan(""), 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SplitTrainTest(-2, 0.5, 1).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gatefuse
