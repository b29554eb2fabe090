// A recurrent cell of your own, written in C++ and run by gatefuse like a builtin.
//
// JANET (van der Westhuizen & Lasenby 2018, "The unreasonable effectiveness of the
// forget gate") keeps the LSTM's forget gate alone; its cell state is its output:
//
//   f  = sigmoid(x @ Wf + h @ Uf + bf)
//   g  = tanh(x @ Wg + h @ Ug + bg)
//   h' = f * h + (1 - f) * g
//
// The program trains the cell on the adding task through gatefuse's recurrent layer
// (the step is traced to a graph; no builtin pattern matches it, so the layer runs
// the compiled plan: `path: compiled`), saves the model, loads it back and checks
// that the loaded model predicts what the trained one does. The file keeps the
// cell's traced step graphs, so the `gatefuse` command line, which has no JANET
// code, inspects and evaluates it:
//
//   bazel run //:custom_cell -- [--out FILE] [--epochs N]
//   gatefuse inspect FILE
//   gatefuse eval --model FILE     # prints the `final:` line printed here
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/status.h"
#include "core/tape.h"
#include "models/cells/cell.h"
#include "models/io/model_file.h"
#include "models/nn/recurrent.h"
#include "models/tasks/adding.h"
#include "models/tasks/task_model.h"
#include "models/tasks/trainer.h"
#include "ops/ops.h"
#include "tools/run_settings.h"

namespace {

using gatefuse::AddingBatch;
using gatefuse::Cell;
using gatefuse::CellSpec;
using gatefuse::DType;
using gatefuse::EpochMetrics;
using gatefuse::Evaluation;
using gatefuse::ModelFile;
using gatefuse::ModelInput;
using gatefuse::NoGradGuard;
using gatefuse::ParamMap;
using gatefuse::Shape;
using gatefuse::StepProgress;
using gatefuse::TaskData;
using gatefuse::TaskModel;
using gatefuse::Tensor;
using gatefuse::TrainCallbacks;
using gatefuse::Trainer;
using gatefuse::Var;
using gatefuse::VarOr;
using gatefuse::cli::RunConfig;
using gatefuse::cli::Settings;

constexpr char kCellName[] = "janet";

// One step of the cell: the new states (here the one state h) from x [B, I] and the
// states [B, H], written with gatefuse's ops; the recurrent layer traces it once.
absl::StatusOr<std::vector<Var>> JanetStep(const Var& x, const std::vector<Var>& states,
                                           const ParamMap& p) {
  using gatefuse::MatMul, gatefuse::Sigmoid, gatefuse::Tanh;
  for (const char* name : {"Wf", "Uf", "bf", "Wg", "Ug", "bg"}) {
    if (!p.count(name)) {
      return absl::InvalidArgumentError(absl::StrCat(kCellName, ": parameter ", name, " is missing"));
    }
  }
  const Var& h = states[0];
  VarOr f = Sigmoid(MatMul(x, p.at("Wf")) + MatMul(h, p.at("Uf")) + p.at("bf"));
  VarOr g = Tanh(MatMul(x, p.at("Wg")) + MatMul(h, p.at("Ug")) + p.at("bg"));
  GF_ASSIGN_OR_RETURN(Var next, f * h + (1.0 - f) * g);
  return std::vector<Var>{next};
}

// The cell for one layer: the recurrent layer asks once per layer, since each layer
// has its own input size (the first the data's, the others the layer below's H).
absl::StatusOr<Cell> MakeJanet(int64_t input_size, int64_t hidden_size) {
  if (input_size <= 0 || hidden_size <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(kCellName, ": sizes must be positive, got I=",
                                                   input_size, " H=", hidden_size));
  }
  const int64_t I = input_size, H = hidden_size;
  Cell cell;
  cell.kind = kCellName;  // the name the CellSpec gives
  cell.input_size = I;
  cell.hidden_size = H;
  cell.states = {"h"};  // states[0] is the layer's output at every step
  cell.params = {{"Wf", Shape{I, H}}, {"Wg", Shape{I, H}}, {"Uf", Shape{H, H}},
                 {"Ug", Shape{H, H}}, {"bf", Shape{H}},    {"bg", Shape{H}}};
  cell.step = JanetStep;
  return cell;
}

struct Flags {
  std::string out;
  int64_t epochs = 4;
};

absl::StatusOr<Flags> ParseFlags(int argc, char** argv) {
  Flags flags;
  flags.out = (std::filesystem::temp_directory_path() / "custom_cell_janet.gfm").string();
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg != "--out" && arg != "--epochs") {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown argument '", arg, "' (flags: --out FILE, --epochs N)"));
    }
    if (i + 1 == argc) return absl::InvalidArgumentError(absl::StrCat(arg, " needs a value"));
    const std::string value = argv[++i];
    if (arg == "--out") {
      flags.out = value;
    } else if (!absl::SimpleAtoi(value, &flags.epochs) || flags.epochs < 1 ||
               flags.epochs > 1000) {
      return absl::InvalidArgumentError(
          absl::StrCat("--epochs takes an integer from 1 to 1000, got '", value, "'"));
    }
  }
  return flags;
}

// The run, under the names of `gatefuse train`'s flags. They go into the model file,
// from which `gatefuse eval` rebuilds the same test set (the adding task's sequences
// are generated from the seed).
Settings RunSettings(int64_t epochs) {
  Settings s = gatefuse::cli::DefaultSettings("adding");
  s["cell"] = kCellName;
  s["layers"] = "2";
  s["hidden"] = "32";
  s["T"] = "50";
  s["batch"] = "50";
  s["train-size"] = "5000";  // 100 steps an epoch
  s["test-size"] = "1000";
  s["epochs"] = absl::StrCat(epochs);
  return s;
}

double MeanOf(const std::vector<double>& v, size_t begin, size_t end) {
  double sum = 0;
  for (size_t i = begin; i < end; ++i) sum += v[i];
  return sum / static_cast<double>(end - begin);
}

// The largest |a - b| over two models' predictions for one batch.
absl::StatusOr<double> MaxDifference(const TaskModel& a, const TaskModel& b,
                                     const ModelInput& input) {
  NoGradGuard no_grad;
  GF_ASSIGN_OR_RETURN(Var ya, a.Forward(input, /*training=*/false, 0));
  GF_ASSIGN_OR_RETURN(Var yb, b.Forward(input, /*training=*/false, 0));
  const std::vector<double> va = ya.value().ToVector(), vb = yb.value().ToVector();
  if (va.size() != vb.size()) {
    return absl::InternalError(absl::StrCat("the loaded model gives ", vb.size(),
                                            " predictions, the trained one ", va.size()));
  }
  double max_diff = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    const double d = std::abs(va[i] - vb[i]);
    if (!(d <= max_diff)) max_diff = d;  // a NaN sticks
  }
  return max_diff;
}

absl::Status Run(const Flags& flags) {
  const Settings settings = RunSettings(flags.epochs);
  GF_ASSIGN_OR_RETURN(RunConfig run, gatefuse::cli::Resolve(settings));
  run.model.cell = CellSpec::Cpp(kCellName, MakeJanet);  // where a builtin or .cell goes
  GF_ASSIGN_OR_RETURN(TaskModel model, TaskModel::Create(run.model));
  GF_ASSIGN_OR_RETURN(TaskData data, gatefuse::cli::LoadData(run));
  GF_ASSIGN_OR_RETURN(const double baseline, data.Baseline());
  std::printf("cell %s (C++), %d layers, hidden %lld, adding task T=%lld\n", kCellName,
              run.model.num_layers, static_cast<long long>(run.model.hidden),
              static_cast<long long>(run.T));
  for (const std::string& line : model.PathLines()) std::printf("%s\n", line.c_str());

  // Every 50 steps, the mean training loss (mse) of those steps; after every epoch,
  // the test mse.
  constexpr size_t kEvery = 50;
  Trainer trainer(model, data, run.train);
  TrainCallbacks callbacks;
  callbacks.step = [&trainer](const StepProgress& p) {
    const std::vector<double>& losses = trainer.step_losses();
    if (p.step % kEvery != 0) return;
    std::printf("step %4lld  train mse %.4f\n", static_cast<long long>(p.step),
                MeanOf(losses, losses.size() - kEvery, losses.size()));
    std::fflush(stdout);
  };
  callbacks.epoch = [](const EpochMetrics& m) {
    std::printf("epoch %lld: test mse %.4f\n", static_cast<long long>(m.epoch), m.test.metric);
    return absl::OkStatus();
  };
  GF_RETURN_IF_ERROR(trainer.Run(callbacks));
  const std::vector<double>& losses = trainer.step_losses();
  const double first = MeanOf(losses, 0, kEvery);
  const double last = MeanOf(losses, losses.size() - kEvery, losses.size());
  if (!(last < first)) {
    return absl::InternalError(absl::StrFormat(
        "training did not lower the loss: mse %.4f over the first %d steps, %.4f over the last",
        first, kEvery, last));
  }
  GF_ASSIGN_OR_RETURN(Evaluation test, gatefuse::EvaluateTest(model, data));
  std::printf("final: mse=%.4f baseline=%.4f\n", test.metric, baseline);

  // The model file: the cell (its step graphs), the layers, the parameters and the
  // run's settings.
  GF_ASSIGN_OR_RETURN(ModelFile file,
                      gatefuse::cli::ModelFileOf(model, data, settings, "examples/custom_cell"));
  GF_RETURN_IF_ERROR(gatefuse::SaveModelFile(file, flags.out));
  std::printf("saved %s\n", flags.out.c_str());

  // Back from the file, as a binary without MakeJanet loads it: from the graphs.
  GF_ASSIGN_OR_RETURN(ModelFile loaded_file, gatefuse::LoadModelFile(flags.out));
  GF_ASSIGN_OR_RETURN(TaskModel loaded, TaskModel::FromModelFile(loaded_file));
  if (loaded.PathLines() != model.PathLines()) {
    return absl::InternalError(absl::StrCat("the loaded model runs another way: ",
                                            loaded.PathLines().empty() ? "" : loaded.PathLines()[0]));
  }
  const AddingBatch batch = gatefuse::MakeAddingBatch(run.T, 16, run.train.seed + 7, DType::kF32);
  GF_ASSIGN_OR_RETURN(const double diff, MaxDifference(model, loaded, {batch.x, Tensor()}));
  if (!(diff <= 1e-6)) {
    return absl::InternalError(absl::StrCat(
        "the loaded model's predictions differ from the trained model's by up to ", diff));
  }
  std::printf("reloaded: 16 predictions, max |difference| %g\n", diff);
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::StatusOr<Flags> flags = ParseFlags(argc, argv);
  if (!flags.ok()) {
    std::fprintf(stderr, "custom_cell: %s\n", std::string(flags.status().message()).c_str());
    return 2;
  }
  if (absl::Status st = Run(*flags); !st.ok()) {
    std::fprintf(stderr, "custom_cell: %s\n", st.ToString().c_str());
    return 1;
  }
  return 0;
}
