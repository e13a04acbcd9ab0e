// Thin RAII layer over the SQLite C API used by the store: owned handles, a
// prepared-statement wrapper that only ever binds parameters, and a
// transaction guard that rolls back unless committed.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "sleeptime/status.h"

namespace sleeptime::sqlite {

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// Maps an SQLite result code to a Status whose message is sqlite's own
// one-line description; callers add what they were doing.
inline Status ErrorStatus(sqlite3* db, int rc) {
  std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Unavailable(std::move(msg));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption(std::move(msg));
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return Status::IoError(std::move(msg));
    case SQLITE_TOOBIG:
      return Status::OutOfRange(std::move(msg));
    default:
      return Status::Internal(std::move(msg));
  }
}

// Runs fixed SQL that carries no user data (pragmas, schema, BEGIN/COMMIT).
inline Status Exec(sqlite3* db, const char* sql) {
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  return rc == SQLITE_OK ? Status::Ok() : ErrorStatus(db, rc);
}

class Statement {
 public:
  static Result<Statement> Prepare(sqlite3* db, std::string_view sql);

  // Bind failures (only out-of-memory or too-big in practice) are remembered
  // and reported by the next Step, so call sites can chain binds.
  Statement& Bind(int index, std::string_view value);
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, double value);

  // True when a row is available, false when done.
  Result<bool> Step();
  // Steps a statement that returns no rows.
  Status Run();

  int64_t Int(int column) const { return sqlite3_column_int64(stmt_.get(), column); }
  double Double(int column) const { return sqlite3_column_double(stmt_.get(), column); }
  // Byte-exact, so text with embedded NULs survives a round trip.
  std::string Text(int column) const;

 private:
  Statement(sqlite3* db, StmtPtr stmt) : db_(db), stmt_(std::move(stmt)) {}

  sqlite3* db_;
  StmtPtr stmt_;
  int bind_rc_ = SQLITE_OK;
};

// Rolls back on destruction unless Commit succeeded, so every early return
// (and a test hook that throws) leaves the database unchanged.
class Transaction {
 public:
  // IMMEDIATE takes the write lock up front: a read-then-write transaction
  // that starts deferred can fail with SQLITE_BUSY at its first write, after
  // the busy handler can no longer help.
  enum class Mode { kDeferred, kImmediate };

  static Result<Transaction> Begin(sqlite3* db, Mode mode);
  Transaction(Transaction&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();

  Status Commit();

 private:
  explicit Transaction(sqlite3* db) : db_(db) {}

  sqlite3* db_;  // null once committed or moved from
};

inline Result<Statement> Statement::Prepare(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &raw, nullptr);
  StmtPtr stmt(raw);
  if (rc != SQLITE_OK) return ErrorStatus(db, rc);
  return Statement(db, std::move(stmt));
}

inline Statement& Statement::Bind(int index, std::string_view value) {
  // TRANSIENT: callers often bind temporaries that die before Step.
  int rc = sqlite3_bind_text64(stmt_.get(), index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

inline Statement& Statement::Bind(int index, int64_t value) {
  int rc = sqlite3_bind_int64(stmt_.get(), index, value);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

inline Statement& Statement::Bind(int index, double value) {
  int rc = sqlite3_bind_double(stmt_.get(), index, value);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

inline Result<bool> Statement::Step() {
  if (bind_rc_ != SQLITE_OK) return ErrorStatus(db_, bind_rc_);
  int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return ErrorStatus(db_, rc);
}

inline Status Statement::Run() {
  ST_ASSIGN_OR_RETURN(bool row, Step());
  (void)row;
  return Status::Ok();
}

inline std::string Statement::Text(int column) const {
  const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_.get(), column));
  if (data == nullptr) return {};
  return std::string(data, static_cast<size_t>(sqlite3_column_bytes(stmt_.get(), column)));
}

inline Result<Transaction> Transaction::Begin(sqlite3* db, Mode mode) {
  ST_RETURN_IF_ERROR(Exec(db, mode == Mode::kImmediate ? "BEGIN IMMEDIATE" : "BEGIN"));
  return Transaction(db);
}

inline Transaction::~Transaction() {
  if (db_ != nullptr) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

inline Status Transaction::Commit() {
  Status st = Exec(db_, "COMMIT");
  // A failed COMMIT (e.g. SQLITE_BUSY) leaves the transaction open; the
  // destructor still rolls it back.
  if (st.ok()) db_ = nullptr;
  return st;
}

// migrations.cpp

// Number of migrations this build knows; PRAGMA user_version equals it once a
// database is fully migrated.
int KnownSchemaVersion();
// Applies pending migrations, each in its own transaction. Refuses a database
// whose user_version is newer than KnownSchemaVersion(). Returns the version.
Result<int> Migrate(sqlite3* db, const std::string& path);
Result<int> ReadUserVersion(sqlite3* db);
// The FailedPrecondition for a database written by a newer sleeptime.
Status SchemaTooNew(const std::string& path, int version);

// connection.cpp

struct Connection {
  DbPtr db;
  int schema_version = 0;
};
// Opens (creating) the database with the settings every connection uses
// (busy timeout, foreign keys, WAL) and applies pending migrations.
Result<Connection> OpenConnection(const std::string& path);

}  // namespace sleeptime::sqlite
