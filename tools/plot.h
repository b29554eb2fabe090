// Training curves as a picture: the per-epoch metrics CSV that training writes, read into a
// table and drawn as two panels, loss on the left and the task's metric on the right.
//
//   epoch,step,train_loss,test_loss,train_accuracy,test_accuracy,examples_per_s,seconds
//   1,100,2.31,2.28,0.12,0.13,5400,1.9
//   2,200,1.72,1.80,0.41,0.39,5500,1.8
//     -> panel "loss": train_loss, test_loss against epoch;
//        panel "accuracy": train_accuracy, test_accuracy against epoch.
//
// A panel's curves are the columns whose name contains "loss" (left) or starts with "train_"
// or "test_" without containing "loss" (right); other columns are not drawn. Non-finite cells
// (nan, inf) are points left out, and a curve breaks across them.
#ifndef GATEFUSE_TOOLS_PLOT_H_
#define GATEFUSE_TOOLS_PLOT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tools/png.h"

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

struct PlotOptions {
  int panel_width = 640;
  int panel_height = 480;
  bool stacked = false;  // panels one above the other instead of side by side
};

// The i-th curve of a panel is drawn in PlotColour(i), so train/test keep their colours
// across the two panels when the columns come in the same order.
Rgb PlotColour(int index);
inline constexpr Rgb kPlotBackground = {255, 255, 255};

RgbImage RenderMetricsPlot(const MetricsTable& table, const PlotOptions& options = {});

// The built-in 5x7 bitmap font (with two rows below the baseline for g, j, p, q, y, _ and ,),
// each glyph `scale` pixels a dot. Digits, lowercase letters (uppercase draws as lowercase)
// and . , - _ + : / ( ) % = ; anything else draws as '?'. Returns the width drawn.
int DrawText(RgbImage& image, int x, int top, absl::string_view text, Rgb colour, int scale);
int TextWidth(absl::string_view text, int scale);
bool HasGlyph(char c);

}  // namespace gatefuse

#endif  // GATEFUSE_TOOLS_PLOT_H_
