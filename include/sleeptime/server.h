// Server: `sleeptime serve` — an OpenAI-compatible HTTP server that spends its
// idle time on sleep-time compute for the contexts it holds.
//
// POST /v1/chat/completions answers as OpenAI does (streaming or not). A
// request names a context explicitly ({"sleeptime": {"context_id": ...}}) or
// implicitly: a system message of at least `implicit_context_min_tokens`
// tokens becomes a context keyed by its content hash, so an unmodified client
// that resends the same document gets sleep-time compute transparently. The
// answer then comes from c′ when one is ready, and the usage says so.
// Contexts are managed under /v1/contexts; GET /health and GET /metrics
// (Prometheus) serve operators. See docs/SERVER.md.
//
// With API keys configured every /v1 request needs "Authorization: Bearer
// KEY"; each key maps to a tenant, and a tenant sees only its own contexts.
//
// Start() returns once the socket listens; Stop() stops accepting, lets
// in-flight requests finish and puts an interrupted sleep job back in the
// queue. All methods are thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "sleeptime/backend.h"
#include "sleeptime/engine.h"
#include "sleeptime/sleep_jobs.h"
#include "sleeptime/sleep_scheduler.h"
#include "sleeptime/status.h"
#include "sleeptime/store.h"

namespace sleeptime {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                              // 0: any free port (see Server::port())
  std::string model_name = "sleeptime";         // the model id clients see
  std::map<std::string, std::string> api_keys;  // key -> tenant; empty: no authentication
  int implicit_context_min_tokens = 256;        // 0: never register system messages as contexts
  size_t max_body_bytes = 8u << 20;
  int http_threads = 8;
  double test_token_weight = 10;  // for the amortized sleep tokens reported in usage
  SchedulerOptions scheduler;
};

class Server {
 public:
  // The objects must outlive the server. `engine` must use `backend` and `store`.
  static Result<std::unique_ptr<Server>> Create(Backend* backend, Store* store, SleepJobQueue* queue,
                                                Engine* engine, ServerOptions options);
  ~Server();

  Status Start();
  int port() const;
  // Graceful: stop accepting, finish in-flight requests, re-queue a running sleep job.
  void Stop();
  // Blocks until Stop() has completed (from another thread or a signal watcher).
  void Wait();

  SleepScheduler& scheduler();

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sleeptime
