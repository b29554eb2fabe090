// gatefuse train | eval | predict | inspect: the three tasks from the command line.
//
// A run is defined by its settings (the flags, with per-task defaults), which are
// stored as the model file's metadata under the flags' names; eval and --resume
// rebuild the data and the model from them.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "core/status.h"
#include "models/data/datasets.h"
#include "models/data/tokenizer.h"
#include "models/model_file.h"
#include "models/task_model.h"
#include "models/trainer.h"
#include "ops/ops.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "tools/progress.h"

namespace gatefuse::cli {
namespace {

using Settings = std::map<std::string, std::string>;

constexpr int kFailed = 1, kUsage = 2;

// The flags that define a run (stored in the model file, fixed on --resume but
// for epochs).
const std::set<std::string> kRunFlags = {
    "task", "cell", "layers",     "hidden",    "embed", "epochs",  "batch", "lr",  "lr-schedule",
    "T",    "seed", "train-size", "test-size", "vocab", "dropout", "clip",  "data"};
const std::set<std::string> kOutputFlags = {"csv", "out", "checkpoint-every", "checkpoint",
                                            "resume"};

Settings Defaults(const std::string& task) {
  std::string spec = "layers=1 seed=1 lr-schedule=constant dropout=0 clip=1 bidirectional=0 ";
  if (task == "adding") {
    spec += "T=100 hidden=32 embed=0 epochs=10 batch=50 lr=0.01 train-size=10000 "
            "test-size=1000 vocab=0 data=";
  } else if (task == "lm") {
    absl::StrAppend(&spec, "T=16 hidden=128 embed=64 epochs=3 batch=64 lr=0.005 train-size=20000 ",
                    "test-size=2000 vocab=2000 data=", kMobyDickPath);
  } else {
    absl::StrAppend(&spec, "T=32 hidden=32 embed=32 epochs=10 batch=32 lr=0.01 train-size=0 ",
                    "test-size=0 vocab=0 data=", kSentimentPath);
  }
  Settings s;
  for (absl::string_view item : absl::StrSplit(spec, ' ', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(item, absl::MaxSplits('=', 1));
    s.insert(kv);
  }
  return s;
}

// An integer in [min, max]; the caps keep a typo from asking for terabytes.
absl::StatusOr<int64_t> IntSetting(const Settings& s, const std::string& key, int64_t min,
                                   int64_t max = int64_t{1} << 40) {
  int64_t v = 0;
  const std::string& text = s.at(key);
  if (!absl::SimpleAtoi(text, &v) || v < min || v > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", key, " takes an integer from ", min, " to ", max, ", got '", text, "'"));
  }
  return v;
}

absl::StatusOr<double> DoubleSetting(const Settings& s, const std::string& key) {
  double v = 0;
  const std::string& text = s.at(key);
  if (!absl::SimpleAtod(text, &v) || !std::isfinite(v) || v < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", key, " takes a number >= 0, got '", text, "'"));
  }
  return v;
}

// Everything a run needs, typed and checked (the cell aside: see SetUp).
struct RunConfig {
  ModelConfig model;
  TrainOptions train;
  int64_t T = 0, train_size = 0, test_size = 0, vocab = 0;
  std::string data;
};

absl::StatusOr<RunConfig> Resolve(const Settings& s) {
  RunConfig r;
  GF_ASSIGN_OR_RETURN(r.model.task, ParseTask(s.at("task")));
  GF_ASSIGN_OR_RETURN(const int64_t layers, IntSetting(s, "layers", 1, 64));
  r.model.num_layers = static_cast<int>(layers);
  GF_ASSIGN_OR_RETURN(r.model.hidden, IntSetting(s, "hidden", 1, 16384));
  GF_ASSIGN_OR_RETURN(r.model.embed,
                      IntSetting(s, "embed", r.model.task == Task::kAdding ? 0 : 1, 16384));
  GF_ASSIGN_OR_RETURN(r.model.dropout, DoubleSetting(s, "dropout"));
  GF_ASSIGN_OR_RETURN(const int64_t seed, IntSetting(s, "seed", 0));
  r.model.seed = r.train.seed = static_cast<uint64_t>(seed);
  r.model.bidirectional = s.at("bidirectional") == "1";
  GF_ASSIGN_OR_RETURN(r.train.epochs, IntSetting(s, "epochs", 1));
  GF_ASSIGN_OR_RETURN(r.train.batch, IntSetting(s, "batch", 1, 1 << 16));
  GF_ASSIGN_OR_RETURN(r.train.lr.lr, DoubleSetting(s, "lr"));
  GF_ASSIGN_OR_RETURN(r.train.clip_norm, DoubleSetting(s, "clip"));
  r.train.lr.kind = s.at("lr-schedule");
  GF_ASSIGN_OR_RETURN(r.T, IntSetting(s, "T", r.model.task == Task::kAdding ? 2 : 1, 1 << 16));
  GF_ASSIGN_OR_RETURN(r.train_size, IntSetting(s, "train-size", 0));
  GF_ASSIGN_OR_RETURN(r.test_size, IntSetting(s, "test-size", 0, 1 << 20));
  GF_ASSIGN_OR_RETURN(r.vocab, IntSetting(s, "vocab", 0, 1 << 22));
  if (r.vocab == 1 || r.vocab == 2) {
    return absl::InvalidArgumentError("--vocab must be 0 (no cap) or >= 3");
  }
  if (r.model.dropout >= 1) return absl::InvalidArgumentError("--dropout must be < 1");
  r.data = s.at("data");
  return r;
}

// For `train`: per-task defaults, then the flags.
absl::StatusOr<Settings> SettingsFromFlags(const Args& args) {
  if (!args.Has("task"))
    return absl::InvalidArgumentError("train needs --task sentiment|adding|lm");
  if (!args.Has("cell")) return absl::InvalidArgumentError("train needs --cell BUILTIN|FILE.cell");
  GF_RETURN_IF_ERROR(ParseTask(args.Get("task", "")).status());
  Settings s = Defaults(args.Get("task", ""));
  for (const auto& [k, v] : args.flags) {
    if (kRunFlags.count(k)) s[k] = v;
  }
  s["bidirectional"] = args.Has("bidirectional") ? "1" : "0";
  s["task"] = args.Get("task", "");
  return s;
}

// ---- data ----

// At most n examples (all if n is 0), a seeded random choice kept in data order.
absl::StatusOr<SequenceDataset> Cap(const SequenceDataset& d, int64_t n, uint64_t seed) {
  if (n <= 0 || n >= d.size()) return d;
  GF_ASSIGN_OR_RETURN(std::vector<int64_t> order, ShuffledIndices(d.size(), seed));
  order.resize(n);
  std::sort(order.begin(), order.end());
  return Subset(d, order);
}

absl::StatusOr<TaskData> LoadData(const RunConfig& r) {
  const Task task = r.model.task;
  if (task == Task::kAdding) {
    return TaskData::Adding(r.T, r.train_size, std::max<int64_t>(r.test_size, 1), r.train.seed);
  }
  TextTaskOptions options;
  options.seed = r.train.seed;
  options.max_len = r.T;
  options.vocabulary.max_size = r.vocab;
  TextTask text;
  if (task == Task::kSentiment) {
    GF_ASSIGN_OR_RETURN(SentimentData raw, LoadSentiment(r.data));
    GF_ASSIGN_OR_RETURN(text, MakeSentimentTask(raw, options));
  } else {
    GF_ASSIGN_OR_RETURN(MobyDickText book, LoadMobyDick(r.data));
    GF_ASSIGN_OR_RETURN(text, MakeNextWordTask(book.sentences, options));
  }
  GF_ASSIGN_OR_RETURN(text.train, Cap(text.train, r.train_size, r.train.seed + 1));
  GF_ASSIGN_OR_RETURN(text.test, Cap(text.test, r.test_size, r.train.seed + 2));
  return TaskData::Text(task, std::move(text), r.T);
}

// ---- output ----

std::string EpochLine(const EpochMetrics& m, int64_t epochs, const std::string& metric) {
  return absl::StrFormat(
      "epoch %d/%d: train loss %.4f %s %.4f | test loss %.4f %s %.4f | %.0f ex/s, %.1f s", m.epoch,
      epochs, m.train.loss, metric, m.train.metric, m.test.loss, metric, m.test.metric,
      m.examples_per_s, m.seconds);
}

absl::Status AppendCsv(const std::string& path, const EpochMetrics& m, const std::string& metric,
                       bool fresh) {
  std::ifstream probe(path);
  const bool header = fresh || !probe.good() || probe.peek() == std::ifstream::traits_type::eof();
  std::ofstream out(path, fresh ? std::ios::trunc : std::ios::app);
  if (!out) return absl::InvalidArgumentError(absl::StrCat("cannot write --csv ", path));
  if (header) {
    out << "epoch,step,train_loss,test_loss,train_" << metric << ",test_" << metric
        << ",examples_per_s,seconds\n";
  }
  out << absl::StrFormat("%d,%d,%.6f,%.6f,%.6f,%.6f,%.1f,%.3f\n", m.epoch, m.step, m.train.loss,
                         m.test.loss, m.train.metric, m.test.metric, m.examples_per_s, m.seconds);
  return out ? absl::OkStatus() : absl::DataLossError(absl::StrCat("writing ", path, " failed"));
}

int Fail(const char* command, int code, const absl::Status& status) {
  std::fprintf(stderr, "gatefuse %s: %s\n", command, std::string(status.message()).c_str());
  return code;
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
  std::printf("baseline: %s=%.4f\n", MetricName(task).c_str(), baseline);
}

// The model, vocabulary and settings as a file (no checkpoint).
absl::StatusOr<ModelFile> ModelFileOf(const TaskModel& model, const TaskData& data,
                                      const Settings& settings) {
  ModelFile file;
  GF_RETURN_IF_ERROR(model.ToModelFile(file));
  if (data.task() != Task::kAdding) {
    for (const std::string& t : data.text().vocab.tokens()) file.add_vocabulary(t);
  }
  for (const auto& [k, v] : settings) (*file.mutable_metadata())[k] = v;
  (*file.mutable_metadata())["fusion"] = model.fusion();
  (*file.mutable_metadata())["created_by"] = "gatefuse train";
  return file;
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

// The settings a model file was trained with (its metadata).
absl::StatusOr<Settings> StoredSettings(const ModelFile& file, const std::string& path) {
  Settings s(file.metadata().begin(), file.metadata().end());
  s.erase("fusion");
  s.erase("created_by");
  for (const std::string& key : kRunFlags) {
    if (!s.count(key)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": metadata has no '", key, "' (not written by gatefuse train)"));
    }
  }
  if (!s.count("bidirectional")) s["bidirectional"] = "0";
  return s;
}

// A text model only makes sense with the ids it was trained with.
absl::Status CheckVocabulary(const ModelFile& file, const TaskData& data) {
  if (data.task() == Task::kAdding ||
      std::vector<std::string>(file.vocabulary().begin(), file.vocabulary().end()) ==
          data.text().vocab.tokens()) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(
      "the data gives another vocabulary than the model file's; is it the data the model was "
      "trained on?");
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

// ---- train ----

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

TrainCallbacks MakeCallbacks(const Session& s, ProgressBar& bar) {
  const std::string metric = MetricName(s.config.model.task);
  const int64_t epochs = s.config.train.epochs;
  TrainCallbacks cb;
  cb.step = [&bar, epochs](const StepProgress& p) {
    const int64_t remaining = epochs * p.batches_per_epoch - p.step;
    bar.Update({p.epoch, epochs, p.index, p.batches_per_epoch, p.loss, p.examples_per_s,
                remaining * p.epoch_seconds / std::max<int64_t>(p.index, 1)});
  };
  auto fresh = std::make_shared<bool>(!s.resume.has_value());
  cb.epoch = [&s, &bar, metric, epochs, fresh](const EpochMetrics& m) -> absl::Status {
    bar.Clear();
    std::printf("%s\n", EpochLine(m, epochs, metric).c_str());
    std::fflush(stdout);
    if (s.flags.csv.empty()) return absl::OkStatus();
    GF_RETURN_IF_ERROR(AppendCsv(s.flags.csv, m, metric, *fresh));
    *fresh = false;
    return absl::OkStatus();
  };
  return cb;
}

absl::Status SaveCheckpoint(const Session& s, const Checkpoint& c, ProgressBar& bar) {
  GF_ASSIGN_OR_RETURN(ModelFile file, ModelFileOf(*s.model, *s.data, s.settings));
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
  TrainCallbacks cb = MakeCallbacks(s, bar);
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
    GF_ASSIGN_OR_RETURN(ModelFile file, ModelFileOf(*s.model, *s.data, s.settings));
    (*file.mutable_metadata())["test_" + metric] = absl::StrFormat("%.6f", final_eval.metric);
    (*file.mutable_metadata())["baseline_" + metric] = absl::StrFormat("%.6f", baseline);
    GF_RETURN_IF_ERROR(SaveModelFile(file, s.flags.out));
    std::printf("saved %s\n", s.flags.out.c_str());
  }
  std::printf("%s\n", final_line.c_str());
  return absl::OkStatus();
}

// ---- loading a saved model ----

struct Loaded {
  ModelFile file;
  Settings settings;
  RunConfig config;
  std::optional<TaskModel> model;
};

absl::Status LoadSaved(const std::string& path, Loaded& l) {
  GF_ASSIGN_OR_RETURN(l.file, LoadModelFile(path));
  GF_ASSIGN_OR_RETURN(l.settings, StoredSettings(l.file, path));
  GF_ASSIGN_OR_RETURN(l.config, Resolve(l.settings));
  GF_ASSIGN_OR_RETURN(l.model, TaskModel::FromModelFile(l.file));
  return absl::OkStatus();
}

absl::Status EvalSaved(const Loaded& l) {
  GF_ASSIGN_OR_RETURN(TaskData data, LoadData(l.config));
  GF_RETURN_IF_ERROR(CheckVocabulary(l.file, data));
  GF_ASSIGN_OR_RETURN(Evaluation e, EvaluateTest(*l.model, data));
  GF_ASSIGN_OR_RETURN(double baseline, data.Baseline());
  std::printf("fused kernel: %s\ntest: %lld examples, loss %.4f\n", l.model->fusion().c_str(),
              static_cast<long long>(e.examples), e.loss);
  std::printf("final: %s=%.4f baseline=%.4f\n", MetricName(l.config.model.task).c_str(), e.metric,
              baseline);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::pair<double, std::string>>> TopWords(const Tensor& logits,
                                                                     const Vocabulary& vocab,
                                                                     int64_t k) {
  GF_ASSIGN_OR_RETURN(Var probs, Softmax(Var::Constant(logits), -1));
  std::vector<std::pair<double, std::string>> ranked;
  for (int64_t id = 2; id < vocab.size(); ++id) {  // never <pad> or <unk>
    ranked.push_back({probs.value().At(id), vocab.tokens()[id]});
  }
  k = std::min<int64_t>(k, ranked.size());
  std::partial_sort(ranked.begin(), ranked.begin() + k, ranked.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
  ranked.resize(k);
  return ranked;
}

absl::Status PredictText(const Loaded& l, const std::string& text, int64_t top) {
  const Task task = l.config.model.task;
  if (task == Task::kAdding) {
    return absl::InvalidArgumentError("predict --text works for sentiment and lm models");
  }
  GF_ASSIGN_OR_RETURN(Vocabulary vocab,
                      Vocabulary::FromTokens(std::vector<std::string>(l.file.vocabulary().begin(),
                                                                      l.file.vocabulary().end())));
  const std::vector<int64_t> ids = vocab.Encode(Tokenize(text));
  if (ids.empty()) return absl::InvalidArgumentError("--text has no words");
  GF_ASSIGN_OR_RETURN(PaddedSequences padded, PadSequences({ids}, l.config.T));
  NoGradGuard no_grad;
  GF_ASSIGN_OR_RETURN(Var out,
                      l.model->Forward({padded.ids, LengthsTensor(padded.lengths)}, false, 0));
  if (task == Task::kSentiment) {
    const double p = 1.0 / (1.0 + std::exp(-out.value().At(0)));
    std::printf("probability %.4f  label %d (%s)\n", p, p > 0.5 ? 1 : 0, p > 0.5 ? "good" : "bad");
    return absl::OkStatus();
  }
  GF_ASSIGN_OR_RETURN(auto words, TopWords(out.value(), vocab, top));
  std::printf("next word:");
  for (const auto& [p, w] : words) std::printf("  %s %.4f", w.c_str(), p);
  std::printf("\n");
  return absl::OkStatus();
}

// Parses `argv`, which must name --model, and loads the model: 0, or the exit status.
int ParseAndLoad(const char* command, const std::vector<std::string>& argv,
                 const std::set<std::string>& valued, Args& args, Loaded& l) {
  absl::StatusOr<Args> parsed = ParseArgs(argv, valued, {});
  absl::Status st = parsed.status();
  if (st.ok() && !parsed->positionals.empty()) {
    st = absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", parsed->positionals[0], "'"));
  }
  if (st.ok() && !parsed->Has("model")) st = absl::InvalidArgumentError("needs --model MODEL");
  if (st.ok()) {
    args = *parsed;
    st = LoadSaved(args.Get("model", ""), l);
  }
  return st.ok() ? 0 : Fail(command, kUsage, st);
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

int Eval(const std::vector<std::string>& argv) {
  Args args;
  Loaded l;
  if (int rc = ParseAndLoad("eval", argv, {"model"}, args, l); rc != 0) return rc;
  if (absl::Status st = EvalSaved(l); !st.ok()) return Fail("eval", kFailed, st);
  return 0;
}

int Predict(const std::vector<std::string>& argv) {
  Args args;
  Loaded l;
  if (int rc = ParseAndLoad("predict", argv, {"model", "text", "top"}, args, l); rc != 0) {
    return rc;
  }
  absl::StatusOr<int64_t> top = args.GetInt("top", 5);
  absl::Status st = !args.Has("text") ? absl::InvalidArgumentError("needs --text \"...\"")
                    : !top.ok() || *top < 1
                        ? absl::InvalidArgumentError("--top takes an integer >= 1")
                        : PredictText(l, args.Get("text", ""), *top);
  return st.ok() ? 0 : Fail("predict", kUsage, st);
}

int Inspect(const std::vector<std::string>& argv) {
  absl::StatusOr<Args> args = ParseArgs(argv, {}, {});
  if (!args.ok()) return Fail("inspect", kUsage, args.status());
  if (args->positionals.size() != 1) {
    return Fail("inspect", kUsage, absl::InvalidArgumentError("usage: gatefuse inspect MODEL"));
  }
  absl::StatusOr<ModelFile> file = LoadModelFile(args->positionals[0]);
  if (!file.ok()) return Fail("inspect", kFailed, file.status());
  std::printf("%s", DescribeModelFile(*file).c_str());
  absl::StatusOr<TaskModel> model = TaskModel::FromModelFile(*file);
  if (model.ok()) {
    std::printf("fused kernel on load: %s\n", model->fusion().c_str());
  } else {
    std::printf("fused kernel on load: (not a task model: %s)\n",
                std::string(model.status().message()).c_str());
  }
  return 0;
}

}  // namespace gatefuse::cli
