#include "tools/plot.h"

#include <cmath>
#include <fstream>
#include <set>
#include <string>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatefuse {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kCsv[] = R"(epoch,step,train_loss,test_loss,train_accuracy,test_accuracy,examples_per_s,seconds
1,100,2.30,2.25,0.12,0.14,5400,1.9
2,200,1.70,1.80,0.41,0.39,5500,1.8
3,300,1.20,1.45,0.63,0.57,5480,1.8
4,400,0.90,nan,0.74,inf,5510,1.8
5,500,0.70,1.30,0.81,0.70,5490,1.8
)";

int CountPixels(const RgbImage& image, Rgb c, int x0 = 0, int x1 = -1) {
  if (x1 < 0) x1 = image.width();
  int n = 0;
  for (int y = 0; y < image.height(); ++y) {
    for (int x = x0; x < x1; ++x) n += image.Get(x, y) == c;
  }
  return n;
}

absl::Status ParseError(const std::string& text) {
  return ParseMetricsCsv(text, "m.csv").status();
}

TEST(PlotTest, ParsesTheMetricsCsv) {
  absl::StatusOr<MetricsTable> t = ParseMetricsCsv(kCsv, "m.csv");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->columns.size(), 8u);
  EXPECT_EQ(t->epoch_column, 0);
  ASSERT_EQ(t->rows.size(), 5u);
  EXPECT_DOUBLE_EQ(t->rows[2][3], 1.45);
  EXPECT_TRUE(std::isnan(t->rows[3][3]));
  EXPECT_TRUE(std::isinf(t->rows[3][5]));
  EXPECT_THAT(LossColumns(*t), ElementsAre(2, 3));
  EXPECT_THAT(MetricColumns(*t), ElementsAre(4, 5));
}

TEST(PlotTest, AcceptsCrlfAndBlankLines) {
  absl::StatusOr<MetricsTable> t =
      ParseMetricsCsv("\r\nepoch, train_loss\r\n1, 0.5\r\n\r\n2,0.25\r\n", "m.csv");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(t->columns, ElementsAre("epoch", "train_loss"));
  EXPECT_EQ(t->rows.size(), 2u);
}

TEST(PlotTest, ErrorsNameTheFileAndLine) {
  EXPECT_THAT(ParseError("").message(), HasSubstr("m.csv: empty file"));
  EXPECT_THAT(ParseError("\n \n").message(), HasSubstr("empty file"));
  EXPECT_THAT(ParseError("step,train_loss\n1,2\n").message(),
              HasSubstr("m.csv:1: the header has no 'epoch' column"));
  EXPECT_THAT(ParseError("epoch,train_loss\n").message(), HasSubstr("no data rows"));
  EXPECT_THAT(ParseError("epoch,train_loss\n1,0.5\n2,0.4,9\n").message(),
              HasSubstr("m.csv:3: 3 columns, but the header has 2"));
  EXPECT_THAT(ParseError("epoch,train_loss\n1,0.5\n\n2,abc\n").message(),
              HasSubstr("m.csv:4: column 'train_loss': 'abc' is not a number"));
  EXPECT_THAT(ParseError("epoch,train_loss\n1,\n").message(), HasSubstr("'' is not a number"));
}

TEST(PlotTest, MissingFileIsAnError) {
  absl::StatusOr<MetricsTable> t = ReadMetricsCsv("/nonexistent/metrics.csv");
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.status().message(), HasSubstr("cannot open /nonexistent/metrics.csv"));
}

TEST(PlotTest, ReadsAFile) {
  const std::string path = absl::StrCat(testing::TempDir(), "/metrics.csv");
  std::ofstream(path) << kCsv;
  absl::StatusOr<MetricsTable> t = ReadMetricsCsv(path);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->rows.size(), 5u);
}

TEST(PlotTest, RendersBothPanelsWithTheirCurves) {
  const MetricsTable table = ParseMetricsCsv(kCsv, "m.csv").value();
  const RgbImage image = RenderMetricsPlot(table, {.panel_width = 500, .panel_height = 400});
  ASSERT_EQ(image.width(), 1000);
  ASSERT_EQ(image.height(), 400);
  // Two curves in each half, each in its own colour, and no third colour from the palette.
  for (int half = 0; half < 2; ++half) {
    for (int i = 0; i < 2; ++i) {
      EXPECT_GT(CountPixels(image, PlotColour(i), half * 500, half * 500 + 500), 200)
          << "curve " << i << " in panel " << half;
    }
    EXPECT_EQ(CountPixels(image, PlotColour(2), half * 500, half * 500 + 500), 0);
  }
  const int background = CountPixels(image, kPlotBackground);
  EXPECT_LT(background, image.width() * image.height() * 98 / 100);
  EXPECT_GT(background, image.width() * image.height() / 2);
}

TEST(PlotTest, StackedPanelsAreOneAboveTheOther) {
  const MetricsTable table = ParseMetricsCsv(kCsv, "m.csv").value();
  const RgbImage image =
      RenderMetricsPlot(table, {.panel_width = 300, .panel_height = 250, .stacked = true});
  EXPECT_EQ(image.width(), 300);
  EXPECT_EQ(image.height(), 500);
}

TEST(PlotTest, NonFiniteValuesAreNotPlotted) {
  // Only the test curve's nan/inf separate the two tables; the finite points are identical.
  const std::string all_nan = R"(epoch,train_loss,test_loss
1,1.0,nan
2,0.5,inf
)";
  const MetricsTable table = ParseMetricsCsv(all_nan, "m.csv").value();
  const RgbImage image = RenderMetricsPlot(table, {.panel_width = 400, .panel_height = 300});
  // train_loss is drawn, test_loss has no point: only its legend swatch has its colour.
  const int train = CountPixels(image, PlotColour(0), 0, 400);
  const int test = CountPixels(image, PlotColour(1), 0, 400);
  EXPECT_GT(train, test);
  EXPECT_GT(test, 0);
  EXPECT_LT(test, 120);  // the swatch: a 30x2 line and a marker
}

TEST(PlotTest, FontCoversWhatLabelsUse) {
  for (char c : std::string("0123456789abcdefghijklmnopqrstuvwxyz.,-_+:/()%= ")) {
    EXPECT_TRUE(HasGlyph(c)) << "'" << c << "'";
  }
  RgbImage image(100, 30, kPlotBackground);
  EXPECT_EQ(DrawText(image, 2, 2, "1e-3", {0, 0, 0}, 2), TextWidth("1e-3", 2));
  EXPECT_EQ(TextWidth("1e-3", 2), (4 * 6 - 1) * 2);
  EXPECT_GT(CountPixels(image, {0, 0, 0}), 40);
  // Text in an unknown character still draws (as '?').
  RgbImage unknown(20, 30, kPlotBackground);
  DrawText(unknown, 2, 2, "#", {0, 0, 0}, 1);
  EXPECT_GT(CountPixels(unknown, {0, 0, 0}), 5);
}

}  // namespace
}  // namespace gatefuse
