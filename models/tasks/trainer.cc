#include "models/tasks/trainer.h"

#include <chrono>
#include <cmath>
#include <numeric>

#include "absl/base/casts.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/hash.h"
#include "core/status.h"
#include "models/tasks/adding.h"
#include "models/data/next_word.h"
#include "ops/ops.h"

namespace gatefuse {
namespace {

// Seeds of generated data and dropout masks: distinct streams from one user seed.
uint64_t Mix(uint64_t a, uint64_t b) { return a * 0x9E3779B97F4A7C15ULL + b * 1000003 + 17; }

absl::StatusOr<Batch> FromSequenceBatch(absl::StatusOr<SequenceBatch> sb) {
  if (!sb.ok()) return sb.status();
  return Batch{{sb->inputs.ids, LengthsTensor(sb->inputs.lengths)}, sb->targets};
}

// Examples [start, end) of a batch (the inputs' batch axis is 1, the targets' 0).
absl::StatusOr<Batch> SliceBatch(const Batch& all, int64_t start, int64_t end) {
  GF_ASSIGN_OR_RETURN(Tensor x, all.input.x.Slice(1, start, end));
  GF_ASSIGN_OR_RETURN(Tensor y, all.targets.Slice(0, start, end));
  Tensor lengths;
  if (all.input.lengths.defined()) {
    GF_ASSIGN_OR_RETURN(lengths, all.input.lengths.Slice(0, start, end));
    lengths = lengths.Contiguous();
  }
  return Batch{{x.Contiguous(), lengths}, y.Contiguous()};
}

// The parameters' bytes hashed, in name order.
uint64_t ParameterHash(const std::map<std::string, Var>& params) {
  uint64_t h = kFnv1aOffset;
  for (const auto& [name, p] : params) {
    const Tensor t = p.value().Contiguous();
    h = Fnv1a(t.raw_data(), t.num_elements() * SizeOf(t.dtype()), h);
  }
  return h;
}

// A step's or an evaluation's metric sums, summed over the ranks.
absl::Status SumOverRanks(Collectives& c, MetricSums& sums) {
  double s[3] = {sums.loss, sums.correct, static_cast<double>(sums.examples)};
  GF_RETURN_IF_ERROR(c.SumDoubles(absl::MakeSpan(s)));
  sums = {s[0], s[1], static_cast<int64_t>(s[2])};
  return absl::OkStatus();
}

// The training run's state beyond the optimizer, as "key=value" lines; doubles are
// written as their IEEE-754 bits so that a resumed run continues bit for bit.
std::string EncodeRunState(const std::map<std::string, double>& values) {
  std::string out;
  for (const auto& [key, v] : values) {
    absl::StrAppend(&out, key, "=", absl::Hex(absl::bit_cast<uint64_t>(v)), "\n");
  }
  return out;
}

absl::StatusOr<std::map<std::string, double>> DecodeRunState(absl::string_view text) {
  std::map<std::string, double> values;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
    uint64_t bits;
    if (!absl::SimpleHexAtoi(kv.second, &bits)) {
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint: bad run-state line '", line, "'"));
    }
    values[kv.first] = absl::bit_cast<double>(bits);
  }
  return values;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace

// ---- TaskData ----

absl::StatusOr<TaskData> TaskData::Text(Task task, TextTask text, int64_t max_len) {
  if (task == Task::kAdding) return absl::InvalidArgumentError("the adding task has no text");
  if (max_len < 1)
    return absl::InvalidArgumentError(absl::StrCat("--T ", max_len, " must be >= 1"));
  if (text.train.size() == 0 || text.test.size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(TaskName(task), ": ", text.train.size(),
                                                   " training and ", text.test.size(),
                                                   " test examples; both must be > 0"));
  }
  TaskData data;
  data.task_ = task;
  data.text_ = std::move(text);
  data.max_len_ = max_len;
  return data;
}

absl::StatusOr<TaskData> TaskData::Adding(int64_t T, int64_t train_size, int64_t test_size,
                                          uint64_t seed) {
  if (T < 2 || train_size < 1 || test_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("adding: --T ", T, " must be >= 2, sizes ",
                                                   train_size, " and ", test_size, " >= 1"));
  }
  TaskData data;
  data.task_ = Task::kAdding;
  data.max_len_ = T;
  data.adding_train_size_ = train_size;
  const AddingBatch test = MakeAddingBatch(T, test_size, Mix(seed, 999), DType::kF32);
  data.adding_test_ = std::make_shared<const Batch>(Batch{{test.x, Tensor()}, test.target});
  return data;
}

int64_t TaskData::train_size() const {
  return task_ == Task::kAdding ? adding_train_size_ : text_.train.size();
}

int64_t TaskData::test_size() const {
  return task_ == Task::kAdding ? adding_test_->size() : text_.test.size();
}

absl::StatusOr<Batch> TaskData::TrainBatch(int64_t epoch, int64_t index, int64_t batch_size,
                                           uint64_t seed) const {
  if (task_ == Task::kAdding) {
    const int64_t size = std::min(batch_size, adding_train_size_ - index * batch_size);
    const AddingBatch b =
        MakeAddingBatch(max_len_, size, Mix(seed, epoch * 1000003 + index), DType::kF32);
    return Batch{{b.x, Tensor()}, b.target};
  }
  const std::tuple<int64_t, int64_t, uint64_t> key{epoch, batch_size, seed};
  if (cached_key_ != key) {
    GF_ASSIGN_OR_RETURN(cached_batches_,
                        ShuffledBatches(text_.train.size(), batch_size, seed + epoch));
    cached_key_ = key;
  }
  if (index < 0 || index >= static_cast<int64_t>(cached_batches_.size())) {
    return absl::OutOfRangeError(absl::StrCat("batch ", index, " of epoch ", epoch));
  }
  return FromSequenceBatch(MakeBatch(text_.train, cached_batches_[index], max_len_));
}

absl::StatusOr<std::vector<Batch>> TaskData::TestBatches(int64_t batch_size) const {
  std::vector<Batch> batches;
  if (task_ == Task::kAdding) {
    for (int64_t s = 0; s < adding_test_->size(); s += batch_size) {
      GF_ASSIGN_OR_RETURN(
          Batch b, SliceBatch(*adding_test_, s, std::min(s + batch_size, adding_test_->size())));
      batches.push_back(std::move(b));
    }
    return batches;
  }
  std::vector<int64_t> order(text_.test.size());
  std::iota(order.begin(), order.end(), 0);
  GF_ASSIGN_OR_RETURN(auto cut, BatchIndices(order, batch_size));
  for (const std::vector<int64_t>& idx : cut) {
    GF_ASSIGN_OR_RETURN(Batch b, FromSequenceBatch(MakeBatch(text_.test, idx, max_len_)));
    batches.push_back(std::move(b));
  }
  return batches;
}

absl::StatusOr<double> TaskData::Baseline() const {
  switch (task_) {
    case Task::kSentiment: {
      int64_t ones = 0, test_ones = 0;
      for (int64_t t : text_.train.targets) ones += t == 1;
      for (int64_t t : text_.test.targets) test_ones += t == 1;
      const bool majority = 2 * ones >= text_.train.size();
      const int64_t hits = majority ? test_ones : text_.test.size() - test_ones;
      return static_cast<double>(hits) / text_.test.size();
    }
    case Task::kAdding: {
      double sum = 0;
      for (double t : adding_test_->targets.ToVector()) sum += (t - 1.0) * (t - 1.0);
      return sum / adding_test_->size();
    }
    case Task::kLm:
      return UnigramPerplexity(text_.train.targets, text_.test.targets, text_.vocab.size());
  }
  return absl::InternalError("unknown task");
}

// ---- metrics ----

Evaluation MetricSums::Finish(Task task) const {
  Evaluation e;
  e.examples = examples;
  if (examples == 0) return e;
  e.loss = loss / examples;
  switch (task) {
    case Task::kSentiment:
      e.metric = correct / examples;
      break;
    case Task::kAdding:
      e.metric = e.loss;
      break;
    case Task::kLm:
      e.metric = std::exp(e.loss);
      break;
  }
  return e;
}

void Accumulate(Task task, const Var& output, const Batch& batch, double loss, MetricSums& sums) {
  const int64_t n = batch.size();
  sums.loss += loss * n;
  sums.examples += n;
  if (task != Task::kSentiment) return;
  const Tensor& logits = output.value();
  for (int64_t i = 0; i < n; ++i) {
    sums.correct += (logits.At(i) > 0) == (batch.targets.At(i) > 0.5);
  }
}

// ---- Trainer ----

Trainer::Trainer(const TaskModel& model, const TaskData& data, TrainOptions options)
    : model_(model),
      data_(data),
      options_(std::move(options)),
      adam_(model.ParamList(), {.lr = options_.lr.lr}) {}

int64_t Trainer::batches_per_epoch() const {
  return (data_.train_size() + options_.batch - 1) / options_.batch;
}

uint64_t Trainer::DropoutSeed() const {
  const uint64_t seed = Mix(options_.seed, step_);
  const Collectives* c = options_.collectives;
  return c == nullptr || c->rank() == 0 ? seed : Mix(seed, c->rank());
}

absl::Status Trainer::UpdateParameters() {
  if (options_.clip_norm > 0) {
    GF_RETURN_IF_ERROR(ClipGradNorm(adam_.params(), options_.clip_norm).status());
  }
  return adam_.Step();
}

absl::StatusOr<double> Trainer::TrainStep(const Batch& batch) {
  adam_.set_lr(options_.lr.At(step_));
  adam_.ZeroGrad();
  if (options_.collectives != nullptr) return ParallelStep(batch);
  GF_ASSIGN_OR_RETURN(Var out, model_.Forward(batch.input, true, DropoutSeed()));
  GF_ASSIGN_OR_RETURN(Var loss, model_.Loss(out, batch.targets));
  GF_RETURN_IF_ERROR(Backward(loss));
  GF_RETURN_IF_ERROR(UpdateParameters());
  const double value = loss.value().At(0);
  if (!std::isfinite(value)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "training diverged: loss ", value, " at step ", step_ + 1, "; try a smaller --lr"));
  }
  Accumulate(data_.task(), out, batch, value, epoch_sums_);
  return value;
}

absl::StatusOr<double> Trainer::ParallelStep(const Batch& batch) {
  Collectives& c = *options_.collectives;
  const auto start = std::chrono::steady_clock::now();
  const int64_t B = batch.size(), N = c.size(), r = c.rank();
  const int64_t lo = B * r / N, hi = B * (r + 1) / N;
  MetricSums sums;  // this step's: of the shard, then of the batch
  if (hi > lo) {
    GF_ASSIGN_OR_RETURN(Batch shard, SliceBatch(batch, lo, hi));
    GF_ASSIGN_OR_RETURN(Var out, model_.Forward(shard.input, true, DropoutSeed()));
    GF_ASSIGN_OR_RETURN(Var loss, model_.Loss(out, shard.targets));
    GF_RETURN_IF_ERROR(Backward(loss));
    Accumulate(data_.task(), out, shard, loss.value().At(0), sums);
  }
  const auto reduce_start = std::chrono::steady_clock::now();
  GF_RETURN_IF_ERROR(SumGradients(static_cast<double>(hi - lo) / B));
  GF_RETURN_IF_ERROR(SumOverRanks(c, sums));
  parallel_stats_.reduce_seconds += Seconds(reduce_start);
  GF_RETURN_IF_ERROR(UpdateParameters());
  const double value = sums.loss / std::max<int64_t>(sums.examples, 1);
  if (!std::isfinite(value)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "training diverged: loss ", value, " at step ", step_ + 1, "; try a smaller --lr"));
  }
  epoch_sums_.loss += sums.loss;
  epoch_sums_.correct += sums.correct;
  epoch_sums_.examples += sums.examples;
  if (options_.verify_replicas) GF_RETURN_IF_ERROR(VerifyReplicas());
  ++parallel_stats_.steps;
  parallel_stats_.step_seconds += Seconds(start);
  return value;
}

absl::Status Trainer::SumGradients(double weight) {
  const std::vector<Var>& params = adam_.params();
  int64_t total = 0;
  for (const Var& p : params) {
    if (p.dtype() != DType::kF32) {
      return absl::InvalidArgumentError(absl::StrCat("data-parallel training sums f32 gradients; ",
                                                     p.name(), " is ", DTypeName(p.dtype())));
    }
    total += p.shape().num_elements();
  }
  // The gradients, then one flag per parameter: how many ranks have its gradient (a
  // parameter no rank reached keeps none, as in one process).
  std::vector<float> flat(total + params.size(), 0.0f);
  int64_t offset = 0;
  for (size_t k = 0; k < params.size(); ++k) {
    const Tensor& g = params[k].grad();
    const int64_t n = params[k].shape().num_elements();
    if (g.defined()) {
      const Tensor gc = g.Contiguous();
      const float* src = gc.data<float>();
      for (int64_t i = 0; i < n; ++i) flat[offset + i] = static_cast<float>(src[i] * weight);
      flat[total + k] = 1;
    }
    offset += n;
  }
  parallel_stats_.bytes_per_step = static_cast<int64_t>(flat.size() * sizeof(float));
  GF_RETURN_IF_ERROR(options_.collectives->SumFloats(absl::MakeSpan(flat)));
  offset = 0;
  for (size_t k = 0; k < params.size(); ++k) {
    Var p = params[k];
    const int64_t n = p.shape().num_elements();
    if (flat[total + k] > 0) {
      Tensor g = Tensor::Empty(p.shape(), DType::kF32);
      std::copy(flat.begin() + offset, flat.begin() + offset + n, g.data<float>());
      p.SetGrad(std::move(g));
    } else {
      p.SetGrad(Tensor());
    }
    offset += n;
  }
  return absl::OkStatus();
}

absl::Status Trainer::BroadcastParameters() {
  std::vector<float> flat;
  for (const auto& [name, p] : model_.params()) {
    if (p.dtype() != DType::kF32) {
      return absl::InvalidArgumentError(absl::StrCat(
          "data-parallel training broadcasts f32 parameters; ", name, " is ", DTypeName(p.dtype())));
    }
    const std::vector<double> v = p.value().ToVector();
    flat.insert(flat.end(), v.begin(), v.end());
  }
  GF_RETURN_IF_ERROR(options_.collectives->BroadcastFloats(absl::MakeSpan(flat)));
  int64_t offset = 0;
  for (const auto& [name, p] : model_.params()) {
    const int64_t n = p.shape().num_elements();
    Tensor t = Tensor::Empty(p.shape(), DType::kF32);
    std::copy(flat.begin() + offset, flat.begin() + offset + n, t.data<float>());
    Var(p).SetValue(std::move(t));
    offset += n;
  }
  return absl::OkStatus();
}

absl::Status Trainer::VerifyReplicas() const {
  GF_ASSIGN_OR_RETURN(const std::vector<uint64_t> hashes,
                      options_.collectives->GatherAll(ParameterHash(model_.params())));
  const std::string differing = RanksUnlikeRankZero(hashes);
  if (differing.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat("replicas diverged after step ", step_ + 1,
                                                    ": the parameters of rank(s) ", differing,
                                                    " differ from rank 0's"));
}

absl::Status Trainer::Run(const TrainCallbacks& callbacks) {
  if (options_.batch < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--batch ", options_.batch, " must be >= 1"));
  }
  const int64_t per_epoch = batches_per_epoch();
  const int64_t end = options_.epochs * per_epoch;
  if (options_.collectives != nullptr && !parameters_broadcast_) {
    GF_RETURN_IF_ERROR(BroadcastParameters());
    parameters_broadcast_ = true;
  }
  bool saved = true;
  while (step_ < end && (options_.max_steps == 0 || step_ < options_.max_steps)) {
    const int64_t epoch = step_ / per_epoch, index = step_ % per_epoch;
    const auto start = std::chrono::steady_clock::now();
    GF_ASSIGN_OR_RETURN(Batch batch, data_.TrainBatch(epoch, index, options_.batch, options_.seed));
    GF_ASSIGN_OR_RETURN(double loss, TrainStep(batch));
    epoch_seconds_ += Seconds(start);
    ++step_;
    saved = false;
    step_losses_.push_back(loss);
    if (callbacks.step) {
      callbacks.step({epoch + 1, index + 1, per_epoch, step_,
                      epoch_sums_.loss / epoch_sums_.examples,
                      epoch_sums_.examples / std::max(epoch_seconds_, 1e-9), epoch_seconds_});
    }
    if (step_ % per_epoch == 0) GF_RETURN_IF_ERROR(FinishEpoch(epoch + 1, callbacks));
    if (callbacks.checkpoint && options_.checkpoint_every > 0 &&
        step_ % options_.checkpoint_every == 0) {
      GF_RETURN_IF_ERROR(callbacks.checkpoint(MakeCheckpoint()));
      saved = true;
    }
  }
  if (callbacks.checkpoint && options_.checkpoint_every > 0 && !saved) {
    GF_RETURN_IF_ERROR(callbacks.checkpoint(MakeCheckpoint()));
  }
  return absl::OkStatus();
}

absl::Status Trainer::FinishEpoch(int64_t epoch, const TrainCallbacks& callbacks) {
  EpochMetrics m;
  m.epoch = epoch;
  m.step = step_;
  m.train = epoch_sums_.Finish(data_.task());
  GF_ASSIGN_OR_RETURN(m.test, EvaluateTestSet());
  m.seconds = epoch_seconds_;
  m.examples_per_s = m.train.examples / std::max(epoch_seconds_, 1e-9);
  history_.push_back(m);
  epoch_sums_ = MetricSums();
  epoch_seconds_ = 0;
  return callbacks.epoch ? callbacks.epoch(m) : absl::OkStatus();
}

namespace {

// The metric sums of batches offset, offset + stride, ...
absl::StatusOr<MetricSums> SumsOf(const TaskModel& model, const std::vector<Batch>& batches,
                                  size_t offset, size_t stride) {
  NoGradGuard no_grad;
  MetricSums sums;
  for (size_t k = offset; k < batches.size(); k += stride) {
    const Batch& batch = batches[k];
    GF_ASSIGN_OR_RETURN(Var out, model.Forward(batch.input, false, 0));
    GF_ASSIGN_OR_RETURN(Var loss, model.Loss(out, batch.targets));
    Accumulate(model.config().task, out, batch, loss.value().At(0), sums);
  }
  return sums;
}

}  // namespace

absl::StatusOr<Evaluation> EvaluateModel(const TaskModel& model,
                                         const std::vector<Batch>& batches) {
  GF_ASSIGN_OR_RETURN(MetricSums sums, SumsOf(model, batches, 0, 1));
  return sums.Finish(model.config().task);
}

absl::StatusOr<Evaluation> EvaluateTest(const TaskModel& model, const TaskData& data,
                                        int64_t batch_size) {
  GF_ASSIGN_OR_RETURN(std::vector<Batch> test, data.TestBatches(batch_size));
  return EvaluateModel(model, test);
}

absl::StatusOr<Evaluation> Trainer::Evaluate(const std::vector<Batch>& batches) const {
  Collectives* c = options_.collectives;
  if (c == nullptr) return EvaluateModel(model_, batches);
  GF_ASSIGN_OR_RETURN(MetricSums sums, SumsOf(model_, batches, c->rank(), c->size()));
  GF_RETURN_IF_ERROR(SumOverRanks(*c, sums));
  return sums.Finish(model_.config().task);
}

absl::StatusOr<Evaluation> Trainer::EvaluateTestSet() const {
  GF_ASSIGN_OR_RETURN(std::vector<Batch> test, data_.TestBatches(options_.eval_batch));
  return Evaluate(test);
}

// ---- checkpoints ----

Checkpoint Trainer::MakeCheckpoint() const {
  Checkpoint c;
  c.set_optimizer("adam");
  auto& config = *c.mutable_optimizer_config();
  config["lr"] = options_.lr.lr;
  config["beta1"] = adam_.options().beta1;
  config["beta2"] = adam_.options().beta2;
  config["eps"] = adam_.options().eps;
  std::map<std::string, Tensor> state;
  size_t k = 0;
  for (const auto& [name, var] : model_.params()) {
    state["m/" + name] = adam_.first_moments()[k];
    state["v/" + name] = adam_.second_moments()[k];
    ++k;
  }
  // Cannot fail: every tensor is defined and named.
  TensorsToProtos(state, c.mutable_optimizer_state()).IgnoreError();
  c.set_step(step_);
  c.set_rng_state(EncodeRunState({{"seed", static_cast<double>(options_.seed)},
                                  {"epoch_loss", epoch_sums_.loss},
                                  {"epoch_correct", epoch_sums_.correct},
                                  {"epoch_examples", static_cast<double>(epoch_sums_.examples)},
                                  {"epoch_seconds", epoch_seconds_}}));
  for (const EpochMetrics& m : history_) {
    MetricRecord& r = *c.add_metrics();
    r.set_epoch(m.epoch);
    r.set_step(m.step);
    auto& v = *r.mutable_values();
    v["train_loss"] = m.train.loss;
    v["test_loss"] = m.test.loss;
    v["train_metric"] = m.train.metric;
    v["test_metric"] = m.test.metric;
    v["examples_per_s"] = m.examples_per_s;
    v["seconds"] = m.seconds;
  }
  return c;
}

absl::Status Trainer::Restore(const Checkpoint& c) {
  if (c.optimizer() != "adam") {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint: optimizer '", c.optimizer(), "', this trainer uses adam"));
  }
  GF_ASSIGN_OR_RETURN(auto state, TensorsFromProtos(c.optimizer_state(), "optimizer state"));
  std::vector<Tensor> m, v;
  for (const auto& [name, var] : model_.params()) {
    auto mi = state.find("m/" + name), vi = state.find("v/" + name);
    if (mi == state.end() || vi == state.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint: no optimizer state for parameter '", name, "'"));
    }
    m.push_back(mi->second);
    v.push_back(vi->second);
  }
  GF_RETURN_IF_ERROR(adam_.SetState(c.step(), m, v));
  GF_ASSIGN_OR_RETURN(auto run, DecodeRunState(c.rng_state()));
  if (run["seed"] != static_cast<double>(options_.seed)) {
    return absl::InvalidArgumentError("checkpoint: written by a run with another --seed");
  }
  step_ = c.step();
  epoch_sums_ = {run["epoch_loss"], run["epoch_correct"],
                 static_cast<int64_t>(run["epoch_examples"])};
  epoch_seconds_ = run["epoch_seconds"];
  history_.clear();
  for (const MetricRecord& r : c.metrics()) {
    EpochMetrics m;
    m.epoch = r.epoch();
    m.step = r.step();
    auto get = [&](const char* key) {
      auto it = r.values().find(key);
      return it == r.values().end() ? 0.0 : it->second;
    };
    m.train = {get("train_loss"), get("train_metric"), 0};
    m.test = {get("test_loss"), get("test_metric"), 0};
    m.examples_per_s = get("examples_per_s");
    m.seconds = get("seconds");
    history_.push_back(m);
  }
  return absl::OkStatus();
}

}  // namespace gatefuse
