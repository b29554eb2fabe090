// The gatefuse command line.
//
//   gatefuse refcheck --path tape FILE...
//   gatefuse compile --cell KIND --size I=<n>,H=<n> [--dump-after PASS|all] [--dot FILE]
//   gatefuse train ...                (tools/train_command.cc)
//   gatefuse eval|predict|inspect ... (tools/model_commands.cc)
//   gatefuse plot METRICS.csv --out FILE.png|.svg|.pdf [--stacked]
//   gatefuse import|run|onnx-test ...  (tools/onnx_commands.cc)
//   gatefuse export ...                (tools/export_command.cc)
#include <cstdio>
#include <string>
#include <vector>

#include "tools/commands.h"

namespace {

constexpr char kUsage[] =
    "usage: gatefuse <command> [flags]\n"
    "commands:\n"
    "  refcheck --path tape FILE...\n"
    "      rebuild each reference file's cell from generic ops, run it forward and backward\n"
    "      in f64, and compare every output and gradient (OK at max_rel_err <= 1e-9)\n"
    "  compile --cell KIND --size I=<n>,H=<n> [--dump-after PASS|all] [--dot FILE]\n"
    "      trace a builtin cell, run the compiler's passes, print each pass (time,\n"
    "      changed or not) and the final graph; --dot writes it for Graphviz\n"
    "  train --task sentiment|adding|lm --cell BUILTIN|FILE.cell [--layers N] [--bidirectional]\n"
    "        [--hidden N] [--embed N] [--epochs N] [--batch N] [--lr X] [--lr-schedule KIND]\n"
    "        [--T N] [--seed N] [--train-size N] [--test-size N] [--vocab N] [--dropout X]\n"
    "        [--clip X] [--data FILE] [--csv FILE] [--out MODEL] [--checkpoint-every N]\n"
    "        [--checkpoint FILE] [--resume CKPT] [--max-steps N] [--verify-replicas]\n"
    "      train a task model; the last line is `final: <metric>=<value> baseline=<value>`;\n"
    "      under `mpirun -np N`, data-parallel over N processes\n"
    "  eval --model MODEL              recompute the test metric of a saved model\n"
    "  predict --model MODEL --text \"...\" [--top N]\n"
    "      sentiment: probability and label; lm: the most likely next words\n"
    "  inspect MODEL                   version, layers, cell, fused kernel, parameters, metadata\n"
    "  plot METRICS.csv --out FILE.png|.svg|.pdf [--stacked]\n"
    "      draw a training run's per-epoch metrics CSV (PNG, SVG or PDF): loss curves left,\n"
    "      the metric's (accuracy, mse, perplexity) right, against epoch\n"
    "  bench --cell KIND|FILE.cell --mode train|infer --T N --B N --I N --H N [--no-recognize]\n"
    "      time a recurrent layer three ways (direct oneDNN primitive, fused, tape) and\n"
    "      print the medians, GFLOP/s and ratio_fused_vs_direct\n"
    "  import MODEL.onnx --out MODEL.gfm\n"
    "      import an ONNX model (LSTM/GRU/RNN nodes become cells the passes fuse) and save\n"
    "      it in gatefuse's format\n"
    "  run MODEL.onnx|MODEL.gfm --inputs DIR [--outputs DIR] [--repeat N] [--threads N]\n"
    "      run a model on DIR/input_N.pb (ONNX TensorProtos), write output_N.pb; with\n"
    "      --repeat N print `median_ms=<x> runs=<N>` over N runs after one warm-up\n"
    "  export MODEL.gfm --out DIR [--test-data N] [--random-test-data] [--opset 14..17]\n"
    "         [--T N] [--B N] [--seed N]\n"
    "      write a task model as DIR/model.onnx (LSTM/GRU/RNN nodes for the fused kinds, Scan\n"
    "      for the others), with N test data sets (its test set, or random inputs) and\n"
    "      gatefuse's outputs on them in the ONNX backend test layout\n"
    "  onnx-test [--path] DIR...\n"
    "      check models against ONNX backend test folders (model.onnx, test_data_set_*):\n"
    "      one line `<DIR> max_rel_err=<e> OK|FAIL [reason]` each; OK at <= 1e-4\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string command = argv[1];
  const std::vector<std::string> rest(argv + 2, argv + argc);
  if (command == "refcheck") return gatefuse::cli::Refcheck(rest);
  if (command == "compile") return gatefuse::cli::Compile(rest);
  if (command == "train") return gatefuse::cli::Train(rest);
  if (command == "eval") return gatefuse::cli::Eval(rest);
  if (command == "predict") return gatefuse::cli::Predict(rest);
  if (command == "inspect") return gatefuse::cli::Inspect(rest);
  if (command == "bench") return gatefuse::cli::Bench(rest);
  if (command == "plot") return gatefuse::cli::Plot(rest);
  if (command == "import") return gatefuse::cli::Import(rest);
  if (command == "run") return gatefuse::cli::Run(rest);
  if (command == "onnx-test") return gatefuse::cli::OnnxTest(rest);
  if (command == "export") return gatefuse::cli::Export(rest);
  if (command == "help" || command == "--help" || command == "-h") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  std::fprintf(stderr, "gatefuse: unknown command '%s'\n%s", command.c_str(), kUsage);
  return 2;
}
