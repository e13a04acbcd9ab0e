// /v1/contexts, /v1/contexts/{id}/learned, /v1/contexts/{id}/sleep, /v1/stats.
#include <nlohmann/json.hpp>

#include "server/server_impl.h"
#include "sleeptime/hash.h"

namespace sleeptime {

using nlohmann::json;
using server::ApiError;
using server::Caller;

namespace {

ApiError NotFound(const std::string& id) {
  ApiError e;
  e.http_status = 404;
  e.type = "not_found_error";
  e.message = "context '" + id + "' not found";
  return e;
}

ApiError BadRequest(std::string message, std::string param = "") {
  ApiError e;
  e.message = std::move(message);
  e.param = std::move(param);
  return e;
}

}  // namespace

json Server::Impl::ContextJson(const Caller& caller, const Context& c, bool with_text) {
  json j = {{"id", caller.PublicId(c.id).value_or(c.id)},
            {"object", "context"},
            {"version", c.version},
            {"content_hash", c.content_hash},
            {"bytes", c.text.size()},
            {"created_at", c.created_at},
            {"updated_at", c.updated_at}};
  if (auto n = backend->CountTokens(Prompt{"", c.text}); n.ok()) j["tokens"] = *n;
  if (with_text) j["text"] = c.text;
  return j;
}

json Server::Impl::LearnedJson(const Caller& caller, const Context& c) {
  json j = {{"context_id", caller.PublicId(c.id).value_or(c.id)}, {"context_version", c.version}};
  auto lc = store->CurrentLearnedContext(c.id, backend->ModelFingerprint());
  auto job = queue->Latest(c.id);
  std::string status = "none";
  if (job.ok() && *job) {
    const SleepJob& jb = **job;
    switch (jb.state) {
      case SleepJobState::kQueued:
        status = "queued";
        break;
      case SleepJobState::kRunning:
        status = "sleeping";
        break;
      case SleepJobState::kFailed:
        status = "failed";
        break;
      case SleepJobState::kStale:
        status = "stale";
        break;
      case SleepJobState::kDone:
        status = jb.context_version == c.version ? "ready" : "stale";
        break;
    }
    j["job"] = {{"id", jb.id},
                {"state", SleepJobStateName(jb.state)},
                {"trigger", jb.trigger},
                {"context_version", jb.context_version},
                {"reason", jb.reason},
                {"attempts", jb.attempts},
                {"sleep_tokens", jb.sleep_tokens}};
  }
  // A c′ for the current version is served whatever a newer job is doing.
  if (lc.ok() && *lc) {
    if (status != "queued" && status != "sleeping") status = "ready";
    j["learned"] = {{"text", (*lc)->text},
                    {"version", (*lc)->context_version},
                    {"sleep_tokens", (*lc)->sleep_completion_tokens},
                    {"kv_tokens", (*lc)->kv_tokens},
                    {"created_at", (*lc)->created_at}};
  } else {
    j["learned"] = nullptr;
  }
  j["status"] = status;
  return j;
}

void Server::Impl::ContextRoutes() {
  auto counted = [this](const char* route, auto handler) {
    return [this, route, handler](const httplib::Request& req, httplib::Response& res) {
      handler(req, res);
      metrics.CountRequest(route, res.status);
    };
  };

  http.Post(
      "/v1/contexts", counted("/v1/contexts", [this](const httplib::Request& req, httplib::Response& res) {
        const Caller caller = CallerOf(req);
        json body = json::parse(req.body, nullptr, false);
        if (body.is_discarded() || !body.is_object())
          return server::SendError(res, BadRequest("the request body must be a JSON object"));
        auto text = body.find("text");
        if (text == body.end() || !text->is_string() || text->get<std::string>().empty())
          return server::SendError(res, BadRequest("'text' must be a non-empty string", "text"));
        std::string id;
        if (auto it = body.find("id"); it != body.end() && !it->is_null()) {
          if (!it->is_string()) return server::SendError(res, BadRequest("'id' must be a string", "id"));
          id = it->get<std::string>();
        } else {
          id = "ctx-" + Sha256Hex(text->get<std::string>()).substr(0, 24);
        }
        if (!caller.tenant.empty() && id.find('.') != std::string::npos)
          return server::SendError(res, BadRequest("'id' must not contain '.'", "id"));
        const std::string doc = text->get<std::string>();
        auto n = backend->CountTokens(Prompt{"", doc});
        if (n.ok() && *n >= backend->ContextWindow()) {
          ApiError e =
              BadRequest("the context is " + std::to_string(*n) + " tokens; the model's context window is " +
                             std::to_string(backend->ContextWindow()),
                         "text");
          e.http_status = 413;
          e.code = "context_length_exceeded";
          return server::SendError(res, e);
        }
        auto before = store->GetContext(caller.StoreId(id));
        auto put = store->PutContext(caller.StoreId(id), doc);
        if (!put.ok()) return server::SendError(res, server::ApiErrorFor(put.status()));
        const bool created = !before.ok();
        const bool changed = created || before->version != put->version;
        if (changed) (void)scheduler.Trigger(put->id, created ? "created" : "changed");
        json j = ContextJson(caller, *put, false);
        j["learned"] = LearnedJson(caller, *put);
        server::SendJson(res, created ? 201 : 200, j);
      }));

  http.Get("/v1/contexts",
           counted("/v1/contexts", [this](const httplib::Request& req, httplib::Response& res) {
             const Caller caller = CallerOf(req);
             auto all = store->ListContexts();
             if (!all.ok()) return server::SendError(res, server::ApiErrorFor(all.status()));
             json data = json::array();
             for (const Context& c : *all)
               if (caller.PublicId(c.id)) data.push_back(ContextJson(caller, c, false));
             server::SendJson(res, 200, {{"object", "list"}, {"data", data}});
           }));

  // Finds the caller's context named in the path, or answers 404.
  auto with_context = [this](const httplib::Request& req, httplib::Response& res,
                             const Caller& caller) -> std::optional<Context> {
    const std::string id = req.matches[1];
    auto c = store->GetContext(caller.StoreId(id));
    if (!c.ok()) {
      server::SendError(
          res, c.status().code() == StatusCode::kNotFound ? NotFound(id) : server::ApiErrorFor(c.status()));
      return std::nullopt;
    }
    return *c;
  };

  http.Get(R"(/v1/contexts/([^/]+))",
           counted("/v1/contexts", [this, with_context](const httplib::Request& req, httplib::Response& res) {
             const Caller caller = CallerOf(req);
             if (auto c = with_context(req, res, caller))
               server::SendJson(res, 200, ContextJson(caller, *c, true));
           }));
  http.Delete(
      R"(/v1/contexts/([^/]+))",
      counted("/v1/contexts", [this, with_context](const httplib::Request& req, httplib::Response& res) {
        const Caller caller = CallerOf(req);
        auto c = with_context(req, res, caller);
        if (!c) return;
        if (Status st = store->RemoveContext(c->id); !st.ok())
          return server::SendError(res, server::ApiErrorFor(st));
        server::SendJson(res, 200,
                         {{"id", std::string(req.matches[1])}, {"object", "context"}, {"deleted", true}});
      }));
  http.Get(R"(/v1/contexts/([^/]+)/learned)",
           counted("/v1/contexts/learned",
                   [this, with_context](const httplib::Request& req, httplib::Response& res) {
                     const Caller caller = CallerOf(req);
                     if (auto c = with_context(req, res, caller))
                       server::SendJson(res, 200, LearnedJson(caller, *c));
                   }));
  http.Post(R"(/v1/contexts/([^/]+)/sleep)",
            counted("/v1/contexts/sleep",
                    [this, with_context](const httplib::Request& req, httplib::Response& res) {
                      const Caller caller = CallerOf(req);
                      auto c = with_context(req, res, caller);
                      if (!c) return;
                      auto job = scheduler.Trigger(c->id, "manual");
                      if (!job.ok()) return server::SendError(res, server::ApiErrorFor(job.status()));
                      json j = LearnedJson(caller, *c);
                      server::SendJson(res, 202, j);
                    }));

  http.Get("/v1/stats", counted("/v1/stats", [this](const httplib::Request& req, httplib::Response& res) {
             const Caller caller = CallerOf(req);
             auto all = store->ListContexts();
             if (!all.ok()) return server::SendError(res, server::ApiErrorFor(all.status()));
             json contexts = json::array();
             for (const Context& c : *all) {
               if (!caller.PublicId(c.id)) continue;
               auto s = engine->Stats(c.id);
               if (!s.ok()) continue;
               contexts.push_back({{"id", *caller.PublicId(c.id)},
                                   {"version", s->version},
                                   {"has_learned_context", s->has_learned_context},
                                   {"sleep_tokens", s->sleep_tokens},
                                   {"queries_with_sleep", s->queries_with_sleep},
                                   {"queries_baseline", s->queries_baseline},
                                   {"mean_test_tokens_with_sleep", s->mean_test_tokens_with_sleep},
                                   {"mean_test_tokens_baseline", s->mean_test_tokens_baseline}});
             }
             const auto t = metrics.totals();
             json jobs = json::object();
             if (caller.tenant.empty()) {
               if (auto c = queue->CountByState(); c.ok())
                 for (const auto& [st, n] : *c) jobs[SleepJobStateName(st)] = n;
             } else {  // a tenant sees the latest job of each of its own contexts only
               for (auto st : {SleepJobState::kQueued, SleepJobState::kRunning, SleepJobState::kDone,
                               SleepJobState::kFailed, SleepJobState::kStale})
                 jobs[SleepJobStateName(st)] = 0;
               for (const Context& c : *all) {
                 if (!caller.PublicId(c.id)) continue;
                 if (auto j = queue->Latest(c.id); j.ok() && *j)
                   jobs[SleepJobStateName((*j)->state)] =
                       jobs[SleepJobStateName((*j)->state)].get<int64_t>() + 1;
               }
             }
             server::SendJson(res, 200,
                              {{"object", "stats"},
                               {"contexts", contexts},
                               {"sleep_jobs", jobs},
                               {"completions", t.completions},
                               {"completions_with_learned_context", t.with_learned},
                               {"test_tokens", t.test_tokens},
                               {"sleep_tokens", t.sleep_tokens},
                               {"prompt_tokens", t.prompt_tokens},
                               {"cached_prompt_tokens", t.cached_tokens},
                               {"live_requests", scheduler.live_requests()},
                               {"sleep_yields", scheduler.yields()},
                               {"sleep_yielded_ms", scheduler.yielded_ms()}});
           }));
}

}  // namespace sleeptime
