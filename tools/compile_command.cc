// gatefuse compile: a cell (builtin or .cell file) traced into a graph and run
// through the compiler's passes; prints the passes, the fusion found and the graph.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/file_io.h"
#include "core/status.h"
#include "graph/compiled_sequence.h"
#include "graph/sequence_compare.h"
#include "graph/text.h"
#include "models/cells/cell_graph.h"
#include "models/cells/cell_language.h"
#include "passes/recognize_cell.h"
#include "passes/standard_pipeline.h"
#include "tools/args.h"
#include "tools/commands.h"

namespace gatefuse::cli {
namespace {

constexpr double kVerifyTolerance = 1e-4;  // f32 paths

// "I=32,H=64" -> sizes by symbol.
absl::StatusOr<std::map<std::string, int64_t>> ParseSizes(const std::string& text) {
  std::map<std::string, int64_t> sizes;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    std::vector<absl::string_view> kv = absl::StrSplit(part, '=');
    int64_t v;
    if (kv.size() != 2 || kv[0].empty() || !absl::SimpleAtoi(kv[1], &v) || v <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--size: expected NAME=<positive integer>, got '", part, "'"));
    }
    sizes[std::string(kv[0])] = v;
  }
  return sizes;
}

// A builtin kind, or a .cell file, at the given sizes.
absl::StatusOr<Graph> LoadCell(const std::string& cell,
                               const std::map<std::string, int64_t>& sizes) {
  if (absl::EndsWith(cell, ".cell")) {
    GF_ASSIGN_OR_RETURN(CellSource src, ReadCellFile(cell));
    return CompileCell(src, sizes);
  }
  for (const char* s : {"I", "H"}) {
    if (!sizes.count(s)) {
      return absl::InvalidArgumentError(absl::StrCat("--size needs ", s, "=<n>"));
    }
  }
  GF_ASSIGN_OR_RETURN(Cell c, BuiltinCell(cell, sizes.at("I"), sizes.at("H")));
  return TraceCell(c);
}

absl::StatusOr<bool> RunCompile(const Args& args) {
  if (!args.Has("cell")) return absl::InvalidArgumentError("--cell is required");
  GF_ASSIGN_OR_RETURN(auto sizes, ParseSizes(args.Get("size", "")));
  GF_ASSIGN_OR_RETURN(const Graph traced, LoadCell(args.Get("cell", ""), sizes));
  std::printf("cell %s: traced %d nodes (batch %lld at trace time)\n", traced.name().c_str(),
              traced.num_live_nodes(), static_cast<long long>(kTraceBatch));

  PipelineOptions options;
  options.verify = true;
  options.dump_after = args.Get("dump-after", "");
  options.dump = [](const std::string& pass, const Graph& g) {
    std::printf("--- after %s\n%s", pass.c_str(), PrintGraph(g.Compact()).c_str());
  };
  Pipeline pipeline(options);
  AddStandardPasses(pipeline, {.recognize = !args.Has("no-recognize")});
  if (!options.dump_after.empty() && options.dump_after != "all") {
    bool known = false;
    for (const std::string& n : pipeline.PassNames()) known = known || n == options.dump_after;
    if (!known) {
      return absl::InvalidArgumentError(
          absl::StrCat("--dump-after: no pass named '", options.dump_after, "'"));
    }
  }
  Graph graph = traced;
  if (args.Has("explain")) {
    Graph canonical = traced;
    Pipeline prefix({.verify = true});
    AddCanonicalPasses(prefix);
    GF_RETURN_IF_ERROR(prefix.Run(canonical).status());
    std::printf("explain:\n");
    for (const CandidateReport& r : ExplainRecognition(canonical)) {
      std::printf("  %-14s %s: %s\n", r.kind.c_str(), r.matched ? "matched" : "no match",
                  r.detail.c_str());
    }
  }
  GF_RETURN_IF_ERROR(pipeline.Run(graph).status());
  std::printf("passes:\n");
  for (const PassRecord& r : pipeline.records()) {
    std::printf("  %-18s %8.3f ms  %s\n", r.name.c_str(), r.milliseconds,
                r.changed ? "changed" : "unchanged");
  }
  const Graph final_graph = graph.Compact();
  const std::string fusion = FusionKind(final_graph);
  std::printf("fusion: %s\n", fusion.c_str());
  // Sequences of the compiled cell run in f32 (tasks, bench, refcheck --path fused).
  GF_ASSIGN_OR_RETURN(SequencePath path, ChooseSequencePath(final_graph, DType::kF32));
  std::printf("path: %s\n", path.ToString().c_str());
  if (args.Has("explain") && path.kind == SequencePathKind::kCompiled) {
    // What the compiled custom-cell path (graph/compiled_sequence.h) runs.
    GF_ASSIGN_OR_RETURN(std::string plan, ExplainCompiledSequence(final_graph));
    std::printf("%s", plan.c_str());
  }
  std::printf("final graph (%d nodes):\n%s", final_graph.num_live_nodes(),
              PrintGraph(final_graph).c_str());
  if (args.Has("dot")) {
    const std::string path = args.Get("dot", "");
    GF_RETURN_IF_ERROR(WriteFileAtomically(path, ToDot(final_graph)));
    std::printf("wrote %s\n", path.c_str());
  }
  if (args.Has("verify")) {
    GF_ASSIGN_OR_RETURN(SequenceComparison c,
                        CompareCellGraphs(final_graph, traced, {.T = 8, .B = 3}));
    const bool ok = c.max_rel_err <= kVerifyTolerance;
    std::printf("verify: max_rel_err=%.3g %s\n", c.max_rel_err, ok ? "OK" : "FAIL");
    if (!ok) std::printf("verify: worst tensor %s\n", c.worst.c_str());
    return ok;
  }
  return true;
}

}  // namespace

int Compile(const std::vector<std::string>& argv) {
  absl::StatusOr<Args> args =
      ParseArgs(argv, {"cell", "size", "dump-after", "dot"}, {"explain", "verify", "no-recognize"});
  absl::StatusOr<bool> ok = args.ok() ? RunCompile(*args) : args.status();
  if (!ok.ok()) {
    std::fprintf(stderr, "gatefuse compile: %s\n", std::string(ok.status().message()).c_str());
    return 2;
  }
  return *ok ? 0 : 1;
}

}  // namespace gatefuse::cli
