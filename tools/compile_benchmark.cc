// Compile-time benchmark: the standard pass pipeline on one LSTM cell graph, and on
// LSTMs unrolled over T steps (graphs of about 1k, 10k and 100k nodes). Prints the
// median time of several runs per size, and time / (n log2 n) so growth is visible.
//
//   bazel run //tools:compile_benchmark
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/status.h"
#include "graph/trace.h"
#include "models/cells/cell.h"
#include "models/cells/cell_graph.h"
#include "passes/standard_pipeline.h"

namespace gatefuse {
namespace {

// A whole LSTM sequence of T steps traced into one graph.
absl::StatusOr<Graph> UnrolledLstm(int64_t T) {
  GF_ASSIGN_OR_RETURN(Cell cell, BuiltinCell("lstm", 8, 8));
  const int64_t B = 2;
  Var x = Var::Leaf(Tensor::Zeros({T, B, 8}, DType::kF32), true);
  Var h = Var::Leaf(Tensor::Zeros({B, 8}, DType::kF32), true);
  Var c = Var::Leaf(Tensor::Zeros({B, 8}, DType::kF32), true);
  ParamMap params = InitParams(cell, DType::kF32, 1);
  GF_ASSIGN_OR_RETURN(SequenceResult run, RunSequence(cell, x, {h, c}, params));
  std::vector<TracedInput> inputs = {{"x", InputRole::kInput, x},
                                     {"h", InputRole::kState, h},
                                     {"c", InputRole::kState, c}};
  for (const auto& [name, p] : params) inputs.push_back({name, InputRole::kParam, p});
  return TraceGraph("lstm_unrolled", inputs,
                    {{"y", run.y}, {"h", run.final_states[0]}, {"c", run.final_states[1]}});
}

// Median milliseconds of `runs` pipeline runs on copies of g.
absl::StatusOr<double> TimePipeline(const Graph& g, int runs) {
  std::vector<double> ms;
  for (int r = 0; r < runs; ++r) {
    Graph copy = g;
    Pipeline pipeline;
    AddStandardPasses(pipeline);
    const auto start = std::chrono::steady_clock::now();
    GF_RETURN_IF_ERROR(pipeline.Run(copy).status());
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

absl::Status Run() {
  GF_ASSIGN_OR_RETURN(Cell cell, BuiltinCell("lstm", 512, 512));
  GF_ASSIGN_OR_RETURN(Graph cell_graph, TraceCell(cell));
  GF_ASSIGN_OR_RETURN(double cell_ms, TimePipeline(cell_graph, 51));
  std::printf("lstm cell graph: %d nodes, pipeline %.3f ms (median of 51)\n\n",
              cell_graph.num_live_nodes(), cell_ms);

  std::printf("%-10s %8s %12s %14s %22s\n", "steps", "nodes", "median_ms", "us_per_node",
              "ns_per_(n*log2(n))");
  for (int64_t T : {35, 350, 3500}) {
    GF_ASSIGN_OR_RETURN(Graph g, UnrolledLstm(T));
    const int n = g.num_live_nodes();
    GF_ASSIGN_OR_RETURN(double ms, TimePipeline(g, T < 1000 ? 5 : 3));
    std::printf("%-10lld %8d %12.2f %14.3f %22.2f\n", static_cast<long long>(T), n, ms,
                1000 * ms / n, 1e6 * ms / (n * std::log2(static_cast<double>(n))));
  }
  // Where the time goes at the largest size.
  GF_ASSIGN_OR_RETURN(Graph big, UnrolledLstm(3500));
  Pipeline pipeline;
  AddStandardPasses(pipeline);
  GF_RETURN_IF_ERROR(pipeline.Run(big).status());
  std::printf("\nper pass at %d nodes:\n", big.num_live_nodes());
  for (const PassRecord& r : pipeline.records()) {
    std::printf("  %-18s %9.2f ms  %s\n", r.name.c_str(), r.milliseconds,
                r.changed ? "changed" : "unchanged");
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace gatefuse

int main(int argc, char** argv) {
  // `compile_benchmark STEPS`: one pipeline run on one unrolled size (for profilers).
  if (argc == 2) {
    auto g = gatefuse::UnrolledLstm(std::atoll(argv[1]));
    if (!g.ok()) return 1;
    gatefuse::Pipeline pipeline;
    gatefuse::AddStandardPasses(pipeline);
    return pipeline.Run(*g).ok() ? 0 : 1;
  }
  absl::Status s = gatefuse::Run();
  if (!s.ok()) {
    std::fprintf(stderr, "compile_benchmark: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
