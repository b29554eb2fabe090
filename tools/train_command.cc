// gatefuse train: a task model trained from the command line, with a progress bar,
// per-epoch metrics to a CSV, a model file (--out) and checkpoints to resume from.
// Under mpirun, data-parallel over the ranks (models/tasks/trainer.h): rank 0 alone
// prints and writes files; every rank reads what rank 0 read (a checkpoint to resume).
#include <omp.h>
#include <sched.h>
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
#include "models/distributed/mpi_collectives.h"
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

struct TrainFlags {
  std::string csv, out, checkpoint_path;
  int64_t checkpoint_every = 0;
  int64_t max_steps = 0;
  bool verify_replicas = false;
};

absl::StatusOr<TrainFlags> OutputFlags(const Args& args) {
  TrainFlags f;
  f.csv = args.Get("csv", "");
  f.out = args.Get("out", "");
  GF_ASSIGN_OR_RETURN(f.checkpoint_every, args.GetInt("checkpoint-every", 0));
  if (f.checkpoint_every < 0) return absl::InvalidArgumentError("--checkpoint-every must be >= 0");
  GF_ASSIGN_OR_RETURN(f.max_steps, args.GetInt("max-steps", 0));
  if (f.max_steps < 0) return absl::InvalidArgumentError("--max-steps must be >= 0");
  f.verify_replicas = args.Has("verify-replicas");
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
    } else if (!kOutputFlags.count(k) && k != "verify-replicas") {
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
  MpiCollectives* mpi = nullptr;  // under mpirun
  int threads = 1;                // OpenMP threads of this rank
  bool lead() const { return mpi == nullptr || mpi->rank() == 0; }
};

// The model file to resume from: rank 0 reads it and every rank parses rank 0's
// bytes (the ranks need not share a file system).
absl::StatusOr<ModelFile> LoadResumeFile(const std::string& path, MpiCollectives* mpi) {
  if (mpi == nullptr) return LoadModelFile(path);
  std::string bytes;
  absl::Status read = absl::OkStatus();
  if (mpi->rank() == 0) {
    absl::StatusOr<std::string> b = ReadFile(path);
    read = b.status();
    if (b.ok()) bytes = *std::move(b);
  }
  std::string ok = read.ok() ? "1" : "0";  // whether rank 0 could read it
  GF_RETURN_IF_ERROR(mpi->BroadcastBytes(ok));
  if (ok != "1") {
    return mpi->rank() == 0 ? read
                            : absl::NotFoundError(absl::StrCat("rank 0 could not read ", path));
  }
  GF_RETURN_IF_ERROR(mpi->BroadcastBytes(bytes));
  absl::StatusOr<ModelFile> file = ParseModelFileBytes(bytes);
  if (!file.ok()) {
    return absl::Status(file.status().code(), absl::StrCat(path, ": ", file.status().message()));
  }
  return file;
}

absl::Status SetUp(const Args& args, Session& s) {
  if (s.mpi != nullptr) {
    // First of all the collective calls: ranks given different flags would go on to
    // make different ones (a checkpoint broadcast on some, none on others). Equal
    // flags give equal settings (a checkpoint's are rank 0's bytes on every rank).
    std::string text;
    for (const auto& [k, v] : args.flags) absl::StrAppend(&text, "--", k, v.empty() ? "" : " ", v, "\n");
    GF_RETURN_IF_ERROR(s.mpi->CheckSame(text, "the flags"));
  }
  GF_ASSIGN_OR_RETURN(s.flags, OutputFlags(args));
  if (args.Has("resume")) {
    GF_ASSIGN_OR_RETURN(s.resume, LoadResumeFile(args.Get("resume", ""), s.mpi));
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
  s.config.train.max_steps = s.flags.max_steps;
  s.config.train.verify_replicas = s.flags.verify_replicas;
  s.config.train.collectives = s.mpi;
  return absl::OkStatus();
}

void PrintHeader(const Session& s, double baseline) {
  const RunConfig& r = s.config;
  const TaskData& data = *s.data;
  const TaskModel& model = *s.model;
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
  std::printf("ranks: %d, threads per rank: %d\n", s.mpi == nullptr ? 1 : s.mpi->size(), s.threads);
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

// A data-parallel run's account of its steps: the share of the step time spent
// summing, and the bytes each rank sums per step.
void PrintParallelStats(const Trainer& trainer) {
  const ParallelStats& p = trainer.parallel_stats();
  if (p.steps == 0) return;
  std::printf("allreduce: %.1f%% of the step time (%.2f ms of %.2f ms per step), %.2f MB per step\n",
              100 * p.reduce_seconds / std::max(p.step_seconds, 1e-12),
              1e3 * p.reduce_seconds / p.steps, 1e3 * p.step_seconds / p.steps,
              p.bytes_per_step / 1e6);
}

absl::Status TrainAndReport(Session& s) {
  GF_ASSIGN_OR_RETURN(const double baseline, s.data->Baseline());
  if (s.lead()) PrintHeader(s, baseline);
  Trainer trainer(*s.model, *s.data, s.config.train);
  if (s.resume) {
    GF_RETURN_IF_ERROR(trainer.Restore(s.resume->checkpoint()));
    if (s.lead()) std::printf("resumed at step %lld\n", static_cast<long long>(trainer.step()));
  }
  std::fflush(stdout);
  ProgressBar bar(stderr, s.lead() && isatty(fileno(stderr)) != 0);
  TrainCallbacks cb;
  if (s.lead()) cb = MakeCallbacks(s, trainer, bar);
  if (s.flags.checkpoint_every > 0) {
    // Every rank calls it (the trainer's calls are the same on every rank); rank 0 writes.
    cb.checkpoint = [&](const Checkpoint& c) {
      return s.lead() ? SaveCheckpoint(s, c, bar) : absl::OkStatus();
    };
  }
  GF_RETURN_IF_ERROR(trainer.Run(cb));
  bar.Clear();
  GF_ASSIGN_OR_RETURN(Evaluation final_eval, trainer.EvaluateTestSet());
  if (!s.lead()) return absl::OkStatus();
  PrintParallelStats(trainer);
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

// OpenMP threads per rank: OMP_NUM_THREADS when set; else, under mpirun, the CPUs
// this rank may run on, at most the machine's share per local rank (mpirun binds
// each of 2 ranks to a core; with --bind-to none 2 ranks on 2 cores take 1 each).
int ChooseThreads(const MpiCollectives* mpi) {
  if (std::getenv("OMP_NUM_THREADS") != nullptr || mpi == nullptr) return omp_get_max_threads();
  cpu_set_t set;
  int allowed = omp_get_num_procs();
  if (sched_getaffinity(0, sizeof(set), &set) == 0) allowed = CPU_COUNT(&set);
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  const int share = static_cast<int>(std::max<long>(1, online / mpi->local_size()));
  const int threads = std::max(1, std::min(allowed, share));
  omp_set_num_threads(threads);
  return threads;
}

int TrainOnThisRank(const Args& args, Session& s) {
  const char* name = "train";
  if (absl::Status st = SetUp(args, s); !st.ok()) return Fail(name, kUsage, st);
  if (absl::Status st = BuildModel(s); !st.ok()) {
    return Fail(name, st.code() == absl::StatusCode::kInvalidArgument ? kUsage : kFailed, st);
  }
  if (absl::Status st = TrainAndReport(s); !st.ok()) return Fail(name, kFailed, st);
  return 0;
}

}  // namespace

int Train(const std::vector<std::string>& argv) {
  std::set<std::string> valued = kRunFlags;
  valued.insert(kOutputFlags.begin(), kOutputFlags.end());
  absl::StatusOr<Args> args = ParseArgs(argv, valued, {"bidirectional", "verify-replicas"});
  if (!args.ok()) return Fail("train", kUsage, args.status());
  if (!args->positionals.empty()) {
    return Fail("train", kUsage,
                absl::InvalidArgumentError(
                    absl::StrCat("unexpected argument '", args->positionals[0], "'")));
  }
  absl::StatusOr<std::unique_ptr<MpiCollectives>> mpi = MpiCollectives::FromEnvironment();
  if (!mpi.ok()) return Fail("train", kFailed, mpi.status());
  Session s;
  s.mpi = mpi->get();
  s.threads = ChooseThreads(s.mpi);
  if (s.mpi == nullptr || s.mpi->size() == 1) return TrainOnThisRank(*args, s);
  // A rank that fails may leave the others waiting in a collective call: its error
  // (named by rank) ends them all.
  std::fflush(stdout);
  const int code = TrainOnThisRank(*args, s);
  if (code != 0) {
    std::fprintf(stderr, "gatefuse train: rank %d of %d failed; ending every rank\n",
                 s.mpi->rank(), s.mpi->size());
    std::fflush(stdout);
    std::fflush(stderr);
    s.mpi->Abort(code);
  }
  return 0;
}

}  // namespace gatefuse::cli
