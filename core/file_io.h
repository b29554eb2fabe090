// Whole files in and out: the one way gatefuse writes a file a reader must never see half
// written (model files, checkpoints, plots), and the one way it reads a file whole.
//
//   GF_RETURN_IF_ERROR(WriteFileAtomically("run/model.gfm", bytes));
//     // writes run/model.gfm.tmp-<pid>-<n>, syncs it, renames it over run/model.gfm,
//     // syncs run/: a reader sees the old file or the whole new one, never a mix
//   GF_ASSIGN_OR_RETURN(std::string text, ReadFile("run/metrics.csv"));
//
// Errors are absl::ErrnoToStatus codes (NotFound for a missing folder, PermissionDenied, ...)
// and name the file and the system's reason: "cannot create temporary file
// run/model.gfm.tmp-41-0: No such file or directory".
#ifndef GATEFUSE_CORE_FILE_IO_H_
#define GATEFUSE_CORE_FILE_IO_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gatefuse {

struct WriteFileOptions {
  // Called once the temporary file is complete and synced, just before the rename; an error
  // aborts the write like a failed write would. Lets tests fail or kill a write at its most
  // delicate moment.
  std::function<absl::Status(const std::string& temp_path)> before_rename_for_testing;
};

// Replaces (or creates) `path` with `contents`: a new file PATH.tmp-<pid>-<n> in the same folder
// (a rename is atomic only within one file system), write, fsync, rename over `path`, fsync the
// folder so the rename survives a power cut. On any failure before the rename the temporary file
// is removed and a previous file at `path` is untouched. A process killed mid-write leaves at
// most its PATH.tmp-* behind, never a damaged `path`.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents,
                                 const WriteFileOptions& options = {});

// The whole of a regular file. Anything else (a folder, a FIFO, a device) is InvalidArgument
// "PATH: not a regular file", checked without blocking on it.
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace gatefuse

#endif  // GATEFUSE_CORE_FILE_IO_H_
