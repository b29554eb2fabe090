#include "models/data/datasets.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatefuse {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Writes `contents` to a fresh file in the test's temporary directory.
std::string WriteTempFile(const std::string& name, const std::string& contents) {
  const std::string path = (std::filesystem::path(testing::TempDir()) / name).string();
  std::ofstream(path, std::ios::binary) << contents;
  return path;
}

TEST(LoadSentimentTest, ReadsSentencesAndLabels) {
  const std::string path = WriteTempFile(
      "good.txt",
      "So there is no way for me to plug it in here in the US.\t0\n"
      "Good case, Excellent value.\t1\r\n"
      "\n"
      "Great for the jawbone.  \t 1 \n");
  absl::StatusOr<SentimentData> data = LoadSentiment(path);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->sentences,
              ElementsAre("So there is no way for me to plug it in here in the US.",
                          "Good case, Excellent value.", "Great for the jawbone."));
  EXPECT_THAT(data->labels, ElementsAre(0, 1, 1));
}

TEST(LoadSentimentTest, ALastTabSeparatesTheLabel) {
  absl::StatusOr<SentimentData> data = LoadSentiment(WriteTempFile("tabs.txt", "a\tb\t1"));
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->sentences, ElementsAre("a\tb"));
}

TEST(LoadSentimentTest, MalformedLinesNameFileAndLine) {
  struct Case {
    const char* contents;
    const char* message;
  };
  const Case cases[] = {
      {"fine\t1\nno tab here\n", ":2: expected \"sentence<TAB>label\", found no tab"},
      {"fine\t1\n\nbad label\t2\n", ":3: label must be 0 or 1, found \"2\""},
      {"missing label\t\n", ":1: label must be 0 or 1, found \"\""},
      {"x\tpositive\n", ":1: label must be 0 or 1, found \"positive\""},
      {"  \t0\n", ":1: empty sentence"},
  };
  for (const Case& c : cases) {
    const std::string path = WriteTempFile("bad.txt", c.contents);
    absl::Status status = LoadSentiment(path).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.contents;
    EXPECT_THAT(std::string(status.message()), HasSubstr(path + c.message)) << c.contents;
  }
}

TEST(LoadSentimentTest, EmptyFileIsAnError) {
  absl::Status status = LoadSentiment(WriteTempFile("empty.txt", "\n\n")).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("no \"sentence<TAB>label\" lines"));
}

TEST(LoadersTest, MissingFileIsNotFoundAndPointsAtSetup) {
  const std::string path = testing::TempDir() + "/no/such/file.txt";
  for (absl::Status status : {LoadSentiment(path).status(), LoadMobyDick(path).status()}) {
    EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
    EXPECT_THAT(std::string(status.message()), HasSubstr(path));
    EXPECT_THAT(std::string(status.message()), HasSubstr("tools/setup.sh"));
  }
  EXPECT_EQ(LoadSentiment(testing::TempDir()).status().code(),
            absl::StatusCode::kInvalidArgument);  // a directory
}

TEST(TokenizeBookTest, ParagraphsThenSentences) {
  // Hard-wrapped like data.txt; a heading without a period stays its own sentence.
  const MobyDickText book = TokenizeBook(
      "CHAPTER 1. Loomings.\n"
      "\n"
      "Call me Ishmael. Some years ago\xE2\x80\x94never mind\n"
      "how long\xE2\x80\x94I went.\n"
      "  \n"
      "A Heading\n"
      "\n"
      "\xE2\x80\x9C" "Don\xE2\x80\x99t!\xE2\x80\x9D he said");
  EXPECT_THAT(book.sentences,
              ElementsAre(ElementsAre("chapter", "1", "."), ElementsAre("loomings", "."),
                          ElementsAre("call", "me", "ishmael", "."),
                          ElementsAre("some", "years", "ago", "-", "never", "mind", "how", "long",
                                      "-", "i", "went", "."),
                          ElementsAre("a", "heading"), ElementsAre("\"", "don't", "!"),
                          ElementsAre("\"", "he", "said")));
  size_t total = 0;
  for (const auto& sentence : book.sentences) total += sentence.size();
  EXPECT_EQ(book.tokens.size(), total);
  EXPECT_THAT(std::vector<std::string>(book.tokens.begin(), book.tokens.begin() + 5),
              ElementsAre("chapter", "1", ".", "loomings", "."));
}

TEST(LoadMobyDickTest, ReadsAFileAndRejectsOneWithoutText) {
  absl::StatusOr<MobyDickText> book =
      LoadMobyDick(WriteTempFile("book.txt", "Call me\nIshmael.\n\nThe end"));
  ASSERT_TRUE(book.ok()) << book.status();
  EXPECT_THAT(book->tokens, ElementsAre("call", "me", "ishmael", ".", "the", "end"));
  EXPECT_EQ(book->sentences.size(), 2u);
  const std::string blank = WriteTempFile("blank.txt", " \n\n\t\n");
  absl::Status status = LoadMobyDick(blank).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr(blank + ": no text"));
}

}  // namespace
}  // namespace gatefuse
