// Opening the database: one place for the connection settings every user of
// the file (Store, SleepJobQueue) must agree on.
#include "store/sqlite_util.h"

namespace sleeptime::sqlite {

Result<Connection> OpenConnection(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  // sqlite allocates a handle even when open fails; own it before anything else.
  DbPtr db(raw);
  if (rc != SQLITE_OK) return ErrorStatus(db.get(), rc);
  sqlite3_extended_result_codes(db.get(), 1);
  // Before any statement that may touch the file, so that concurrent openers
  // (and their migrations) wait for each other instead of failing.
  ST_RETURN_IF_ERROR(Exec(db.get(), "PRAGMA busy_timeout = 5000"));
  // Per connection and a no-op inside a transaction, so set it here, once.
  ST_RETURN_IF_ERROR(Exec(db.get(), "PRAGMA foreign_keys = ON"));

  // Refuse a newer schema before changing anything about the file.
  ST_ASSIGN_OR_RETURN(int version, ReadUserVersion(db.get()));
  if (version > KnownSchemaVersion()) return SchemaTooNew(path, version);

  // WAL lets readers in other processes proceed while one writes; with WAL,
  // synchronous=NORMAL still never corrupts, it only risks the last commits on
  // power loss.
  ST_RETURN_IF_ERROR(Exec(db.get(), "PRAGMA journal_mode = WAL"));
  ST_RETURN_IF_ERROR(Exec(db.get(), "PRAGMA synchronous = NORMAL"));

  ST_ASSIGN_OR_RETURN(version, Migrate(db.get(), path));
  return Connection{std::move(db), version};
}

}  // namespace sleeptime::sqlite
