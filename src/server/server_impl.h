// Shared state of the HTTP server, split across http_server.cpp (set-up,
// auth, chat completions) and context_routes.cpp (contexts, stats).
#pragma once

#include <httplib.h>

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "server/chat_request.h"
#include "server/metrics.h"
#include "sleeptime/server.h"

namespace sleeptime::server {

// The tenant of a request ("" when authentication is off).
struct Caller {
  std::string tenant;
  // Store ids are "<tenant>.<id>" so tenants cannot see each other's contexts.
  std::string StoreId(const std::string& id) const { return tenant.empty() ? id : tenant + "." + id; }
  // The id as the caller knows it, or nullopt when the store id is another tenant's.
  std::optional<std::string> PublicId(const std::string& store_id) const {
    if (tenant.empty()) return store_id;
    const std::string prefix = tenant + ".";
    if (store_id.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
    return store_id.substr(prefix.size());
  }
};

int HttpStatusFor(const Status& st);
ApiError ApiErrorFor(const Status& st);
void SendError(httplib::Response& res, const ApiError& e);
void SendJson(httplib::Response& res, int status, const nlohmann::json& body);

}  // namespace sleeptime::server

namespace sleeptime {

struct Server::Impl {
  Backend* backend;
  Store* store;
  SleepJobQueue* queue;
  Engine* engine;
  ServerOptions options;
  SleepScheduler scheduler;
  server::Metrics metrics;
  httplib::Server http;
  std::thread listener;
  int bound_port = 0;
  std::mutex stop_mu;
  bool stopped = false;
  std::atomic<uint64_t> next_id{1};

  Impl(Backend* b, Store* s, SleepJobQueue* q, Engine* e, ServerOptions o)
      : backend(b),
        store(s),
        queue(q),
        engine(e),
        options(std::move(o)),
        scheduler(e, s, q, options.scheduler) {}

  void Routes();
  void ContextRoutes();  // context_routes.cpp
  server::Caller CallerOf(const httplib::Request& req) const;
  void ChatCompletions(const httplib::Request& req, httplib::Response& res);
  // The learned-context status of a context for the API.
  nlohmann::json LearnedJson(const server::Caller& caller, const Context& c);
  nlohmann::json ContextJson(const server::Caller& caller, const Context& c, bool with_text);
};

}  // namespace sleeptime
