// SleepScheduler: spends the server's idle time on sleep jobs.
//
// Jobs come from triggers (a context created or changed, every N queries to a
// context, a manual request, and idleness: contexts with no c′ for their
// current version get one when the server has been idle) and live in the
// persistent SleepJobQueue. One worker thread runs them, one at a time, and
// only after no live request has been seen for `idle_seconds`. Live requests
// keep priority while a job runs: the job's decode loop blocks between steps
// while any live request is in flight (LiveRequest), and resumes after.
//
// A job writes its k candidates on up to sleep_parallel slots at once; live
// requests then get the remaining model_slots (see SchedulerOptions).
//
// Guards end a runaway job as failed, with the reason kept on the job: the
// total sleep tokens, the job's active (non-yielding) wall time, and
// refinement that does not converge within max_rewrite_rounds. A failed
// job is not retried by the scheduler; a new trigger queues a new one.
// If the context changed while a job slept, its c′ is kept on the job as
// stale (never served) and a job for the new version is queued.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "sleeptime/engine.h"
#include "sleeptime/sleep_jobs.h"
#include "sleeptime/store.h"

namespace sleeptime {

struct SchedulerOptions {
  double idle_seconds = 2.0;      // no live request for this long before a job starts
  int sleep_every_n_queries = 5;  // queue a job every N queries to a context (0: never; Letta uses 5)
  bool sleep_when_idle = true;    // idle trigger: contexts without a c′ for their version
  int sleep_budget = 0;           // tokens per pass (0: the engine's automatic budget)
  int sleep_passes = 1;           // k independent c′ candidates
  CombineMode sleep_combine = CombineMode::kConcatenate;  // how k > 1 candidates become c′
  int sleep_parallel = 1;  // candidates a job writes at the same time (each holds a model slot)
  // The backend's slots (0: no limit). Live requests use at most this many at
  // once, and sleep_parallel fewer while a job runs: a job keeps its slots
  // while it yields, so without the cap enough concurrent live requests would
  // wait for a slot held by a job that waits for them. sleep_parallel is
  // capped at model_slots - 1.
  int model_slots = 0;
  int refine_rounds = 0;  // rounds of refinement after the passes (until converged)
  // Guard: refine until converged, failing the job when that has not
  // happened after this many rounds (0: off; refine_rounds applies).
  int max_rewrite_rounds = 0;
  int64_t max_sleep_tokens = 4096;  // guard: tokens per job, all passes
  double max_sleep_seconds = 600;   // guard: active seconds per job (time yielded to live requests excluded)
};

class SleepScheduler {
 public:
  SleepScheduler(Engine* engine, Store* store, SleepJobQueue* queue, SchedulerOptions options);
  ~SleepScheduler();  // Stop()

  // Re-queues jobs whose process died while running them, then starts the worker.
  Status Start();
  // Interrupts a running job (it goes back to the queue) and joins the worker.
  void Stop();

  // Held for the duration of each live request; sleep work yields meanwhile.
  class LiveRequest {
   public:
    explicit LiveRequest(SleepScheduler* s);
    ~LiveRequest();
    LiveRequest(const LiveRequest&) = delete;
    LiveRequest& operator=(const LiveRequest&) = delete;

   private:
    SleepScheduler* s_;
    bool holds_slot_ = false;
  };

  Result<SleepJob> Trigger(const std::string& context_id, const std::string& trigger);
  // A query was answered for the context: counts towards the every-N trigger.
  void OnQuery(const std::string& context_id);

  // Sleep tokens of each finished job (done, failed or stale), for metrics.
  void SetOnSleepTokens(std::function<void(int64_t)> f) { on_sleep_tokens_ = std::move(f); }

  int live_requests() const { return live_.load(); }
  bool sleeping() const { return sleeping_.load(); }
  // Total time sleep work spent yielding to live requests, and how often.
  double yielded_ms() const;
  int64_t yields() const { return yields_.load(); }
  // Waits until the worker has no running job and the queue is empty (tests).
  bool WaitIdle(std::chrono::milliseconds timeout);

 private:
  void Run();
  void RunJob(const SleepJob& job);
  void EnqueueIdleContexts();
  bool IdleLongEnough() const;
  int SleepParallel() const;  // options_.sleep_parallel within its cap
  int LiveSlotsFree() const;  // requires mu_

  Engine* engine_;
  Store* store_;
  SleepJobQueue* queue_;
  SchedulerOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::thread worker_;
  bool started_ = false;
  bool stopping_ = false;
  std::atomic<int> live_{0};
  int live_in_model_ = 0;  // live requests holding one of model_slots (guarded by mu_)
  std::atomic<bool> sleeping_{false};
  std::atomic<int64_t> yields_{0};
  double yielded_ms_ = 0;
  std::chrono::steady_clock::time_point last_activity_;
  std::map<std::string, int> queries_since_sleep_;
  std::function<void(int64_t)> on_sleep_tokens_;
};

}  // namespace sleeptime
