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
  metric("sleeptime_http_requests_total", "counter", "HTTP requests by route and status.");
  for (const auto& [key, n] : requests_)
    out += fmt::format("sleeptime_http_requests_total{{route=\"{}\",status=\"{}\"}} {}\n", key.first,
                       key.second, n);
  metric("sleeptime_sleep_queue_depth", "gauge", "Sleep jobs waiting to run.");
  out += fmt::format("sleeptime_sleep_queue_depth {}\n", g.queued_jobs);
  metric("sleeptime_sleep_jobs_running", "gauge", "Sleep jobs running now.");
  out += fmt::format("sleeptime_sleep_jobs_running {}\n", g.running_jobs);
  metric("sleeptime_sleep_jobs_failed", "gauge", "Sleep jobs that ended failed (guards, errors).");
  out += fmt::format("sleeptime_sleep_jobs_failed {}\n", g.failed_jobs);
  metric("sleeptime_live_requests", "gauge", "Requests in flight.");
  out += fmt::format("sleeptime_live_requests {}\n", g.live_requests);
  metric("sleeptime_contexts", "gauge", "Contexts held.");
  out += fmt::format("sleeptime_contexts {}\n", g.contexts);
  metric("sleeptime_sleep_tokens_total", "counter", "Tokens generated at sleep time.");
  out += fmt::format("sleeptime_sleep_tokens_total {}\n", totals_.sleep_tokens);
  metric("sleeptime_test_tokens_total", "counter", "Tokens generated at test time (completions).");
  out += fmt::format("sleeptime_test_tokens_total {}\n", totals_.test_tokens);
  metric("sleeptime_prompt_tokens_total", "counter", "Prompt tokens of completions.");
  out += fmt::format("sleeptime_prompt_tokens_total {}\n", totals_.prompt_tokens);
  metric("sleeptime_cached_prompt_tokens_total", "counter",
         "Prompt tokens restored from a KV state, not prefilled.");
  out += fmt::format("sleeptime_cached_prompt_tokens_total {}\n", totals_.cached_tokens);
  metric("sleeptime_completions_total", "counter", "Chat completions answered.");
  out += fmt::format("sleeptime_completions_total {}\n", totals_.completions);
  metric("sleeptime_completions_with_learned_context_total", "counter", "Completions answered from a c′.");
  out += fmt::format("sleeptime_completions_with_learned_context_total {}\n", totals_.with_learned);
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
