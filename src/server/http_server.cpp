// The HTTP server: set-up, authentication, errors, and chat completions.
#include <spdlog/spdlog.h>

#include <chrono>
#include <csignal>

#include "server/server_impl.h"
#include "sleeptime/hash.h"

namespace sleeptime {
namespace server {

using nlohmann::json;

int HttpStatusFor(const Status& st) {
  switch (st.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
    case StatusCode::kFailedPrecondition:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
      return 409;
    case StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

ApiError ApiErrorFor(const Status& st) {
  ApiError e;
  e.http_status = HttpStatusFor(st);
  e.message = st.message();
  if (e.http_status == 404) e.type = "not_found_error";
  if (e.http_status >= 500) e.type = "server_error";
  if (st.code() == StatusCode::kOutOfRange) e.code = "context_length_exceeded";
  return e;
}

void SendJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void SendError(httplib::Response& res, const ApiError& e) {
  res.status = e.http_status;
  res.set_content(ErrorBody(e), "application/json");
}

namespace {

int64_t UnixNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ApiError Error(int status, std::string message, std::string type = "invalid_request_error") {
  ApiError e;
  e.http_status = status;
  e.message = std::move(message);
  e.type = std::move(type);
  return e;
}

std::string Dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace
}  // namespace server

using nlohmann::json;
using server::ApiError;
using server::Caller;

Caller Server::Impl::CallerOf(const httplib::Request& req) const {
  Caller c;
  if (options.api_keys.empty()) return c;
  const std::string auth = req.get_header_value("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (auth.compare(0, kBearer.size(), kBearer) == 0) {
    auto it = options.api_keys.find(auth.substr(kBearer.size()));
    if (it != options.api_keys.end()) c.tenant = it->second;
  }
  return c;
}

void Server::Impl::Routes() {
  http.set_payload_max_length(options.max_body_bytes);
  const int threads = std::max(2, options.http_threads);
  http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };

  // Authentication before routing: /v1 needs a known key when keys are set.
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (options.api_keys.empty() || req.path.rfind("/v1/", 0) != 0)
      return httplib::Server::HandlerResponse::Unhandled;
    if (!CallerOf(req).tenant.empty()) return httplib::Server::HandlerResponse::Unhandled;
    server::SendError(res, server::Error(401, "missing or unknown API key: send 'Authorization: Bearer KEY'",
                                         "authentication_error"));
    metrics.CountRequest(req.path.rfind("/v1/contexts", 0) == 0 ? "/v1/contexts" : req.path, 401);
    return httplib::Server::HandlerResponse::Handled;
  });
  // Errors httplib produces itself (413 body too large, 404 no route) get the OpenAI shape.
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 413) {
      server::SendError(res, server::Error(413, "request body too large"));
    } else if (res.status == 404) {
      server::SendError(res,
                        server::Error(404, "no route for " + req.method + " " + req.path, "not_found_error"));
    } else {
      server::SendError(res, server::Error(res.status, "request failed"));
    }
  });
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    server::SendError(res, server::Error(500, what, "server_error"));
  });

  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    server::SendJson(res, 200, {{"status", "ok"}, {"model", options.model_name}});
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    server::Metrics::Gauges g;
    if (auto c = queue->CountByState(); c.ok()) {
      g.queued_jobs = (*c)[SleepJobState::kQueued];
      g.running_jobs = (*c)[SleepJobState::kRunning];
      g.failed_jobs = (*c)[SleepJobState::kFailed];
    }
    g.live_requests = scheduler.live_requests();
    if (auto l = store->ListContexts(); l.ok()) g.contexts = static_cast<int64_t>(l->size());
    res.set_content(metrics.Render(g), "text/plain; version=0.0.4");
  });
  http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    server::SendJson(res, 200,
                     {{"object", "list"},
                      {"data", json::array({{{"id", options.model_name},
                                             {"object", "model"},
                                             {"created", 0},
                                             {"owned_by", "sleeptime"}}})}});
  });
  http.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    ChatCompletions(req, res);
    metrics.CountRequest("/v1/chat/completions", res.status);
  });
  ContextRoutes();
}

void Server::Impl::ChatCompletions(const httplib::Request& req, httplib::Response& res) {
  auto parsed = server::ParseChatRequest(req.body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return server::SendError(res, *e);
  server::ChatRequest r = std::move(std::get<server::ChatRequest>(parsed));
  const Caller caller = CallerOf(req);

  // Which context: explicit, or a long system message registered by content.
  std::string store_id;
  std::string query;
  for (auto it = r.messages.rbegin(); it != r.messages.rend(); ++it) {
    if (it->role == "user") {
      query = it->content;
      break;
    }
  }
  if (!r.context_id.empty()) {
    store_id = caller.StoreId(r.context_id);
    auto c = store->GetContext(store_id);
    if (!c.ok()) {
      return server::SendError(
          res, server::ApiErrorFor(c.status().code() == StatusCode::kNotFound
                                       ? Status::NotFound("context '" + r.context_id + "' not found")
                                       : c.status()));
    }
  } else if (options.implicit_context_min_tokens > 0 && r.messages.front().role == "system") {
    const std::string& doc = r.messages.front().content;
    auto n = backend->CountTokens(Prompt{"", doc});
    if (n.ok() && *n >= options.implicit_context_min_tokens) {
      store_id = caller.StoreId("sys-" + Sha256Hex(doc).substr(0, 24));
      auto existing = store->GetContext(store_id);
      if (!existing.ok()) {
        if (*n >= backend->ContextWindow()) {
          ApiError e = server::Error(400, "the system message is " + std::to_string(*n) +
                                              " tokens; the model's context window is " +
                                              std::to_string(backend->ContextWindow()));
          e.code = "context_length_exceeded";
          return server::SendError(res, e);
        }
        auto put = store->PutContext(store_id, doc);
        if (!put.ok()) return server::SendError(res, server::ApiErrorFor(put.status()));
        (void)scheduler.Trigger(store_id, "created");
      }
    }
  }
  if (!store_id.empty() && query.empty()) {
    ApiError e = server::Error(400, "a user message with the question is required");
    e.param = "messages";
    return server::SendError(res, e);
  }

  const std::string id = "chatcmpl-" + std::to_string(server::UnixNowMs()) + "-" + std::to_string(next_id++);
  const int64_t created =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  const std::string model = options.model_name;

  // Runs the request, streaming pieces to `on_text` when set; returns the
  // final message, finish reason and usage, or an error.
  struct Outcome {
    std::string text;
    std::string finish = "stop";
    json usage;
  };
  auto run = [this, r, store_id, query,
              caller](std::function<void(std::string_view)> on_text) -> Result<Outcome> {
    SleepScheduler::LiveRequest live(&scheduler);
    Outcome out;
    if (!store_id.empty()) {
      AskOptions ao;
      ao.budget = r.budget.value_or(r.max_tokens.value_or(0));
      ao.verbosity = r.verbosity;
      ao.use_learned = r.use_learned;
      ao.on_text = std::move(on_text);
      ST_ASSIGN_OR_RETURN(AskResult a, engine->Ask(store_id, query, ao));
      scheduler.OnQuery(store_id);
      const bool kv = a.prefix_source == PrefixSource::kMemory || a.prefix_source == PrefixSource::kDisk ||
                      a.prefix_source == PrefixSource::kResident;
      metrics.ObserveCompletion(a.usage.prompt_tokens, a.usage.cached_tokens, a.usage.completion_tokens,
                                a.ttft_ms, a.used_learned_context, kv);
      json st = {{"context_id", caller.PublicId(store_id).value_or(store_id)},
                 {"used_learned_context", a.used_learned_context},
                 {"kv_state", PrefixSourceName(a.prefix_source)},
                 {"forced_answer", a.forced}};
      if (a.used_learned_context) {
        auto lc = store->CurrentLearnedContext(store_id, backend->ModelFingerprint());
        auto qs = store->Queries(store_id);
        if (lc.ok() && *lc && qs.ok()) {
          int64_t served = 0;
          for (const QueryRecord& q : *qs)
            served += q.used_learned_context && q.context_version == (*lc)->context_version;
          st["learned_version"] = (*lc)->context_version;
          st["sleep_tokens"] = (*lc)->sleep_completion_tokens;
          st["queries_served_by_learned_context"] = served;
          st["amortized_sleep_tokens"] =
              served > 0 ? double((*lc)->sleep_completion_tokens) / double(served) : 0.0;
        }
      }
      out.text = a.answer;
      out.usage = {{"prompt_tokens", a.usage.prompt_tokens},
                   {"completion_tokens", a.usage.completion_tokens},
                   {"total_tokens", a.usage.prompt_tokens + a.usage.completion_tokens},
                   {"prompt_tokens_details", {{"cached_tokens", a.usage.cached_tokens}}},
                   {"completion_tokens_details", {{"reasoning_tokens", a.usage.reasoning_tokens}}},
                   {"sleeptime", st}};
      return out;
    }
    GenerateOptions go;
    go.max_tokens = r.max_tokens.value_or(256);
    go.stop = r.stop;
    go.temperature = r.temperature;
    go.seed = r.seed.value_or(0);
    go.on_text = std::move(on_text);
    ST_ASSIGN_OR_RETURN(Generation g, backend->GenerateChat(r.messages, go));
    metrics.ObserveCompletion(g.usage.prompt_tokens, g.usage.cached_tokens, g.usage.completion_tokens,
                              g.timings.ttft_ms, false, g.usage.cached_tokens > 0);
    out.text = g.text;
    out.finish = g.finish == FinishReason::kLength ? "length" : "stop";
    out.usage = {{"prompt_tokens", g.usage.prompt_tokens},
                 {"completion_tokens", g.usage.completion_tokens},
                 {"total_tokens", g.usage.prompt_tokens + g.usage.completion_tokens},
                 {"prompt_tokens_details", {{"cached_tokens", g.usage.cached_tokens}}},
                 {"completion_tokens_details", {{"reasoning_tokens", g.usage.reasoning_tokens}}}};
    return out;
  };

  if (!r.stream) {
    auto out = run(nullptr);
    if (!out.ok()) return server::SendError(res, server::ApiErrorFor(out.status()));
    return server::SendJson(
        res, 200,
        {{"id", id},
         {"object", "chat.completion"},
         {"created", created},
         {"model", model},
         {"choices", json::array({{{"index", 0},
                                   {"message", {{"role", "assistant"}, {"content", out->text}}},
                                   {"logprobs", nullptr},
                                   {"finish_reason", out->finish}}})},
         {"usage", out->usage}});
  }

  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  const bool include_usage = r.include_usage;
  res.set_chunked_content_provider("text/event-stream", [=](size_t, httplib::DataSink& sink) {
    auto event = [&sink](const json& j) {
      const std::string line = "data: " + server::Dump(j) + "\n\n";
      return sink.write(line.data(), line.size());
    };
    auto chunk = [&](json delta, json finish) {
      return json{{"id", id},
                  {"object", "chat.completion.chunk"},
                  {"created", created},
                  {"model", model},
                  {"choices", json::array({{{"index", 0}, {"delta", delta}, {"finish_reason", finish}}})}};
    };
    event(chunk({{"role", "assistant"}, {"content", ""}}, nullptr));
    auto out = run([&](std::string_view piece) { event(chunk({{"content", std::string(piece)}}, nullptr)); });
    if (!out.ok()) {
      const ApiError e = server::ApiErrorFor(out.status());
      event(json::parse(server::ErrorBody(e)));
    } else {
      event(chunk(json::object(), out->finish));
      if (include_usage) {
        event({{"id", id},
               {"object", "chat.completion.chunk"},
               {"created", created},
               {"model", model},
               {"choices", json::array()},
               {"usage", out->usage}});
      }
    }
    const std::string done = "data: [DONE]\n\n";
    sink.write(done.data(), done.size());
    sink.done();
    return true;
  });
}

// ---- Server ----

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  Stop();
}

Result<std::unique_ptr<Server>> Server::Create(Backend* backend, Store* store, SleepJobQueue* queue,
                                               Engine* engine, ServerOptions options) {
  if (!backend || !store || !queue || !engine) return Status::InvalidArgument("server: missing component");
  for (const auto& [key, tenant] : options.api_keys) {
    if (key.empty()) return Status::InvalidArgument("API keys must not be empty");
    if (tenant.empty() || tenant.find('.') != std::string::npos)
      return Status::InvalidArgument("tenant '" + tenant + "' must be non-empty and contain no '.'");
  }
  auto impl = std::make_unique<Impl>(backend, store, queue, engine, std::move(options));
  impl->scheduler.SetOnSleepTokens([m = &impl->metrics](int64_t n) { m->AddSleepTokens(n); });
  impl->Routes();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Status Server::Start() {
  Impl& im = *impl_;
  if (im.options.port == 0) {
    im.bound_port = im.http.bind_to_any_port(im.options.host);
    if (im.bound_port <= 0) return Status::Unavailable("cannot listen on " + im.options.host);
  } else {
    if (!im.http.bind_to_port(im.options.host, im.options.port))
      return Status::Unavailable("cannot listen on " + im.options.host + ":" +
                                 std::to_string(im.options.port) + " (in use?)");
    im.bound_port = im.options.port;
  }
  ST_RETURN_IF_ERROR(im.scheduler.Start());
  im.listener = std::thread([&im] { im.http.listen_after_bind(); });
  return Status::Ok();
}

int Server::port() const {
  return impl_->bound_port;
}

void Server::Stop() {
  Impl& im = *impl_;
  std::lock_guard<std::mutex> lock(im.stop_mu);
  if (im.stopped) return;
  im.stopped = true;
  // httplib's stop closes the listening socket; its thread pool finishes the
  // requests in flight before listen returns.
  im.http.stop();
  if (im.listener.joinable()) im.listener.join();
  im.scheduler.Stop();
}

void Server::Wait() {
  while (true) {
    {
      std::lock_guard<std::mutex> lock(impl_->stop_mu);
      if (impl_->stopped) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

SleepScheduler& Server::scheduler() {
  return impl_->scheduler;
}

}  // namespace sleeptime
