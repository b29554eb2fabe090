#include "core/file_io.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <string>

#include "gmock/gmock.h"
#include "core/file_io_testing.h"
#include "gtest/gtest.h"

namespace gatefuse {
namespace {

using ::testing::HasSubstr;

TEST(FileIoTest, WritesAndReadsBack) {
  const std::string path = NewTestFolder("file_io") + "/a.bin";
  const std::string bytes("binary\0data\xff\n", 13);
  ASSERT_TRUE(WriteFileAtomically(path, bytes).ok());
  absl::StatusOr<std::string> back = ReadFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, bytes);
}

TEST(FileIoTest, EmptyAndLargeContents) {
  const std::string folder = NewTestFolder("file_io");
  ASSERT_TRUE(WriteFileAtomically(folder + "/empty", "").ok());
  EXPECT_EQ(ReadFile(folder + "/empty").value(), "");
  // Larger than ReadFile's buffer, so it is read in several pieces.
  std::string large(300000, '\0');
  for (size_t i = 0; i < large.size(); ++i) large[i] = static_cast<char>(i * 7919 % 251);
  ASSERT_TRUE(WriteFileAtomically(folder + "/large", large).ok());
  EXPECT_EQ(ReadFile(folder + "/large").value(), large);
}

TEST(FileIoTest, ReplacesAnExistingFileAndLeavesNoTemporaryFile) {
  const std::string folder = NewTestFolder("file_io");
  const std::string path = folder + "/f.txt";
  ASSERT_TRUE(WriteFileAtomically(path, "a much longer first version\n").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "second\n").ok());
  EXPECT_EQ(ReadFile(path).value(), "second\n");
  EXPECT_EQ(ListFolder(folder), std::set<std::string>{"f.txt"});
}

TEST(FileIoTest, AMissingFolderFailsCleanlyNamingThePath) {
  const std::string folder = NewTestFolder("file_io");
  const std::string path = folder + "/no/such/f.txt";
  const absl::Status s = WriteFileAtomically(path, "x");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_THAT(s.message(), HasSubstr("cannot create temporary file " + path + ".tmp-"));
  EXPECT_THAT(s.message(), HasSubstr("No such file or directory"));
  EXPECT_TRUE(ListFolder(folder).empty());
}

TEST(FileIoTest, AFailureBeforeTheRenameKeepsThePreviousFile) {
  const std::string folder = NewTestFolder("file_io");
  const std::string path = folder + "/f.txt";
  ASSERT_TRUE(WriteFileAtomically(path, "old").ok());
  std::string seen_temp;
  WriteFileOptions options;
  options.before_rename_for_testing = [&](const std::string& temp) {
    seen_temp = temp;
    EXPECT_EQ(ReadFile(temp).value(), "new");  // complete before the rename
    return absl::UnavailableError("disk went away");
  };
  const absl::Status s = WriteFileAtomically(path, "new", options);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(seen_temp, HasSubstr(path + ".tmp-"));
  EXPECT_EQ(ReadFile(path).value(), "old");
  EXPECT_EQ(ListFolder(folder), std::set<std::string>{"f.txt"});
}

TEST(FileIoTest, AFailedRenameRemovesTheTemporaryFile) {
  const std::string folder = NewTestFolder("file_io");
  // A non-empty folder cannot be replaced by a file.
  ASSERT_EQ(mkdir((folder + "/d").c_str(), 0755), 0);
  ASSERT_TRUE(WriteFileAtomically(folder + "/d/inside", "keep").ok());
  const absl::Status s = WriteFileAtomically(folder + "/d", "x");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("cannot rename " + folder + "/d.tmp-"));
  EXPECT_THAT(s.message(), HasSubstr(" to " + folder + "/d: "));
  EXPECT_EQ(ListFolder(folder), std::set<std::string>{"d"});
  EXPECT_EQ(ReadFile(folder + "/d/inside").value(), "keep");
}

TEST(FileIoTest, AKilledWriteLeavesThePreviousFileWhole) {
  const std::string folder = NewTestFolder("file_io");
  const std::string path = folder + "/f.txt";
  ASSERT_TRUE(WriteFileAtomically(path, "old").ok());
  WriteFileOptions crash;
  crash.before_rename_for_testing = [](const std::string&) -> absl::Status { _exit(3); };
  EXPECT_EXIT((void)WriteFileAtomically(path, "new", crash), ::testing::ExitedWithCode(3), "");
  EXPECT_EQ(ReadFile(path).value(), "old");
  EXPECT_EQ(ListFolder(folder).size(), 2u);  // f.txt and the dead writer's f.txt.tmp-*
  // The leftover does not get in the way of the next write, which leaves nothing of its own.
  ASSERT_TRUE(WriteFileAtomically(path, "newer").ok());
  EXPECT_EQ(ReadFile(path).value(), "newer");
  EXPECT_EQ(ListFolder(folder).size(), 2u);
}

TEST(FileIoTest, ReadErrorsNameThePath) {
  const std::string folder = NewTestFolder("file_io");
  absl::StatusOr<std::string> missing = ReadFile(folder + "/none");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(),
              HasSubstr("cannot open " + folder + "/none: No such file or directory"));
  absl::StatusOr<std::string> dir = ReadFile(folder);
  EXPECT_EQ(dir.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(dir.status().message(), HasSubstr(folder + ": not a regular file"));
  // A FIFO without a writer would block a plain open; it is refused at once.
  ASSERT_EQ(mkfifo((folder + "/fifo").c_str(), 0600), 0);
  EXPECT_THAT(ReadFile(folder + "/fifo").status().message(), HasSubstr("not a regular file"));
  EXPECT_EQ(WriteFileAtomically("", "x").code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gatefuse
