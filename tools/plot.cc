#include "tools/plot.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/status.h"

namespace gatefuse {
namespace {

// ---- The font: 5 dots wide, rows 0-6 above the baseline, 7-8 below it.

constexpr int kGlyphWidth = 5;
constexpr int kGlyphRows = 9;
constexpr int kGlyphAdvance = 6;  // one blank column between letters

struct Glyph {
  char c;
  std::array<const char*, kGlyphRows> rows;  // '#' a dot; missing trailing rows are blank
};

// clang-format off
constexpr Glyph kFont[] = {
    {'0', {".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."}},
    {'1', {"..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."}},
    {'2', {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"}},
    {'3', {"#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."}},
    {'4', {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."}},
    {'5', {"#####", "#....", "####.", "....#", "....#", "#...#", ".###."}},
    {'6', {"..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."}},
    {'7', {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."}},
    {'8', {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."}},
    {'9', {".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."}},
    {'a', {".....", ".....", ".###.", "....#", ".####", "#...#", ".####"}},
    {'b', {"#....", "#....", "####.", "#...#", "#...#", "#...#", "####."}},
    {'c', {".....", ".....", ".###.", "#....", "#....", "#...#", ".###."}},
    {'d', {"....#", "....#", ".####", "#...#", "#...#", "#...#", ".####"}},
    {'e', {".....", ".....", ".###.", "#...#", "#####", "#....", ".###."}},
    {'f', {"..##.", ".#..#", ".#...", "###..", ".#...", ".#...", ".#..."}},
    {'g', {".....", ".....", ".####", "#...#", "#...#", "#...#", ".####", "....#", ".###."}},
    {'h', {"#....", "#....", "#.##.", "##..#", "#...#", "#...#", "#...#"}},
    {'i', {"..#..", ".....", ".##..", "..#..", "..#..", "..#..", ".###."}},
    {'j', {"...#.", ".....", "..##.", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."}},
    {'k', {"#....", "#....", "#..#.", "#.#..", "##...", "#.#..", "#..#."}},
    {'l', {".##..", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."}},
    {'m', {".....", ".....", "##.#.", "#.#.#", "#.#.#", "#.#.#", "#.#.#"}},
    {'n', {".....", ".....", "#.##.", "##..#", "#...#", "#...#", "#...#"}},
    {'o', {".....", ".....", ".###.", "#...#", "#...#", "#...#", ".###."}},
    {'p', {".....", ".....", "####.", "#...#", "#...#", "#...#", "####.", "#....", "#...."}},
    {'q', {".....", ".....", ".####", "#...#", "#...#", "#...#", ".####", "....#", "....#"}},
    {'r', {".....", ".....", "#.##.", "##..#", "#....", "#....", "#...."}},
    {'s', {".....", ".....", ".####", "#....", ".###.", "....#", "####."}},
    {'t', {".#...", ".#...", "###..", ".#...", ".#...", ".#..#", "..##."}},
    {'u', {".....", ".....", "#...#", "#...#", "#...#", "#..##", ".##.#"}},
    {'v', {".....", ".....", "#...#", "#...#", "#...#", ".#.#.", "..#.."}},
    {'w', {".....", ".....", "#...#", "#...#", "#.#.#", "#.#.#", ".#.#."}},
    {'x', {".....", ".....", "#...#", ".#.#.", "..#..", ".#.#.", "#...#"}},
    {'y', {".....", ".....", "#...#", "#...#", "#...#", "#...#", ".####", "....#", ".###."}},
    {'z', {".....", ".....", "#####", "...#.", "..#..", ".#...", "#####"}},
    {'.', {".....", ".....", ".....", ".....", ".....", ".##..", ".##.."}},
    {',', {".....", ".....", ".....", ".....", ".....", ".##..", "..#..", ".#..."}},
    {'-', {".....", ".....", ".....", "#####", ".....", ".....", "....."}},
    {'_', {".....", ".....", ".....", ".....", ".....", ".....", ".....", "#####"}},
    {'+', {".....", "..#..", "..#..", "#####", "..#..", "..#..", "....."}},
    {':', {".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."}},
    {'/', {"....#", "....#", "...#.", "..#..", ".#...", "#....", "#...."}},
    {'(', {"...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."}},
    {')', {".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."}},
    {'%', {"##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##"}},
    {'=', {".....", ".....", "#####", ".....", "#####", ".....", "....."}},
    {' ', {}},
    {'?', {".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.."}},
};
// clang-format on

const Glyph* FindGlyph(char c) {
  for (const Glyph& g : kFont) {
    if (g.c == c) return &g;
  }
  return nullptr;
}

// ---- Drawing primitives.

constexpr Rgb kInk = {34, 34, 34};
constexpr Rgb kFrame = {90, 90, 90};
constexpr Rgb kGrid = {226, 226, 226};

void FillRect(RgbImage& image, int x0, int y0, int x1, int y1, Rgb c) {
  for (int y = y0; y <= y1; ++y) {
    for (int x = x0; x <= x1; ++x) image.Set(x, y, c);
  }
}

// Bresenham's line with a 2x2 brush, so curves read at a glance.
void ThickLine(RgbImage& image, int x0, int y0, int x1, int y1, Rgb c) {
  const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
  const int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
  for (int err = dx + dy;;) {
    FillRect(image, x0, y0, x0 + 1, y0 + 1, c);
    if (x0 == x1 && y0 == y1) break;
    const int e2 = 2 * err;
    if (e2 >= dy) {
      err += dy;
      x0 += sx;
    }
    if (e2 <= dx) {
      err += dx;
      y0 += sy;
    }
  }
}

// Curve i's marker: circle, square, diamond, triangle, then again; `r` pixels from the centre.
void Marker(RgbImage& image, int cx, int cy, int index, int r, Rgb c) {
  for (int dy = -r; dy <= r; ++dy) {
    for (int dx = -r; dx <= r; ++dx) {
      bool inside = false;
      switch (index % 4) {
        case 0: inside = dx * dx + dy * dy <= r * r + 1; break;
        case 1: inside = std::abs(dx) <= r - 1 && std::abs(dy) <= r - 1; break;
        case 2: inside = std::abs(dx) + std::abs(dy) <= r + 1; break;
        default: inside = 2 * std::abs(dx) <= dy + r; break;
      }
      if (inside) image.Set(cx + dx, cy + dy, c);
    }
  }
}

// ---- Axes.

// The 1, 2 or 5 times a power of ten nearest above `raw`.
double NiceStep(double raw) {
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / power;
  return (f <= 1.0 ? 1.0 : f <= 2.0 ? 2.0 : f <= 5.0 ? 5.0 : 10.0) * power;
}

struct Axis {
  double lo, hi, step;
  std::vector<double> Ticks() const {
    std::vector<double> ticks;
    for (double k = std::ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k += 1) {
      const double v = k * step;
      ticks.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);  // no "-0"
    }
    return ticks;
  }
  std::string Label(double v) const {
    const double magnitude = std::max(std::abs(lo), std::abs(hi));
    if (magnitude >= 1e6 || step < 1e-4) {
      const int digits = std::clamp(
          static_cast<int>(std::floor(std::log10(magnitude)) - std::floor(std::log10(step))), 0, 3);
      return absl::StrFormat("%.*e", digits, v);
    }
    const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
    return absl::StrFormat("%.*f", decimals, v);
  }
};

// A value axis that starts and ends on a tick.
Axis ValueAxis(double min, double max) {
  if (!(max > min)) {
    const double pad = min == 0 ? 1.0 : std::abs(min) * 0.1;
    min -= pad;
    max += pad;
  }
  const double step = NiceStep((max - min) / 5);
  return {std::floor(min / step) * step, std::ceil(max / step) * step, step};
}

// Epochs: whole-number ticks over exactly the epochs there are.
Axis EpochAxis(double min, double max) {
  if (!(max > min)) {
    min -= 1;
    max += 1;
  }
  return {min, max, std::max(1.0, NiceStep((max - min) / 8))};
}

// ---- Panels.

struct Curve {
  std::string name;
  std::vector<std::pair<double, double>> points;  // by epoch; y may be non-finite (a gap)
};

struct Panel {
  std::string title;
  std::vector<Curve> curves;
};

Panel MakePanel(const MetricsTable& table, const std::vector<int>& columns, std::string title) {
  std::vector<int> order;  // rows by epoch, rows without a finite epoch left out
  for (int r = 0; r < static_cast<int>(table.rows.size()); ++r) {
    if (std::isfinite(table.rows[r][table.epoch_column])) order.push_back(r);
  }
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return table.rows[a][table.epoch_column] < table.rows[b][table.epoch_column];
  });
  Panel panel{std::move(title), {}};
  for (int c : columns) {
    Curve curve{table.columns[c], {}};
    for (int r : order) curve.points.emplace_back(table.rows[r][table.epoch_column], table.rows[r][c]);
    panel.curves.push_back(std::move(curve));
  }
  return panel;
}

// "accuracy" for train_accuracy/test_accuracy; several metrics are joined with ", ".
std::string MetricTitle(const MetricsTable& table, const std::vector<int>& columns) {
  std::vector<std::string> names;
  for (int c : columns) {
    absl::string_view name = table.columns[c];
    if (!absl::ConsumePrefix(&name, "train_")) absl::ConsumePrefix(&name, "test_");
    if (std::find(names.begin(), names.end(), name) == names.end()) names.emplace_back(name);
  }
  return names.empty() ? "metric" : absl::StrJoin(names, ", ");
}

constexpr int kTextScale = 2;
constexpr int kTitleScale = 3;
constexpr int kLegendRowHeight = 28;
constexpr int kLegendSwatch = 30;

struct LegendEntry {
  int row, x;  // x relative to the legend's left edge
};

std::vector<LegendEntry> LayoutLegend(const Panel& panel, int max_width, int& rows) {
  std::vector<LegendEntry> entries;
  int x = 0, row = 0;
  for (const Curve& c : panel.curves) {
    const int w = kLegendSwatch + 8 + TextWidth(c.name, kTextScale);
    if (x > 0 && x + w > max_width) {
      ++row;
      x = 0;
    }
    entries.push_back({row, x});
    x += w + 28;
  }
  rows = panel.curves.empty() ? 0 : row + 1;
  return entries;
}

void DrawPanel(RgbImage& image, const Panel& panel, int ox, int oy, int width, int height) {
  const int char_h = 7 * kTextScale;
  DrawText(image, ox + (width - TextWidth(panel.title, kTitleScale)) / 2, oy + 14, panel.title,
           kInk, kTitleScale);

  int legend_rows = 0;
  const std::vector<LegendEntry> legend = LayoutLegend(panel, width - 60, legend_rows);
  const int legend_top = oy + height - 12 - legend_rows * kLegendRowHeight;
  const int axis_label_top = legend_top - 14 - char_h;
  const int tick_label_top = axis_label_top - 10 - char_h;
  const int top = oy + 14 + 7 * kTitleScale + 18;
  const int bottom = tick_label_top - 10;

  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (const Curve& c : panel.curves) {
    for (const auto& [x, y] : c.points) {
      if (!std::isfinite(y)) continue;
      xmin = std::min(xmin, x), xmax = std::max(xmax, x);
      ymin = std::min(ymin, y), ymax = std::max(ymax, y);
    }
  }
  const bool empty = !(xmin <= xmax);
  const Axis xaxis = empty ? Axis{0, 1, 1} : EpochAxis(xmin, xmax);
  const Axis yaxis = empty ? Axis{0, 1, 0.2} : ValueAxis(ymin, ymax);
  const std::vector<double> yticks = yaxis.Ticks();
  int label_width = 0;
  for (double v : yticks) label_width = std::max(label_width, TextWidth(yaxis.Label(v), kTextScale));
  const int left = ox + 16 + label_width + 10, right = ox + width - 24;

  // Data inset from the frame so markers at the ends of the axes show whole.
  const auto px = [&](double x) {
    return left + 10 + static_cast<int>(std::lround((x - xaxis.lo) / (xaxis.hi - xaxis.lo) *
                                                    (right - left - 20)));
  };
  const auto py = [&](double y) {
    return bottom - 8 - static_cast<int>(std::lround((y - yaxis.lo) / (yaxis.hi - yaxis.lo) *
                                                     (bottom - top - 16)));
  };

  for (double v : yticks) {
    const int y = py(v);
    FillRect(image, left + 1, y, right - 1, y, kGrid);
    FillRect(image, left - 5, y, left - 1, y, kFrame);
    const std::string label = yaxis.Label(v);
    DrawText(image, left - 8 - TextWidth(label, kTextScale), y - char_h / 2, label, kInk,
             kTextScale);
  }
  for (double v : xaxis.Ticks()) {
    const int x = px(v);
    FillRect(image, x, top + 1, x, bottom - 1, kGrid);
    FillRect(image, x, bottom + 1, x, bottom + 5, kFrame);
    const std::string label = xaxis.Label(v);
    DrawText(image, x - TextWidth(label, kTextScale) / 2, tick_label_top, label, kInk, kTextScale);
  }
  FillRect(image, left, top, right, top, kFrame);
  FillRect(image, left, bottom, right, bottom, kFrame);
  FillRect(image, left, top, left, bottom, kFrame);
  FillRect(image, right, top, right, bottom, kFrame);
  DrawText(image, (left + right - TextWidth("epoch", kTextScale)) / 2, axis_label_top, "epoch",
           kInk, kTextScale);
  if (empty) {
    DrawText(image, (left + right - TextWidth("no data", kTextScale)) / 2, (top + bottom) / 2,
             "no data", kInk, kTextScale);
  }

  // Smaller markers where many epochs crowd the axis, so the curve stays visible.
  size_t most_points = 1;
  for (const Curve& c : panel.curves) most_points = std::max(most_points, c.points.size());
  const int spacing = (right - left - 20) / static_cast<int>(most_points);
  const int marker_radius = std::clamp(spacing / 3, 2, 4);
  for (int i = 0; i < static_cast<int>(panel.curves.size()); ++i) {
    const Rgb colour = PlotColour(i);
    const auto& points = panel.curves[i].points;
    for (size_t k = 1; k < points.size(); ++k) {
      if (std::isfinite(points[k - 1].second) && std::isfinite(points[k].second)) {
        ThickLine(image, px(points[k - 1].first), py(points[k - 1].second), px(points[k].first),
                  py(points[k].second), colour);
      }
    }
    for (const auto& [x, y] : points) {
      if (std::isfinite(y)) Marker(image, px(x), py(y), i, marker_radius, colour);
    }
  }

  // The legend, centred below the axis label.
  int legend_width = 0;
  for (size_t i = 0; i < legend.size(); ++i) {
    legend_width = std::max(legend_width, legend[i].x + kLegendSwatch + 8 +
                                              TextWidth(panel.curves[i].name, kTextScale));
  }
  const int legend_left = ox + (width - legend_width) / 2;
  for (size_t i = 0; i < legend.size(); ++i) {
    const int x = legend_left + legend[i].x;
    const int y = legend_top + legend[i].row * kLegendRowHeight + char_h / 2;
    const Rgb colour = PlotColour(static_cast<int>(i));
    ThickLine(image, x, y, x + kLegendSwatch, y, colour);
    Marker(image, x + kLegendSwatch / 2, y, static_cast<int>(i), 4, colour);
    DrawText(image, x + kLegendSwatch + 8, y - char_h / 2, panel.curves[i].name, kInk,
             kTextScale);
  }
}

std::string ErrnoText() { return std::strerror(errno); }

}  // namespace

absl::StatusOr<MetricsTable> ParseMetricsCsv(absl::string_view text, absl::string_view source) {
  const std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  size_t first = 0;
  while (first < lines.size() && absl::StripAsciiWhitespace(lines[first]).empty()) ++first;
  if (first == lines.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": empty file; expected a header line such as "
                             "'epoch,step,train_loss,test_loss,...'"));
  }
  MetricsTable table;
  for (absl::string_view name : absl::StrSplit(lines[first], ',')) {
    table.columns.emplace_back(absl::StripAsciiWhitespace(name));
  }
  const auto epoch = std::find(table.columns.begin(), table.columns.end(), "epoch");
  if (epoch == table.columns.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ":", first + 1, ": the header has no 'epoch' column (header: '",
                     absl::StripAsciiWhitespace(lines[first]), "')"));
  }
  table.epoch_column = static_cast<int>(epoch - table.columns.begin());
  for (size_t i = first + 1; i < lines.size(); ++i) {
    const absl::string_view line = absl::StripAsciiWhitespace(lines[i]);
    if (line.empty()) continue;
    const std::vector<absl::string_view> cells = absl::StrSplit(line, ',');
    if (cells.size() != table.columns.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ":", i + 1, ": ", cells.size(), cells.size() == 1 ? " column" : " columns",
          ", but the header has ", table.columns.size()));
    }
    std::vector<double> row(cells.size());
    for (size_t c = 0; c < cells.size(); ++c) {
      const absl::string_view cell = absl::StripAsciiWhitespace(cells[c]);
      if (!absl::SimpleAtod(cell, &row[c])) {
        return absl::InvalidArgumentError(absl::StrCat(source, ":", i + 1, ": column '",
                                                       table.columns[c], "': '", cell,
                                                       "' is not a number"));
      }
    }
    table.rows.push_back(std::move(row));
  }
  if (table.rows.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": no data rows after the header"));
  }
  return table;
}

absl::StatusOr<MetricsTable> ReadMetricsCsv(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return absl::NotFoundError(absl::StrCat("cannot open ", path, ": ", ErrnoText()));
  std::string text;
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0) text.append(buffer, n);
  const bool failed = std::ferror(f) != 0;
  const std::string error = failed ? ErrnoText() : "";
  std::fclose(f);
  if (failed) return absl::InvalidArgumentError(absl::StrCat("cannot read ", path, ": ", error));
  return ParseMetricsCsv(text, path);
}

std::vector<int> LossColumns(const MetricsTable& table) {
  std::vector<int> columns;
  for (int c = 0; c < static_cast<int>(table.columns.size()); ++c) {
    if (absl::StrContains(table.columns[c], "loss")) columns.push_back(c);
  }
  return columns;
}

std::vector<int> MetricColumns(const MetricsTable& table) {
  std::vector<int> columns;
  for (int c = 0; c < static_cast<int>(table.columns.size()); ++c) {
    const std::string& name = table.columns[c];
    if ((absl::StartsWith(name, "train_") || absl::StartsWith(name, "test_")) &&
        !absl::StrContains(name, "loss")) {
      columns.push_back(c);
    }
  }
  return columns;
}

Rgb PlotColour(int index) {
  // Tableau's ten: distinct for most colour vision.
  static constexpr Rgb kPalette[] = {{31, 119, 180}, {255, 127, 14},  {44, 160, 44},
                                     {214, 39, 40},  {148, 103, 189}, {140, 86, 75},
                                     {227, 119, 194}, {127, 127, 127}, {188, 189, 34},
                                     {23, 190, 207}};
  return kPalette[index % 10];
}

RgbImage RenderMetricsPlot(const MetricsTable& table, const PlotOptions& options) {
  const int w = options.panel_width, h = options.panel_height;
  RgbImage image(options.stacked ? w : 2 * w, options.stacked ? 2 * h : h, kPlotBackground);
  const std::vector<int> metrics = MetricColumns(table);
  DrawPanel(image, MakePanel(table, LossColumns(table), "loss"), 0, 0, w, h);
  DrawPanel(image, MakePanel(table, metrics, MetricTitle(table, metrics)),
            options.stacked ? 0 : w, options.stacked ? h : 0, w, h);
  return image;
}

int DrawText(RgbImage& image, int x, int top, absl::string_view text, Rgb colour, int scale) {
  for (size_t i = 0; i < text.size(); ++i) {
    const Glyph* glyph = FindGlyph(absl::ascii_tolower(static_cast<unsigned char>(text[i])));
    if (glyph == nullptr) glyph = FindGlyph('?');
    const int gx = x + static_cast<int>(i) * kGlyphAdvance * scale;
    for (int row = 0; row < kGlyphRows; ++row) {
      const char* dots = glyph->rows[row];
      for (int col = 0; dots != nullptr && col < kGlyphWidth; ++col) {
        if (dots[col] == '#') {
          FillRect(image, gx + col * scale, top + row * scale, gx + (col + 1) * scale - 1,
                   top + (row + 1) * scale - 1, colour);
        }
      }
    }
  }
  return TextWidth(text, scale);
}

int TextWidth(absl::string_view text, int scale) {
  return text.empty() ? 0 : static_cast<int>(text.size() * kGlyphAdvance - 1) * scale;
}

bool HasGlyph(char c) { return FindGlyph(absl::ascii_tolower(static_cast<unsigned char>(c))); }

}  // namespace gatefuse
