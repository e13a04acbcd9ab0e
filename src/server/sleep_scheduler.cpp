#include "sleeptime/sleep_scheduler.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace sleeptime {

using Clock = std::chrono::steady_clock;

SleepScheduler::SleepScheduler(Engine* engine, Store* store, SleepJobQueue* queue, SchedulerOptions options)
    : engine_(engine), store_(store), queue_(queue), options_(options), last_activity_(Clock::now()) {}

SleepScheduler::~SleepScheduler() {
  Stop();
}

Status SleepScheduler::Start() {
  ST_ASSIGN_OR_RETURN(int requeued, queue_->RequeueRunning());
  if (requeued > 0) spdlog::info("sleep: {} interrupted job(s) back in the queue", requeued);
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return Status::FailedPrecondition("scheduler already started");
  started_ = true;
  stopping_ = false;
  worker_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void SleepScheduler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  // The interrupted job (if any) returns to the queue for the next start.
  (void)queue_->RequeueRunning();
  std::lock_guard<std::mutex> lock(mu_);
  started_ = false;
}

SleepScheduler::LiveRequest::LiveRequest(SleepScheduler* s) : s_(s) {
  if (!s_) return;
  std::unique_lock<std::mutex> lock(s_->mu_);
  ++s_->live_;  // first, so that a running job yields while we wait for a slot
  s_->last_activity_ = Clock::now();
  if (s_->options_.model_slots > 0) {
    s_->cv_.wait(lock, [&] { return s_->LiveSlotsFree() > 0 || s_->stopping_; });
    ++s_->live_in_model_;
    holds_slot_ = true;
  }
}

SleepScheduler::LiveRequest::~LiveRequest() {
  if (!s_) return;
  {
    std::lock_guard<std::mutex> lock(s_->mu_);
    --s_->live_;
    if (holds_slot_) --s_->live_in_model_;
    s_->last_activity_ = Clock::now();
  }
  s_->cv_.notify_all();
}

int SleepScheduler::SleepParallel() const {
  const int p = std::max(1, options_.sleep_parallel);
  return options_.model_slots > 0 ? std::max(1, std::min(p, options_.model_slots - 1)) : p;
}

int SleepScheduler::LiveSlotsFree() const {
  const int held_by_job = sleeping_.load() ? SleepParallel() : 0;
  return options_.model_slots - held_by_job - live_in_model_;
}

Result<SleepJob> SleepScheduler::Trigger(const std::string& context_id, const std::string& trigger) {
  ST_ASSIGN_OR_RETURN(SleepJob job, queue_->Enqueue(context_id, trigger));
  {
    std::lock_guard<std::mutex> lock(mu_);
    queries_since_sleep_.erase(context_id);
  }
  cv_.notify_all();
  return job;
}

void SleepScheduler::OnQuery(const std::string& context_id) {
  if (options_.sleep_every_n_queries <= 0) return;
  bool due = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    due = ++queries_since_sleep_[context_id] >= options_.sleep_every_n_queries;
  }
  if (due) {
    auto job = Trigger(context_id, "queries");
    if (!job.ok()) spdlog::warn("sleep: cannot queue '{}': {}", context_id, job.status().ToString());
  }
}

double SleepScheduler::yielded_ms() const {
  std::lock_guard<std::mutex> lock(mu_);
  return yielded_ms_;
}

bool SleepScheduler::IdleLongEnough() const {
  return live_.load() == 0 &&
         std::chrono::duration<double>(Clock::now() - last_activity_).count() >= options_.idle_seconds;
}

bool SleepScheduler::WaitIdle(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    auto counts = queue_->CountByState();
    if (counts.ok() && (*counts)[SleepJobState::kQueued] == 0 && (*counts)[SleepJobState::kRunning] == 0 &&
        !sleeping_.load())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void SleepScheduler::EnqueueIdleContexts() {
  auto contexts = store_->ListContexts();
  if (!contexts.ok()) return;
  for (const Context& c : *contexts) {
    auto latest = queue_->Latest(c.id);
    // Once per version: a job that failed is not retried by idleness alone.
    if (!latest.ok() || (*latest && (*latest)->context_version == c.version)) continue;
    auto job = queue_->Enqueue(c.id, "idle");
    if (!job.ok()) spdlog::warn("sleep: cannot queue '{}': {}", c.id, job.status().ToString());
  }
}

void SleepScheduler::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (!IdleLongEnough()) {
      cv_.wait_for(lock, std::chrono::milliseconds(50));
      continue;
    }
    lock.unlock();
    if (options_.sleep_when_idle) EnqueueIdleContexts();
    auto job = queue_->Claim();
    if (!job.ok()) spdlog::warn("sleep: cannot read the job queue: {}", job.status().ToString());
    if (job.ok() && *job) RunJob(**job);
    lock.lock();
    if (!(job.ok() && *job)) cv_.wait_for(lock, std::chrono::milliseconds(200));
  }
}

void SleepScheduler::RunJob(const SleepJob& job) {
  sleeping_ = true;
  const auto start = Clock::now();
  double yielded_this_job_ms = 0;
  std::atomic<int> done_tokens{0};  // written by the candidates' threads, read by the guards
  std::string cancel_reason;

  SleepOptions so;
  so.budget = options_.sleep_budget;
  so.passes = std::max(1, options_.sleep_passes);
  so.combine = options_.sleep_combine;
  so.parallel = SleepParallel();
  if (options_.max_rewrite_rounds > 0) {
    so.refine_rounds = options_.max_rewrite_rounds;
    so.require_convergence = true;
  } else {
    so.refine_rounds = std::max(0, options_.refine_rounds);
  }
  // Blocks while live requests are in flight. The job's candidate threads may
  // pause at once: the time counts while at least one is paused, not once
  // per thread, so the active-time guard and sleep_yielded_ms stay wall time.
  int pausing = 0;
  Clock::time_point pause_start;
  auto pause = [&](std::unique_lock<std::mutex>& lock) {
    if (live_.load() == 0 || stopping_) return;
    ++yields_;
    if (pausing++ == 0) pause_start = Clock::now();
    cv_.wait(lock, [&] { return live_.load() == 0 || stopping_; });
    if (--pausing == 0) {
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - pause_start).count();
      yielded_ms_ += ms;
      yielded_this_job_ms += ms;
    }
  };
  so.on_progress = [&](int done, int) { done_tokens = done; };
  so.should_continue = [&]() {
    std::unique_lock<std::mutex> lock(mu_);
    pause(lock);  // yield the compute to live requests
    if (stopping_) {
      cancel_reason = "interrupted by shutdown";
      return false;
    }
    if (done_tokens >= options_.max_sleep_tokens) {
      cancel_reason = "guard: max sleep tokens (" + std::to_string(options_.max_sleep_tokens) + ") reached";
      return false;
    }
    const double active_s =
        std::chrono::duration<double>(Clock::now() - start).count() - yielded_this_job_ms / 1000.0;
    if (active_s > options_.max_sleep_seconds) {
      cancel_reason = "guard: max sleep time (" + std::to_string(options_.max_sleep_seconds) + " s) reached";
      return false;
    }
    return true;
  };
  so.cancel_reason = [&] { return cancel_reason; };
  std::string stale_text;
  so.stale_text = &stale_text;

  // Prefills (the sleep prompt, the answer prefix saved afterwards) yield too,
  // between batches.
  YieldScope yield_prefills([&] {
    std::unique_lock<std::mutex> lock(mu_);
    pause(lock);
  });
  auto result = engine_->Sleep(job.context_id, so);
  if (result.ok()) {
    (void)queue_->Finish(job.id, SleepJobState::kDone, "", "", result->completion_tokens);
    spdlog::info("sleep: '{}' v{} ready ({} tokens, {:.0f} ms)", job.context_id,
                 result->learned.context_version, result->completion_tokens, result->sleep_ms);
  } else if (cancel_reason == "interrupted by shutdown") {
    // Left running: Stop() re-queues it.
  } else if (result.status().code() == StatusCode::kFailedPrecondition) {
    (void)queue_->Finish(job.id, SleepJobState::kStale, result.status().message(), stale_text, done_tokens);
    auto next = queue_->Enqueue(job.context_id, "stale");
    if (!next.ok()) spdlog::warn("sleep: cannot re-queue '{}': {}", job.context_id, next.status().ToString());
  } else if (result.status().code() == StatusCode::kNotFound) {
    // The context was removed meanwhile; its jobs went with it.
  } else {
    (void)queue_->Finish(job.id, SleepJobState::kFailed, result.status().message(), "", done_tokens);
    spdlog::warn("sleep: '{}' failed: {}", job.context_id, result.status().message());
  }
  if (on_sleep_tokens_) on_sleep_tokens_(result.ok() ? result->completion_tokens : done_tokens.load());
  {
    std::lock_guard<std::mutex> lock(mu_);  // live requests waiting for a slot re-check under mu_
    sleeping_ = false;
  }
  cv_.notify_all();
}

}  // namespace sleeptime
