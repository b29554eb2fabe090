// Training curves as a picture: the per-epoch metrics CSV that training writes, read into a
// table and drawn with cairo as two panels, loss on the left and the task's metric on the right,
// as PNG, SVG or PDF.
//
//   epoch,step,train_loss,test_loss,train_accuracy,test_accuracy,examples_per_s,seconds
//   1,100,2.31,2.28,0.12,0.13,5400,1.9
//   2,200,1.72,1.80,0.41,0.39,5500,1.8
//     -> panel "loss": train_loss, test_loss against epoch;
//        panel "accuracy": train_accuracy, test_accuracy against epoch.
//
//   GF_ASSIGN_OR_RETURN(MetricsTable t, ReadMetricsCsv("run/metrics.csv"));
//   GF_RETURN_IF_ERROR(WriteMetricsPlot(t, "run/curves.svg"));  // format from the extension
//
// A panel's curves are the columns whose name contains "loss" (left) or starts with "train_"
// or "test_" without containing "loss" (right); other columns are not drawn. Non-finite cells
// (nan, inf) are points left out, and a curve breaks across them.
#ifndef GATEFUSE_TOOLS_PLOT_H_
#define GATEFUSE_TOOLS_PLOT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gatefuse {

struct MetricsTable {
  std::vector<std::string> columns;       // the header's names
  std::vector<std::vector<double>> rows;  // one per data line, columns.size() values each
  int epoch_column = 0;
};

// `source` names the text in errors ("metrics.csv:4: ..."). Blank lines are skipped; every
// other line needs as many cells as the header, each a number (nan and inf included).
absl::StatusOr<MetricsTable> ParseMetricsCsv(absl::string_view text, absl::string_view source);
absl::StatusOr<MetricsTable> ReadMetricsCsv(const std::string& path);

// Which columns each panel draws, in header order.
std::vector<int> LossColumns(const MetricsTable& table);
std::vector<int> MetricColumns(const MetricsTable& table);

enum class PlotFormat { kPng, kSvg, kPdf };

// By the extension of `path`, in any case: .png, .svg, .pdf. Anything else is InvalidArgument
// naming the path and the extension.
absl::StatusOr<PlotFormat> PlotFormatForPath(absl::string_view path);

struct PlotOptions {
  int panel_width = 640;  // pixels (SVG: px; PDF: the same size at 96 dpi)
  int panel_height = 480;
  bool stacked = false;  // panels one above the other instead of side by side
  std::string x_label = "epoch";

  int width() const { return stacked ? panel_width : 2 * panel_width; }
  int height() const { return stacked ? 2 * panel_height : panel_height; }
};

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb& o) const { return r == o.r && g == o.g && b == o.b; }
  bool operator!=(const Rgb& o) const { return !(*this == o); }
};

// The i-th curve of a panel is drawn in PlotColour(i), so train/test keep their colours
// across the two panels when the columns come in the same order.
Rgb PlotColour(int index);
inline constexpr Rgb kPlotBackground = {255, 255, 255};
inline constexpr Rgb kPlotInk = {34, 34, 34};  // all text
// Through fontconfig, which substitutes a similar face where this one is not installed.
inline constexpr char kPlotFont[] = "DejaVu Sans";

// The file's bytes. InvalidArgument for a size cairo cannot draw; Internal if cairo fails.
absl::StatusOr<std::string> RenderMetricsPlot(const MetricsTable& table, PlotFormat format,
                                              const PlotOptions& options = {});
// Renders in the format of `path`'s extension and writes it with WriteFileAtomically.
absl::Status WriteMetricsPlot(const MetricsTable& table, const std::string& path,
                              const PlotOptions& options = {});

}  // namespace gatefuse

#endif  // GATEFUSE_TOOLS_PLOT_H_
