// SleepJobQueue: the sleep scheduler's persistent queue of "think about this
// context" jobs, in the same SQLite database as the Store.
//
// Jobs survive restarts: a job that was running when its process died is put
// back in the queue by RequeueRunning() at the next start. A context has at
// most one queued job; enqueueing again updates it to the context's current
// version, so a newer version supersedes a queued job instead of adding one.
// Removing a context removes its jobs.
//
// Thread-safe: calls are serialised by a mutex; several processes may share
// the database file (WAL, busy timeout), and Claim() is atomic across them.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "sleeptime/status.h"

namespace sleeptime {

enum class SleepJobState { kQueued, kRunning, kDone, kFailed, kStale };
const char* SleepJobStateName(SleepJobState s);  // "queued", "running", "done", "failed", "stale"

struct SleepJob {
  int64_t id = 0;
  std::string context_id;
  int64_t context_version = 0;  // the version the job computes c′ for
  SleepJobState state = SleepJobState::kQueued;
  std::string trigger;  // "created", "changed", "idle", "queries", "manual", "stale", ...
  std::string reason;   // why it failed or went stale
  std::string result;   // a stale job's c′ (kept, never served)
  int64_t attempts = 0;
  int64_t sleep_tokens = 0;
  int64_t created_at = 0;  // unix seconds
  int64_t started_at = 0;
  int64_t finished_at = 0;
};

class SleepJobQueue {
 public:
  // Opens the database at `path` (the Store's), applying migrations.
  static Result<std::unique_ptr<SleepJobQueue>> Open(const std::string& path);
  virtual ~SleepJobQueue() = default;

  // Queues a job for the context's current version (NotFound if no context).
  // Returns the queued job, or the running one when it already computes the
  // current version (nothing new to do).
  virtual Result<SleepJob> Enqueue(const std::string& context_id, const std::string& trigger) = 0;
  // The oldest queued job, now running (attempts + 1), or nullopt.
  virtual Result<std::optional<SleepJob>> Claim() = 0;
  // Ends a running job: kDone, kFailed (reason) or kStale (reason, result).
  virtual Status Finish(int64_t job_id, SleepJobState state, const std::string& reason,
                        const std::string& result, int64_t sleep_tokens) = 0;
  // Puts running jobs back in the queue (at start-up: their process died, or
  // at shutdown: they were interrupted). Returns how many.
  virtual Result<int> RequeueRunning() = 0;
  // The context's newest job, or nullopt.
  virtual Result<std::optional<SleepJob>> Latest(const std::string& context_id) = 0;
  virtual Result<SleepJob> Get(int64_t job_id) = 0;
  virtual Result<std::map<SleepJobState, int64_t>> CountByState() = 0;
};

}  // namespace sleeptime
