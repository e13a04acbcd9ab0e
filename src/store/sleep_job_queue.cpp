// The SQLite implementation of SleepJobQueue (table sleep_jobs, migration 2).
#include <chrono>
#include <mutex>

#include "sleeptime/sleep_jobs.h"
#include "store/sqlite_util.h"

namespace sleeptime {
namespace {

using sqlite::Statement;
using sqlite::Transaction;

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<SleepJobState> ParseState(std::string_view s) {
  for (auto st : {SleepJobState::kQueued, SleepJobState::kRunning, SleepJobState::kDone,
                  SleepJobState::kFailed, SleepJobState::kStale})
    if (s == SleepJobStateName(st)) return st;
  return std::nullopt;
}

constexpr const char* kColumns =
    "SELECT id, context_id, context_version, state, trigger, reason, result, attempts, sleep_tokens, "
    "created_at, started_at, finished_at FROM sleep_jobs ";

SleepJob ReadJob(const Statement& s) {
  SleepJob j;
  j.id = s.Int(0);
  j.context_id = s.Text(1);
  j.context_version = s.Int(2);
  j.state = ParseState(s.Text(3)).value_or(SleepJobState::kFailed);
  j.trigger = s.Text(4);
  j.reason = s.Text(5);
  j.result = s.Text(6);
  j.attempts = s.Int(7);
  j.sleep_tokens = s.Int(8);
  j.created_at = s.Int(9);
  j.started_at = s.Int(10);
  j.finished_at = s.Int(11);
  return j;
}

class SqliteSleepJobQueue final : public SleepJobQueue {
 public:
  explicit SqliteSleepJobQueue(sqlite::DbPtr db) : db_(std::move(db)) {}

  Result<SleepJob> Enqueue(const std::string& context_id, const std::string& trigger) override {
    std::lock_guard<std::mutex> lock(mu_);
    ST_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db(), Transaction::Mode::kImmediate));
    ST_ASSIGN_OR_RETURN(Statement v, Statement::Prepare(db(), "SELECT version FROM contexts WHERE id = ?1"));
    v.Bind(1, context_id);
    ST_ASSIGN_OR_RETURN(bool found, v.Step());
    if (!found) return Status::NotFound("context '" + context_id + "' not found");
    const int64_t version = v.Int(0);

    ST_ASSIGN_OR_RETURN(std::optional<SleepJob> queued, FindLocked(context_id, "queued"));
    if (queued) {  // supersede: the queued job now computes the current version
      ST_ASSIGN_OR_RETURN(Statement u, Statement::Prepare(db(),
                                                          "UPDATE sleep_jobs SET context_version = ?1, "
                                                          "trigger = ?2 WHERE id = ?3"));
      u.Bind(1, version).Bind(2, trigger).Bind(3, queued->id);
      ST_RETURN_IF_ERROR(u.Run());
      ST_RETURN_IF_ERROR(txn.Commit());
      queued->context_version = version;
      queued->trigger = trigger;
      return *queued;
    }
    ST_ASSIGN_OR_RETURN(std::optional<SleepJob> running, FindLocked(context_id, "running"));
    if (running && running->context_version == version) return *running;

    ST_ASSIGN_OR_RETURN(Statement ins,
                        Statement::Prepare(db(),
                                           "INSERT INTO sleep_jobs (context_id, context_version, state, "
                                           "trigger, created_at) VALUES (?1, ?2, 'queued', ?3, ?4)"));
    ins.Bind(1, context_id).Bind(2, version).Bind(3, trigger).Bind(4, NowSeconds());
    ST_RETURN_IF_ERROR(ins.Run());
    const int64_t id = sqlite3_last_insert_rowid(db());
    ST_RETURN_IF_ERROR(txn.Commit());
    return GetLocked(id);
  }

  Result<std::optional<SleepJob>> Claim() override {
    std::lock_guard<std::mutex> lock(mu_);
    ST_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db(), Transaction::Mode::kImmediate));
    ST_ASSIGN_OR_RETURN(
        Statement s,
        Statement::Prepare(db(), std::string(kColumns) + "WHERE state = 'queued' ORDER BY id LIMIT 1"));
    ST_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return std::optional<SleepJob>();
    SleepJob job = ReadJob(s);
    ST_ASSIGN_OR_RETURN(Statement u, Statement::Prepare(db(),
                                                        "UPDATE sleep_jobs SET state = 'running', "
                                                        "attempts = attempts + 1, started_at = ?1 "
                                                        "WHERE id = ?2"));
    job.started_at = NowSeconds();
    u.Bind(1, job.started_at).Bind(2, job.id);
    ST_RETURN_IF_ERROR(u.Run());
    ST_RETURN_IF_ERROR(txn.Commit());
    job.state = SleepJobState::kRunning;
    ++job.attempts;
    return std::optional<SleepJob>(job);
  }

  Status Finish(int64_t job_id, SleepJobState state, const std::string& reason, const std::string& result,
                int64_t sleep_tokens) override {
    if (state == SleepJobState::kQueued || state == SleepJobState::kRunning)
      return Status::InvalidArgument("a finished job is done, failed or stale");
    std::lock_guard<std::mutex> lock(mu_);
    ST_ASSIGN_OR_RETURN(Statement u,
                        Statement::Prepare(db(),
                                           "UPDATE sleep_jobs SET state = ?1, reason = ?2, result = ?3, "
                                           "sleep_tokens = ?4, finished_at = ?5 WHERE id = ?6 AND "
                                           "state = 'running'"));
    u.Bind(1, SleepJobStateName(state)).Bind(2, reason).Bind(3, result).Bind(4, sleep_tokens);
    u.Bind(5, NowSeconds()).Bind(6, job_id);
    ST_RETURN_IF_ERROR(u.Run());
    if (sqlite3_changes(db()) != 1)
      return Status::FailedPrecondition("sleep job " + std::to_string(job_id) + " is not running");
    return Status::Ok();
  }

  Result<int> RequeueRunning() override {
    std::lock_guard<std::mutex> lock(mu_);
    ST_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db(), Transaction::Mode::kImmediate));
    // A context may meanwhile have a queued job too: keep one, the newer.
    ST_RETURN_IF_ERROR(sqlite::Exec(db(),
                                    "DELETE FROM sleep_jobs WHERE state = 'running' AND context_id IN "
                                    "(SELECT context_id FROM sleep_jobs WHERE state = 'queued')"));
    ST_RETURN_IF_ERROR(sqlite::Exec(db(), "UPDATE sleep_jobs SET state = 'queued' WHERE state = 'running'"));
    const int n = sqlite3_changes(db());
    ST_RETURN_IF_ERROR(txn.Commit());
    return n;
  }

  Result<std::optional<SleepJob>> Latest(const std::string& context_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    ST_ASSIGN_OR_RETURN(
        Statement s,
        Statement::Prepare(db(), std::string(kColumns) + "WHERE context_id = ?1 ORDER BY id DESC LIMIT 1"));
    s.Bind(1, context_id);
    ST_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return std::optional<SleepJob>();
    return std::optional<SleepJob>(ReadJob(s));
  }

  Result<SleepJob> Get(int64_t job_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    return GetLocked(job_id);
  }

  Result<std::map<SleepJobState, int64_t>> CountByState() override {
    std::lock_guard<std::mutex> lock(mu_);
    ST_ASSIGN_OR_RETURN(Statement s,
                        Statement::Prepare(db(), "SELECT state, COUNT(*) FROM sleep_jobs GROUP BY state"));
    std::map<SleepJobState, int64_t> out;
    for (auto st : {SleepJobState::kQueued, SleepJobState::kRunning, SleepJobState::kDone,
                    SleepJobState::kFailed, SleepJobState::kStale})
      out[st] = 0;
    while (true) {
      ST_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      if (auto st = ParseState(s.Text(0))) out[*st] = s.Int(1);
    }
    return out;
  }

 private:
  sqlite3* db() const { return db_.get(); }

  Result<std::optional<SleepJob>> FindLocked(const std::string& context_id, const char* state) {
    ST_ASSIGN_OR_RETURN(
        Statement s, Statement::Prepare(db(), std::string(kColumns) + "WHERE context_id = ?1 AND state = ?2 "
                                                                      "ORDER BY id DESC LIMIT 1"));
    s.Bind(1, context_id).Bind(2, std::string_view(state));
    ST_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return std::optional<SleepJob>();
    return std::optional<SleepJob>(ReadJob(s));
  }

  Result<SleepJob> GetLocked(int64_t id) {
    ST_ASSIGN_OR_RETURN(Statement s, Statement::Prepare(db(), std::string(kColumns) + "WHERE id = ?1"));
    s.Bind(1, id);
    ST_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return Status::NotFound("sleep job " + std::to_string(id) + " not found");
    return ReadJob(s);
  }

  std::mutex mu_;
  sqlite::DbPtr db_;
};

}  // namespace

const char* SleepJobStateName(SleepJobState s) {
  switch (s) {
    case SleepJobState::kQueued:
      return "queued";
    case SleepJobState::kRunning:
      return "running";
    case SleepJobState::kDone:
      return "done";
    case SleepJobState::kFailed:
      return "failed";
    case SleepJobState::kStale:
      return "stale";
  }
  return "?";
}

Result<std::unique_ptr<SleepJobQueue>> SleepJobQueue::Open(const std::string& path) {
  if (path.empty()) return Status::InvalidArgument("database path must not be empty");
  auto c = sqlite::OpenConnection(path);
  if (!c.ok())
    return Status(c.status().code(), "cannot open database '" + path + "': " + c.status().message());
  return std::unique_ptr<SleepJobQueue>(new SqliteSleepJobQueue(std::move(c->db)));
}

}  // namespace sleeptime
