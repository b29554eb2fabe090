// gatefuse plot: a training run's per-epoch metrics CSV drawn as a PNG, SVG or PDF (by the
// extension of --out; loss curves on the left, the metric's on the right).
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "tools/plot.h"

namespace gatefuse::cli {
namespace {

constexpr char kUsage[] =
    "usage: gatefuse plot METRICS.csv --out FILE.png|FILE.svg|FILE.pdf [--stacked]\n";

absl::Status RunPlot(const std::string& csv, const std::string& out, bool stacked) {
  GF_ASSIGN_OR_RETURN(const MetricsTable table, ReadMetricsCsv(csv));
  PlotOptions options;
  options.stacked = stacked;
  GF_RETURN_IF_ERROR(WriteMetricsPlot(table, out, options));
  std::printf("wrote %s (%dx%d, %zu epochs)\n", out.c_str(), options.width(), options.height(),
              table.rows.size());
  return absl::OkStatus();
}

}  // namespace

int Plot(const std::vector<std::string>& argv) {
  absl::StatusOr<Args> args = ParseArgs(argv, {"out"}, {"stacked"});
  absl::Status usage = args.status();
  if (usage.ok() && args->positionals.size() != 1) {
    usage = absl::InvalidArgumentError(
        absl::StrCat("expected one METRICS.csv, got ", args->positionals.size(), " arguments"));
  }
  if (usage.ok() && args->Get("out", "").empty()) {
    usage = absl::InvalidArgumentError("--out FILE.png|FILE.svg|FILE.pdf is required");
  }
  // A bad extension is a bad flag value: refused before the CSV is read.
  if (usage.ok()) {
    const absl::Status format = PlotFormatForPath(args->Get("out", "")).status();
    if (!format.ok()) usage = absl::InvalidArgumentError(absl::StrCat("--out ", format.message()));
  }
  if (!usage.ok()) {
    std::fprintf(stderr, "gatefuse plot: %s\n%s", std::string(usage.message()).c_str(), kUsage);
    return 2;
  }
  const absl::Status status =
      RunPlot(args->positionals[0], args->Get("out", ""), args->Has("stacked"));
  if (!status.ok()) {
    std::fprintf(stderr, "gatefuse plot: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace gatefuse::cli
