// Backend: the narrow interface between the engine and a language model.
//
// A backend tokenizes, generates, and — the systems half of sleep-time compute —
// keeps the KV state of a prompt prefix so that a later prompt with the same
// prefix prefills only its own suffix. A prompt is therefore always a pair
// (prefix, suffix): the prefix is the part known at sleep time (context and
// learned context), the suffix the part known only at query time. Its tokens
// are tokens(prefix, with BOS) followed by tokens(suffix, without BOS), whether
// or not a saved state is used, so results with and without a restore agree.
//
// Implementations are thread-safe: concurrent calls are served by a pool of
// slots and block while every slot is busy.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sleeptime/status.h"

namespace sleeptime {

using Token = int32_t;

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

struct Prompt {
  std::string prefix;  // reusable part; may be empty
  std::string suffix;
};

struct TokenUsage {
  int64_t prompt_tokens = 0;      // all prompt tokens
  int64_t cached_tokens = 0;      // prompt tokens not prefilled (restored or already resident)
  int64_t completion_tokens = 0;  // generated tokens
  int64_t reasoning_tokens = 0;   // of which hidden reasoning (servers that report it; 0 in-process)
};

struct Timings {
  double restore_ms = 0;   // loading a saved prefix state
  double prefill_ms = 0;   // decoding prompt tokens
  double ttft_ms = 0;      // call start to first generated token
  double generate_ms = 0;  // decoding generated tokens
  double total_ms = 0;
};

// Where the prefix of a prompt came from.
enum class PrefixSource {
  kNone,       // no prefix, or prefix reuse disabled
  kPrefilled,  // decoded from scratch
  kResident,   // the slot still held it from an earlier call
  kMemory,     // restored from the in-memory state cache
  kDisk,       // restored from a state file
};
const char* PrefixSourceName(PrefixSource s);

enum class FinishReason {
  kStop,       // a stop string matched
  kLength,     // max_tokens (or the window) reached
  kEndOfText,  // the model's end-of-generation token
  kCancelled,  // should_continue returned false
};
const char* FinishReasonName(FinishReason f);  // "stop", "length", "end_of_text", "cancelled"

struct GenerateOptions {
  int max_tokens = 256;           // hard cap on generated tokens
  std::vector<std::string> stop;  // generation ends when the text ends with one (it is kept out of text)
  float temperature = 0.0f;       // 0 = greedy
  uint32_t seed = 0;
  bool reuse_prefix = true;  // use/keep a saved KV state of the prefix
  // Called after each generated token with the count so far (progress bars).
  std::function<void(int)> on_token;
  // Streaming: called with each new piece of text as soon as it can no longer
  // turn out to be part of a stop string; the pieces concatenate to `text`.
  std::function<void(std::string_view)> on_text;
  // Called before each decode step. It may block (a background job yields the
  // compute to live requests this way); false ends the generation with
  // FinishReason::kCancelled.
  std::function<bool()> should_continue;
};

struct Generation {
  std::string text;
  FinishReason finish = FinishReason::kLength;
  std::string stop_matched;  // which stop string ended it, if any
  TokenUsage usage;
  Timings timings;
  PrefixSource prefix_source = PrefixSource::kNone;
};

struct PrefixStateInfo {
  std::string key;  // content address: hash of (model fingerprint, prefix tokens)
  int64_t n_tokens = 0;
  int64_t state_bytes = 0;
  double prefill_ms = 0;
  bool already_saved = false;
};

// Background work yields to live requests at decode-batch boundaries: while
// a YieldScope is alive on a thread, backends call its function (which may
// block) before each decode batch they run on that thread — prompt prefills
// and prefix saves included, which GenerateOptions::should_continue cannot
// reach. Scopes nest; the innermost applies.
class YieldScope {
 public:
  explicit YieldScope(std::function<void()> yield);
  ~YieldScope();
  YieldScope(const YieldScope&) = delete;
  YieldScope& operator=(const YieldScope&) = delete;
  // Called by backends between decode batches; a no-op without a scope.
  static void Point();
  // The innermost scope's function on this thread (empty without a scope):
  // work fanned out to other threads installs it there, so it yields too.
  static std::function<void()> Current();

 private:
  std::function<void()> yield_;
  YieldScope* outer_;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // Identifies the weights and KV layout; part of every saved state's key.
  virtual const std::string& ModelFingerprint() const = 0;
  // For messages after the word "model": "llama ?B F32, 3596544 params", "served at URL (completions)".
  virtual std::string ModelDescription() const = 0;
  // Tokens one prompt plus its generation may use.
  virtual int ContextWindow() const = 0;
  // Generations this backend runs at the same time (its slots, or the
  // requests it lets be in flight at once). Callers that fan out — k sleep
  // candidates — use at most this many threads; more would only queue.
  virtual int MaxParallel() const { return 1; }
  // A string value of the model's metadata (GGUF key), if present.
  virtual std::optional<std::string> ModelMetadata(const std::string& key) const = 0;

  virtual Result<std::vector<Token>> Tokenize(std::string_view text, bool add_bos) const = 0;
  virtual Result<int64_t> CountTokens(const Prompt& prompt) const = 0;
  virtual std::string Detokenize(const std::vector<Token>& tokens) const = 0;

  // Renders messages with the model's chat template, split so that everything
  // up to the last message is the reusable prefix. NotFound when the model has
  // no chat template.
  virtual Result<Prompt> RenderChat(const std::vector<ChatMessage>& messages) const = 0;
  virtual bool HasChatTemplate() const = 0;

  virtual Result<Generation> Generate(const Prompt& prompt, const GenerateOptions& options) = 0;

  // Generates a reply to chat messages: the model's chat template when it has
  // one, else "role: content" lines followed by "assistant:".
  Result<Generation> GenerateChat(const std::vector<ChatMessage>& messages, const GenerateOptions& options);

  // Prefills `prefix` and saves its KV state (memory and disk) so a later
  // Generate with this prefix restores it instead of prefilling.
  virtual Result<PrefixStateInfo> SavePrefix(std::string_view prefix) = 0;

  // Logits of the next token after the whole prompt, restoring the prefix
  // state when one is saved (tests and benchmarks compare restores with cold
  // prefills through this).
  struct Logits {
    std::vector<float> values;
    PrefixSource prefix_source = PrefixSource::kNone;
    Timings timings;
  };
  virtual Result<Logits> NextTokenLogits(const Prompt& prompt, bool reuse_prefix) = 0;

  // log P(continuation | prompt) summed over the continuation's tokens (no
  // BOS), and how many tokens that is: how predictable a query is from its
  // context. FailedPrecondition where the backend cannot score (remote APIs).
  struct Score {
    double log_prob = 0;
    int64_t tokens = 0;
  };
  virtual Result<Score> ScoreContinuation(const Prompt& prompt, std::string_view continuation);
};

}  // namespace sleeptime
