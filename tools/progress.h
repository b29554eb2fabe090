// A one-line progress display for training: a redrawn bar on a terminal, plain
// lines (a few per epoch) when the output goes to a file or a pipe.
//
//   epoch 2/10 [=========>          ] 13/25  loss 0.4321  812 ex/s  ETA 0:41
#ifndef GATEFUSE_TOOLS_PROGRESS_H_
#define GATEFUSE_TOOLS_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace gatefuse::cli {

struct ProgressState {
  int64_t epoch = 0, epochs = 0;             // 1-based epoch of epochs
  int64_t index = 0, batches_per_epoch = 0;  // batches done in this epoch
  double loss = 0;
  double examples_per_s = 0;
  double eta_seconds = 0;
};

// The line, without a newline.
std::string FormatProgress(const ProgressState& s, int bar_width = 20);
// "1:05", "1:02:03".
std::string FormatDuration(double seconds);

class ProgressBar {
 public:
  // `terminal`: redraw in place (e.g. isatty(fileno(out))).
  ProgressBar(std::FILE* out, bool terminal) : out_(out), terminal_(terminal) {}
  void Update(const ProgressState& s);
  // Clears a drawn bar so that an ordinary line can follow.
  void Clear();

 private:
  std::FILE* out_;
  bool terminal_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace gatefuse::cli

#endif  // GATEFUSE_TOOLS_PROGRESS_H_
