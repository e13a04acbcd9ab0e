#include "engine/fan_out.h"

#include <algorithm>
#include <atomic>
#include <optional>
#include <thread>

#include "sleeptime/backend.h"

namespace sleeptime {

Result<std::vector<std::string>> FanOut(int n, int max_threads,
                                        const std::function<Result<std::string>(int index)>& task) {
  if (n <= 0) return std::vector<std::string>{};
  std::vector<std::optional<Result<std::string>>> results(static_cast<size_t>(n));
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  auto work = [&] {
    while (!failed.load()) {
      const int i = next.fetch_add(1);
      if (i >= n) return;
      Result<std::string> r = task(i);
      if (!r.ok()) failed = true;
      results[static_cast<size_t>(i)] = std::move(r);
    }
  };
  const int threads = std::clamp(max_threads, 1, n);
  std::vector<std::thread> helpers;
  const std::function<void()> yield = YieldScope::Current();
  for (int t = 1; t < threads; ++t) {
    helpers.emplace_back([&work, yield] {
      YieldScope scope(yield);
      work();
    });
  }
  work();
  for (std::thread& h : helpers) h.join();

  std::vector<std::string> out;
  out.reserve(results.size());
  for (auto& r : results) {
    if (!r) continue;  // not started after a failure; that failure is returned below
    if (!r->ok()) return r->status();
    out.push_back(std::move(*r).value());
  }
  if (out.size() != results.size()) return Status::Internal("fan-out: a task was skipped without a failure");
  return out;
}

}  // namespace sleeptime
