// sleeptime serve: the OpenAI-compatible server (sleeptime/server.h).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <thread>

#include "app.h"
#include "sleeptime/server.h"
#include "sleeptime/sleep_jobs.h"

namespace sleeptime::cli {
namespace {

volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) {
  g_stop = 1;
}

// "KEY:TENANT,KEY2:TENANT2" (a key without a tenant is its own tenant "default").
Result<std::map<std::string, std::string>> ParseApiKeys(const std::vector<std::string>& items) {
  std::map<std::string, std::string> out;
  for (const std::string& item : items) {
    size_t start = 0;
    while (start <= item.size()) {
      size_t end = item.find(',', start);
      if (end == std::string::npos) end = item.size();
      std::string kv = item.substr(start, end - start);
      if (!kv.empty()) {
        const size_t colon = kv.find(':');
        std::string key = kv.substr(0, colon);
        std::string tenant = colon == std::string::npos ? "default" : kv.substr(colon + 1);
        if (key.empty() || tenant.empty() || tenant.find('.') != std::string::npos)
          return Status::InvalidArgument("bad --api-key '" + kv + "': expected KEY or KEY:TENANT (no '.')");
        out[key] = tenant;
      }
      start = end + 1;
    }
  }
  return out;
}

}  // namespace

void AddServeCommand(CLI::App& cli, App& app) {
  auto* cmd = cli.add_subcommand("serve", "OpenAI-compatible server that sleeps on its contexts while idle");
  auto o = std::make_shared<ServerOptions>();
  auto keys = std::make_shared<std::vector<std::string>>();
  auto slots = std::make_shared<int>(4);
  auto batch = std::make_shared<int>(128);
  auto combine = std::make_shared<std::string>("concat");
  auto sleep_parallel = std::make_shared<int>(0);
  cmd->add_option("--host", o->host, "address to listen on")
      ->envname("SLEEPTIME_HOST")
      ->capture_default_str();
  cmd->add_option("--port", o->port, "port (0: any free port, printed at start)")
      ->envname("SLEEPTIME_PORT")
      ->capture_default_str();
  cmd->add_option("--model-name", o->model_name, "model id reported to clients")->capture_default_str();
  cmd->add_option(
         "--api-key", *keys,
         "accepted bearer key, KEY or KEY:TENANT; repeat or comma-separate (env SLEEPTIME_API_KEYS); "
         "none: no authentication")
      ->envname("SLEEPTIME_API_KEYS");
  cmd->add_option("--implicit-context-tokens", o->implicit_context_min_tokens,
                  "system messages this long (tokens) become contexts by content hash (0: off)")
      ->capture_default_str();
  cmd->add_option("--max-body-bytes", o->max_body_bytes, "largest accepted request body")
      ->capture_default_str();
  cmd->add_option("--http-threads", o->http_threads, "HTTP worker threads")->capture_default_str();
  cmd->add_option("--slots", *slots,
                  "concurrent model contexts (sleeping jobs hold --sleep-parallel of them)")
      ->capture_default_str();
  cmd->add_option("--batch", *batch,
                  "prefill batch, tokens: a live request waits at most one batch of a sleep job's prefill")
      ->capture_default_str();
  auto& s = o->scheduler;
  cmd->add_option("--idle-seconds", s.idle_seconds, "no live request for this long before sleep work starts")
      ->capture_default_str();
  cmd->add_option("--sleep-every", s.sleep_every_n_queries,
                  "sleep again every N queries to a context (0: never)")
      ->capture_default_str();
  cmd->add_option("--sleep-when-idle", s.sleep_when_idle, "sleep on contexts without a c′ when idle")
      ->capture_default_str();
  cmd->add_option("--sleep-budget", s.sleep_budget, "tokens per sleep pass (0: automatic)")
      ->capture_default_str();
  cmd->add_option("--sleep-passes", s.sleep_passes, "independent c′ candidates per job (k)")
      ->capture_default_str();
  cmd->add_option("--sleep-combine", *combine,
                  "how k > 1 candidates become c′: concat (joined), merge (one more generation reads them "
                  "all and writes c′) or consensus (the one the others agree with most)")
      ->check(CLI::IsMember({"concat", "merge", "consensus"}))
      ->capture_default_str();
  cmd->add_option("--sleep-parallel", *sleep_parallel,
                  "candidates written at the same time, each on a slot (0: min(k, slots - 1))")
      ->capture_default_str();
  cmd->add_option("--refine-rounds", s.refine_rounds,
                  "rounds of refinement after the passes (stop when converged)")
      ->capture_default_str();
  cmd->add_option("--max-rewrite-rounds", s.max_rewrite_rounds,
                  "guard: refine until converged, failing the job after this many rounds (0: off)")
      ->capture_default_str();
  cmd->add_option("--max-sleep-tokens", s.max_sleep_tokens, "guard: sleep tokens per job")
      ->capture_default_str();
  cmd->add_option("--max-sleep-seconds", s.max_sleep_seconds, "guard: active seconds per job")
      ->capture_default_str();

  cmd->callback([&app, o, keys, slots, batch, combine, sleep_parallel] {
    app.run = [&app, o, keys, slots, batch, combine, sleep_parallel]() -> int {
      auto parsed_keys = ParseApiKeys(*keys);
      if (!parsed_keys.ok()) return Fail(parsed_keys.status());
      o->api_keys = *parsed_keys;
      o->test_token_weight = app.opts.test_token_weight;
      if (*slots < 2)
        return Fail(Status::InvalidArgument("--slots must be at least 2 (one for a sleep job)"));
      app.opts.slots = *slots;
      if (*sleep_parallel < 0) return Fail(Status::InvalidArgument("--sleep-parallel must not be negative"));
      if (*sleep_parallel >= *slots)
        return Fail(
            Status::InvalidArgument("--sleep-parallel must be below --slots (live requests need one)"));
      o->scheduler.model_slots = *slots;
      o->scheduler.sleep_parallel = *sleep_parallel > 0
                                        ? *sleep_parallel
                                        : std::min(std::max(1, o->scheduler.sleep_passes), *slots - 1);
      o->scheduler.sleep_combine = *ParseCombineMode(*combine);
      if (*batch < 1) return Fail(Status::InvalidArgument("--batch must be positive"));
      app.opts.batch = *batch;
      auto engine = app.engine();
      if (!engine.ok()) return Fail(engine.status());
      auto store = app.store();
      auto backend = app.backend();
      auto queue = SleepJobQueue::Open((std::filesystem::path(app.opts.data_dir) / "sleeptime.db").string());
      if (!queue.ok()) return Fail(queue.status());
      auto server = Server::Create(*backend, *store, queue->get(), *engine, *o);
      if (!server.ok()) return Fail(server.status());
      if (Status st = (*server)->Start(); !st.ok()) return Fail(st);
      std::signal(SIGINT, OnSignal);
      std::signal(SIGTERM, OnSignal);
      std::printf("sleeptime serve: listening on http://%s:%d (model %s, %s)\n", o->host.c_str(),
                  (*server)->port(), (*backend)->ModelDescription().c_str(),
                  o->api_keys.empty() ? "no authentication" : "bearer keys required");
      std::fflush(stdout);
      while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      std::printf("sleeptime serve: shutting down (finishing requests in flight)\n");
      std::fflush(stdout);
      (*server)->Stop();
      return 0;
    };
  });
}

}  // namespace sleeptime::cli
