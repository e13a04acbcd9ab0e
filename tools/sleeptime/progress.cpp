#include "progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

namespace sleeptime::cli {
namespace {

std::string FormatSeconds(double s) {
  char buf[32];
  if (s < 90) {
    std::snprintf(buf, sizeof(buf), "%.0fs", s);
  } else if (s < 5400) {
    std::snprintf(buf, sizeof(buf), "%.0fm%02.0fs", std::floor(s / 60), std::fmod(s, 60.0));
  } else {
    std::snprintf(buf, sizeof(buf), "%.1fh", s / 3600);
  }
  return buf;
}

}  // namespace

ProgressBar::ProgressBar(std::string label, double total, std::string unit, bool quiet_when_quick)
    : label_(std::move(label)),
      total_(total),
      unit_(std::move(unit)),
      tty_(isatty(STDERR_FILENO) != 0),
      quiet_when_quick_(quiet_when_quick),
      start_(std::chrono::steady_clock::now()) {}

ProgressBar::~ProgressBar() {
  Finish();
}

void ProgressBar::Update(double done) {
  last_done_ = done;
  double frac = total_ > 0 ? std::clamp(done / total_, 0.0, 1.0) : 1.0;
  auto now = std::chrono::steady_clock::now();
  if (tty_) {
    // Redraw at most ~20 times a second: generation emits a token every few ms.
    if (frac < 1.0 && now - last_draw_ < std::chrono::milliseconds(50)) return;
    last_draw_ = now;
    constexpr int kWidth = 30;
    int filled = static_cast<int>(frac * kWidth);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.append(static_cast<size_t>(kWidth - filled), '.');
    double secs = std::chrono::duration<double>(now - start_).count();
    // Remaining time at the pace so far, once there is a pace to go by.
    std::string eta;
    if (frac > 0.02 && frac < 1.0 && secs > 2) eta = " eta " + FormatSeconds(secs * (1 - frac) / frac);
    if (unit_.empty()) {
      std::fprintf(stderr, "\r%s [%s] %3d%% %5.1fs%s\033[K", label_.c_str(), bar.c_str(),
                   static_cast<int>(frac * 100), secs, eta.c_str());
    } else {
      std::fprintf(stderr, "\r%s [%s] %3d%% %.0f/%.0f %s %5.1fs%s\033[K", label_.c_str(), bar.c_str(),
                   static_cast<int>(frac * 100), done, total_, unit_.c_str(), secs, eta.c_str());
    }
    std::fflush(stderr);
    return;
  }
  // Plain lines only for work long enough to wonder about; the final line
  // from Finish() always comes.
  if (now - start_ < std::chrono::seconds(1)) return;
  int quarter = static_cast<int>(frac * 4);
  if (quarter > last_quarter_ && quarter < 4) {
    last_quarter_ = quarter;
    const double secs = std::chrono::duration<double>(now - start_).count();
    std::string eta = frac > 0.02 ? ", eta " + FormatSeconds(secs * (1 - frac) / frac) : "";
    std::fprintf(stderr, "%s: %d%%%s\n", label_.c_str(), quarter * 25, eta.c_str());
  }
}

void ProgressBar::Finish() {
  if (finished_) return;
  finished_ = true;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (tty_) {
    std::fprintf(stderr, "\r\033[K");
  }
  if (quiet_when_quick_ && secs < 1.0) return;
  if (unit_.empty()) {
    std::fprintf(stderr, "%s: done in %.1fs\n", label_.c_str(), secs);
  } else {
    std::fprintf(stderr, "%s: %.0f %s in %.1fs\n", label_.c_str(), last_done_, unit_.c_str(), secs);
  }
}

}  // namespace sleeptime::cli
