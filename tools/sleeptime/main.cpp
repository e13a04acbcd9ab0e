// sleeptime: command line for sleep-time compute.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>

#include "app.h"

namespace {

std::string DefaultDataDir() {
  if (const char* d = std::getenv("SLEEPTIME_DATA_DIR")) return d;
  if (const char* x = std::getenv("XDG_DATA_HOME")) return std::string(x) + "/sleeptime";
  if (const char* h = std::getenv("HOME")) return std::string(h) + "/.local/share/sleeptime";
  return ".sleeptime";
}

}  // namespace

int main(int argc, char** argv) {
  sleeptime::cli::App app;
  CLI::App cli{
      "sleeptime: sleep-time compute for LLM serving.\n"
      "Think about a context while idle (sleep), answer queries from what was learned (ask)."};
  cli.set_version_flag("--version", std::string("sleeptime ") + SLEEPTIME_VERSION);
  cli.require_subcommand(1);
  // CLI11 reads config files at the top level only: a command's settings go
  // under its [section], e.g. [serve] port = 8080. Flags win over the file,
  // the file over environment variables.
  cli.set_config("--config", "", "TOML config file; a command's options under [command], e.g. [serve]");
  auto& o = app.opts;
  if (const char* m = std::getenv("SLEEPTIME_MODEL")) o.model = m;
  o.data_dir = DefaultDataDir();
  cli.add_option("-m,--model", o.model, "GGUF model file (default: $SLEEPTIME_MODEL)");
  cli.add_option("-d,--data-dir", o.data_dir,
                 "where the database and KV states live (default: $SLEEPTIME_DATA_DIR)")
      ->capture_default_str();
  cli.add_option("--templates", o.templates_dir, "directory of prompt templates overriding the defaults");
  cli.add_option("-t,--threads", o.threads,
                 "CPU threads (0: one for models under 50 M parameters, else all cores)");
  cli.add_option("-c,--ctx-size", o.ctx_size, "context window in tokens (0: model's, at most 4096)");
  cli.add_option("--kv-cache-mb", o.kv_cache_mb, "disk cap for saved KV states, MiB")->capture_default_str();
  cli.add_option("--test-token-weight", o.test_token_weight,
                 "cost of a test-time token in sleep-time tokens (t)")
      ->capture_default_str();
  cli.add_option(
         "--answer-reserve", o.answer_reserve,
         "tokens of a test budget kept for the forced answer (0: what the model's metadata says, else 8)")
      ->check(CLI::NonNegativeNumber);
  cli.add_flag("-v,--verbose", o.verbose, "show llama.cpp's log");
  cli.add_option("--backend", o.backend, "llama (in-process GGUF) or openai (an OpenAI-compatible server)")
      ->check(CLI::IsMember({"llama", "openai"}))
      ->capture_default_str();
  cli.add_option("--base-url", o.base_url, "--backend openai: server URL, e.g. http://127.0.0.1:8080")
      ->envname("SLEEPTIME_BASE_URL");
  cli.add_option("--api-model", o.api_model, "--backend openai: model name sent in requests");
  cli.add_option("--api-ctx", o.openai_ctx,
                 "--backend openai: context window (0: ask llama-server, else 4096)");
  cli.add_flag("--api-chat", o.openai_chat,
               "--backend openai: use /v1/chat/completions (not /v1/completions)");

  sleeptime::cli::AddContextCommands(cli, app);
  sleeptime::cli::AddSleepAskCommands(cli, app);
  sleeptime::cli::AddStatsCommand(cli, app);
  sleeptime::cli::AddModelCommands(cli, app);
  sleeptime::cli::AddEvalDemoCommand(cli, app);
  sleeptime::cli::AddTrainCommands(cli, app);
  sleeptime::cli::AddServeCommand(cli, app);
  sleeptime::cli::AddEvalCommand(cli, app, argc, argv);

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cli.exit(e);
  }
  return app.run ? app.run() : 0;
}
