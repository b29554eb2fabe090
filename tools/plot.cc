#include "tools/plot.h"

#include <cairo/cairo-pdf.h>
#include <cairo/cairo-svg.h>
#include <cairo/cairo.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/file_io.h"
#include "core/status.h"

namespace gatefuse {
namespace {

// ---- Drawing primitives.

constexpr Rgb kFrame = {90, 90, 90};
constexpr Rgb kGrid = {226, 226, 226};

constexpr double kTextSize = 13;  // tick labels, axis label, legend; pixels
constexpr double kTitleSize = 18;
constexpr double kCurveWidth = 2;
constexpr int kLegendRowHeight = 24;
constexpr int kLegendSwatch = 30;
constexpr int kMaxSide = 32767;              // cairo's image surfaces go no larger
constexpr double kPdfPointsPerPixel = 0.75;  // a pixel at 96 dpi

void SetColour(cairo_t* cr, Rgb c) {
  cairo_set_source_rgb(cr, c.r / 255.0, c.g / 255.0, c.b / 255.0);
}

void SetFont(cairo_t* cr, double size, bool bold = false) {
  cairo_select_font_face(cr, kPlotFont, CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
}

// cairo puts the whole drawing in an error state over one string that is not UTF-8, and column
// names come from a file: each byte of a malformed sequence (and NUL, which would end the C
// string early) becomes '?'.
std::string DrawableText(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const unsigned char lead = s[i];
    const int n = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3
                                  : (lead >> 3) == 0x1E ? 4 : 0;
    bool ok = n > 0 && i + n <= s.size() && lead != 0;
    uint32_t cp = n == 1 ? lead : n == 2 ? lead & 0x1F : n == 3 ? lead & 0x0F : lead & 0x07;
    for (int k = 1; ok && k < n; ++k) {
      const unsigned char c = s[i + k];
      ok = (c >> 6) == 0x2;
      cp = (cp << 6) | (c & 0x3F);
    }
    // Overlong forms, surrogates and code points past Unicode are malformed too.
    if (ok && n > 1) {
      const uint32_t min = n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
      ok = cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    }
    if (ok) {
      out.append(s.data() + i, n);
      i += n;
    } else {
      out.push_back('?');
      ++i;
    }
  }
  return out;
}

double TextWidth(cairo_t* cr, absl::string_view text) {
  cairo_text_extents_t e;
  cairo_text_extents(cr, DrawableText(text).c_str(), &e);
  return e.x_advance;
}

// How far a digit reaches above the baseline in the current font: what centres a label on a
// tick and spaces the rows of text.
double CapHeight(cairo_t* cr) {
  cairo_text_extents_t e;
  cairo_text_extents(cr, "0", &e);
  return -e.y_bearing;
}

enum class Align { kLeft, kCentre, kRight };

void DrawText(cairo_t* cr, double x, double baseline, absl::string_view text, Align align) {
  if (text.empty()) return;
  if (align != Align::kLeft) x -= TextWidth(cr, text) * (align == Align::kCentre ? 0.5 : 1.0);
  SetColour(cr, kPlotInk);
  cairo_move_to(cr, x, baseline);
  cairo_show_text(cr, DrawableText(text).c_str());
  cairo_new_path(cr);
}

// Curve i's marker: circle, square, diamond, triangle, then again; about `r` from the centre.
void Marker(cairo_t* cr, double cx, double cy, int index, double r, Rgb c) {
  cairo_new_path(cr);
  switch (index % 4) {
    case 0:
      cairo_arc(cr, cx, cy, r, 0, 2 * M_PI);
      break;
    case 1:
      cairo_rectangle(cr, cx - 0.85 * r, cy - 0.85 * r, 1.7 * r, 1.7 * r);
      break;
    case 2:
      cairo_move_to(cr, cx, cy - 1.25 * r);
      cairo_line_to(cr, cx + 1.25 * r, cy);
      cairo_line_to(cr, cx, cy + 1.25 * r);
      cairo_line_to(cr, cx - 1.25 * r, cy);
      cairo_close_path(cr);
      break;
    default:
      cairo_move_to(cr, cx, cy - 1.2 * r);
      cairo_line_to(cr, cx + 1.15 * r, cy + 0.85 * r);
      cairo_line_to(cr, cx - 1.15 * r, cy + 0.85 * r);
      cairo_close_path(cr);
      break;
  }
  SetColour(cr, c);
  cairo_fill(cr);
}

void StrokeLine(cairo_t* cr, double x0, double y0, double x1, double y1, double width, Rgb c) {
  cairo_new_path(cr);
  cairo_move_to(cr, x0, y0);
  cairo_line_to(cr, x1, y1);
  cairo_set_line_width(cr, width);
  SetColour(cr, c);
  cairo_stroke(cr);
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

struct LegendEntry {
  int row;
  double x;  // relative to the legend's left edge
};

// In the current (text) font.
std::vector<LegendEntry> LayoutLegend(cairo_t* cr, const Panel& panel, double max_width,
                                      int& rows) {
  std::vector<LegendEntry> entries;
  double x = 0;
  int row = 0;
  for (const Curve& c : panel.curves) {
    const double w = kLegendSwatch + 8 + TextWidth(cr, c.name);
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

// Lines of one pixel sit on pixel centres (n + 0.5), so they stay crisp instead of smearing
// over two rows.
double Crisp(double v) { return std::round(v) + 0.5; }

void DrawPanel(cairo_t* cr, const Panel& panel, const std::string& x_label, int ox, int oy,
               int width, int height) {
  SetFont(cr, kTitleSize, /*bold=*/true);
  const double title_baseline = oy + 12 + CapHeight(cr);
  DrawText(cr, ox + width / 2.0, title_baseline, panel.title, Align::kCentre);

  // From the bottom up: legend rows, the axis label, the tick labels, then the plot area. The
  // layout does not depend on the label's text, so a plot without one has the same axes.
  SetFont(cr, kTextSize);
  const double cap = CapHeight(cr);
  int legend_rows = 0;
  const std::vector<LegendEntry> legend = LayoutLegend(cr, panel, width - 60, legend_rows);
  const double legend_top = oy + height - 8 - legend_rows * kLegendRowHeight;
  const double axis_label_baseline = legend_top - 10;  // room for descenders ("epoch")
  const double tick_label_baseline = axis_label_baseline - cap - 12;
  const double top = std::floor(title_baseline + 16);
  const double bottom = std::floor(tick_label_baseline - cap - 10);

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
  double label_width = 0;
  for (double v : yticks) label_width = std::max(label_width, TextWidth(cr, yaxis.Label(v)));
  const double left = std::floor(ox + 16 + label_width + 10), right = ox + width - 24;

  // Data inset from the frame so markers at the ends of the axes show whole.
  const auto px = [&](double x) {
    return left + 10 + (x - xaxis.lo) / (xaxis.hi - xaxis.lo) * (right - left - 20);
  };
  const auto py = [&](double y) {
    return bottom - 8 - (y - yaxis.lo) / (yaxis.hi - yaxis.lo) * (bottom - top - 16);
  };

  const std::vector<double> xticks = xaxis.Ticks();
  cairo_new_path(cr);
  for (double v : yticks) {
    cairo_move_to(cr, left + 1, Crisp(py(v)));
    cairo_line_to(cr, right - 1, Crisp(py(v)));
  }
  for (double v : xticks) {
    cairo_move_to(cr, Crisp(px(v)), top + 1);
    cairo_line_to(cr, Crisp(px(v)), bottom - 1);
  }
  cairo_set_line_width(cr, 1);
  SetColour(cr, kGrid);
  cairo_stroke(cr);

  for (double v : yticks) {
    cairo_move_to(cr, left - 5, Crisp(py(v)));
    cairo_line_to(cr, left, Crisp(py(v)));
  }
  for (double v : xticks) {
    cairo_move_to(cr, Crisp(px(v)), bottom);
    cairo_line_to(cr, Crisp(px(v)), bottom + 5);
  }
  cairo_rectangle(cr, left + 0.5, top + 0.5, right - left, bottom - top);
  SetColour(cr, kFrame);
  cairo_stroke(cr);

  for (double v : yticks) {
    DrawText(cr, left - 8, Crisp(py(v)) + cap / 2, yaxis.Label(v), Align::kRight);
  }
  for (double v : xticks) {
    DrawText(cr, Crisp(px(v)), tick_label_baseline, xaxis.Label(v), Align::kCentre);
  }
  DrawText(cr, (left + right) / 2, axis_label_baseline, x_label, Align::kCentre);
  if (empty) DrawText(cr, (left + right) / 2, (top + bottom + cap) / 2, "no data", Align::kCentre);

  // Smaller markers where many epochs crowd the axis, so the curve stays visible.
  size_t most_points = 1;
  for (const Curve& c : panel.curves) most_points = std::max(most_points, c.points.size());
  const double spacing = (right - left - 20) / static_cast<double>(most_points);
  const double marker_radius = std::clamp(spacing / 3, 2.5, 4.0);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
  for (int i = 0; i < static_cast<int>(panel.curves.size()); ++i) {
    const Rgb colour = PlotColour(i);
    const auto& points = panel.curves[i].points;
    // One path per finite run, so the joins are smooth and a gap really breaks the curve.
    cairo_new_path(cr);
    bool drawing = false;
    for (const auto& [x, y] : points) {
      if (!std::isfinite(y)) {
        drawing = false;
        continue;
      }
      if (drawing) {
        cairo_line_to(cr, px(x), py(y));
      } else {
        cairo_move_to(cr, px(x), py(y));
      }
      drawing = true;
    }
    cairo_set_line_width(cr, kCurveWidth);
    SetColour(cr, colour);
    cairo_stroke(cr);
    for (const auto& [x, y] : points) {
      if (std::isfinite(y)) Marker(cr, px(x), py(y), i, marker_radius, colour);
    }
  }

  // The legend, centred below the axis label.
  double legend_width = 0;
  for (size_t i = 0; i < legend.size(); ++i) {
    legend_width = std::max(legend_width, legend[i].x + kLegendSwatch + 8 +
                                              TextWidth(cr, panel.curves[i].name));
  }
  const double legend_left = std::floor(ox + (width - legend_width) / 2);
  for (size_t i = 0; i < legend.size(); ++i) {
    const double x = legend_left + legend[i].x;
    const double y = legend_top + legend[i].row * kLegendRowHeight + kLegendRowHeight / 2.0;
    const Rgb colour = PlotColour(static_cast<int>(i));
    StrokeLine(cr, x, y, x + kLegendSwatch, y, kCurveWidth, colour);
    Marker(cr, x + kLegendSwatch / 2.0, y, static_cast<int>(i), 4, colour);
    DrawText(cr, x + kLegendSwatch + 8, y + cap / 2, panel.curves[i].name, Align::kLeft);
  }
}

void DrawPlot(cairo_t* cr, const MetricsTable& table, const PlotOptions& options) {
  SetColour(cr, kPlotBackground);
  cairo_paint(cr);
  const int w = options.panel_width, h = options.panel_height;
  const std::vector<int> metrics = MetricColumns(table);
  DrawPanel(cr, MakePanel(table, LossColumns(table), "loss"), options.x_label, 0, 0, w, h);
  DrawPanel(cr, MakePanel(table, metrics, MetricTitle(table, metrics)), options.x_label,
            options.stacked ? 0 : w, options.stacked ? h : 0, w, h);
}

// ---- Output.

// cairo's write callback: every format goes into one string, which WriteFileAtomically then
// writes whole.
cairo_status_t AppendToString(void* closure, const unsigned char* data, unsigned int length) {
  // No exception may unwind through cairo's C frames.
  try {
    static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  } catch (...) {
    return CAIRO_STATUS_WRITE_ERROR;
  }
  return CAIRO_STATUS_SUCCESS;
}

struct SurfaceDeleter {
  void operator()(cairo_surface_t* s) const { cairo_surface_destroy(s); }
};
struct ContextDeleter {
  void operator()(cairo_t* cr) const { cairo_destroy(cr); }
};

absl::Status CairoError(absl::string_view what, cairo_status_t status) {
  return absl::InternalError(
      absl::StrCat("cairo could not ", what, ": ", cairo_status_to_string(status)));
}

// A vector surface streams into `out` as it is drawn and finished; the image surface is
// encoded afterwards.
cairo_surface_t* NewSurface(PlotFormat format, int width, int height, std::string* out) {
  switch (format) {
    case PlotFormat::kSvg: {
      cairo_surface_t* s = cairo_svg_surface_create_for_stream(AppendToString, out, width, height);
      cairo_svg_surface_set_document_unit(s, CAIRO_SVG_UNIT_PX);
      return s;
    }
    case PlotFormat::kPdf:
      return cairo_pdf_surface_create_for_stream(AppendToString, out, width * kPdfPointsPerPixel,
                                                 height * kPdfPointsPerPixel);
    case PlotFormat::kPng:
      break;
  }
  return cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
}

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
  GF_ASSIGN_OR_RETURN(const std::string text, ReadFile(path));
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

absl::StatusOr<PlotFormat> PlotFormatForPath(absl::string_view path) {
  const size_t slash = path.find_last_of('/');
  const absl::string_view name = slash == absl::string_view::npos ? path : path.substr(slash + 1);
  const size_t dot = name.find_last_of('.');
  if (dot == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": no file extension to choose the plot format by (.png, .svg or .pdf)"));
  }
  const absl::string_view extension = name.substr(dot);
  const std::string lower = absl::AsciiStrToLower(extension);
  if (lower == ".png") return PlotFormat::kPng;
  if (lower == ".svg") return PlotFormat::kSvg;
  if (lower == ".pdf") return PlotFormat::kPdf;
  return absl::InvalidArgumentError(absl::StrCat(path, ": unknown plot format '", extension,
                                                 "' (use .png, .svg or .pdf)"));
}

absl::StatusOr<std::string> RenderMetricsPlot(const MetricsTable& table, PlotFormat format,
                                              const PlotOptions& options) {
  const int64_t w = int64_t{options.panel_width} * (options.stacked ? 1 : 2);
  const int64_t h = int64_t{options.panel_height} * (options.stacked ? 2 : 1);
  if (options.panel_width < 1 || options.panel_height < 1 || w > kMaxSide || h > kMaxSide) {
    return absl::InvalidArgumentError(absl::StrCat("a plot of ", w, "x", h,
                                                   " pixels cannot be drawn (1 to ", kMaxSide,
                                                   " pixels a side)"));
  }
  // Declared before the surface, which may still write into it while it is destroyed.
  std::string bytes;
  const std::unique_ptr<cairo_surface_t, SurfaceDeleter> surface(
      NewSurface(format, static_cast<int>(w), static_cast<int>(h), &bytes));
  if (cairo_surface_status(surface.get()) != CAIRO_STATUS_SUCCESS) {
    return CairoError("create a surface", cairo_surface_status(surface.get()));
  }
  {
    const std::unique_ptr<cairo_t, ContextDeleter> cr(cairo_create(surface.get()));
    if (format == PlotFormat::kPdf) cairo_scale(cr.get(), kPdfPointsPerPixel, kPdfPointsPerPixel);
    DrawPlot(cr.get(), table, options);
    if (cairo_status(cr.get()) != CAIRO_STATUS_SUCCESS) {
      return CairoError("draw the plot", cairo_status(cr.get()));
    }
  }
  cairo_status_t status;
  if (format == PlotFormat::kPng) {
    status = cairo_surface_write_to_png_stream(surface.get(), AppendToString, &bytes);
  } else {
    cairo_surface_finish(surface.get());  // writes the rest of the document
    status = cairo_surface_status(surface.get());
  }
  if (status != CAIRO_STATUS_SUCCESS) return CairoError("encode the plot", status);
  return bytes;
}

absl::Status WriteMetricsPlot(const MetricsTable& table, const std::string& path,
                              const PlotOptions& options) {
  GF_ASSIGN_OR_RETURN(const PlotFormat format, PlotFormatForPath(path));
  GF_ASSIGN_OR_RETURN(const std::string bytes, RenderMetricsPlot(table, format, options));
  return WriteFileAtomically(path, bytes);
}

}  // namespace gatefuse
