// gatefuse bench: a recurrent layer's training step (forward + backward) or
// inference over a whole sequence, timed three ways in one run:
//
//   direct_onednn  the oneDNN RNN primitive of the same kind and sizes, called by
//                  hand (tools/bench_direct.h): the ceiling
//   fused          the Recurrent layer as a user runs it: the compiled cell, the
//                  tape node, packing, allocation, everything
//   tape           the cell's equations op by op on the tape
//   plan_gemms     for a cell on the custom path: the GEMMs its compiled plan runs
//                  (graph/compiled_sequence.h), back to back by oneDNN
//
// Rows are measured round-robin (one run of each per round) so that the machine's
// background load falls on all of them alike; the table gives the median.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <omp.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/status.h"
#include "graph/compiled_sequence.h"
#include "models/cells/cell.h"
#include "models/nn/recurrent.h"
#include "ops/cell_kinds.h"
#include "ops/ops.h"
#include "ops/onednn.h"
#include "tools/args.h"
#include "tools/bench_direct.h"
#include "tools/commands.h"

namespace gatefuse::cli {
namespace {

constexpr char kUsage[] =
    "usage: gatefuse bench --cell BUILTIN|FILE.cell --mode train|infer --T N --B N --I N --H N\n"
    "                      [--no-recognize] [--tape auto|always|never] [--min-iters N]\n"
    "                      [--min-seconds X]\n";

struct Row {
  std::string name;
  std::function<absl::Status()> run;
  double flops = 0;
  std::vector<double> ms;
  std::string note;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

absl::StatusOr<double> TimeMs(Row& row) {
  const auto start = std::chrono::steady_clock::now();
  GF_RETURN_IF_ERROR(row.run());
  const std::chrono::duration<double, std::milli> ms = std::chrono::steady_clock::now() - start;
  return ms.count();
}

// Useful work of a cell over a sequence: 2 flops per multiply-add of every matmul
// with a [rows, cols] parameter, per example and step; backward costs twice the
// forward (the input and the weight gradients).
double CellFlops(const Cell& cell, int64_t T, int64_t B, bool training) {
  double per_step = 0;
  for (const CellParam& p : cell.params) {
    if (p.shape.rank() == 2) per_step += 2.0 * B * p.shape[0] * p.shape[1];
  }
  return per_step * T * (training ? 3 : 1);
}

// The oneDNN primitive a fusion kind runs on (CIFG: the LSTM of the same sizes);
// none for "custom".
std::optional<onednn::RnnCell> DirectCellOf(const std::string& fusion) {
  const absl::StatusOr<const CellKind*> kind = FindCellKind(fusion);
  if (!kind.ok() || !(*kind)->fused) return std::nullopt;
  return (*kind)->fused->cell;
}

struct Config {
  CellSpec spec;
  bool training = false;
  int64_t T = 0, B = 0, I = 0, H = 0;
  bool recognize = true;
  std::string tape = "auto";
  int64_t min_iters = 5;
  double min_seconds = 2;
};

absl::StatusOr<Config> ParseConfig(const std::vector<std::string>& argv) {
  GF_ASSIGN_OR_RETURN(Args args, ParseArgs(argv,
                                           {"cell", "mode", "T", "B", "I", "H", "tape",
                                            "min-iters", "min-seconds"},
                                           {"no-recognize"}));
  Config c;
  for (const char* required : {"cell", "mode", "T", "B", "I", "H"}) {
    if (!args.Has(required)) {
      return absl::InvalidArgumentError(absl::StrCat("missing --", required));
    }
  }
  GF_ASSIGN_OR_RETURN(c.spec, CellSpecFromFlag(args.Get("cell", "")));
  const std::string mode = args.Get("mode", "");
  if (mode != "train" && mode != "infer") {
    return absl::InvalidArgumentError(
        absl::StrCat("--mode must be train or infer, got '", mode, "'"));
  }
  c.training = mode == "train";
  for (auto [name, field] : std::vector<std::pair<const char*, int64_t*>>{
           {"T", &c.T}, {"B", &c.B}, {"I", &c.I}, {"H", &c.H}}) {
    GF_ASSIGN_OR_RETURN(*field, args.GetInt(name, 0));
    if (*field < 1) return absl::InvalidArgumentError(absl::StrCat("--", name, " must be >= 1"));
  }
  c.recognize = !args.Has("no-recognize");
  c.tape = args.Get("tape", "auto");
  if (c.tape != "auto" && c.tape != "always" && c.tape != "never") {
    return absl::InvalidArgumentError(
        absl::StrCat("--tape must be auto, always or never, got '", c.tape, "'"));
  }
  GF_ASSIGN_OR_RETURN(c.min_iters, args.GetInt("min-iters", 5));
  if (c.min_iters < 1) return absl::InvalidArgumentError("--min-iters must be >= 1");
  const std::string seconds = args.Get("min-seconds", "2");
  char* end = nullptr;
  c.min_seconds = std::strtod(seconds.c_str(), &end);
  if (end == seconds.c_str() || *end != '\0' || c.min_seconds < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--min-seconds must be a non-negative number, got '", seconds, "'"));
  }
  return c;
}

// A sequence layer's run as a user makes it: forward, then (training) backward
// from a fixed output gradient into the input and every parameter.
std::function<absl::Status()> LayerStep(std::function<absl::StatusOr<Var>(const Var&)> forward,
                                        std::vector<Var> params, Var x, Tensor dy,
                                        bool training) {
  return [=]() mutable -> absl::Status {
    if (!training) {
      NoGradGuard no_grad;
      return forward(x).status();
    }
    for (Var& p : params) p.ZeroGrad();
    x.ZeroGrad();
    GF_ASSIGN_OR_RETURN(Var y, forward(x));
    return Backward(y, dy);
  };
}

absl::Status Measure(std::vector<Row>& rows, const Config& c) {
  for (Row& row : rows) {  // warm-up: plans, caches, first-touch of buffers
    for (int i = 0; i < 2; ++i) GF_RETURN_IF_ERROR(row.run());
  }
  const auto start = std::chrono::steady_clock::now();
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  const int64_t max_iters = std::max<int64_t>(c.min_iters, 50);
  for (int64_t round = 0; round < max_iters; ++round) {
    if (round >= c.min_iters && seconds() >= c.min_seconds) break;
    for (Row& row : rows) {
      GF_ASSIGN_OR_RETURN(double ms, TimeMs(row));
      row.ms.push_back(ms);
    }
  }
  return absl::OkStatus();
}

absl::Status RunBench(const Config& c) {
  GF_ASSIGN_OR_RETURN(Recurrent rnn, Recurrent::Create(c.spec, {.input_size = c.I,
                                                                .hidden_size = c.H,
                                                                .recognize = c.recognize},
                                                       1));
  std::string kind = rnn.fusion();
  if (!c.recognize) {  // what it would fuse to: the direct row's primitive
    GF_ASSIGN_OR_RETURN(Recurrent recognised,
                        Recurrent::Create(c.spec, {.input_size = c.I, .hidden_size = c.H}, 1));
    kind = recognised.fusion();
  }
  const Cell& cell = rnn.cell(0);
  Var x = Var::Leaf(Tensor::Uniform({c.T, c.B, c.I}, DType::kF32, 2, -1, 1), c.training);
  Tensor dy = Tensor::Uniform({c.T, c.B, c.H}, DType::kF32, 3, -1, 1);

  std::vector<Row> rows;
  std::unique_ptr<DirectRnn> direct;
  if (std::optional<onednn::RnnCell> dc = DirectCellOf(kind)) {
    GF_ASSIGN_OR_RETURN(direct, DirectRnn::Create({*dc, c.T, c.B, c.I, c.H}, c.training));
    rows.push_back({"direct_onednn", [&] { return direct->Run(); }, direct->Flops()});
  }
  rows.push_back({c.recognize ? "fused" : "fused_custom",
                  LayerStep([&rnn](const Var& in) -> absl::StatusOr<Var> {
                    GF_ASSIGN_OR_RETURN(RecurrentOutput out, rnn.Forward(in));
                    return out.y;
                  }, rnn.ParamList(), x, dy, c.training),
                  CellFlops(cell, c.T, c.B, c.training)});

  // A cell on the custom path: its plan's GEMMs run back to back by oneDNN, the
  // ceiling of any implementation of that plan.
  std::unique_ptr<DirectGemms> gemms;
  if (rnn.fusion() == "custom") {
    GF_ASSIGN_OR_RETURN(std::vector<PlanGemm> plan,
                        CompiledSequenceGemms(rnn.compiled_cell(0), c.T, c.B, c.training));
    std::vector<GemmSpec> specs;
    for (const PlanGemm& g : plan) specs.push_back({g.what, g.m, g.k, g.n, g.count});
    GF_ASSIGN_OR_RETURN(gemms, DirectGemms::Create(std::move(specs)));
    rows.push_back({"plan_gemms", [&] { return gemms->Run(); }, gemms->Flops()});
  }

  const double tape_flops = CellFlops(cell, c.T, c.B, c.training);
  const bool tape = c.tape == "always" || (c.tape == "auto" && tape_flops <= 2e10);
  ParamMap tape_params = InitParams(cell, DType::kF32, 4);
  std::vector<Var> tape_list;
  for (const auto& [name, v] : tape_params) tape_list.push_back(v);
  std::vector<Var> zeros;
  for (size_t s = 0; s < cell.states.size(); ++s) {
    zeros.push_back(Var::Leaf(Tensor::Zeros({c.B, c.H}, DType::kF32)));
  }
  Row tape_row{"tape",
               LayerStep([&](const Var& in) -> absl::StatusOr<Var> {
                 GF_ASSIGN_OR_RETURN(SequenceResult r, RunSequence(cell, in, zeros, tape_params));
                 return r.y;
               }, tape_list, x, dy, c.training),
               tape_flops};

  GF_RETURN_IF_ERROR(Measure(rows, c));
  if (tape) {
    // Slow: its own rounds, fewer of them.
    std::vector<Row> alone = {tape_row};
    Config few = c;
    few.min_iters = std::min<int64_t>(c.min_iters, 3);
    GF_RETURN_IF_ERROR(Measure(alone, few));
    rows.push_back(alone[0]);
  } else {
    tape_row.note = absl::StrFormat("skipped: %.3g GFLOP per run (--tape always to force)",
                                    tape_flops / 1e9);
    rows.push_back(tape_row);
  }

  std::printf("bench %s %s T=%lld B=%lld I=%lld H=%lld fusion=%s\n",
              c.spec.DisplayName().c_str(), c.training ? "train" : "infer",
              static_cast<long long>(c.T), static_cast<long long>(c.B),
              static_cast<long long>(c.I), static_cast<long long>(c.H), rnn.fusion().c_str());
  for (const std::string& line : rnn.PathLines()) std::printf("%s\n", line.c_str());
  std::printf("isa: %s, threads: %d\n", onednn::EffectiveIsa().c_str(), omp_get_max_threads());
  std::printf("%-15s %12s %10s %6s\n", "row", "median_ms", "GFLOP/s", "iters");
  std::map<std::string, double> median, gflops;
  for (const Row& row : rows) {
    if (row.ms.empty()) {
      std::printf("%-15s %s\n", row.name.c_str(), row.note.c_str());
      continue;
    }
    median[row.name] = Median(row.ms);
    gflops[row.name] = row.flops / (median[row.name] * 1e6);
    std::printf("%-15s %12.3f %10.2f %6zu\n", row.name.c_str(), median[row.name],
                gflops[row.name], row.ms.size());
  }
  const std::string fused = c.recognize ? "fused" : "fused_custom";
  if (median.count("tape")) {
    std::printf("ratio_fused_vs_tape=%.2f\n", median["tape"] / median[fused]);
  }
  if (median.count("plan_gemms")) {
    std::printf("gflops_fused_vs_plan_gemms=%.3f\n", gflops[fused] / gflops["plan_gemms"]);
  }
  if (median.count("direct_onednn")) {
    std::printf("gflops_fused_vs_direct=%.3f\n", gflops[fused] / gflops["direct_onednn"]);
    std::printf("ratio_fused_vs_direct=%.3f\n", median["direct_onednn"] / median[fused]);
  }
  return absl::OkStatus();
}

}  // namespace

int Bench(const std::vector<std::string>& argv) {
  absl::StatusOr<Config> config = ParseConfig(argv);
  if (!config.ok()) {
    std::fprintf(stderr, "gatefuse bench: %s\n%s", std::string(config.status().message()).c_str(),
                 kUsage);
    return 2;
  }
  absl::Status status = RunBench(*config);
  if (!status.ok()) {
    std::fprintf(stderr, "gatefuse bench: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace gatefuse::cli
