// Training a TaskModel: the data of a task, the loop (Adam, gradient clipping, a
// learning-rate schedule), per-epoch metrics, evaluation and checkpoint/resume.
//
//   GF_ASSIGN_OR_RETURN(TaskData data, TaskData::Text(Task::kSentiment, text_task, 32));
//   Trainer trainer(model, data, {.epochs = 10, .batch = 32, .seed = 1});
//   GF_RETURN_IF_ERROR(trainer.Run(callbacks));   // callbacks: progress, epoch rows, saves
//   GF_ASSIGN_OR_RETURN(Evaluation test, trainer.Evaluate(data.test()));
//
// Everything random is a pure function of (seed, step): the shuffle of epoch e is
// ShuffledBatches(n, batch, seed + e), an adding batch is generated from
// (seed, epoch, index), the dropout masks from (seed, step). So a checkpoint needs
// only the parameters, the optimizer's state, the step and the running sums of the
// epoch in progress to continue exactly as an uninterrupted run would.
//
// Data-parallel (TrainOptions::collectives, models/tasks/collectives.h): every rank
// runs the same Trainer; the parameters are rank 0's at the start; each rank takes
// its contiguous share of every batch (rank r of N: examples [B r / N, B (r+1) / N),
// so shards differ by at most one example and a rank may have none when B < N); the
// gradients, each weighted by its shard's share of the batch, are summed over the
// ranks in one flat buffer (so they are the whole batch's mean-loss gradient, as one
// process computes it); then every rank clips and steps alike. The step's metric
// sums are summed too, so every rank holds the same running sums and checkpoints;
// evaluation splits the test batches between the ranks and sums their metrics.
// Dropout masks are drawn per rank (from seed, step and rank).
#ifndef GATEFUSE_MODELS_TASKS_TRAINER_H_
#define GATEFUSE_MODELS_TASKS_TRAINER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "models/data/text_tasks.h"
#include "models/nn/layers.h"
#include "models/io/model_file.h"
#include "models/nn/optimizer.h"
#include "models/tasks/collectives.h"
#include "models/tasks/task_model.h"

namespace gatefuse {

struct Batch {
  ModelInput input;
  Tensor targets;  // as TaskModel::Loss takes them
  int64_t size() const { return targets.dim(0); }
};

// The examples of one task. Text tasks hold their encoded examples; the adding task
// generates them: an epoch is train_size fresh sequences, the test set is fixed.
class TaskData {
 public:
  static absl::StatusOr<TaskData> Text(Task task, TextTask text, int64_t max_len);
  static absl::StatusOr<TaskData> Adding(int64_t T, int64_t train_size, int64_t test_size,
                                         uint64_t seed);

  Task task() const { return task_; }
  int64_t train_size() const;
  int64_t test_size() const;
  int64_t max_len() const { return max_len_; }
  const TextTask& text() const { return text_; }
  // Batch `index` of epoch `epoch` (shuffled with seed + epoch for text).
  absl::StatusOr<Batch> TrainBatch(int64_t epoch, int64_t index, int64_t batch_size,
                                   uint64_t seed) const;
  // The test set, in order, cut into batches.
  absl::StatusOr<std::vector<Batch>> TestBatches(int64_t batch_size) const;
  // The trivial model's test score: majority-class accuracy (sentiment), the mse of
  // always predicting 1.0 (adding), the unigram perplexity (lm).
  absl::StatusOr<double> Baseline() const;

 private:
  Task task_ = Task::kSentiment;
  TextTask text_;
  int64_t max_len_ = 0;  // T
  int64_t adding_train_size_ = 0;
  std::shared_ptr<const Batch> adding_test_;
  // The shuffled batches of the last (epoch, batch size, seed) asked for (text tasks).
  mutable std::tuple<int64_t, int64_t, uint64_t> cached_key_{-1, 0, 0};
  mutable std::vector<std::vector<int64_t>> cached_batches_;
};

// Loss and metric over some examples.
struct Evaluation {
  double loss = 0;
  double metric = 0;  // accuracy, mse or perplexity
  int64_t examples = 0;
};

// Sums over batches, from which an Evaluation follows.
struct MetricSums {
  double loss = 0;     // sum over examples of the per-example loss
  double correct = 0;  // sentiment: examples classified right
  int64_t examples = 0;
  Evaluation Finish(Task task) const;
};

// Adds one batch (the model's output and the mean loss) to `sums`.
void Accumulate(Task task, const Var& output, const Batch& batch, double loss, MetricSums& sums);

// The model's loss and metric over `batches`, without recording gradients.
absl::StatusOr<Evaluation> EvaluateModel(const TaskModel& model, const std::vector<Batch>& batches);

// EvaluateModel on the whole test set of `data`.
absl::StatusOr<Evaluation> EvaluateTest(const TaskModel& model, const TaskData& data,
                                        int64_t batch_size = 256);

struct EpochMetrics {
  int64_t epoch = 0;  // 1-based
  int64_t step = 0;   // optimizer steps so far
  Evaluation train, test;
  double examples_per_s = 0;
  double seconds = 0;  // training time of this epoch
};

struct TrainOptions {
  int64_t epochs = 10;
  int64_t batch = 32;
  uint64_t seed = 1;
  LrSchedule lr;
  double clip_norm = 1.0;  // 0: no clipping
  int64_t checkpoint_every = 0;  // steps; 0 = never (but see Callbacks::checkpoint)
  int64_t max_steps = 0;         // stop once this many steps are done; 0 = no limit
  int64_t eval_batch = 256;
  // A data-parallel run; null: one process. Not owned.
  Collectives* collectives = nullptr;
  // Data-parallel runs: after every step compare a hash of every rank's parameters
  // (FailedPrecondition naming the step and the ranks when they differ).
  bool verify_replicas = false;
};

// Where a data-parallel run's time goes, on this rank.
struct ParallelStats {
  int64_t steps = 0;
  double step_seconds = 0;    // whole steps (batch, forward, backward, reduce, update)
  double reduce_seconds = 0;  // in the gradient and metric sums
  int64_t bytes_per_step = 0;  // the flat gradient buffer each rank sums
};

struct StepProgress {
  int64_t epoch = 0;  // 1-based
  int64_t index = 0;  // batches done in this epoch
  int64_t batches_per_epoch = 0;
  int64_t step = 0;
  double loss = 0;  // running mean over the epoch
  double examples_per_s = 0;
  double epoch_seconds = 0;
};

struct TrainCallbacks {
  std::function<void(const StepProgress&)> step;
  std::function<absl::Status(const EpochMetrics&)> epoch;
  // Called every checkpoint_every steps and at the end of training when set.
  std::function<absl::Status(const Checkpoint&)> checkpoint;
};

class Trainer {
 public:
  Trainer(const TaskModel& model, const TaskData& data, TrainOptions options);

  absl::Status Run(const TrainCallbacks& callbacks = {});
  // Over the ranks' shares of `batches` when data-parallel (a collective call).
  absl::StatusOr<Evaluation> Evaluate(const std::vector<Batch>& batches) const;
  // Evaluate on the whole test set, in batches of options().eval_batch.
  absl::StatusOr<Evaluation> EvaluateTestSet() const;

  // The state to continue from (not the parameters: TaskModel::ToModelFile has them).
  Checkpoint MakeCheckpoint() const;
  // InvalidArgument naming what does not fit this model or run.
  absl::Status Restore(const Checkpoint& checkpoint);

  int64_t step() const { return step_; }
  int64_t batches_per_epoch() const;
  const std::vector<double>& step_losses() const { return step_losses_; }
  const std::vector<EpochMetrics>& history() const { return history_; }
  const TrainOptions& options() const { return options_; }
  const ParallelStats& parallel_stats() const { return parallel_stats_; }
  void set_epochs(int64_t epochs) { options_.epochs = epochs; }
  void set_max_steps(int64_t steps) { options_.max_steps = steps; }

 private:
  absl::StatusOr<double> TrainStep(const Batch& batch);
  absl::StatusOr<double> ParallelStep(const Batch& batch);
  // Rank 0's parameters on every rank.
  absl::Status BroadcastParameters();
  // The gradients (each `weight`ed) summed over the ranks, into every rank's grad().
  absl::Status SumGradients(double weight);
  absl::Status VerifyReplicas() const;
  absl::Status FinishEpoch(int64_t epoch, const TrainCallbacks& callbacks);
  absl::Status UpdateParameters();
  uint64_t DropoutSeed() const;

  const TaskModel& model_;
  const TaskData& data_;
  TrainOptions options_;
  Adam adam_;
  int64_t step_ = 0;
  MetricSums epoch_sums_;     // the epoch in progress
  double epoch_seconds_ = 0;  // the epoch in progress
  std::vector<double> step_losses_;
  std::vector<EpochMetrics> history_;
  bool parameters_broadcast_ = false;
  ParallelStats parallel_stats_;
};

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_TASKS_TRAINER_H_
