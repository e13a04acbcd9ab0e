// DemoEval: the acceptance measurement of a model on the reasoning language
// (issue 3): held-out problems run through the real engine (store, backend,
// KV states) in every mode the demo model must master.
//
//   reasoned   T(q, c): no notes, an effectively unlimited budget;
//   direct     the answer marker right after the question (no reasoning);
//   sleep      S(c): the notes the model writes itself, scored per quantity;
//   notes      T(q, c′) from those notes with a budget of a fraction (default
//              1/5) of the mean test-time tokens the reasoned mode spent.
//
// Not thread-safe; one run at a time per backend.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "sleeptime/backend.h"
#include "sleeptime/prompts.h"
#include "sleeptime/reasoning_language.h"
#include "sleeptime/status.h"

namespace sleeptime {

namespace lang {
// The engine templates of the reasoning language (context line, "NOTES:"
// lines, "Q: " question, " answer: " marker, newline stops).
PromptTemplates DemoPromptTemplates();
}  // namespace lang

struct DemoEvalOptions {
  int problems = 100;  // held-out problems, 4 queries each
  uint64_t first_problem = 0;
  int unlimited_budget = 400;
  int sleep_budget = 400;
  double notes_budget_fraction = 0.2;
  // Sleep-time scaling: k notes candidates (the greedy one and k - 1 samples
  // at sleep_temperature), of which the one the others agree with most is
  // kept (CombineMode::kConsensus). 1: the greedy notes alone.
  int sleep_passes = 1;
  float sleep_temperature = 0.7f;
  int answer_reserve = 0;  // EngineOptions::answer_reserve (0: the model's, else the default)
  // When set, every generation is appended here as a JSON line (mode, context,
  // question, text, gold, parsed answer): what the model actually wrote.
  std::string samples_path;
  std::function<void(const std::string& phase, int done, int total)> on_progress;
};

// The 95% Wilson score interval of a proportion `correct` of `n`, as
// fractions; {0, 1} when n is 0. A hundred held-out problems are a small
// sample (four-step queries number about 90), so two models' accuracies are
// compared with their intervals, not their points.
struct Interval {
  double low = 0, high = 1;
};
Interval WilsonInterval95(int64_t correct, int64_t n);

struct ModeScore {
  int64_t n = 0;
  int64_t correct = 0;
  int64_t well_formed = 0;  // an answer the parser could read, right or wrong
  int64_t tokens = 0;       // generated (test-time) tokens
  double accuracy() const { return n ? static_cast<double>(correct) / static_cast<double>(n) : 0; }
  double well_formed_rate() const {
    return n ? static_cast<double>(well_formed) / static_cast<double>(n) : 0;
  }
  double mean_tokens() const { return n ? static_cast<double>(tokens) / static_cast<double>(n) : 0; }
  Interval interval95() const { return WilsonInterval95(correct, n); }
  void Add(bool ok, bool parsed, int64_t t) {
    ++n;
    correct += ok;
    well_formed += parsed;
    tokens += t;
  }
  void Add(const ModeScore& o) {
    n += o.n;
    correct += o.correct;
    well_formed += o.well_formed;
    tokens += o.tokens;
  }
};

struct DemoEvalReport {
  int problems = 0;
  std::string model;
  std::string trace_style;  // lang::TraceStyleName of the model's metadata ("" plain)
  // Per mode, keyed by reasoning steps from the raw context (0 = all).
  std::map<int, ModeScore> reasoned, direct, notes;
  std::map<std::string, ModeScore> reasoned_by_kind, notes_by_kind;
  int64_t notes_derived = 0, notes_stated = 0, notes_correct = 0, sleep_tokens = 0;
  int sleep_passes = 1;
  float sleep_temperature = 0;
  // With sleep_passes > 1: contexts whose consensus kept a sample rather than
  // the greedy notes.
  int64_t sleep_greedy_replaced = 0;
  // Relation lookups ("C=B*2.") in the reasoned answers, and which of their
  // parts copy the context's fact (lang::ScoreLookups).
  lang::LookupScore lookups;
  // Their computations ("=12+5=17."), checked by arithmetic alone.
  lang::ComputationScore computations;
  int notes_budget = 0;
  // What of it the reasoning may use: the engine keeps the rest for the
  // answer (EngineOptions::answer_reserve).
  int notes_reasoning_budget = 0;
  // The language's own reasoning from complete notes (lang::RenderReasoning
  // with notes), in this model's tokens, per query kind: what a model that
  // makes no mistake writes in the from-notes mode. Queries whose reference
  // does not fit notes_reasoning_budget can be answered from notes only by a
  // guess at the forced answer, however good the model.
  struct ReferenceFit {
    int64_t queries = 0, tokens = 0, within_budget = 0;
  };
  std::map<std::string, ReferenceFit> notes_reference_by_kind;
  double seconds = 0;

  double notes_accuracy() const {
    return notes_derived ? static_cast<double>(notes_correct) / static_cast<double>(notes_derived) : 0;
  }
  std::string ToJson() const;
  std::string ToMarkdown() const;
};

// `work_dir` receives a scratch database; the backend's own KV cache is used.
Result<DemoEvalReport> RunDemoEval(Backend* backend, const std::string& work_dir,
                                   const DemoEvalOptions& options);

}  // namespace sleeptime
