#include "models/data/next_word.h"

#include <cmath>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatefuse {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(BuildNextWordExamplesTest, EveryPrefixWithItsNextWord) {
  // "the cat sat down" = 2 3 4 5, "a b c d e" = 6 7 8 9 10, "hi" = 11; max_len 3.
  absl::StatusOr<SequenceDataset> data =
      BuildNextWordExamples({{2, 3, 4, 5}, {6, 7, 8, 9, 10}, {11}}, 3);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->sequences,
              ElementsAre(ElementsAre(2), ElementsAre(2, 3), ElementsAre(2, 3, 4),  //
                          ElementsAre(6), ElementsAre(6, 7), ElementsAre(6, 7, 8),
                          ElementsAre(7, 8, 9)));
  EXPECT_THAT(data->targets, ElementsAre(3, 4, 5, 7, 8, 9, 10));
}

TEST(BuildNextWordExamplesTest, BatchesArePrePadded) {
  absl::StatusOr<SequenceDataset> data = BuildNextWordExamples({{2, 3, 4}}, 2);
  ASSERT_TRUE(data.ok());
  absl::StatusOr<SequenceBatch> batch = MakeBatch(*data, {0, 1}, 2);
  ASSERT_TRUE(batch.ok()) << batch.status();
  // [2] -> 3 and [2 3] -> 4, time-major [T=2, B=2].
  EXPECT_THAT(batch->inputs.ids.ToVector(), ElementsAre(0, 2, 2, 3));
  EXPECT_THAT(batch->inputs.mask.ToVector(), ElementsAre(0, 1, 1, 1));
  EXPECT_THAT(batch->targets.ToVector(), ElementsAre(3, 4));
}

TEST(BuildNextWordExamplesTest, EdgeCasesAndErrors) {
  EXPECT_THAT(BuildNextWordExamples({}, 4)->targets, IsEmpty());
  EXPECT_THAT(BuildNextWordExamples({{}, {5}}, 4)->targets, IsEmpty());
  EXPECT_THAT(BuildNextWordExamples({{2, 3, 4}}, 1)->sequences,
              ElementsAre(ElementsAre(2), ElementsAre(3)));
  EXPECT_EQ(BuildNextWordExamples({{2, 3}}, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status pad = BuildNextWordExamples({{2, 3}, {4, 0}}, 3).status();
  EXPECT_EQ(pad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(pad.message()), HasSubstr("sentence 1 has id 0 at position 1"));
  EXPECT_FALSE(BuildNextWordExamples({{-2, 3}}, 3).ok());
}

TEST(UnigramPerplexityTest, HandComputedAddOneSmoothing) {
  // V = 4, training targets 2 2 3: p(2) = 3/7, p(3) = 2/7, p(0) = p(1) = 1/7.
  // Held out 2 3: perplexity = (3/7 * 2/7)^(-1/2) = 7 / sqrt(6).
  absl::StatusOr<double> ppl = UnigramPerplexity({2, 2, 3}, {2, 3}, 4);
  ASSERT_TRUE(ppl.ok()) << ppl.status();
  EXPECT_NEAR(*ppl, 7.0 / std::sqrt(6.0), 1e-12);
  // An unseen held-out word: (1/7)^-1 = 7.
  EXPECT_NEAR(*UnigramPerplexity({2, 2, 3}, {1}, 4), 7.0, 1e-12);
  // No training data: uniform over V.
  EXPECT_NEAR(*UnigramPerplexity({}, {0, 3, 3}, 5), 5.0, 1e-12);
}

TEST(UnigramPerplexityTest, RejectsBadInput) {
  EXPECT_EQ(UnigramPerplexity({1}, {}, 4).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(UnigramPerplexity({1}, {1}, 0).status().code(), absl::StatusCode::kInvalidArgument);
  absl::Status out = UnigramPerplexity({1, 4}, {1}, 4).status();
  EXPECT_EQ(out.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(out.message()), HasSubstr("training target 1 is 4"));
  EXPECT_FALSE(UnigramPerplexity({1}, {-1}, 4).ok());
}

}  // namespace
}  // namespace gatefuse
