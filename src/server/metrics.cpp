#include "server/metrics.h"

#include <fmt/format.h>

namespace sleeptime::server {

void Metrics::CountRequest(const std::string& route, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{route, status}];
}

void Metrics::ObserveCompletion(int64_t prompt_tokens, int64_t cached_tokens, int64_t completion_tokens,
                                double ttft_ms, bool used_learned, bool kv_state_reused) {
  std::lock_guard<std::mutex> lock(mu_);
  ++totals_.completions;
  totals_.with_learned += used_learned;
  totals_.kv_reused += kv_state_reused;
  totals_.prompt_tokens += prompt_tokens;
  totals_.cached_tokens += cached_tokens;
  totals_.test_tokens += completion_tokens;
  for (size_t i = 0; i < kTtftBucketsMs.size(); ++i)
    if (ttft_ms <= kTtftBucketsMs[i]) ++ttft_buckets_[i];
  ++ttft_count_;
  ttft_sum_ms_ += ttft_ms;
}

void Metrics::AddSleepTokens(int64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  totals_.sleep_tokens += n;
}

Metrics::Totals Metrics::totals() const {
  std::lock_guard<std::mutex> lock(mu_);
  return totals_;
}

std::string Metrics::Render(const Gauges& g) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  auto scalar = [&](const char* name, const char* type, const char* help, auto value) {
    metric(name, type, help);
    out += fmt::format("{} {}\n", name, value);
  };
  metric("sleeptime_http_requests_total", "counter", "HTTP requests by route and status.");
  for (const auto& [key, n] : requests_)
    out += fmt::format("sleeptime_http_requests_total{{route=\"{}\",status=\"{}\"}} {}\n", key.first,
                       key.second, n);
  scalar("sleeptime_sleep_queue_depth", "gauge", "Sleep jobs waiting to run.", g.queued_jobs);
  scalar("sleeptime_sleep_jobs_running", "gauge", "Sleep jobs running now.", g.running_jobs);
  scalar("sleeptime_sleep_jobs_failed", "gauge", "Sleep jobs that ended failed (guards, errors).",
         g.failed_jobs);
  scalar("sleeptime_live_requests", "gauge", "Requests in flight.", g.live_requests);
  scalar("sleeptime_contexts", "gauge", "Contexts held.", g.contexts);
  scalar("sleeptime_sleep_tokens_total", "counter", "Tokens generated at sleep time.", totals_.sleep_tokens);
  scalar("sleeptime_test_tokens_total", "counter", "Tokens generated at test time (completions).",
         totals_.test_tokens);
  scalar("sleeptime_prompt_tokens_total", "counter", "Prompt tokens of completions.", totals_.prompt_tokens);
  scalar("sleeptime_cached_prompt_tokens_total", "counter",
         "Prompt tokens restored from a KV state, not prefilled.", totals_.cached_tokens);
  scalar("sleeptime_completions_total", "counter", "Chat completions answered.", totals_.completions);
  scalar("sleeptime_completions_with_learned_context_total", "counter", "Completions answered from a c′.",
         totals_.with_learned);
  metric("sleeptime_kv_hit_ratio", "gauge", "Share of completions whose prompt prefix KV state was reused.");
  out += fmt::format("sleeptime_kv_hit_ratio {:.6f}\n",
                     totals_.completions ? double(totals_.kv_reused) / double(totals_.completions) : 0.0);
  metric("sleeptime_ttft_milliseconds", "histogram", "Time to first token of completions.");
  for (size_t i = 0; i < kTtftBucketsMs.size(); ++i)
    out += fmt::format("sleeptime_ttft_milliseconds_bucket{{le=\"{}\"}} {}\n", kTtftBucketsMs[i],
                       ttft_buckets_[i]);
  out += fmt::format("sleeptime_ttft_milliseconds_bucket{{le=\"+Inf\"}} {}\n", ttft_count_);
  out += fmt::format("sleeptime_ttft_milliseconds_sum {:.3f}\nsleeptime_ttft_milliseconds_count {}\n",
                     ttft_sum_ms_, ttft_count_);
  return out;
}

}  // namespace sleeptime::server
