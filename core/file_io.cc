#include "core/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace gatefuse {
namespace {

// errno read before anything else can change it, then "<what> <file>: <strerror>".
absl::Status ErrnoError(absl::string_view what, const std::string& file) {
  const int err = errno;
  return absl::ErrnoToStatus(err, absl::StrCat(what, " ", file));
}

// Unique among concurrent writers of one path: other processes differ in pid, threads of this
// one in the counter.
std::string TempPath(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return absl::StrCat(path, ".tmp-", getpid(), "-", counter.fetch_add(1));
}

std::string Folder(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::Status WriteAll(int fd, absl::string_view contents, const std::string& temp) {
  size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("cannot write", temp);
    done += static_cast<size_t>(n);
  }
  // Without this the rename can reach the disk before the data, and a power cut leaves `path`
  // empty.
  if (fsync(fd) != 0) return ErrnoError("cannot sync", temp);
  return absl::OkStatus();
}

// Writes the temporary file; `created` tells the caller whether there is one to remove.
absl::Status WriteTemp(const std::string& temp, absl::string_view contents, bool& created) {
  const int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) return ErrnoError("cannot create temporary file", temp);
  created = true;
  absl::Status status = WriteAll(fd, contents, temp);
  // close can report a deferred write error (NFS, quotas), so its result counts.
  if (close(fd) != 0 && status.ok()) {
    status = ErrnoError("cannot close", temp);
  }
  return status;
}

absl::Status SyncFolder(const std::string& folder, const std::string& path) {
  const int fd = open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return absl::ErrnoToStatus(err,
                               absl::StrCat("wrote ", path, " but cannot open its folder ", folder));
  }
  const int rc = fsync(fd);
  const int err = errno;
  close(fd);
  // EINVAL: the file system cannot sync folders at all; the rename is as durable as it gets.
  if (rc != 0 && err != EINVAL) {
    return absl::ErrnoToStatus(err,
                               absl::StrCat("wrote ", path, " but cannot sync its folder ", folder));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents,
                                 const WriteFileOptions& options) {
  if (path.empty()) return absl::InvalidArgumentError("cannot write a file with an empty path");
  const std::string temp = TempPath(path);
  bool created = false;
  absl::Status status = WriteTemp(temp, contents, created);
  if (status.ok() && options.before_rename_for_testing) {
    status = options.before_rename_for_testing(temp);
  }
  if (status.ok() && std::rename(temp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    status = absl::ErrnoToStatus(err, absl::StrCat("cannot rename ", temp, " to ", path));
  }
  if (!status.ok()) {
    if (created) unlink(temp.c_str());
    return status;
  }
  return SyncFolder(Folder(path), path);
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  // O_NONBLOCK: opening a FIFO would otherwise wait for a writer before the check below.
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return ErrnoError("cannot open", path);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    close(fd);
    return absl::ErrnoToStatus(err, absl::StrCat("cannot stat ", path));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  std::string contents;
  contents.reserve(static_cast<size_t>(st.st_size));
  // To the end, not to st_size: a file still being appended to is read as far as it goes.
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      return absl::ErrnoToStatus(err, absl::StrCat("cannot read ", path));
    }
    if (n == 0) break;
    contents.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return contents;
}

}  // namespace gatefuse
