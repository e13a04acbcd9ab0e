// Metrics: the server's counters, rendered in the Prometheus text format.
// Thread-safe (one mutex; updates are rare next to a decode step).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace sleeptime::server {

class Metrics {
 public:
  void CountRequest(const std::string& route, int status);
  // One answered chat completion.
  void ObserveCompletion(int64_t prompt_tokens, int64_t cached_tokens, int64_t completion_tokens,
                         double ttft_ms, bool used_learned, bool kv_state_reused);
  void AddSleepTokens(int64_t n);

  // Gauges are read at render time from the caller.
  struct Gauges {
    int64_t queued_jobs = 0;
    int64_t running_jobs = 0;
    int64_t failed_jobs = 0;
    int64_t live_requests = 0;
    int64_t contexts = 0;
  };
  std::string Render(const Gauges& g) const;

  struct Totals {
    int64_t completions = 0, with_learned = 0, kv_reused = 0;
    int64_t prompt_tokens = 0, cached_tokens = 0, test_tokens = 0, sleep_tokens = 0;
  };
  Totals totals() const;

 private:
  static constexpr std::array<double, 11> kTtftBucketsMs = {5,   10,   25,   50,   100,  250,
                                                            500, 1000, 2500, 5000, 10000};
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, int64_t> requests_;
  Totals totals_;
  std::array<int64_t, kTtftBucketsMs.size()> ttft_buckets_{};
  int64_t ttft_count_ = 0;
  double ttft_sum_ms_ = 0;
};

}  // namespace sleeptime::server
