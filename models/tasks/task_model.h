// The three task models, and their conversion to and from a ModelFile.
//
//   sentiment: ids [T,B] -> Embedding -> Recurrent(cell) -> last h -> Dense -> logit [B,1]
//              loss BinaryCrossEntropyWithLogits, metric accuracy
//   adding:    x [T,B,2] -> Recurrent(cell) -> last h -> Dense -> prediction [B,1]
//              loss MeanSquaredError, metric mse
//   lm:        ids [T,B] -> Embedding -> Recurrent(cell) -> last h -> Dense -> logits [B,V]
//              loss SparseSoftmaxCrossEntropy, metric perplexity
//
//   GF_ASSIGN_OR_RETURN(TaskModel m, TaskModel::Create(config));
//   GF_ASSIGN_OR_RETURN(Var out, m.Forward(input, /*training=*/true, step_seed));
//   GF_ASSIGN_OR_RETURN(Var loss, m.Loss(out, targets));
//   ModelFile f;  GF_RETURN_IF_ERROR(m.ToModelFile(f));   // cell, layers, parameters, task
//   GF_ASSIGN_OR_RETURN(TaskModel back, TaskModel::FromModelFile(f));  // same outputs
//
// Parameter names: "embedding.table", "recurrent.l<k>.<fwd|bwd>.<param>", "dense.W",
// "dense.b". Each part is initialised from its own seed derived from config.seed.
#ifndef GATEFUSE_MODELS_TASKS_TASK_MODEL_H_
#define GATEFUSE_MODELS_TASKS_TASK_MODEL_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tape.h"
#include "models/nn/layers.h"
#include "models/io/model_file.h"
#include "models/nn/recurrent.h"

namespace gatefuse {

enum class Task { kSentiment, kAdding, kLm };

// "sentiment" | "adding" | "lm"; InvalidArgument naming the value otherwise.
absl::StatusOr<Task> ParseTask(const std::string& name);
std::string TaskName(Task task);
// What the task is scored by: "accuracy", "mse" or "perplexity".
std::string MetricName(Task task);
// Whether a larger metric is better (accuracy) or a smaller one (mse, perplexity).
bool HigherIsBetter(Task task);

struct ModelConfig {
  Task task = Task::kSentiment;
  CellSpec cell;
  int64_t vocab_size = 0;  // sentiment and lm: the vocabulary's size
  int64_t embed = 32;      // sentiment and lm: the embedding's dimension
  int64_t hidden = 32;
  int num_layers = 1;
  bool bidirectional = false;
  double dropout = 0;  // after the embedding and before the Dense layer
  uint64_t seed = 1;
};

// One batch as the model reads it.
struct ModelInput {
  Tensor x;        // sentiment, lm: ids i64 [T, B]; adding: f32 [T, B, 2]
  Tensor lengths;  // i64 [B] real steps of each pre-padded sequence; undefined = all T
};

class TaskModel {
 public:
  // InvalidArgument naming the bad size (vocab_size for text tasks, embed, hidden,
  // layers, dropout) or whatever Recurrent::Create refuses.
  static absl::StatusOr<TaskModel> Create(const ModelConfig& config);

  // [B, 1] for sentiment (the logit) and adding (the prediction); [B, V] logits for lm.
  VarOr Forward(const ModelInput& input, bool training, uint64_t dropout_seed) const;
  // targets: sentiment i64 or float [B] labels; adding float [B, 1]; lm i64 [B].
  VarOr Loss(const Var& output, const Tensor& targets) const;

  const ModelConfig& config() const { return config_; }
  const std::map<std::string, Var>& params() const { return params_; }
  std::vector<Var> ParamList() const;
  // The fused kernel the recurrent layer runs ("lstm", ..., "custom").
  const std::string& fusion() const { return recurrent_.fusion(); }
  const Recurrent& recurrent() const { return recurrent_; }
  // The recurrent layer's `path: ...` lines (models/nn/recurrent.h).
  std::vector<std::string> PathLines() const { return recurrent_.PathLines(); }

  // Sets the model's cell, layers, parameters and metadata["task"]; leaves the
  // vocabulary, other metadata and the checkpoint alone.
  absl::Status ToModelFile(ModelFile& file) const;
  // InvalidArgument naming what is missing or does not fit (the task, a layer, a
  // parameter's name or shape); the model's outputs equal the saved one's.
  static absl::StatusOr<TaskModel> FromModelFile(const ModelFile& file);

 private:
  TaskModel(ModelConfig config, std::optional<EmbeddingLayer> embedding, Recurrent recurrent,
            DenseLayer dense, DropoutLayer dropout);

  ModelConfig config_;
  std::optional<EmbeddingLayer> embedding_;  // absent for adding
  Recurrent recurrent_;
  DenseLayer dense_;
  DropoutLayer dropout_;
  std::map<std::string, Var> params_;
};

// A Tensor i64 [B] of the lengths, for ModelInput::lengths.
Tensor LengthsTensor(const std::vector<int64_t>& lengths);

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_TASKS_TASK_MODEL_H_
