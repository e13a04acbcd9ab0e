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
  int answer_reserve = 0;  // 0: the model's sleeptime.answer_reserve, else 8
  bool verbose = false;
  int slots = 1;    // concurrent model contexts (serve uses several)
  int batch = 512;  // tokens per prefill batch (serve uses fewer: sleep work yields between batches)
  // "llama": the GGUF --model in-process; "openai": an OpenAI-compatible server.
  std::string backend = "llama";
  std::string base_url;      // --backend openai: server root or API root ending in /v1
  std::string api_model;     // --backend openai: the "model" field sent
  int openai_ctx = 0;        // --backend openai: context window (0: ask llama-server, else 4096)
  bool openai_chat = false;  // --backend openai: /v1/chat/completions instead of /v1/completions
};

class App {
 public:
  GlobalOptions opts;

  Result<Store*> store();
  Result<Backend*> backend();
  Result<Engine*> engine();
  // Prompt templates: defaults < the model's GGUF metadata < --templates DIR.
  Result<PromptTemplates> templates();

  // Set by the chosen subcommand; main runs it after parsing.
  std::function<int()> run;

 private:
  std::unique_ptr<Store> store_;
  std::unique_ptr<Backend> backend_;
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
void AddEvalCommand(CLI::App& cli, App& app, int argc, char** argv);

// Reads a whole file, or stdin for "-".
Result<std::string> ReadInput(const std::string& path);

}  // namespace sleeptime::cli
