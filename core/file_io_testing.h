// Folders for tests of code that writes files: a fresh one under the test's
// temporary directory, and the names in one.
//
//   const std::string folder = NewTestFolder("plot");   // $TEST_TMPDIR/plot_XXXXXX
//   ... write folder + "/a.png" ...
//   EXPECT_EQ(ListFolder(folder), std::set<std::string>{"a.png"});
#ifndef GATEFUSE_CORE_FILE_IO_TESTING_H_
#define GATEFUSE_CORE_FILE_IO_TESTING_H_

#include <dirent.h>
#include <stdlib.h>

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace gatefuse {

inline std::string NewTestFolder(const std::string& prefix) {
  std::string tmpl = ::testing::TempDir() + "/" + prefix + "_XXXXXX";
  EXPECT_NE(mkdtemp(tmpl.data()), nullptr) << tmpl;
  return tmpl;
}

// The entries of `folder` but . and ..; empty if it cannot be read.
inline std::set<std::string> ListFolder(const std::string& folder) {
  std::set<std::string> names;
  DIR* d = opendir(folder.c_str());
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.insert(name);
  }
  closedir(d);
  return names;
}

}  // namespace gatefuse

#endif  // GATEFUSE_CORE_FILE_IO_TESTING_H_
