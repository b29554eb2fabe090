// gatefuse refcheck: cells rebuilt from reference files, checked against their values.
#include <cstdio>
#include <string>
#include <vector>

#include "models/cells/reference.h"
#include "tools/args.h"
#include "tools/commands.h"

namespace gatefuse::cli {
namespace {

// shared/reference/README.md: f64 paths agree to about 1e-10 relative (the tape is
// exact to rounding, ~1e-15); the fused path runs in f32.
constexpr double kTapeTolerance = 1e-10;
constexpr double kFusedTolerance = 1e-4;

}  // namespace

// Prints one line per file; exit status 0 only if every file is OK.
int Refcheck(const std::vector<std::string>& argv) {
  absl::StatusOr<Args> args = ParseArgs(argv, {"path"}, {});
  if (!args.ok()) {
    std::fprintf(stderr, "gatefuse refcheck: %s\n", std::string(args.status().message()).c_str());
    return 2;
  }
  const std::string path = args->Get("path", "tape");
  if (path != "tape" && path != "fused") {
    std::fprintf(stderr, "gatefuse refcheck: unknown --path '%s' (known: tape, fused)\n",
                 path.c_str());
    return 2;
  }
  const RefcheckPath which = path == "tape" ? RefcheckPath::kTape : RefcheckPath::kFused;
  const double tolerance = path == "tape" ? kTapeTolerance : kFusedTolerance;
  if (args->positionals.empty()) {
    std::fprintf(stderr, "gatefuse refcheck: no reference files given\n");
    return 2;
  }
  bool all_ok = true;
  for (const std::string& file : args->positionals) {
    absl::StatusOr<ReferenceCase> r = ReadReferenceFile(file);
    absl::StatusOr<RefcheckResult> result =
        r.ok() ? Refcheck(*r, which) : absl::StatusOr<RefcheckResult>(r.status());
    if (!result.ok()) {
      std::printf("%s %s max_rel_err=inf FAIL (%s)\n", file.c_str(), path.c_str(),
                  std::string(result.status().message()).c_str());
      all_ok = false;
      continue;
    }
    // --path fused checks the fast paths: a cell that ran op by op there fails, with
    // the reason, however close its values are.
    const bool fell_back =
        which == RefcheckPath::kFused && result->path.kind == SequencePathKind::kOpByOp;
    const bool ok = result->max_rel_err <= tolerance && !fell_back;  // false for inf
    all_ok = all_ok && ok;
    std::printf("%s %s max_rel_err=%.3g %s", file.c_str(), path.c_str(), result->max_rel_err,
                ok ? "OK" : "FAIL");
    if (which == RefcheckPath::kFused) {
      std::printf(" (fusion: %s, path: %s)", result->fusion.c_str(),
                  result->path.ToString().c_str());
    }
    if (result->max_rel_err > tolerance) std::printf(" worst: %s", result->worst.c_str());
    std::printf("\n");
  }
  return all_ok ? 0 : 1;
}

}  // namespace gatefuse::cli
