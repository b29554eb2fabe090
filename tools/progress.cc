#include "tools/progress.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace gatefuse::cli {

std::string FormatDuration(double seconds) {
  const int64_t s = static_cast<int64_t>(std::max(0.0, seconds) + 0.5);
  if (s >= 3600) return absl::StrFormat("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
  return absl::StrFormat("%d:%02d", s / 60, s % 60);
}

std::string FormatProgress(const ProgressState& s, int bar_width) {
  const double done =
      s.batches_per_epoch > 0 ? static_cast<double>(s.index) / s.batches_per_epoch : 0.0;
  const int filled = std::clamp(static_cast<int>(done * bar_width), 0, bar_width);
  std::string bar(filled, '=');
  if (filled < bar_width) bar += '>';
  bar.resize(bar_width, ' ');
  return absl::StrFormat("epoch %d/%d [%s] %d/%d  loss %.4f  %.0f ex/s  ETA %s", s.epoch, s.epochs,
                         bar, s.index, s.batches_per_epoch, s.loss, s.examples_per_s,
                         FormatDuration(s.eta_seconds));
}

void ProgressBar::Update(const ProgressState& s) {
  const auto now = std::chrono::steady_clock::now();
  const bool last = s.index == s.batches_per_epoch;
  if (terminal_) {
    if (!last && drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    std::fprintf(out_, "\r%s\033[K", FormatProgress(s).c_str());
    drawn_ = true;
  } else {
    // Plain lines at each quarter of an epoch.
    const int64_t quarter = std::max<int64_t>(1, s.batches_per_epoch / 4);
    if (s.index % quarter != 0 || last) return;
    std::fprintf(out_, "%s\n", FormatProgress(s).c_str());
  }
  last_draw_ = now;
  std::fflush(out_);
}

void ProgressBar::Clear() {
  if (!terminal_ || !drawn_) return;
  std::fprintf(out_, "\r\033[K");
  std::fflush(out_);
  drawn_ = false;
}

}  // namespace gatefuse::cli
