#include "tools/run_settings.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/status.h"
#include "models/data/datasets.h"

namespace gatefuse::cli {

const std::set<std::string> kRunFlags = {
    "task", "cell", "layers",     "hidden",    "embed", "epochs",  "batch", "lr",  "lr-schedule",
    "T",    "seed", "train-size", "test-size", "vocab", "dropout", "clip",  "data"};
const std::set<std::string> kOutputFlags = {"csv",        "out",    "checkpoint-every",
                                            "checkpoint", "resume", "max-steps"};

Settings DefaultSettings(const std::string& task) {
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
  s["task"] = task;
  return s;
}

namespace {

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

// At most n examples (all if n is 0), a seeded random choice kept in data order.
absl::StatusOr<SequenceDataset> Cap(const SequenceDataset& d, int64_t n, uint64_t seed) {
  if (n <= 0 || n >= d.size()) return d;
  GF_ASSIGN_OR_RETURN(std::vector<int64_t> order, ShuffledIndices(d.size(), seed));
  order.resize(n);
  std::sort(order.begin(), order.end());
  return Subset(d, order);
}

}  // namespace

absl::StatusOr<ModelFile> ModelFileOf(const TaskModel& model, const TaskData& data,
                                      const Settings& settings, const std::string& created_by) {
  ModelFile file;
  GF_RETURN_IF_ERROR(model.ToModelFile(file));
  if (data.task() != Task::kAdding) {
    for (const std::string& t : data.text().vocab.tokens()) file.add_vocabulary(t);
  }
  for (const auto& [k, v] : settings) (*file.mutable_metadata())[k] = v;
  (*file.mutable_metadata())["fusion"] = model.fusion();
  (*file.mutable_metadata())["created_by"] = created_by;
  return file;
}

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

absl::StatusOr<Settings> SettingsFromFlags(const Args& args) {
  if (!args.Has("task"))
    return absl::InvalidArgumentError("train needs --task sentiment|adding|lm");
  if (!args.Has("cell")) return absl::InvalidArgumentError("train needs --cell BUILTIN|FILE.cell");
  GF_RETURN_IF_ERROR(ParseTask(args.Get("task", "")).status());
  Settings s = DefaultSettings(args.Get("task", ""));
  for (const auto& [k, v] : args.flags) {
    if (kRunFlags.count(k)) s[k] = v;
  }
  s["bidirectional"] = args.Has("bidirectional") ? "1" : "0";
  s["task"] = args.Get("task", "");
  return s;
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

int Fail(const char* command, int code, const absl::Status& status) {
  std::fprintf(stderr, "gatefuse %s: %s\n", command, std::string(status.message()).c_str());
  return code;
}

}  // namespace gatefuse::cli
