// The settings of a training run, shared by `gatefuse train` (tools/train_command.cc)
// and the commands that load its model files (tools/model_commands.cc): a run is
// defined by its flags (with per-task defaults), stored as the model file's
// metadata under the flags' names, so eval and --resume rebuild the data and the
// model from them.
#ifndef GATEFUSE_TOOLS_RUN_SETTINGS_H_
#define GATEFUSE_TOOLS_RUN_SETTINGS_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/io/model_file.h"
#include "models/tasks/task_model.h"
#include "models/tasks/trainer.h"
#include "tools/args.h"

namespace gatefuse::cli {

using Settings = std::map<std::string, std::string>;

inline constexpr int kFailed = 1, kUsage = 2;

// The flags that define a run (stored in the model file, fixed on --resume but
// for epochs), and those that only say where output goes.
extern const std::set<std::string> kRunFlags;
extern const std::set<std::string> kOutputFlags;

// Everything a run needs, typed and checked (the cell aside: train reads it).
struct RunConfig {
  ModelConfig model;
  TrainOptions train;
  int64_t T = 0, train_size = 0, test_size = 0, vocab = 0;
  std::string data;
};

absl::StatusOr<RunConfig> Resolve(const Settings& s);
// Every run flag's default for `task` ("sentiment", "adding", "lm"), and the task.
Settings DefaultSettings(const std::string& task);
// For `train`: per-task defaults, then the flags.
absl::StatusOr<Settings> SettingsFromFlags(const Args& args);
// The settings a model file was trained with (its metadata); `path` names it in errors.
absl::StatusOr<Settings> StoredSettings(const ModelFile& file, const std::string& path);

// The run's data: the generated adding problem, or the text task (capped to the
// --train-size / --test-size examples by a seeded choice).
absl::StatusOr<TaskData> LoadData(const RunConfig& r);
// The model, the data's vocabulary and the settings as a file (no checkpoint), so
// eval, predict and --resume rebuild the run; metadata "created_by" = created_by.
absl::StatusOr<ModelFile> ModelFileOf(const TaskModel& model, const TaskData& data,
                                      const Settings& settings, const std::string& created_by);
// A text model only makes sense with the ids it was trained with.
absl::Status CheckVocabulary(const ModelFile& file, const TaskData& data);

// Prints "gatefuse <command>: <message>" and returns `code`.
int Fail(const char* command, int code, const absl::Status& status);

}  // namespace gatefuse::cli

#endif  // GATEFUSE_TOOLS_RUN_SETTINGS_H_
