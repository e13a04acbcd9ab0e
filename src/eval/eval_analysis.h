// The analysis behind ComputeFindings, with the intermediate results the
// report shows (points, frontiers, the points each finding was read from,
// curves and quintiles). Private to src/eval: the public contract is
// include/sleeptime/eval.h; this is what eval_report.cpp draws from, so the
// numbers in the plots and in the findings table come from one computation.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "sleeptime/eval.h"

namespace sleeptime::eval::analysis {

// One (condition, k, budget, verbosity) group of records.
struct Point {
  std::string condition;
  int k = 0;
  int budget = 0;
  int verbosity = 0;
  std::string family;  // "baseline", "sleep k=3", "passk", or the condition's own name
  int64_t n = 0;
  int64_t correct = 0;
  double accuracy = NAN;                // correct / n
  double mean_test_tokens = NAN;        // mean completion_tokens per query
  double sleep_tokens_per_context = 0;  // mean over items of the item's sleep_tokens
  int64_t anticipated = 0;              // queries answered from an anticipated question
  int64_t anticipated_correct = 0;
  double kv_restored_rate = 0;
  double mean_latency_ms = NAN;
  double mean_ttft_ms = NAN;
  bool on_frontier = false;
};

struct Family {
  std::string name;
  std::vector<size_t> points;    // indices into Analysis::points, by mean test tokens
  std::vector<size_t> frontier;  // the Pareto-optimal subset, by mean test tokens
};

// Sleep accuracy against k at one test-time setting.
struct ScalingCurve {
  int budget = 0;
  int verbosity = 0;
  std::vector<std::pair<int, double>> k_accuracy;  // by k
  double baseline_accuracy = NAN;                  // the baseline at the same setting (k = 0 on the plot)
  double gain = NAN;                               // accuracy(largest k) - accuracy(k = 1)
  int k_max = 0;
};

struct AmortizationRow {
  int queries_per_context = 0;
  double baseline_cost = NAN;  // per query, in sleep-token units
  double sleep_cost = NAN;
  double ratio = NAN;  // baseline / sleep
};

struct QuintileRow {
  int quintile = 0;  // 1 = least predictable
  size_t queries = 0;
  double predictability_lo = NAN, predictability_hi = NAN;
  int64_t baseline_n = 0, sleep_n = 0;
  double baseline_accuracy = NAN, sleep_accuracy = NAN, gain = NAN;
};

struct KindRow {
  std::string kind;
  int64_t baseline_n = 0, sleep_n = 0;
  double baseline_accuracy = NAN, sleep_accuracy = NAN, gain = NAN;
};

struct Analysis {
  std::vector<Point> points;  // by family (baseline, sleep k=1.., passk, others), then budget, verbosity
  std::vector<Family> families;
  Findings findings;
  int baseline_best = -1;  // point indices behind the token ratio (-1: none)
  int sleep_match = -1;
  std::vector<ScalingCurve> scaling;
  int amort_sleep = -1;  // point indices behind the amortization curve
  int amort_baseline = -1;
  double amort_sleep_tokens_per_context = NAN;
  std::vector<AmortizationRow> amortization;  // at options.queries_per_context
  bool predictability_available = false;      // some paired record has a finite predictability
  int predictability_k = 0;                   // the sleep k compared with the baseline
  std::vector<QuintileRow> quintiles;
  std::vector<KindRow> by_kind;    // the same pairing, by query kind (value, combination, hypothetical, ...)
  std::vector<std::string> notes;  // caveats in plain words, shown in the report
};

Analysis Analyze(const std::vector<ItemRecord>& records, const ReportOptions& options);

// The findings table's rows and footnotes, shared by the Markdown and HTML views.
struct FindingRow {
  std::string finding;
  std::string measured;
  std::string paper;
};
std::vector<FindingRow> FindingRows(const Findings& f);
std::vector<std::string> FindingFootnotes();

}  // namespace sleeptime::eval::analysis
