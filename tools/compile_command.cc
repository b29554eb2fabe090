// gatefuse compile: a cell traced into a graph and run through the compiler's passes.
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/status.h"
#include "graph/text.h"
#include "models/cell_graph.h"
#include "passes/standard_pipeline.h"
#include "tools/args.h"
#include "tools/commands.h"

namespace gatefuse::cli {
namespace {

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

absl::Status RunCompile(const Args& args) {
  if (!args.Has("cell")) return absl::InvalidArgumentError("--cell is required");
  GF_ASSIGN_OR_RETURN(auto sizes, ParseSizes(args.Get("size", "")));
  for (const char* s : {"I", "H"}) {
    if (!sizes.count(s)) return absl::InvalidArgumentError(absl::StrCat("--size needs ", s, "=<n>"));
  }
  GF_ASSIGN_OR_RETURN(Cell cell, BuiltinCell(args.Get("cell", ""), sizes["I"], sizes["H"]));
  GF_ASSIGN_OR_RETURN(Graph graph, TraceCell(cell));
  std::printf("cell %s: traced %d nodes (batch %lld at trace time)\n", cell.kind.c_str(),
              graph.num_live_nodes(), static_cast<long long>(kTraceBatch));

  PipelineOptions options;
  options.verify = true;
  options.dump_after = args.Get("dump-after", "");
  options.dump = [](const std::string& pass, const Graph& g) {
    std::printf("--- after %s\n%s", pass.c_str(), PrintGraph(g.Compact()).c_str());
  };
  Pipeline pipeline(options);
  AddStandardPasses(pipeline);
  if (!options.dump_after.empty() && options.dump_after != "all") {
    bool known = false;
    for (const std::string& n : pipeline.PassNames()) known = known || n == options.dump_after;
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat("--dump-after: no pass named '",
                                                     options.dump_after, "'"));
    }
  }
  GF_RETURN_IF_ERROR(pipeline.Run(graph).status());
  std::printf("passes:\n");
  for (const PassRecord& r : pipeline.records()) {
    std::printf("  %-18s %8.3f ms  %s\n", r.name.c_str(), r.milliseconds,
                r.changed ? "changed" : "unchanged");
  }
  const Graph final_graph = graph.Compact();
  std::printf("final graph (%d nodes):\n%s", final_graph.num_live_nodes(),
              PrintGraph(final_graph).c_str());
  if (args.Has("dot")) {
    const std::string path = args.Get("dot", "");
    std::ofstream out(path);
    out << ToDot(final_graph);
    if (!out) return absl::InvalidArgumentError(absl::StrCat("--dot: cannot write ", path));
    std::printf("wrote %s\n", path.c_str());
  }
  return absl::OkStatus();
}

}  // namespace

int Compile(const std::vector<std::string>& argv) {
  absl::StatusOr<Args> args = ParseArgs(argv, {"cell", "size", "dump-after", "dot"}, {});
  absl::Status s = args.ok() ? RunCompile(*args) : args.status();
  if (!s.ok()) {
    std::fprintf(stderr, "gatefuse compile: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  return 0;
}

}  // namespace gatefuse::cli
