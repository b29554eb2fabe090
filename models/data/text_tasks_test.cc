#include "models/data/text_tasks.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/data/next_word.h"

namespace gatefuse {
namespace {

using ::testing::ElementsAre;
using ::testing::Le;

SentimentData TenReviews() {
  SentimentData data;
  for (int i = 0; i < 10; ++i) {
    data.sentences.push_back(i % 2 ? "Great phone!" : "Bad battery, bad phone.");
    data.labels.push_back(i % 2);
  }
  data.sentences[9] = "Zebra phone!";  // the only sentence with "zebra"
  return data;
}

bool Contains(const std::vector<int64_t>& v, int64_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

TEST(MakeSentimentTaskTest, SplitsThenBuildsTheVocabularyFromTheTrainingPart) {
  TextTaskOptions options;
  options.test_fraction = 0.2;
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    options.seed = seed;
    absl::StatusOr<TextTask> task = MakeSentimentTask(TenReviews(), options);
    ASSERT_TRUE(task.ok()) << task.status();
    EXPECT_EQ(task->num_classes, 2);
    EXPECT_EQ(task->train.size(), 8);
    EXPECT_EQ(task->test.size(), 2);
    // Labels travel with their sentences: positives are "great|zebra phone !".
    for (const SequenceDataset* part : {&task->train, &task->test}) {
      for (int64_t i = 0; i < part->size(); ++i) {
        EXPECT_EQ(part->targets[i], part->sequences[i].size() == 3 ? 1 : 0);
      }
    }
    const TrainTestSplit split = *SplitTrainTest(10, 0.2, seed);
    const bool zebra_trained = Contains(split.train, 9);
    EXPECT_EQ(task->vocab.Id("zebra") != Vocabulary::kUnkId, zebra_trained) << "seed " << seed;
    if (!zebra_trained) {
      // The test copy of "Zebra phone!" reads <unk> phone !.
      const int64_t i = std::find(split.test.begin(), split.test.end(), 9) - split.test.begin();
      EXPECT_EQ(task->test.sequences[i][0], Vocabulary::kUnkId);
    }
  }
}

TEST(MakeSentimentTaskTest, DeterministicAndBatchable) {
  TextTaskOptions options;
  options.max_len = 2;
  absl::StatusOr<TextTask> a = MakeSentimentTask(TenReviews(), options);
  absl::StatusOr<TextTask> b = MakeSentimentTask(TenReviews(), options);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->vocab.tokens(), b->vocab.tokens());
  EXPECT_EQ(a->train.sequences, b->train.sequences);
  EXPECT_EQ(a->test.targets, b->test.targets);
  absl::StatusOr<SequenceBatch> batch = MakeBatch(a->train, {0, 1, 2}, options.max_len);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->inputs.ids.shape(), Shape({2, 3}));
}

TEST(MakeSentimentTaskTest, RejectsInconsistentData) {
  SentimentData data = TenReviews();
  data.labels.pop_back();
  EXPECT_EQ(MakeSentimentTask(data, {}).status().code(), absl::StatusCode::kInvalidArgument);
  data = TenReviews();
  data.labels[4] = 2;
  EXPECT_EQ(MakeSentimentTask(data, {}).status().code(), absl::StatusCode::kInvalidArgument);
  TextTaskOptions options;
  options.test_fraction = 2;
  EXPECT_EQ(MakeSentimentTask(TenReviews(), options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = {};
  options.vocabulary.max_size = 1;
  EXPECT_EQ(MakeSentimentTask(TenReviews(), options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MakeNextWordTaskTest, SplitsBySentenceAndBuildsPrefixExamples) {
  const std::vector<std::vector<std::string>> sentences = {
      {"call", "me", "ishmael", "."},
      {"some", "years", "ago", "."},
      {"it", "is", "a", "way", "i", "have", "."},
      {"call", "me", "."},
      {"whale", "!"}};
  TextTaskOptions options;
  options.test_fraction = 0.4;
  options.seed = 11;
  options.max_len = 3;
  absl::StatusOr<TextTask> task = MakeNextWordTask(sentences, options);
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->num_classes, task->vocab.size());
  const TrainTestSplit split = *SplitTrainTest(5, 0.4, 11);
  ASSERT_EQ(split.test.size(), 2u);
  int64_t train_examples = 0, test_examples = 0;
  for (int64_t i : split.train) train_examples += sentences[i].size() - 1;
  for (int64_t i : split.test) test_examples += sentences[i].size() - 1;
  EXPECT_EQ(task->train.size(), train_examples);
  EXPECT_EQ(task->test.size(), test_examples);
  for (const SequenceDataset* part : {&task->train, &task->test}) {
    for (const std::vector<int64_t>& context : part->sequences) {
      EXPECT_THAT(context.size(), Le(3u));
    }
  }
  // The first training sentence gives its prefixes in order.
  const std::vector<std::string>& first = sentences[split.train[0]];
  EXPECT_EQ(task->train.sequences[0], task->vocab.Encode({first[0]}));
  EXPECT_EQ(task->train.targets[0], task->vocab.Id(first[1]));

  absl::StatusOr<double> baseline =
      UnigramPerplexity(task->train.targets, task->test.targets, task->vocab.size());
  ASSERT_TRUE(baseline.ok()) << baseline.status();
  EXPECT_GT(*baseline, 1.0);
  EXPECT_LE(*baseline, task->train.size() + task->vocab.size());  // p(w) >= 1 / (N + V)
}

}  // namespace
}  // namespace gatefuse
