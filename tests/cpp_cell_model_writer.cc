// Trains a model whose cell is written in C++ (models/nn/cpp_cells_testing.h:
// janet, a forget-gate-only LSTM) on the adding task, saves it where `gatefuse
// eval` reads it, and prints its test mse: tests/cpp_cell_model_test.sh then has
// the gatefuse binary, which does not contain the C++ cell, load the file, run it
// from its stored step graphs and give the same mse.
//
//   cpp_cell_model_writer OUT.gfm
#include <cstdio>
#include <string>

#include "core/status.h"
#include "models/nn/cpp_cells_testing.h"
#include "models/tasks/task_model.h"
#include "models/tasks/trainer.h"
#include "tools/run_settings.h"

namespace gatefuse {
namespace {

absl::Status Write(const std::string& out) {
  cli::Settings s = cli::DefaultSettings("adding");
  s["cell"] = "janet";
  s["layers"] = "2";
  s["hidden"] = "12";
  s["T"] = "12";
  s["epochs"] = "2";
  s["batch"] = "20";
  s["train-size"] = "400";
  s["test-size"] = "100";
  GF_ASSIGN_OR_RETURN(cli::RunConfig r, cli::Resolve(s));
  r.model.cell = testing_cells::Janet();
  GF_ASSIGN_OR_RETURN(TaskModel model, TaskModel::Create(r.model));
  GF_ASSIGN_OR_RETURN(TaskData data, cli::LoadData(r));
  Trainer trainer(model, data, r.train);
  GF_RETURN_IF_ERROR(trainer.Run());
  GF_ASSIGN_OR_RETURN(Evaluation test, EvaluateTest(model, data));
  for (const std::string& line : model.PathLines()) std::printf("%s\n", line.c_str());
  std::printf("train: first loss %.4f, last loss %.4f\n", trainer.step_losses().front(),
              trainer.step_losses().back());
  GF_ASSIGN_OR_RETURN(ModelFile file, cli::ModelFileOf(model, data, s, "cpp_cell_model_writer"));
  GF_RETURN_IF_ERROR(SaveModelFile(file, out));
  std::printf("final: mse=%.4f\n", test.metric);
  return absl::OkStatus();
}

}  // namespace
}  // namespace gatefuse

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: cpp_cell_model_writer OUT.gfm\n");
    return 2;
  }
  absl::Status st = gatefuse::Write(argv[1]);
  if (!st.ok()) {
    std::fprintf(stderr, "cpp_cell_model_writer: %s\n", std::string(st.message()).c_str());
    return 1;
  }
  return 0;
}
