// Store: the embedded SQLite database that holds contexts, learned contexts
// (c′) and the query log.
//
// A context is versioned: putting new text under an existing id bumps its
// version, and a learned context records the version it was computed from, so
// a c′ computed from older text is never returned as current. KV-state blobs
// live as files (see KvStateCache); the store keeps only their metadata.
//
// The database runs in WAL mode with a busy timeout, so several processes may
// open it at once. A Store object serialises its own calls with a mutex and is
// safe to share between threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sleeptime/status.h"

namespace sleeptime {

struct Context {
  std::string id;
  std::string text;
  int64_t version = 0;       // 1 for the first text, +1 for each change
  std::string content_hash;  // SHA-256 hex of text
  int64_t created_at = 0;    // unix seconds
  int64_t updated_at = 0;
};

struct LearnedContext {
  int64_t id = 0;  // assigned by the store
  std::string context_id;
  int64_t context_version = 0;
  std::string text;   // c′
  std::string model;  // model fingerprint it was computed with
  int64_t sleep_prompt_tokens = 0;
  int64_t sleep_completion_tokens = 0;
  std::string settings_json;  // sleep settings (budget, k, template hash ...)
  // Metadata of the KV state of the answer prefix built from c′; empty key
  // when none was saved.
  std::string kv_key;
  int64_t kv_tokens = 0;
  int64_t kv_bytes = 0;
  int64_t created_at = 0;
};

struct QueryRecord {
  int64_t id = 0;  // assigned by the store
  std::string context_id;
  int64_t context_version = 0;
  std::string query;
  std::string answer;
  std::string model;
  int64_t prompt_tokens = 0;      // all prompt tokens of the query
  int64_t cached_tokens = 0;      // of which restored from a KV state
  int64_t completion_tokens = 0;  // test-time tokens
  double latency_ms = 0;
  bool used_learned_context = false;
  bool used_kv_state = false;
  int64_t created_at = 0;
};

class Store {
 public:
  // Opens or creates the database at `path` and applies pending migrations.
  static Result<std::unique_ptr<Store>> Open(const std::string& path);

  virtual ~Store() = default;

  // Inserts a new context, or a new version of an existing one when `text`
  // differs from the current text. Same text: returns the context unchanged.
  virtual Result<Context> PutContext(const std::string& id, const std::string& text) = 0;
  virtual Result<Context> GetContext(const std::string& id) = 0;
  virtual Result<std::vector<Context>> ListContexts() = 0;
  // Removes the context with its learned contexts and query log.
  virtual Status RemoveContext(const std::string& id) = 0;

  // Fails with FailedPrecondition when lc.context_version is not the current
  // version of the context (the context changed while we slept). Returns the id.
  virtual Result<int64_t> PutLearnedContext(const LearnedContext& lc) = 0;
  // The newest learned context for the context's *current* version and this
  // model, or nullopt. Never returns a c′ of an older version.
  virtual Result<std::optional<LearnedContext>> CurrentLearnedContext(const std::string& context_id,
                                                                      const std::string& model) = 0;
  // Every learned context of a context, oldest first (all versions).
  virtual Result<std::vector<LearnedContext>> LearnedContexts(const std::string& context_id) = 0;

  virtual Result<int64_t> LogQuery(const QueryRecord& q) = 0;
  // Oldest first.
  virtual Result<std::vector<QueryRecord>> Queries(const std::string& context_id) = 0;

  // PRAGMA user_version after migrations.
  virtual int SchemaVersion() = 0;

  // Test hook: called inside the write transaction of PutLearnedContext after
  // the row is written and before COMMIT (lets a test kill the process there).
  virtual void SetBeforeCommitHookForTesting(std::function<void()> hook) = 0;
};

}  // namespace sleeptime
