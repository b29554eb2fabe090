#include "models/tasks/trainer.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/io/model_file.h"
#include "models/tasks/task_model.h"
#include "models/tasks/toy_sentiment_testing.h"

namespace gatefuse {
namespace {

using ::testing::HasSubstr;

ModelConfig Config(Task task, const std::string& cell, int64_t vocab) {
  ModelConfig c;
  c.task = task;
  c.cell = *CellSpecFromFlag(cell);
  c.vocab_size = vocab;
  c.embed = 4;
  c.hidden = 5;
  c.dropout = 0.1;
  c.seed = 11;
  return c;
}

std::vector<std::vector<double>> Values(const TaskModel& m) {
  std::vector<std::vector<double>> out;
  for (const auto& [name, v] : m.params()) out.push_back(v.value().ToVector());
  return out;
}

// Train N steps, checkpoint, continue to 2N; versus a fresh model and trainer loaded
// from the checkpoint (through the file bytes) continuing to 2N.
void ExpectResumeIsExact(const ModelConfig& config, const TaskData& data, TrainOptions options,
                         int64_t n) {
  TaskModel model = *TaskModel::Create(config);
  Trainer trainer(model, data, options);
  trainer.set_max_steps(n);
  ASSERT_TRUE(trainer.Run().ok());
  ASSERT_EQ(trainer.step(), n);
  ModelFile file;
  ASSERT_TRUE(model.ToModelFile(file).ok());
  *file.mutable_checkpoint() = trainer.MakeCheckpoint();
  const ModelFile saved = *ParseModelFileBytes(*SerializeModelFile(file));

  trainer.set_max_steps(2 * n);
  ASSERT_TRUE(trainer.Run().ok());

  TaskModel resumed = *TaskModel::FromModelFile(saved);
  Trainer second(resumed, data, options);
  ASSERT_TRUE(second.Restore(saved.checkpoint()).ok());
  second.set_max_steps(2 * n);
  ASSERT_TRUE(second.Run().ok());

  const std::vector<double>& all = trainer.step_losses();
  ASSERT_EQ(all.size(), 2 * n);
  EXPECT_EQ(std::vector<double>(all.begin() + n, all.end()), second.step_losses());
  EXPECT_EQ(Values(model), Values(resumed));
  ASSERT_EQ(trainer.history().size(), second.history().size());
  for (size_t e = 0; e < trainer.history().size(); ++e) {
    EXPECT_EQ(trainer.history()[e].train.loss, second.history()[e].train.loss);
    EXPECT_EQ(trainer.history()[e].test.metric, second.history()[e].test.metric);
  }
}

TEST(TrainerTest, ResumeAddingMidEpoch) {
  TaskData data = *TaskData::Adding(12, 40, 30, 5);
  TrainOptions options{.epochs = 3, .batch = 8, .seed = 5};
  options.lr.lr = 0.01;
  ExpectResumeIsExact(Config(Task::kAdding, "lstm", 0), data, options, 7);
}

TEST(TrainerTest, ResumeSentimentAcrossEpochs) {
  TaskData data = *TaskData::Text(Task::kSentiment, ToySentiment(60), 6);
  TrainOptions options{.epochs = 4, .batch = 10, .seed = 2};
  options.lr = {.kind = "warmup", .lr = 0.02, .warmup_steps = 3, .total_steps = 20};
  ExpectResumeIsExact(Config(Task::kSentiment, "gru", 6), data, options, 8);
}

TEST(TrainerTest, ResumeStackedBidirectionalLm) {
  TaskData data = *TaskData::Text(Task::kLm, ToySentiment(40), 5);
  ModelConfig config = Config(Task::kLm, "peephole", 6);
  config.num_layers = 2;
  config.bidirectional = true;
  TrainOptions options{.epochs = 2, .batch = 7, .seed = 4};
  options.lr = {.kind = "step", .lr = 0.02, .step_size = 3};
  ExpectResumeIsExact(config, data, options, 4);
}

TEST(TrainerTest, LearnsToySentimentAndReportsEpochs) {
  TaskData data = *TaskData::Text(Task::kSentiment, ToySentiment(200), 6);
  TaskModel model = *TaskModel::Create(Config(Task::kSentiment, "lstm", 6));
  TrainOptions options{.epochs = 8, .batch = 16, .seed = 1};
  options.lr.lr = 0.05;
  Trainer trainer(model, data, options);
  std::vector<int64_t> epochs;
  int64_t steps_seen = 0;
  TrainCallbacks callbacks;
  callbacks.step = [&](const StepProgress& p) { steps_seen = p.step; };
  callbacks.epoch = [&](const EpochMetrics& m) {
    epochs.push_back(m.epoch);
    return absl::OkStatus();
  };
  ASSERT_TRUE(trainer.Run(callbacks).ok());
  EXPECT_EQ(epochs, std::vector<int64_t>({1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(steps_seen, 8 * trainer.batches_per_epoch());
  const EpochMetrics& last = trainer.history().back();
  EXPECT_LT(last.train.loss, trainer.history().front().train.loss);
  EXPECT_GT(last.test.metric, *data.Baseline() + 0.1);
  EXPECT_EQ(last.test.examples, data.test_size());
}

TEST(TrainerTest, CheckpointCallbackEveryNStepsAndAtTheEnd) {
  TaskData data = *TaskData::Adding(6, 20, 10, 1);
  TaskModel model = *TaskModel::Create(Config(Task::kAdding, "rnn_tanh", 0));
  Trainer trainer(model, data, {.epochs = 2, .batch = 4, .checkpoint_every = 3});
  std::vector<int64_t> saved;
  TrainCallbacks callbacks;
  callbacks.checkpoint = [&](const Checkpoint& c) {
    saved.push_back(c.step());
    return absl::OkStatus();
  };
  ASSERT_TRUE(trainer.Run(callbacks).ok());
  EXPECT_EQ(saved, std::vector<int64_t>({3, 6, 9, 10}));
}

TEST(TaskDataTest, Baselines) {
  TaskData adding = *TaskData::Adding(50, 10, 2000, 3);
  EXPECT_NEAR(*adding.Baseline(), 1.0 / 6.0, 0.02);
  TextTask toy = ToySentiment(40);
  TaskData sentiment = *TaskData::Text(Task::kSentiment, toy, 6);
  int64_t test_ones = 0;
  for (int64_t t : toy.test.targets) test_ones += t;
  // Most training labels are 0, so the majority baseline predicts 0.
  EXPECT_DOUBLE_EQ(*sentiment.Baseline(), 1.0 - static_cast<double>(test_ones) / toy.test.size());
}

TEST(TaskDataTest, BatchesAreDeterministicAndCoverTheData) {
  TaskData data = *TaskData::Text(Task::kSentiment, ToySentiment(50), 4);
  Batch a = *data.TrainBatch(1, 0, 8, 3), b = *data.TrainBatch(1, 0, 8, 3);
  EXPECT_EQ(a.input.x.ToVector(), b.input.x.ToVector());
  EXPECT_EQ(a.input.x.shape(), Shape({4, 8}));
  Batch other = *data.TrainBatch(2, 0, 8, 3);
  EXPECT_NE(a.targets.ToVector(), other.targets.ToVector());
  int64_t n = 0;
  const std::vector<Batch> test = *data.TestBatches(5);
  for (const Batch& t : test) n += t.size();
  EXPECT_EQ(n, data.test_size());
}

TEST(TaskDataTest, Errors) {
  EXPECT_THAT(TaskData::Adding(1, 10, 10, 1).status().message(), HasSubstr("--T 1"));
  EXPECT_THAT(TaskData::Text(Task::kSentiment, TextTask(), 4).status().message(),
              HasSubstr("0 training"));
  TaskData data = *TaskData::Adding(6, 20, 10, 1);
  TaskModel model = *TaskModel::Create(Config(Task::kAdding, "lstm", 0));
  Trainer trainer(model, data, {.epochs = 1});
  Checkpoint bad = trainer.MakeCheckpoint();
  bad.set_optimizer("sgd");
  EXPECT_THAT(trainer.Restore(bad).message(), HasSubstr("optimizer 'sgd'"));
  Checkpoint other_seed = trainer.MakeCheckpoint();
  Trainer seeded(model, data, {.epochs = 1, .seed = 9});
  EXPECT_THAT(seeded.Restore(other_seed).message(), HasSubstr("--seed"));
}

}  // namespace
}  // namespace gatefuse
