// The SQLite implementation of Store.
//
// Every write that depends on what it read (a context's version) runs in one
// BEGIN IMMEDIATE transaction, so two processes sharing the database cannot
// interleave between the check and the write. Multi-statement reads run in a
// deferred transaction to see one snapshot.

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sleeptime/hash.h"
#include "sleeptime/store.h"
#include "store/sqlite_util.h"

namespace sleeptime {
namespace {

using sqlite::Statement;
using sqlite::Transaction;

constexpr size_t kMaxContextIdLength = 128;

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Ids end up in file names (KV states) and on command lines, so keep them to a
// portable, shell-safe alphabet.
Status ValidateContextId(const std::string& id) {
  if (id.empty()) return Status::InvalidArgument("context id must not be empty");
  if (id.size() > kMaxContextIdLength) {
    return Status::InvalidArgument("context id is longer than " + std::to_string(kMaxContextIdLength) +
                                   " characters");
  }
  for (char c : id) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-';
    if (!ok) {
      // Echo the id, but never a control character that would break the
      // one-line message.
      std::string shown = id;
      for (char& ch : shown) {
        if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) >= 0x7f) ch = '?';
      }
      return Status::InvalidArgument("context id '" + shown +
                                     "' may contain only letters, digits, '.', '_' and '-'");
    }
  }
  return Status::Ok();
}

Status ContextNotFound(const std::string& id) {
  return Status::NotFound("context '" + id + "' not found");
}

// Prefixes database-level failures with what we were doing; statuses that
// already carry a user-facing message (not found, invalid id, stale version)
// pass through unchanged.
Status Annotate(Status st, std::string_view what) {
  switch (st.code()) {
    case StatusCode::kUnavailable:
    case StatusCode::kIoError:
    case StatusCode::kCorruption:
    case StatusCode::kInternal:
    case StatusCode::kOutOfRange:
      return Status(st.code(), std::string(what) + ": " + st.message());
    default:
      return st;
  }
}

template <typename T>
Result<T> Annotate(Result<T> r, std::string_view what) {
  if (r.ok()) return r;
  return Annotate(r.status(), what);
}

constexpr std::string_view kContextColumns = "id, text, version, content_hash, created_at, updated_at";

Context ReadContext(const Statement& s) {
  Context c;
  c.id = s.Text(0);
  c.text = s.Text(1);
  c.version = s.Int(2);
  c.content_hash = s.Text(3);
  c.created_at = s.Int(4);
  c.updated_at = s.Int(5);
  return c;
}

constexpr std::string_view kLearnedColumns =
    "id, context_id, context_version, text, model, sleep_prompt_tokens, sleep_completion_tokens, "
    "settings_json, kv_key, kv_tokens, kv_bytes, created_at";

LearnedContext ReadLearned(const Statement& s) {
  LearnedContext lc;
  lc.id = s.Int(0);
  lc.context_id = s.Text(1);
  lc.context_version = s.Int(2);
  lc.text = s.Text(3);
  lc.model = s.Text(4);
  lc.sleep_prompt_tokens = s.Int(5);
  lc.sleep_completion_tokens = s.Int(6);
  lc.settings_json = s.Text(7);
  lc.kv_key = s.Text(8);
  lc.kv_tokens = s.Int(9);
  lc.kv_bytes = s.Int(10);
  lc.created_at = s.Int(11);
  return lc;
}

constexpr std::string_view kQueryColumns =
    "id, context_id, context_version, query, answer, model, prompt_tokens, cached_tokens, "
    "completion_tokens, latency_ms, used_learned_context, used_kv_state, created_at";

QueryRecord ReadQuery(const Statement& s) {
  QueryRecord q;
  q.id = s.Int(0);
  q.context_id = s.Text(1);
  q.context_version = s.Int(2);
  q.query = s.Text(3);
  q.answer = s.Text(4);
  q.model = s.Text(5);
  q.prompt_tokens = s.Int(6);
  q.cached_tokens = s.Int(7);
  q.completion_tokens = s.Int(8);
  q.latency_ms = s.Double(9);
  q.used_learned_context = s.Int(10) != 0;
  q.used_kv_state = s.Int(11) != 0;
  q.created_at = s.Int(12);
  return q;
}

std::string Select(std::string_view columns, std::string_view rest) {
  std::string sql = "SELECT ";
  sql += columns;
  sql += ' ';
  sql += rest;
  return sql;
}

class SqliteStore final : public Store {
 public:
  SqliteStore(sqlite::DbPtr db, int schema_version) : db_(std::move(db)), schema_version_(schema_version) {}

  Result<Context> PutContext(const std::string& id, const std::string& text) override {
    ST_RETURN_IF_ERROR(ValidateContextId(id));
    std::lock_guard<std::mutex> lock(mu_);
    return Annotate(PutContextLocked(id, text), "cannot store context '" + id + "'");
  }

  Result<Context> GetContext(const std::string& id) override {
    ST_RETURN_IF_ERROR(ValidateContextId(id));
    std::lock_guard<std::mutex> lock(mu_);
    return Annotate(GetContextLocked(id), "cannot read context '" + id + "'");
  }

  Result<std::vector<Context>> ListContexts() override {
    std::lock_guard<std::mutex> lock(mu_);
    return Annotate(ListContextsLocked(), "cannot list contexts");
  }

  Status RemoveContext(const std::string& id) override {
    ST_RETURN_IF_ERROR(ValidateContextId(id));
    std::lock_guard<std::mutex> lock(mu_);
    return Annotate(RemoveContextLocked(id), "cannot remove context '" + id + "'");
  }

  Result<int64_t> PutLearnedContext(const LearnedContext& lc) override {
    ST_RETURN_IF_ERROR(ValidateContextId(lc.context_id));
    std::lock_guard<std::mutex> lock(mu_);
    return Annotate(PutLearnedContextLocked(lc),
                    "cannot store learned context for context '" + lc.context_id + "'");
  }

  Result<std::optional<LearnedContext>> CurrentLearnedContext(const std::string& context_id,
                                                              const std::string& model) override {
    ST_RETURN_IF_ERROR(ValidateContextId(context_id));
    std::lock_guard<std::mutex> lock(mu_);
    return Annotate(CurrentLearnedContextLocked(context_id, model),
                    "cannot read learned context of context '" + context_id + "'");
  }

  Result<std::vector<LearnedContext>> LearnedContexts(const std::string& context_id) override {
    ST_RETURN_IF_ERROR(ValidateContextId(context_id));
    std::lock_guard<std::mutex> lock(mu_);
    return Annotate(LearnedContextsLocked(context_id),
                    "cannot read learned contexts of context '" + context_id + "'");
  }

  Result<int64_t> LogQuery(const QueryRecord& q) override {
    ST_RETURN_IF_ERROR(ValidateContextId(q.context_id));
    std::lock_guard<std::mutex> lock(mu_);
    return Annotate(LogQueryLocked(q), "cannot log query for context '" + q.context_id + "'");
  }

  Result<std::vector<QueryRecord>> Queries(const std::string& context_id) override {
    ST_RETURN_IF_ERROR(ValidateContextId(context_id));
    std::lock_guard<std::mutex> lock(mu_);
    return Annotate(QueriesLocked(context_id), "cannot read queries of context '" + context_id + "'");
  }

  int SchemaVersion() override { return schema_version_; }

  void SetBeforeCommitHookForTesting(std::function<void()> hook) override {
    std::lock_guard<std::mutex> lock(mu_);
    before_commit_hook_ = std::move(hook);
  }

 private:
  sqlite3* db() const { return db_.get(); }

  // Empty optional when the context does not exist. Runs inside the caller's
  // transaction, if any.
  Result<std::optional<Context>> FindContext(const std::string& id) {
    ST_ASSIGN_OR_RETURN(Statement s,
                        Statement::Prepare(db(), Select(kContextColumns, "FROM contexts WHERE id = ?1")));
    s.Bind(1, id);
    ST_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return std::optional<Context>();
    return std::optional<Context>(ReadContext(s));
  }

  Result<Context> PutContextLocked(const std::string& id, const std::string& text) {
    ST_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db(), Transaction::Mode::kImmediate));
    ST_ASSIGN_OR_RETURN(std::optional<Context> existing, FindContext(id));
    if (existing && existing->text == text) return *existing;

    Context c;
    c.id = id;
    c.text = text;
    c.content_hash = Sha256Hex(text);
    c.updated_at = NowSeconds();
    if (existing) {
      c.version = existing->version + 1;
      c.created_at = existing->created_at;
      ST_ASSIGN_OR_RETURN(
          Statement s, Statement::Prepare(db(),
                                          "UPDATE contexts SET text = ?2, version = ?3, content_hash = ?4, "
                                          "updated_at = ?5 WHERE id = ?1"));
      s.Bind(1, c.id).Bind(2, c.text).Bind(3, c.version).Bind(4, c.content_hash).Bind(5, c.updated_at);
      ST_RETURN_IF_ERROR(s.Run());
    } else {
      c.version = 1;
      c.created_at = c.updated_at;
      ST_ASSIGN_OR_RETURN(Statement s,
                          Statement::Prepare(db(),
                                             "INSERT INTO contexts (id, text, version, content_hash, "
                                             "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
      s.Bind(1, c.id).Bind(2, c.text).Bind(3, c.version).Bind(4, c.content_hash).Bind(5, c.created_at);
      s.Bind(6, c.updated_at);
      ST_RETURN_IF_ERROR(s.Run());
    }
    ST_RETURN_IF_ERROR(txn.Commit());
    return c;
  }

  Result<Context> GetContextLocked(const std::string& id) {
    ST_ASSIGN_OR_RETURN(std::optional<Context> c, FindContext(id));
    if (!c) return ContextNotFound(id);
    return *std::move(c);
  }

  Result<std::vector<Context>> ListContextsLocked() {
    ST_ASSIGN_OR_RETURN(Statement s,
                        Statement::Prepare(db(), Select(kContextColumns, "FROM contexts ORDER BY id")));
    std::vector<Context> out;
    while (true) {
      ST_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      out.push_back(ReadContext(s));
    }
    return out;
  }

  Status RemoveContextLocked(const std::string& id) {
    // Learned contexts and queries go with it through ON DELETE CASCADE.
    ST_ASSIGN_OR_RETURN(Statement s, Statement::Prepare(db(), "DELETE FROM contexts WHERE id = ?1"));
    s.Bind(1, id);
    ST_RETURN_IF_ERROR(s.Run());
    if (sqlite3_changes(db()) == 0) return ContextNotFound(id);
    return Status::Ok();
  }

  Result<int64_t> PutLearnedContextLocked(const LearnedContext& lc) {
    ST_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db(), Transaction::Mode::kImmediate));
    // Checked under the write lock: the context may have changed while we
    // slept, in this process or another one.
    ST_ASSIGN_OR_RETURN(Statement check,
                        Statement::Prepare(db(), "SELECT version FROM contexts WHERE id = ?1"));
    check.Bind(1, lc.context_id);
    ST_ASSIGN_OR_RETURN(bool found, check.Step());
    if (!found) return ContextNotFound(lc.context_id);
    int64_t current = check.Int(0);
    if (current != lc.context_version) {
      return Status::FailedPrecondition(
          "context '" + lc.context_id + "' changed while sleeping (now version " + std::to_string(current) +
          ", learned context is for version " + std::to_string(lc.context_version) + ")");
    }

    ST_ASSIGN_OR_RETURN(
        Statement s,
        Statement::Prepare(db(),
                           "INSERT INTO learned_contexts (context_id, context_version, text, model, "
                           "sleep_prompt_tokens, sleep_completion_tokens, settings_json, kv_key, kv_tokens, "
                           "kv_bytes, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"));
    s.Bind(1, lc.context_id).Bind(2, lc.context_version).Bind(3, lc.text).Bind(4, lc.model);
    s.Bind(5, lc.sleep_prompt_tokens).Bind(6, lc.sleep_completion_tokens).Bind(7, lc.settings_json);
    s.Bind(8, lc.kv_key).Bind(9, lc.kv_tokens).Bind(10, lc.kv_bytes);
    s.Bind(11, lc.created_at != 0 ? lc.created_at : NowSeconds());
    ST_RETURN_IF_ERROR(s.Run());
    int64_t id = sqlite3_last_insert_rowid(db());

    if (before_commit_hook_) before_commit_hook_();
    ST_RETURN_IF_ERROR(txn.Commit());
    return id;
  }

  Result<std::optional<LearnedContext>> CurrentLearnedContextLocked(const std::string& context_id,
                                                                    const std::string& model) {
    ST_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db(), Transaction::Mode::kDeferred));
    // Matching on the context's current version is what keeps a stale c′
    // from ever being current. Newest by id, not created_at: ids are
    // monotonic (AUTOINCREMENT) while timestamps tie within a second.
    ST_ASSIGN_OR_RETURN(Statement s,
                        Statement::Prepare(db(), Select(kLearnedColumns,
                                                        "FROM learned_contexts WHERE context_id = ?1 "
                                                        "AND model = ?2 AND context_version = "
                                                        "(SELECT version FROM contexts WHERE id = ?1) "
                                                        "ORDER BY id DESC LIMIT 1")));
    s.Bind(1, context_id).Bind(2, model);
    ST_ASSIGN_OR_RETURN(bool row, s.Step());
    if (row) return std::optional<LearnedContext>(ReadLearned(s));
    ST_RETURN_IF_ERROR(RequireContext(context_id));
    return std::optional<LearnedContext>();
  }

  Result<std::vector<LearnedContext>> LearnedContextsLocked(const std::string& context_id) {
    ST_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db(), Transaction::Mode::kDeferred));
    ST_RETURN_IF_ERROR(RequireContext(context_id));
    ST_ASSIGN_OR_RETURN(Statement s,
                        Statement::Prepare(db(), Select(kLearnedColumns,
                                                        "FROM learned_contexts WHERE context_id = ?1 "
                                                        "ORDER BY id")));
    s.Bind(1, context_id);
    std::vector<LearnedContext> out;
    while (true) {
      ST_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      out.push_back(ReadLearned(s));
    }
    return out;
  }

  Result<int64_t> LogQueryLocked(const QueryRecord& q) {
    ST_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db(), Transaction::Mode::kImmediate));
    // The foreign key would reject it too, but with a less helpful message.
    ST_RETURN_IF_ERROR(RequireContext(q.context_id));
    ST_ASSIGN_OR_RETURN(
        Statement s,
        Statement::Prepare(
            db(),
            "INSERT INTO queries (context_id, context_version, query, answer, model, "
            "prompt_tokens, cached_tokens, completion_tokens, latency_ms, used_learned_context, "
            "used_kv_state, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"));
    s.Bind(1, q.context_id).Bind(2, q.context_version).Bind(3, q.query).Bind(4, q.answer).Bind(5, q.model);
    s.Bind(6, q.prompt_tokens).Bind(7, q.cached_tokens).Bind(8, q.completion_tokens).Bind(9, q.latency_ms);
    s.Bind(10, int64_t{q.used_learned_context ? 1 : 0}).Bind(11, int64_t{q.used_kv_state ? 1 : 0});
    s.Bind(12, q.created_at != 0 ? q.created_at : NowSeconds());
    ST_RETURN_IF_ERROR(s.Run());
    int64_t id = sqlite3_last_insert_rowid(db());
    ST_RETURN_IF_ERROR(txn.Commit());
    return id;
  }

  Result<std::vector<QueryRecord>> QueriesLocked(const std::string& context_id) {
    ST_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db(), Transaction::Mode::kDeferred));
    ST_RETURN_IF_ERROR(RequireContext(context_id));
    ST_ASSIGN_OR_RETURN(Statement s, Statement::Prepare(db(), Select(kQueryColumns,
                                                                     "FROM queries WHERE context_id = ?1 "
                                                                     "ORDER BY id")));
    s.Bind(1, context_id);
    std::vector<QueryRecord> out;
    while (true) {
      ST_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      out.push_back(ReadQuery(s));
    }
    return out;
  }

  Status RequireContext(const std::string& id) {
    ST_ASSIGN_OR_RETURN(Statement s, Statement::Prepare(db(), "SELECT 1 FROM contexts WHERE id = ?1"));
    s.Bind(1, id);
    ST_ASSIGN_OR_RETURN(bool row, s.Step());
    return row ? Status::Ok() : ContextNotFound(id);
  }

  std::mutex mu_;
  sqlite::DbPtr db_;
  const int schema_version_;  // fixed once migrated at open
  std::function<void()> before_commit_hook_;
};

Result<std::unique_ptr<Store>> OpenDatabase(const std::string& path) {
  ST_ASSIGN_OR_RETURN(sqlite::Connection c, sqlite::OpenConnection(path));
  return std::unique_ptr<Store>(new SqliteStore(std::move(c.db), c.schema_version));
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const std::string& path) {
  if (path.empty()) return Status::InvalidArgument("database path must not be empty");
  auto store = OpenDatabase(path);
  if (store.ok()) return store;
  Status st = store.status();
  if (st.code() == StatusCode::kFailedPrecondition) return st;  // already names the database
  return Status(st.code(), "cannot open database '" + path + "': " + st.message());
}

}  // namespace sleeptime
