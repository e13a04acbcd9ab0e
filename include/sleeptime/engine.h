// Engine: sleep-time compute over a Backend and a Store.
//
// Sleep(c) runs S(c) -> c′: the model reasons about a context before any query
// and writes notes, which are stored with the context version they came from,
// and the KV state of the answer prefix built from them is saved. Ask(q) runs
// T(q, c′) — or T(q, c) when no current c′ exists or the baseline is asked
// for — under a hard test-time token budget, forcing an answer when the
// reasoning budget runs out. Every call's tokens are logged, and Stats turns
// the log into the paper's amortized cost per query.
//
// Thread-safe when its Backend and Store are (LlamaBackend and Store are).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sleeptime/backend.h"
#include "sleeptime/prompts.h"
#include "sleeptime/status.h"
#include "sleeptime/store.h"

namespace sleeptime {

struct EngineOptions {
  // Cost of a test-time token relative to a sleep-time token (the paper's t).
  double test_token_weight = 10.0;
  // Tokens of the test budget kept for a forced answer ("42" and an end).
  // 0: what the model says its longest answer takes (kAnswerReserveKey in
  // its metadata), else kDefaultAnswerReserve.
  int answer_reserve = 0;
};

// GGUF metadata key: the tokens a model's longest answer takes after the
// answer marker, its end included (the demo model's answers are at most three
// digits, one byte token each, and a newline: 4). Reasoning under a budget
// may then use all but these.
inline constexpr char kAnswerReserveKey[] = "sleeptime.answer_reserve";
inline constexpr int kDefaultAnswerReserve = 8;

// How k > 1 sleep candidates become one c′.
enum class CombineMode {
  kConcatenate,  // joined with the notes separator
  kMerge,        // one more generation from the `merge` template reads them all and writes c′
  // The candidate the others agree with most becomes c′, verbatim
  // (engine/consensus.h); candidate 0 is then the greedy one. For models
  // whose window holds one c′, not k.
  kConsensus,
};
const char* CombineModeName(CombineMode mode);  // "concat", "merge", "consensus"
std::optional<CombineMode> ParseCombineMode(std::string_view name);

struct SleepOptions {
  // Generated tokens per pass; 0: as much as leaves half of the model's
  // remaining window for the questions, at most 512.
  int budget = 0;
  int passes = 1;  // k independent c′ candidates (sleep-time scaling)
  CombineMode combine = CombineMode::kConcatenate;
  // Candidates generated at the same time; 0: as many as the backend runs
  // in parallel (Backend::MaxParallel). The result does not depend on it:
  // candidate i always samples with seed i + 1.
  int parallel = 0;
  // Rounds of refinement after the passes: the model continues the sleep
  // prompt after its own notes and the rewrite replaces them; it stops early
  // when a round reproduces the notes it was given (converged).
  int refine_rounds = 0;
  // With refine_rounds > 0: not converging within them is a failure (a
  // runaway guard): nothing is stored, Sleep returns Unavailable.
  bool require_convergence = false;
  float temperature = 0;  // passes > 1 sample at 0.7 unless set
  // Tokens generated so far, out of at most passes * budget (a pass may end early).
  std::function<void(int done, int total)> on_progress;
  // Called between decode steps; may block to yield the compute to live
  // requests. false abandons the sleep: nothing is stored and Sleep returns
  // Unavailable with `cancel_reason` (if set) as the message.
  std::function<bool()> should_continue;
  std::function<std::string()> cancel_reason;
  // When the context changed while sleeping, the c′ computed from the old
  // version is not stored (Sleep fails with FailedPrecondition); if this is
  // set it receives that c′, for the record.
  std::string* stale_text = nullptr;
};

struct SleepResult {
  LearnedContext learned;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  double sleep_ms = 0;
  double kv_prefill_ms = 0;
  int refine_rounds_run = 0;
  bool converged = false;  // a refinement round reproduced its input
  int parallel = 1;        // candidates that were generated at the same time
  // CombineMode::kMerge: the candidates were merged (false when the merge
  // prompt did not fit the window; they are then concatenated).
  bool merged = false;
  // CombineMode::kConsensus: the candidate chosen, and every candidate's
  // agreement with the others.
  int chosen = -1;
  std::vector<double> agreement;
  std::vector<std::string> candidates;  // k > 1: every candidate, in order
};

struct AskOptions {
  int budget = 0;           // hard cap on generated tokens; 0: what fits the window, at most 256
  int verbosity = 0;        // 0..4
  bool use_learned = true;  // false: the T(q, c) baseline
  // Streaming: each new piece of the answer text (forced marker included),
  // in order; the pieces concatenate to AskResult::answer.
  std::function<void(std::string_view)> on_text;
  float temperature = 0;  // 0: greedy; > 0 samples (pass@k baselines)
  uint32_t seed = 0;
  bool log_query = true;  // false: not recorded in the query log (evaluation samples)
};

struct AskResult {
  std::string answer;   // generated text, forced answer included
  bool forced = false;  // the reasoning budget ran out and the answer was forced
  bool used_learned_context = false;
  PrefixSource prefix_source = PrefixSource::kNone;
  TokenUsage usage;  // summed over reasoning and forced answer
  double latency_ms = 0;
  double ttft_ms = 0;
  int64_t query_id = 0;
};

struct CostPoint {
  int64_t queries = 0;              // N queries sharing the context
  double per_query_with_sleep = 0;  // sleep_tokens / N + t * mean test tokens (with c′)
  double per_query_baseline = 0;    // t * mean test tokens (no c′); 0 when unmeasured
};

struct ContextStats {
  std::string context_id;
  int64_t version = 0;
  bool has_learned_context = false;
  int64_t sleep_tokens = 0;  // completion tokens spent writing the current c′
  int64_t queries_with_sleep = 0;
  int64_t queries_baseline = 0;
  double mean_test_tokens_with_sleep = 0;
  double mean_test_tokens_baseline = 0;
  double mean_latency_ms_with_sleep = 0;
  double mean_latency_ms_baseline = 0;
  double test_token_weight = 10;
  std::vector<CostPoint> cost_curve;  // N = 1, 2, 5, 10, 20, 50 and the N served
};

class Engine {
 public:
  Engine(Backend* backend, Store* store, PromptTemplates templates, EngineOptions options = {});

  Result<SleepResult> Sleep(const std::string& context_id, const SleepOptions& options);
  Result<AskResult> Ask(const std::string& context_id, const std::string& query, const AskOptions& options);
  Result<ContextStats> Stats(const std::string& context_id);

  // The largest test-time budget that fits the model's window for this query
  // (verbosity 0), forced answer included.
  Result<int> MaxBudget(const Context& context, const std::optional<LearnedContext>& learned,
                        const std::string& query) const;

  // Tokens of every budget kept for the forced answer (EngineOptions::answer_reserve, resolved).
  int answer_reserve() const { return options_.answer_reserve; }

  // The prompt Ask would use (exposed for tests and for `sleeptime ask --show-prompt`).
  Result<Prompt> AnswerPrompt(const Context& context, const std::optional<LearnedContext>& learned,
                              const std::string& query, int verbosity) const;

 private:
  Backend* backend_;
  Store* store_;
  PromptTemplates templates_;
  EngineOptions options_;
};

}  // namespace sleeptime
