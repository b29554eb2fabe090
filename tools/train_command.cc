// gatefuse train: a task model trained from the command line, with a progress bar,
// per-epoch metrics to a CSV, a model file (--out) and checkpoints to resume from.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/file_io.h"
#include "core/status.h"
#include "models/io/model_file.h"
#include "models/tasks/task_model.h"
#include "models/tasks/trainer.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "tools/progress.h"
#include "tools/run_settings.h"

namespace gatefuse::cli {
namespace {

std::string EpochLine(const EpochMetrics& m, int64_t epochs, const std::string& metric) {
  return absl::StrFormat(
      "epoch %d/%d: train loss %.4f %s %.4f | test loss %.4f %s %.4f | %.0f ex/s, %.1f s", m.epoch,
      epochs, m.train.loss, metric, m.train.metric, m.test.loss, metric, m.test.metric,
      m.examples_per_s, m.seconds);
}

// Every epoch so far (a resumed run's from its checkpoint, then its own) as CSV.
std::string MetricsCsv(const std::vector<EpochMetrics>& history, const std::string& metric) {
  std::string csv = absl::StrCat("epoch,step,train_loss,test_loss,train_", metric, ",test_",
                                 metric, ",examples_per_s,seconds\n");
  for (const EpochMetrics& m : history) {
    absl::StrAppendFormat(&csv, "%d,%d,%.6f,%.6f,%.6f,%.6f,%.1f,%.3f\n", m.epoch, m.step,
                          m.train.loss, m.test.loss, m.train.metric, m.test.metric,
                          m.examples_per_s, m.seconds);
  }
  return csv;
}

int64_t CountParameters(const TaskModel& model) {
  int64_t n = 0;
  for (const auto& [name, v] : model.params()) n += v.shape().num_elements();
  return n;
}

void PrintHeader(const RunConfig& r, const TaskData& data, const TaskModel& model,
                 double baseline) {
  const Task task = r.model.task;
  std::printf("task %s: %lld training / %lld test examples, T=%lld", TaskName(task).c_str(),
              static_cast<long long>(data.train_size()), static_cast<long long>(data.test_size()),
              static_cast<long long>(r.T));
  if (task != Task::kAdding) std::printf(", vocabulary %lld", (long long)data.text().vocab.size());
  std::printf("\nmodel: %s, %d layer(s), hidden %lld%s, %lld parameters\n",
              r.model.cell.DisplayName().c_str(), r.model.num_layers, (long long)r.model.hidden,
              r.model.bidirectional ? ", bidirectional" : "", (long long)CountParameters(model));
  std::printf("fused kernel: %s\n", model.fusion().c_str());
  for (const std::string& line : model.PathLines()) std::printf("%s\n", line.c_str());
  std::printf("baseline: %s=%.4f\n", MetricName(task).c_str(), baseline);
}

struct TrainFlags {
  std::string csv, out, checkpoint_path;
  int64_t checkpoint_every = 0;
};

absl::StatusOr<TrainFlags> OutputFlags(const Args& args) {
  TrainFlags f;
  f.csv = args.Get("csv", "");
  f.out = args.Get("out", "");
  GF_ASSIGN_OR_RETURN(f.checkpoint_every, args.GetInt("checkpoint-every", 0));
  if (f.checkpoint_every < 0) return absl::InvalidArgumentError("--checkpoint-every must be >= 0");
  f.checkpoint_path = args.Get(
      "checkpoint", args.Has("resume") ? args.Get("resume", "")
                                       : (f.out.empty() ? "gatefuse.ckpt" : f.out + ".ckpt"));
  return f;
}

// For --resume: the checkpoint's settings; only --epochs may change.
absl::StatusOr<Settings> SettingsFromCheckpoint(const Args& args, const ModelFile& file) {
  if (!file.has_checkpoint()) {
    return absl::InvalidArgumentError(absl::StrCat(
        args.Get("resume", ""), " holds no checkpoint (train with --checkpoint-every)"));
  }
  GF_ASSIGN_OR_RETURN(Settings s, StoredSettings(file, args.Get("resume", "")));
  for (const auto& [k, v] : args.flags) {
    if (k == "epochs") {
      s[k] = v;
    } else if (!kOutputFlags.count(k)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", k, " cannot be combined with --resume: the checkpoint fixes the run"));
    }
  }
  return s;
}

// The parts of a training run, set up from the flags (or a checkpoint).
struct Session {
  Settings settings;
  RunConfig config;
  TrainFlags flags;
  std::optional<TaskData> data;
  std::optional<TaskModel> model;
  std::optional<ModelFile> resume;
};

absl::Status SetUp(const Args& args, Session& s) {
  GF_ASSIGN_OR_RETURN(s.flags, OutputFlags(args));
  if (args.Has("resume")) {
    GF_ASSIGN_OR_RETURN(s.resume, LoadModelFile(args.Get("resume", "")));
    GF_ASSIGN_OR_RETURN(s.settings, SettingsFromCheckpoint(args, *s.resume));
  } else {
    GF_ASSIGN_OR_RETURN(s.settings, SettingsFromFlags(args));
  }
  GF_ASSIGN_OR_RETURN(s.config, Resolve(s.settings));
  // A saved model brings its cell's source; only a new one reads the flag's file.
  if (!s.resume) {
    GF_ASSIGN_OR_RETURN(s.config.model.cell, CellSpecFromFlag(s.settings.at("cell")));
  }
  s.config.train.checkpoint_every = s.flags.checkpoint_every;
  return absl::OkStatus();
}

// The schedules' lengths follow the run's: step decay halves the rate after each
// third of the steps; warm-up lasts 5% of them, then the rate falls to 10% at the end.
absl::Status FitSchedule(int64_t train_size, TrainOptions& train) {
  const int64_t total = train.epochs * ((train_size + train.batch - 1) / train.batch);
  train.lr.step_size = std::max<int64_t>(1, (total + 2) / 3);
  train.lr.warmup_steps = total / 20;
  train.lr.total_steps = std::max<int64_t>(total, train.lr.warmup_steps + 1);
  return train.lr.Validate();
}

absl::Status BuildModel(Session& s) {
  GF_ASSIGN_OR_RETURN(s.data, LoadData(s.config));
  GF_RETURN_IF_ERROR(FitSchedule(s.data->train_size(), s.config.train));
  if (s.resume) {
    GF_ASSIGN_OR_RETURN(s.model, TaskModel::FromModelFile(*s.resume));
    return CheckVocabulary(*s.resume, *s.data);
  }
  ModelConfig mc = s.config.model;
  if (s.data->task() != Task::kAdding) mc.vocab_size = s.data->text().vocab.size();
  GF_ASSIGN_OR_RETURN(s.model, TaskModel::Create(mc));
  return absl::OkStatus();
}

TrainCallbacks MakeCallbacks(const Session& s, const Trainer& trainer, ProgressBar& bar) {
  const std::string metric = MetricName(s.config.model.task);
  const int64_t epochs = s.config.train.epochs;
  TrainCallbacks cb;
  cb.step = [&bar, epochs](const StepProgress& p) {
    const int64_t remaining = epochs * p.batches_per_epoch - p.step;
    bar.Update({p.epoch, epochs, p.index, p.batches_per_epoch, p.loss, p.examples_per_s,
                remaining * p.epoch_seconds / std::max<int64_t>(p.index, 1)});
  };
  // The CSV is written whole, atomically, after every epoch: a reader never sees a
  // half-written row, and a resumed run's file holds exactly the epochs it continues.
  cb.epoch = [&s, &trainer, &bar, metric, epochs](const EpochMetrics& m) -> absl::Status {
    bar.Clear();
    std::printf("%s\n", EpochLine(m, epochs, metric).c_str());
    std::fflush(stdout);
    if (s.flags.csv.empty()) return absl::OkStatus();
    return WriteFileAtomically(s.flags.csv, MetricsCsv(trainer.history(), metric));
  };
  return cb;
}

absl::Status SaveCheckpoint(const Session& s, const Checkpoint& c, ProgressBar& bar) {
  GF_ASSIGN_OR_RETURN(ModelFile file, ModelFileOf(*s.model, *s.data, s.settings, "gatefuse train"));
  *file.mutable_checkpoint() = c;
  GF_RETURN_IF_ERROR(SaveModelFile(file, s.flags.checkpoint_path));
  bar.Clear();
  std::printf("checkpoint: step %lld -> %s\n", static_cast<long long>(c.step()),
              s.flags.checkpoint_path.c_str());
  return absl::OkStatus();
}

absl::Status TrainAndReport(Session& s) {
  GF_ASSIGN_OR_RETURN(const double baseline, s.data->Baseline());
  PrintHeader(s.config, *s.data, *s.model, baseline);
  Trainer trainer(*s.model, *s.data, s.config.train);
  if (s.resume) {
    GF_RETURN_IF_ERROR(trainer.Restore(s.resume->checkpoint()));
    std::printf("resumed at step %lld\n", static_cast<long long>(trainer.step()));
  }
  std::fflush(stdout);
  ProgressBar bar(stderr, isatty(fileno(stderr)) != 0);
  TrainCallbacks cb = MakeCallbacks(s, trainer, bar);
  if (s.flags.checkpoint_every > 0) {
    cb.checkpoint = [&](const Checkpoint& c) { return SaveCheckpoint(s, c, bar); };
  }
  GF_RETURN_IF_ERROR(trainer.Run(cb));
  bar.Clear();
  GF_ASSIGN_OR_RETURN(Evaluation final_eval, EvaluateTest(*s.model, *s.data));
  const std::string metric = MetricName(s.config.model.task);
  const std::string final_line =
      absl::StrFormat("final: %s=%.4f baseline=%.4f", metric, final_eval.metric, baseline);
  if (!s.flags.out.empty()) {
    GF_ASSIGN_OR_RETURN(ModelFile file, ModelFileOf(*s.model, *s.data, s.settings, "gatefuse train"));
    (*file.mutable_metadata())["test_" + metric] = absl::StrFormat("%.6f", final_eval.metric);
    (*file.mutable_metadata())["baseline_" + metric] = absl::StrFormat("%.6f", baseline);
    GF_RETURN_IF_ERROR(SaveModelFile(file, s.flags.out));
    std::printf("saved %s\n", s.flags.out.c_str());
  }
  std::printf("%s\n", final_line.c_str());
  return absl::OkStatus();
}

}  // namespace

int Train(const std::vector<std::string>& argv) {
  std::set<std::string> valued = kRunFlags;
  valued.insert(kOutputFlags.begin(), kOutputFlags.end());
  absl::StatusOr<Args> args = ParseArgs(argv, valued, {"bidirectional"});
  if (!args.ok()) return Fail("train", kUsage, args.status());
  if (!args->positionals.empty()) {
    return Fail("train", kUsage,
                absl::InvalidArgumentError(
                    absl::StrCat("unexpected argument '", args->positionals[0], "'")));
  }
  Session s;
  if (absl::Status st = SetUp(*args, s); !st.ok()) return Fail("train", kUsage, st);
  if (absl::Status st = BuildModel(s); !st.ok()) {
    return Fail("train", st.code() == absl::StatusCode::kInvalidArgument ? kUsage : kFailed, st);
  }
  if (absl::Status st = TrainAndReport(s); !st.ok()) return Fail("train", kFailed, st);
  return 0;
}

}  // namespace gatefuse::cli
