// Eval: the paper's experiments as one command (`sleeptime eval`).
//
// A dataset is a list of EvalItems: a context c known early and several
// queries q known late. The runner answers every query under named
// conditions — the baseline T(q, c) at several test-time budgets, sleep-time
// compute T(q, c′) with c′ from k sleep passes at the same budgets, and a
// parallel pass@k baseline — and writes one ItemRecord per answered query
// as a line of items.jsonl, so any figure can be recomputed. The report
// turns records into results.json, summary.md, SVG/PNG plots and one HTML
// page: the Pareto frontier of accuracy vs test-time tokens, the sleep-scaling
// gain, the amortized cost per query vs queries per context, and the gain by
// predictability quintile.
//
// Functions are thread-compatible: no shared state.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "sleeptime/status.h"

namespace sleeptime::eval {

struct EvalQuery {
  std::string text;
  std::string gold;  // the answer; compared numerically when both sides are numbers ("45.0" == "45")
  std::string kind;  // e.g. "value", "combination", "hypothetical"; "" when unlabelled
  int steps = 0;     // reasoning steps from the raw context (0: unknown)
};

struct EvalItem {
  std::string id;
  std::string context;
  std::vector<EvalQuery> queries;
};

// One answered query under one condition: a line of items.jsonl.
struct ItemRecord {
  std::string condition;  // "baseline", "sleep", "passk"
  int k = 0;              // sleep passes ("sleep") or samples ("passk"); 0 for "baseline"
  int budget = 0;         // test-time token budget (per sample for passk)
  int verbosity = 0;
  std::string item_id;
  int query_index = 0;
  std::string kind;
  int steps = 0;
  // log P(q | c) / tokens(q) under the model: how predictable the query is
  // from the context. NaN when the backend cannot score tokens.
  double predictability = std::numeric_limits<double>::quiet_NaN();
  int64_t prompt_tokens = 0;
  int64_t cached_tokens = 0;
  int64_t completion_tokens = 0;  // test-time tokens (summed over samples for passk)
  int64_t sleep_tokens = 0;       // tokens spent writing this context's c′ (0 unless "sleep")
  int queries_per_context = 0;    // queries of this item answered under this condition
  bool correct = false;
  bool kv_restored = false;  // the prompt prefix came from a saved KV state
  bool anticipated = false;  // answered from an anticipated question in c′
  double latency_ms = 0;
  double ttft_ms = 0;
  std::string answer;  // the parsed answer ("" when none)
};

std::string ToJsonLine(const ItemRecord& r);  // one line, no newline
Result<ItemRecord> FromJsonLine(const std::string& line);

struct ReportOptions {
  std::string title = "sleeptime eval";
  std::string model;                // shown in the report
  std::string dataset;              // shown in the report
  std::string command;              // the command that produced the records, shown for reproduction
  double test_token_weight = 10.0;  // t: a test-time token costs t sleep-time tokens
  std::vector<int> queries_per_context = {1, 2, 3, 5, 10, 20};  // amortization curve
};

// The four findings, as measured (NaN when a condition is missing).
struct Findings {
  double baseline_best_accuracy = NAN;
  double baseline_tokens_at_best =
      NAN;                             // mean test tokens of the cheapest baseline point at its best accuracy
  double sleep_tokens_to_match = NAN;  // mean test tokens of the cheapest sleep point reaching it
  double token_ratio = NAN;            // baseline_tokens_at_best / sleep_tokens_to_match (paper: ~5x)
  double sleep_scaling_gain = NAN;     // accuracy(k max) - accuracy(k = 1), at the budget where it is largest
  int sleep_scaling_budget = 0;
  double amortization_ratio_at_10 = NAN;  // baseline cost / sleep cost per query at 10 queries per context
  double predictability_gain_low = NAN;   // sleep - baseline accuracy, lowest predictability quintile
  double predictability_gain_high = NAN;  // same, highest quintile
};
Findings ComputeFindings(const std::vector<ItemRecord>& records, const ReportOptions& options);
// The findings as a Markdown table (printed by `make demo`).
std::string FindingsTable(const Findings& f);

// Writes results.json, summary.md, pareto.svg, scaling.svg, amortization.svg,
// predictability.svg (and .png next to each when rsvg-convert is installed)
// and report.html (self-contained: the SVGs inline) into `out_dir`.
Status WriteReport(const std::vector<ItemRecord>& records, const ReportOptions& options,
                   const std::string& out_dir);

}  // namespace sleeptime::eval
