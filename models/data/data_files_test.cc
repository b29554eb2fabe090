// Checks of the real data files that tools/setup.sh downloads into data/. Where data/
// is absent (a fresh clone before setup) they skip, except under CI=true: there
// tools/test.sh has run setup, so a missing data set is a failure, never a skip.
//
// Finding the workspace from inside the test: BUILD_WORKSPACE_DIRECTORY when set (bazel
// run), else the real location of this source file, which Bazel places in the runfiles
// as a symlink into the workspace (BUILD lists it under `data`).
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "models/data/datasets.h"
#include "models/data/next_word.h"
#include "models/data/text_tasks.h"

namespace gatefuse {
namespace {

std::filesystem::path WorkspaceRoot() {
  if (const char* dir = std::getenv("BUILD_WORKSPACE_DIRECTORY")) return dir;
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir == nullptr || workspace == nullptr) return {};
  std::error_code error;
  const std::filesystem::path self = std::filesystem::canonical(
      std::filesystem::path(srcdir) / workspace / "models/data/data_files_test.cc", error);
  if (error) return {};
  return self.parent_path().parent_path().parent_path();
}

// The absolute path of a workspace-relative data file, or "" if it is not there.
std::string DataFile(absl::string_view relative) {
  const std::filesystem::path root = WorkspaceRoot();
  if (root.empty()) return "";
  const std::filesystem::path path = root / std::string(relative);
  std::error_code error;
  return std::filesystem::is_regular_file(path, error) ? path.string() : "";
}

bool InCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

// Skips the test (fails it under CI=true) when `path` was not found.
#define GF_REQUIRE_DATA_FILE(path, relative)                                              \
  if ((path).empty()) {                                                                   \
    if (InCi()) FAIL() << (relative) << " not found under CI=true: tools/setup.sh failed"; \
    GTEST_SKIP() << (relative) << " not found; run tools/setup.sh";                      \
  }

TEST(DataFilesTest, SentimentHasAThousandBalancedExamples) {
  const std::string path = DataFile(kSentimentPath);
  GF_REQUIRE_DATA_FILE(path, kSentimentPath);
  absl::StatusOr<SentimentData> data = LoadSentiment(path);
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->sentences.size(), 1000u);
  int64_t positives = 0;
  for (int64_t label : data->labels) positives += label;
  EXPECT_GE(positives, 400);
  EXPECT_LE(positives, 600);
  absl::StatusOr<TextTask> task = MakeSentimentTask(*data, TextTaskOptions());
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->train.size(), 800);
  EXPECT_EQ(task->test.size(), 200);
}

TEST(DataFilesTest, MobyDickTokensAndNextWordBaseline) {
  const std::string path = DataFile(kMobyDickPath);
  GF_REQUIRE_DATA_FILE(path, kMobyDickPath);
  absl::StatusOr<MobyDickText> book = LoadMobyDick(path);
  ASSERT_TRUE(book.ok()) << book.status();
  EXPECT_GT(book->tokens.size(), 200000u);
  EXPECT_GT(book->sentences.size(), 5000u);
  ASSERT_GE(book->tokens.size(), 7u);
  EXPECT_EQ(book->tokens[3], "loomings");  // chapter 1 . loomings .
  EXPECT_EQ(book->tokens[5], "call");

  TextTaskOptions options;
  options.test_fraction = 0.1;
  options.vocabulary.max_size = 5000;
  options.max_len = 16;
  absl::StatusOr<TextTask> task = MakeNextWordTask(book->sentences, options);
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->vocab.size(), 5000);
  absl::StatusOr<double> ppl =
      UnigramPerplexity(task->train.targets, task->test.targets, task->vocab.size());
  ASSERT_TRUE(ppl.ok()) << ppl.status();
  // A unigram model of English text over a 5000-word vocabulary: a few hundred.
  EXPECT_GT(*ppl, 100);
  EXPECT_LT(*ppl, 2000);
  std::printf("moby dick: %zu tokens, %zu sentences, %lld train / %lld test examples, "
              "unigram perplexity %.1f\n",
              book->tokens.size(), book->sentences.size(),
              static_cast<long long>(task->train.size()),
              static_cast<long long>(task->test.size()), *ppl);
}

}  // namespace
}  // namespace gatefuse
