// Writes untrained task models (seeded) for tools/onnx_export_check.sh: every fused
// kind on sentiment, a .cell LSTM, lm with two bidirectional layers (lstm, gru_lbr),
// adding, and custom cells (mgu, ln_lstm with two bidirectional layers, ln_gru) that
// export as Scan; one .gfm each in --out DIR, named after the case (custom ones end
// in _scan).
//
//   export_cases --out DIR
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "models/io/model_file.h"
#include "models/tasks/task_model.h"

namespace gatefuse {
namespace {

struct Case {
  std::string name;
  Task task;
  std::string cell;
  int layers = 1;
  bool bidirectional = false;
};

absl::Status Write(const Case& c, const std::string& dir) {
  ModelConfig config;
  config.task = c.task;
  GF_ASSIGN_OR_RETURN(config.cell, CellSpecFromFlag(c.cell));
  config.vocab_size = c.task == Task::kAdding ? 0 : 40;
  config.embed = 8;
  config.hidden = 7;
  config.num_layers = c.layers;
  config.bidirectional = c.bidirectional;
  config.seed = 11;
  GF_ASSIGN_OR_RETURN(TaskModel model, TaskModel::Create(config));
  ModelFile file;
  GF_RETURN_IF_ERROR(model.ToModelFile(file));
  return SaveModelFile(file, absl::StrCat(dir, "/", c.name, ".gfm"));
}

}  // namespace
}  // namespace gatefuse

int main(int argc, char** argv) {
  using gatefuse::Task;
  if (argc != 3 || std::string(argv[1]) != "--out") {
    std::fprintf(stderr, "usage: export_cases --out DIR\n");
    return 2;
  }
  std::vector<gatefuse::Case> cases;
  for (const char* kind : {"lstm", "peephole", "cifg", "gru", "gru_lbr", "rnn_tanh", "rnn_relu"}) {
    cases.push_back({absl::StrCat("sentiment_", kind), Task::kSentiment, kind});
  }
  cases.push_back({"sentiment_lstm_cell_file", Task::kSentiment, "models/cells/lstm.cell"});
  cases.push_back({"lm_lstm_2x_bidirectional", Task::kLm, "lstm", 2, true});
  cases.push_back({"lm_gru_lbr_2x_bidirectional", Task::kLm, "gru_lbr", 2, true});
  cases.push_back({"adding_gru", Task::kAdding, "gru"});
  // Custom cells: Scan nodes.
  cases.push_back({"sentiment_mgu_scan", Task::kSentiment, "models/cells/mgu.cell"});
  cases.push_back({"lm_ln_lstm_2x_bidirectional_scan", Task::kLm, "ln_lstm", 2, true});
  cases.push_back({"adding_ln_gru_scan", Task::kAdding, "models/cells/ln_gru.cell"});
  for (const gatefuse::Case& c : cases) {
    if (absl::Status st = gatefuse::Write(c, argv[2]); !st.ok()) {
      std::fprintf(stderr, "export_cases: %s: %s\n", c.name.c_str(), std::string(st.message()).c_str());
      return 1;
    }
  }
  std::printf("export_cases: wrote %zu models to %s\n", cases.size(), argv[2]);
  return 0;
}
