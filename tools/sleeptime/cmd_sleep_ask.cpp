// sleeptime sleep | ask
#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "app.h"
#include "progress.h"

namespace sleeptime::cli {

void AddSleepAskCommands(CLI::App& cli, App& app) {
  auto* sleep = cli.add_subcommand("sleep", "think about a context now (S(c) -> c'), before queries come");
  auto sleep_id = std::make_shared<std::string>();
  auto sleep_opts = std::make_shared<SleepOptions>();
  auto sleep_json = std::make_shared<bool>(false);
  sleep->add_option("id", *sleep_id, "context id")->required();
  sleep
      ->add_option("-b,--budget", sleep_opts->budget,
                   "tokens to generate per pass (0: half of what the window leaves, at most 512)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  sleep->add_option("-k,--passes", sleep_opts->passes, "independent candidates (sleep-time scaling)")
      ->capture_default_str()
      ->check(CLI::Range(1, 16));
  auto combine = std::make_shared<std::string>("concat");
  sleep
      ->add_option("--combine", *combine,
                   "how k > 1 candidates become c': concat (joined), merge (one more generation reads them "
                   "all and writes c') or consensus (the one the others agree with most)")
      ->check(CLI::IsMember({"concat", "merge", "consensus"}))
      ->capture_default_str();
  sleep
      ->add_option("--parallel", sleep_opts->parallel,
                   "candidates written at the same time (a model context each; 0: all k)")
      ->capture_default_str()
      ->check(CLI::Range(0, 16));
  sleep->add_flag("--json", *sleep_json, "print the result as JSON");
  sleep->callback([&app, sleep_id, sleep_opts, sleep_json, combine] {
    app.run = [&app, sleep_id, sleep_opts, sleep_json, combine]() -> int {
      sleep_opts->combine = *ParseCombineMode(*combine);
      const int parallel = sleep_opts->parallel > 0 ? sleep_opts->parallel : sleep_opts->passes;
      app.opts.slots = std::max(app.opts.slots, std::min(parallel, sleep_opts->passes));
      auto engine = app.engine();
      if (!engine.ok()) return Fail(engine.status());
      SleepOptions options = *sleep_opts;
      // Made on the first token: the engine knows the budget (it may be automatic).
      std::shared_ptr<ProgressBar> bar;
      options.on_progress = [&bar, sleep_id](int done, int total) {
        if (!bar) bar = std::make_shared<ProgressBar>("sleeping on " + *sleep_id, total, "tokens");
        bar->Update(done);
      };
      auto r = (*engine)->Sleep(*sleep_id, options);
      if (bar) bar->Finish();
      if (!r.ok()) return Fail(r.status());
      if (*sleep_json) {
        fmt::print("{}\n", nlohmann::json{{"context_id", r->learned.context_id},
                                          {"context_version", r->learned.context_version},
                                          {"learned_context", r->learned.text},
                                          {"sleep_completion_tokens", r->completion_tokens},
                                          {"sleep_prompt_tokens", r->prompt_tokens},
                                          {"passes", sleep_opts->passes},
                                          {"parallel", r->parallel},
                                          {"combine", CombineModeName(sleep_opts->combine)},
                                          {"merged", r->merged},
                                          {"chosen", r->chosen},
                                          {"agreement", r->agreement},
                                          {"kv_tokens", r->learned.kv_tokens},
                                          {"kv_bytes", r->learned.kv_bytes},
                                          {"sleep_ms", r->sleep_ms}}
                               .dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
        return 0;
      }
      fmt::print("{}\n\n", r->learned.text);
      fmt::print(
          "learned context for {} v{}: {} sleep tokens ({} prompt), {:.0f} ms; answer prefix of {} tokens "
          "saved as KV state ({:.1f} KiB)\n",
          r->learned.context_id, r->learned.context_version, r->completion_tokens, r->prompt_tokens,
          r->sleep_ms, r->learned.kv_tokens, static_cast<double>(r->learned.kv_bytes) / 1024.0);
      if (r->chosen >= 0) {
        fmt::print("consensus: candidate {} of {} (agreement with the others:", r->chosen,
                   r->candidates.size());
        for (double a : r->agreement) fmt::print(" {:.2f}", a);
        fmt::print(")\n");
      }
      return 0;
    };
  });

  auto* ask =
      cli.add_subcommand("ask", "answer a question about a context (T(q, c') or, with --no-sleep, T(q, c))");
  auto ask_id = std::make_shared<std::string>();
  auto question = std::make_shared<std::string>();
  auto ask_opts = std::make_shared<AskOptions>();
  auto no_sleep = std::make_shared<bool>(false);
  auto ask_json = std::make_shared<bool>(false);
  ask->add_option("id", *ask_id, "context id")->required();
  ask->add_option("question", *question, "the question")->required();
  ask->add_option("-b,--budget", ask_opts->budget,
                  "hard cap on test-time (generated) tokens (0: what fits the window, at most 256)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  ask->add_option("-V,--verbosity", ask_opts->verbosity, "0 (answer only) .. 4 (re-check step by step)")
      ->capture_default_str()
      ->check(CLI::Range(0, 4));
  ask->add_flag("--no-sleep", *no_sleep, "ignore the learned context (the test-time baseline)");
  ask->add_flag("--json", *ask_json, "print the result as JSON");
  ask->callback([&app, ask_id, question, ask_opts, no_sleep, ask_json] {
    app.run = [&app, ask_id, question, ask_opts, no_sleep, ask_json]() -> int {
      auto engine = app.engine();
      if (!engine.ok()) return Fail(engine.status());
      AskOptions options = *ask_opts;
      options.use_learned = !*no_sleep;
      auto r = (*engine)->Ask(*ask_id, *question, options);
      if (!r.ok()) return Fail(r.status());
      if (*ask_json) {
        fmt::print("{}\n", nlohmann::json{{"answer", r->answer},
                                          {"forced", r->forced},
                                          {"used_learned_context", r->used_learned_context},
                                          {"prefix_source", PrefixSourceName(r->prefix_source)},
                                          {"prompt_tokens", r->usage.prompt_tokens},
                                          {"cached_tokens", r->usage.cached_tokens},
                                          {"completion_tokens", r->usage.completion_tokens},
                                          {"latency_ms", r->latency_ms},
                                          {"ttft_ms", r->ttft_ms},
                                          {"query_id", r->query_id}}
                               .dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
        return 0;
      }
      fmt::print("{}\n", r->answer);
      fmt::print(
          stderr, "[{} · {} test-time tokens{} · prompt {} tokens, {} from KV state ({}) · {:.1f} ms]\n",
          r->used_learned_context ? "from learned context" : "from raw context", r->usage.completion_tokens,
          r->forced ? " (answer forced at budget)" : "", r->usage.prompt_tokens, r->usage.cached_tokens,
          PrefixSourceName(r->prefix_source), r->latency_ms);
      return 0;
    };
  });
}

}  // namespace sleeptime::cli
