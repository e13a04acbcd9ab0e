// A progress bar on stderr: redrawn in place on a terminal, a few plain lines
// otherwise (logs and CI stay readable). Not thread-safe.
#pragma once

#include <chrono>
#include <string>

namespace sleeptime::cli {

class ProgressBar {
 public:
  // `quiet_when_quick`: work done in under a second leaves no line (model
  // loads from the page cache would otherwise print one per command).
  ProgressBar(std::string label, double total, std::string unit = "", bool quiet_when_quick = false);
  ~ProgressBar();
  void Update(double done);
  void Finish();

 private:
  std::string label_;
  double total_;
  std::string unit_;
  bool tty_;
  bool quiet_when_quick_;
  bool finished_ = false;
  int last_quarter_ = -1;
  double last_done_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace sleeptime::cli
