// LlamaBackend: the Backend implementation on llama.cpp, in process.
//
// One model is loaded once and shared by a pool of contexts ("slots"); each
// call takes a free slot. A slot remembers which tokens its KV cache holds, so
// a call whose prefix is still resident skips both restore and prefill. Other
// prefixes come from the KvStateCache (memory, then disk), verified before use,
// or are prefilled and then saved. Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "sleeptime/backend.h"
#include "sleeptime/kv_state.h"

namespace sleeptime {

struct LlamaBackendOptions {
  std::string model_path;
  int n_ctx = 0;      // 0: min(model's training window, 4096)
  int n_threads = 0;  // 0: hardware concurrency
  int n_slots = 1;    // concurrent contexts over the one model
  int n_batch = 512;
  KvStateCacheOptions kv_cache;  // kv_cache.dir empty: memory only
  // Model load progress in [0, 1] (progress bars).
  std::function<void(float)> on_load_progress;
  bool verbose = false;  // pass llama.cpp's own log through
};

class LlamaBackend : public Backend {
 public:
  static Result<std::unique_ptr<LlamaBackend>> Open(const LlamaBackendOptions& options);
  ~LlamaBackend() override;

  const std::string& ModelFingerprint() const override;
  std::string ModelDescription() const override;
  int ContextWindow() const override;
  int MaxParallel() const override;  // the slots
  std::optional<std::string> ModelMetadata(const std::string& key) const override;
  Result<std::vector<Token>> Tokenize(std::string_view text, bool add_bos) const override;
  Result<int64_t> CountTokens(const Prompt& prompt) const override;
  std::string Detokenize(const std::vector<Token>& tokens) const override;
  Result<Prompt> RenderChat(const std::vector<ChatMessage>& messages) const override;
  bool HasChatTemplate() const override;
  Result<Generation> Generate(const Prompt& prompt, const GenerateOptions& options) override;
  Result<PrefixStateInfo> SavePrefix(std::string_view prefix) override;
  Result<Logits> NextTokenLogits(const Prompt& prompt, bool reuse_prefix) override;
  Result<Score> ScoreContinuation(const Prompt& prompt, std::string_view continuation) override;

  KvStateCache& kv_cache();
  // Forgets what every slot holds, so the next call must restore or prefill
  // (benchmarks and tests measure those paths through this).
  void EvictResidentPrefixes();

  struct Impl;

 private:
  explicit LlamaBackend(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sleeptime
