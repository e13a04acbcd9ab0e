// Schema migrations of the store.
//
// Migrations are append-only: a released step is never edited, a schema change
// is a new step at the end. PRAGMA user_version counts the steps applied, and
// is written in the same transaction as the step, so a crash mid-migration
// leaves the database at the previous version rather than half-migrated.

#include <array>
#include <string>

#include "store/sqlite_util.h"

namespace sleeptime::sqlite {
namespace {

constexpr std::array<const char*, 2> kMigrations = {
    // 1: initial schema.
    R"sql(
CREATE TABLE contexts (
  id TEXT PRIMARY KEY NOT NULL,
  text TEXT NOT NULL,
  version INTEGER NOT NULL CHECK (version >= 1),
  content_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE learned_contexts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  context_id TEXT NOT NULL REFERENCES contexts(id) ON DELETE CASCADE,
  context_version INTEGER NOT NULL,
  text TEXT NOT NULL,
  model TEXT NOT NULL,
  sleep_prompt_tokens INTEGER NOT NULL DEFAULT 0,
  sleep_completion_tokens INTEGER NOT NULL DEFAULT 0,
  settings_json TEXT NOT NULL DEFAULT '{}',
  kv_key TEXT NOT NULL DEFAULT '',
  kv_tokens INTEGER NOT NULL DEFAULT 0,
  kv_bytes INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE INDEX learned_contexts_by_version
  ON learned_contexts(context_id, context_version, model);

CREATE TABLE queries (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  context_id TEXT NOT NULL REFERENCES contexts(id) ON DELETE CASCADE,
  context_version INTEGER NOT NULL,
  query TEXT NOT NULL,
  answer TEXT NOT NULL,
  model TEXT NOT NULL,
  prompt_tokens INTEGER NOT NULL DEFAULT 0,
  cached_tokens INTEGER NOT NULL DEFAULT 0,
  completion_tokens INTEGER NOT NULL DEFAULT 0,
  latency_ms REAL NOT NULL DEFAULT 0,
  used_learned_context INTEGER NOT NULL DEFAULT 0,
  used_kv_state INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE INDEX queries_by_context ON queries(context_id);
)sql",
    // 2: the sleep scheduler's persistent job queue.
    R"sql(
CREATE TABLE sleep_jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  context_id TEXT NOT NULL REFERENCES contexts(id) ON DELETE CASCADE,
  context_version INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'stale')),
  trigger TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  result TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0,
  sleep_tokens INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  started_at INTEGER NOT NULL DEFAULT 0,
  finished_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sleep_jobs_by_state ON sleep_jobs(state, id);
CREATE INDEX sleep_jobs_by_context ON sleep_jobs(context_id, id);
)sql",
};

}  // namespace

int KnownSchemaVersion() {
  return static_cast<int>(kMigrations.size());
}

Status SchemaTooNew(const std::string& path, int version) {
  return Status::FailedPrecondition("database '" + path + "' has schema version " + std::to_string(version) +
                                    ", newer than this sleeptime supports (" +
                                    std::to_string(KnownSchemaVersion()) + "); upgrade sleeptime");
}

Result<int> ReadUserVersion(sqlite3* db) {
  ST_ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(db, "PRAGMA user_version"));
  ST_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Status::Internal("PRAGMA user_version returned no row");
  return static_cast<int>(stmt.Int(0));
}

Result<int> Migrate(sqlite3* db, const std::string& path) {
  ST_ASSIGN_OR_RETURN(int version, ReadUserVersion(db));
  if (version > KnownSchemaVersion()) return SchemaTooNew(path, version);
  while (version < KnownSchemaVersion()) {
    ST_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db, Transaction::Mode::kImmediate));
    // Another process may have migrated between our read and the write lock.
    ST_ASSIGN_OR_RETURN(version, ReadUserVersion(db));
    if (version > KnownSchemaVersion()) return SchemaTooNew(path, version);
    if (version == KnownSchemaVersion()) break;
    ST_RETURN_IF_ERROR(Exec(db, kMigrations[version]));
    // PRAGMA takes no bound parameters; the value is our own integer.
    std::string set_version = "PRAGMA user_version = " + std::to_string(version + 1);
    ST_RETURN_IF_ERROR(Exec(db, set_version.c_str()));
    ST_RETURN_IF_ERROR(txn.Commit());
    ++version;
  }
  return version;
}

}  // namespace sleeptime::sqlite
