#include "tools/progress.h"

#include <cstdio>
#include <string>

#include "gtest/gtest.h"

namespace gatefuse::cli {
namespace {

TEST(ProgressTest, FormatsBarAndNumbers) {
  EXPECT_EQ(FormatProgress({2, 10, 5, 10, 0.43216, 812.4, 41}, 10),
            "epoch 2/10 [=====>    ] 5/10  loss 0.4322  812 ex/s  ETA 0:41");
  EXPECT_EQ(FormatProgress({1, 1, 4, 4, 0, 0, 0}, 4),
            "epoch 1/1 [====] 4/4  loss 0.0000  0 ex/s  ETA 0:00");
}

TEST(ProgressTest, Durations) {
  EXPECT_EQ(FormatDuration(65), "1:05");
  EXPECT_EQ(FormatDuration(3723), "1:02:03");
  EXPECT_EQ(FormatDuration(-3), "0:00");
}

std::string Captured(bool terminal, int64_t batches) {
  std::FILE* f = std::tmpfile();
  ProgressBar bar(f, terminal);
  for (int64_t i = 1; i <= batches; ++i) bar.Update({1, 1, i, batches, 0.5, 10, 0});
  bar.Clear();
  std::rewind(f);
  std::string out;
  for (int c; (c = std::fgetc(f)) != EOF;) out.push_back(static_cast<char>(c));
  std::fclose(f);
  return out;
}

TEST(ProgressTest, PlainLinesWithoutATerminal) {
  const std::string out = Captured(false, 8);
  EXPECT_EQ(out.find('\r'), std::string::npos);
  int lines = 0;
  for (char c : out) lines += c == '\n';
  EXPECT_EQ(lines, 3);  // at 2/8, 4/8, 6/8; the epoch's end is the caller's line
}

TEST(ProgressTest, RedrawsInPlaceOnATerminal) {
  const std::string out = Captured(true, 8);
  EXPECT_NE(out.find('\r'), std::string::npos);
  EXPECT_EQ(out.find('\n'), std::string::npos);
  EXPECT_NE(out.find("8/8"), std::string::npos);  // the last batch is always drawn
}

}  // namespace
}  // namespace gatefuse::cli
