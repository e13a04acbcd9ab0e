// Shared state of one `sleeptime` invocation: global options, and the store,
// backend and engine opened lazily (commands that need no model never load one).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>

#include "sleeptime/engine.h"
#include "sleeptime/llama_backend.h"
#include "sleeptime/store.h"

namespace sleeptime::cli {

struct GlobalOptions {
  std::string model;
  std::string data_dir;
  std::string templates_dir;
  int threads = 0;
  int ctx_size = 0;
  int64_t kv_cache_mb = 4096;
  double test_token_weight = 10.0;
  bool verbose = false;
  int slots = 1;  // concurrent model contexts (serve uses several)
};

class App {
 public:
  GlobalOptions opts;

  Result<Store*> store();
  Result<LlamaBackend*> backend();
  Result<Engine*> engine();

  // Set by the chosen subcommand; main runs it after parsing.
  std::function<int()> run;

 private:
  std::unique_ptr<Store> store_;
  std::unique_ptr<LlamaBackend> backend_;
  std::unique_ptr<Engine> engine_;
};

// Prints "error: <message>" on stderr and returns the exit code for it.
int Fail(const Status& status);

void AddContextCommands(CLI::App& cli, App& app);
void AddSleepAskCommands(CLI::App& cli, App& app);
void AddStatsCommand(CLI::App& cli, App& app);
void AddModelCommands(CLI::App& cli, App& app);
void AddEvalDemoCommand(CLI::App& cli, App& app);
void AddTrainCommands(CLI::App& cli, App& app);
void AddServeCommand(CLI::App& cli, App& app);

// Reads a whole file, or stdin for "-".
Result<std::string> ReadInput(const std::string& path);

}  // namespace sleeptime::cli
