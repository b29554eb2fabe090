#include "tools/plot.h"

#include <cairo/cairo.h>
#include <fontconfig/fontconfig.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "gmock/gmock.h"
#include "core/file_io_testing.h"
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

// ---- A PNG read back through cairo, independently of how it was drawn.

struct Image {
  int width = 0, height = 0;
  std::vector<Rgb> pixels;  // row-major
  Rgb At(int x, int y) const { return pixels[static_cast<size_t>(y) * width + x]; }
};

struct PngReader {
  const std::string* bytes;
  size_t offset = 0;
};

cairo_status_t ReadPng(void* closure, unsigned char* data, unsigned int length) {
  PngReader* r = static_cast<PngReader*>(closure);
  if (r->offset + length > r->bytes->size()) return CAIRO_STATUS_READ_ERROR;
  std::memcpy(data, r->bytes->data() + r->offset, length);
  r->offset += length;
  return CAIRO_STATUS_SUCCESS;
}

// An empty image (width 0) if cairo cannot decode `png`.
Image DecodePng(const std::string& png) {
  PngReader reader{&png};
  cairo_surface_t* s = cairo_image_surface_create_from_png_stream(ReadPng, &reader);
  Image image;
  if (cairo_surface_status(s) == CAIRO_STATUS_SUCCESS) {
    cairo_surface_flush(s);
    image.width = cairo_image_surface_get_width(s);
    image.height = cairo_image_surface_get_height(s);
    const int stride = cairo_image_surface_get_stride(s);
    const unsigned char* data = cairo_image_surface_get_data(s);
    for (int y = 0; y < image.height; ++y) {
      for (int x = 0; x < image.width; ++x) {
        uint32_t p;  // 0xAARRGGBB in native byte order, for RGB24 and ARGB32 alike
        std::memcpy(&p, data + static_cast<size_t>(y) * stride + 4 * x, 4);
        image.pixels.push_back({static_cast<uint8_t>(p >> 16), static_cast<uint8_t>(p >> 8),
                                static_cast<uint8_t>(p)});
      }
    }
  }
  cairo_surface_destroy(s);
  return image;
}

Image RenderPng(const MetricsTable& table, const PlotOptions& options) {
  absl::StatusOr<std::string> png = RenderMetricsPlot(table, PlotFormat::kPng, options);
  EXPECT_TRUE(png.ok()) << png.status();
  return png.ok() ? DecodePng(*png) : Image();
}

// Antialiasing blends edges into the background, so a colour counts within a small distance.
bool Near(Rgb a, Rgb b, int tolerance = 10) {
  return std::abs(a.r - b.r) <= tolerance && std::abs(a.g - b.g) <= tolerance &&
         std::abs(a.b - b.b) <= tolerance;
}

bool Dark(Rgb c) { return c.r < 110 && c.g < 110 && c.b < 110; }

struct Region {
  int x0, y0, x1, y1;  // half-open
};

template <typename Pred>
int Count(const Image& image, const Region& r, Pred pred) {
  int n = 0;
  for (int y = r.y0; y < r.y1; ++y) {
    for (int x = r.x0; x < r.x1; ++x) n += pred(image.At(x, y));
  }
  return n;
}

int CountNear(const Image& image, Rgb c, const Region& r) {
  return Count(image, r, [&](Rgb p) { return Near(p, c); });
}

MetricsTable Table(const std::string& csv = kCsv) { return ParseMetricsCsv(csv, "m.csv").value(); }

absl::Status ParseError(const std::string& text) {
  return ParseMetricsCsv(text, "m.csv").status();
}

// cairo and fontconfig keep the fonts they load until the process ends; freed at the end of the
// run, so LeakSanitizer reports only what the plot code itself leaks.
class ReleaseFontCaches : public ::testing::Environment {
 public:
  void TearDown() override {
    cairo_debug_reset_static_data();
    FcFini();
  }
};
const ::testing::Environment* const kReleaseFontCaches =
    ::testing::AddGlobalTestEnvironment(new ReleaseFontCaches);

// ---- The CSV.

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
  EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(t.status().message(), HasSubstr("cannot open /nonexistent/metrics.csv"));
}

TEST(PlotTest, ReadsAFile) {
  const std::string path = NewTestFolder("plot") + "/metrics.csv";
  ASSERT_TRUE(WriteFileAtomically(path, kCsv).ok());
  absl::StatusOr<MetricsTable> t = ReadMetricsCsv(path);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->rows.size(), 5u);
}

// ---- Formats.

TEST(PlotTest, TheFormatComesFromTheExtension) {
  EXPECT_EQ(PlotFormatForPath("a/b.png").value(), PlotFormat::kPng);
  EXPECT_EQ(PlotFormatForPath("curves.SVG").value(), PlotFormat::kSvg);
  EXPECT_EQ(PlotFormatForPath("x.y/curves.pdf").value(), PlotFormat::kPdf);
  const absl::Status jpg = PlotFormatForPath("out/curves.jpg").status();
  EXPECT_EQ(jpg.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(jpg.message(),
              HasSubstr("out/curves.jpg: unknown plot format '.jpg' (use .png, .svg or .pdf)"));
  EXPECT_THAT(PlotFormatForPath("run.d/curves").status().message(),
              HasSubstr("run.d/curves: no file extension"));
}

TEST(PlotTest, PngDecodesWithTheRightSize) {
  const Image wide = RenderPng(Table(), {.panel_width = 500, .panel_height = 400});
  EXPECT_EQ(wide.width, 1000);
  EXPECT_EQ(wide.height, 400);
  const Image stacked =
      RenderPng(Table(), {.panel_width = 300, .panel_height = 250, .stacked = true});
  EXPECT_EQ(stacked.width, 300);
  EXPECT_EQ(stacked.height, 500);
}

TEST(PlotTest, SvgIsTextWithDrawingElements) {
  absl::StatusOr<std::string> svg = RenderMetricsPlot(Table(), PlotFormat::kSvg);
  ASSERT_TRUE(svg.ok()) << svg.status();
  EXPECT_TRUE(absl::StartsWith(*svg, "<?xml") || absl::StartsWith(*svg, "<svg")) << *svg;
  EXPECT_EQ(svg->find('\0'), std::string::npos);
  EXPECT_THAT(*svg, HasSubstr("<svg"));
  EXPECT_THAT(*svg, HasSubstr("width=\"1280px\" height=\"480px\""));
  EXPECT_THAT(*svg, HasSubstr("<path"));
  // Both curve colours appear as strokes or fills (cairo writes percentages).
  EXPECT_THAT(*svg, HasSubstr("rgb(12.156863%,46.666667%,70.588235%)"));  // PlotColour(0)
  EXPECT_THAT(*svg, HasSubstr("rgb(100%,49.803922%,5.490196%)"));        // PlotColour(1)
  const size_t end = svg->rfind("</svg>");
  ASSERT_NE(end, std::string::npos);
  EXPECT_EQ(svg->find_first_not_of(" \n", end + 6), std::string::npos);  // nothing after it
}

TEST(PlotTest, PdfIsAPdfDocument) {
  absl::StatusOr<std::string> pdf = RenderMetricsPlot(Table(), PlotFormat::kPdf);
  ASSERT_TRUE(pdf.ok()) << pdf.status();
  EXPECT_TRUE(absl::StartsWith(*pdf, "%PDF-")) << pdf->substr(0, 16);
  EXPECT_THAT(pdf->substr(pdf->size() - 8), HasSubstr("%%EOF"));
  // The page is the pixel size at 96 dpi: 1280x480 px = 960x360 pt.
  EXPECT_THAT(*pdf, HasSubstr("/MediaBox [ 0 0 960 360 ]"));
}

TEST(PlotTest, ImpossibleSizesAreRefused) {
  const absl::Status s =
      RenderMetricsPlot(Table(), PlotFormat::kPng, {.panel_width = 0}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("a plot of 0x480 pixels cannot be drawn"));
  EXPECT_FALSE(RenderMetricsPlot(Table(), PlotFormat::kSvg, {.panel_width = 20000}).ok());
}

// ---- What is drawn.

TEST(PlotTest, RendersBothPanelsWithTheirCurves) {
  const Image image = RenderPng(Table(), {.panel_width = 500, .panel_height = 400});
  ASSERT_EQ(image.width, 1000);
  // Two curves in each half, each in its own colour, and no third colour from the palette.
  for (int half = 0; half < 2; ++half) {
    const Region panel{half * 500, 0, half * 500 + 500, 400};
    for (int i = 0; i < 2; ++i) {
      EXPECT_GT(CountNear(image, PlotColour(i), panel), 200) << "curve " << i << " panel " << half;
    }
    EXPECT_EQ(CountNear(image, PlotColour(2), panel), 0);
  }
  const Region all{0, 0, image.width, image.height};
  const int background = CountNear(image, kPlotBackground, all);
  EXPECT_LT(background, image.width * image.height * 98 / 100);
  EXPECT_GT(background, image.width * image.height / 2);
  // Antialiased: edges are blends, not only the palette and the background.
  const int blends = Count(image, all, [](Rgb p) {
    return !Near(p, kPlotBackground, 3) && !Near(p, PlotColour(0), 3) &&
           !Near(p, PlotColour(1), 3) && !Dark(p);
  });
  EXPECT_GT(blends, 500);
}

TEST(PlotTest, NonFiniteValuesAreNotPlotted) {
  const MetricsTable table = Table("epoch,train_loss,test_loss\n1,1.0,nan\n2,0.5,inf\n");
  const Image image = RenderPng(table, {.panel_width = 400, .panel_height = 300});
  const Region loss{0, 0, 400, 300};
  // train_loss is drawn, test_loss has no point: only its legend swatch has its colour.
  const int train = CountNear(image, PlotColour(0), loss);
  const int test = CountNear(image, PlotColour(1), loss);
  EXPECT_GT(train, test);
  EXPECT_GT(test, 0);
  EXPECT_LT(test, 120);  // the swatch: a 30x2 line and a marker
}

// The bounding box of the pixels in which two renderings differ, inside `r`.
Region Difference(const Image& a, const Image& b, const Region& r) {
  Region box{r.x1, r.y1, r.x0, r.y0};
  for (int y = r.y0; y < r.y1; ++y) {
    for (int x = r.x0; x < r.x1; ++x) {
      if (a.At(x, y) == b.At(x, y)) continue;
      box = {std::min(box.x0, x), std::min(box.y0, y), std::max(box.x1, x + 1),
             std::max(box.y1, y + 1)};
    }
  }
  return box;
}

TEST(PlotTest, TheAxisLabelIsRealText) {
  PlotOptions options{.panel_width = 500, .panel_height = 400};
  const Image with = RenderPng(Table(), options);
  options.x_label = "";
  const Image without = RenderPng(Table(), options);
  ASSERT_EQ(with.width, 1000);
  ASSERT_EQ(without.width, 1000);
  for (int half = 0; half < 2; ++half) {
    SCOPED_TRACE(half);
    const Region box = Difference(with, without, {half * 500, 0, half * 500 + 500, 400});
    // Only the label differs: a word-sized box centred under the plot, above the legend.
    ASSERT_LT(box.x0, box.x1) << "the label drew nothing";
    EXPECT_GT(box.x1 - box.x0, 25);
    EXPECT_LT(box.x1 - box.x0, 80);
    EXPECT_GT(box.y1 - box.y0, 8);
    EXPECT_LT(box.y1 - box.y0, 20);
    EXPECT_NEAR((box.x0 + box.x1) / 2.0, half * 500 + 265, 30);
    EXPECT_GT(box.y0, 300);
    EXPECT_LT(box.y1, 380);
    // In the text colour, with antialiased edges, where the other plot is blank.
    EXPECT_GT(Count(with, box, [](Rgb p) { return Near(p, kPlotInk, 40); }), 30);
    EXPECT_EQ(Count(without, box, Dark), 0);
    EXPECT_GT(Count(with, box, [](Rgb p) { return !Dark(p) && !Near(p, kPlotBackground, 3); }),
              10);
  }
}

TEST(PlotTest, TitlesTickLabelsAndLegendAreDrawn) {
  const Image image = RenderPng(Table(), {.panel_width = 500, .panel_height = 400});
  for (int half = 0; half < 2; ++half) {
    SCOPED_TRACE(half);
    const int x0 = half * 500;
    EXPECT_GT(Count(image, {x0 + 200, 0, x0 + 300, 36}, Dark), 40);   // the title
    EXPECT_GT(Count(image, {x0, 60, x0 + 50, 300}, Dark), 60);        // y tick labels
    EXPECT_GT(Count(image, {x0 + 60, 370, x0 + 440, 400}, Dark), 60); // legend names
  }
  // "no data" where a panel has no finite point.
  const MetricsTable nothing = Table("epoch,train_loss\n1,nan\n");
  const Image empty = RenderPng(nothing, {.panel_width = 400, .panel_height = 300});
  EXPECT_GT(Count(empty, {100, 100, 300, 200}, Dark), 40);
}

TEST(PlotTest, ColumnNamesThatAreNotUtf8StillDraw) {
  const MetricsTable table = Table("epoch,train_lo\xffss,test_\xc3(loss\n1,1,2\n2,0.5,1\n");
  absl::StatusOr<std::string> png = RenderMetricsPlot(table, PlotFormat::kPng);
  ASSERT_TRUE(png.ok()) << png.status();
  EXPECT_EQ(DecodePng(*png).width, 1280);
}

// ---- Files.

TEST(PlotTest, WritesEachFormatAtomicallyByItsExtension) {
  const std::string folder = NewTestFolder("plot");
  for (const char* name : {"c.png", "c.svg", "c.pdf"}) {
    ASSERT_TRUE(WriteMetricsPlot(Table(), folder + "/" + name).ok()) << name;
  }
  EXPECT_EQ(DecodePng(ReadFile(folder + "/c.png").value()).height, 480);
  EXPECT_TRUE(absl::StartsWith(ReadFile(folder + "/c.svg").value(), "<?xml"));
  EXPECT_TRUE(absl::StartsWith(ReadFile(folder + "/c.pdf").value(), "%PDF-"));
  EXPECT_EQ(ListFolder(folder), (std::set<std::string>{"c.pdf", "c.png", "c.svg"}));

  const absl::Status bad = WriteMetricsPlot(Table(), folder + "/c.gif");
  EXPECT_THAT(bad.message(), HasSubstr("unknown plot format '.gif'"));
  const absl::Status missing = WriteMetricsPlot(Table(), folder + "/none/c.png");
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.message(), HasSubstr(folder + "/none/c.png"));
  EXPECT_EQ(ListFolder(folder).size(), 3u);  // neither failure left a file
}

}  // namespace
}  // namespace gatefuse
