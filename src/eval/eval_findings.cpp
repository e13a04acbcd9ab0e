// The paper's four findings, measured from ItemRecords.
//
// Definitions (the report's footnotes repeat them; keep the two in step):
//
// Points. Records are grouped by (condition, k, budget, verbosity); each group
//   is a point: accuracy = correct / n, x = mean completion_tokens per query
//   (test-time tokens; prefill is not counted, as in the paper). Families:
//   "baseline", "sleep k=K" for each K, "passk". A family's Pareto frontier
//   keeps the points no cheaper-or-equal point matches in accuracy.
//
// 1. Token ratio (the paper's "~5x"). A* = the best baseline accuracy. The
//   baseline's cost is the mean test tokens of its cheapest point within one
//   percentage point of A* (so a point that is 0.2 pts better at twice the
//   tokens does not inflate the ratio); the sleep cost is the cheapest sleep
//   point, any k, any budget, with accuracy >= A* - 0.01. Ratio = baseline /
//   sleep. NaN when no sleep point gets there (the report says so).
//
// 2. Sleep-scaling gain. At each (budget, verbosity) with sleep runs at k = 1
//   and a larger k: accuracy(largest k) - accuracy(k = 1). The largest gain is
//   reported with its budget (ties: the smaller budget). It may be negative:
//   reported as measured.
//
// 3. Amortization at N queries per context, t = options.test_token_weight.
//   Cost per query, in sleep-token units: sleep = S_ctx / N + t * T_sleep,
//   baseline = t * T_base, where S_ctx = mean over items of the sleep point's
//   sleep_tokens (per context; repeated on each of the item's records). The
//   sleep point is the one behind finding 1 if any, else the most accurate
//   sleep point (ties: cheapest). It is compared at equal accuracy: the
//   baseline point is the cheapest one with accuracy >= min(sleep accuracy,
//   A*) — when sleep beats every baseline point, the baseline's best is the
//   nearest equal, which favours the baseline. Reported: baseline / sleep at
//   N = 10.
//
// 4. Predictability. Baseline records and sleep records at k = 1 (else the
//   smallest k run) are paired on the (budget, verbosity) settings both ran,
//   pooled over those settings so each quintile holds enough records. Queries
//   (item, query index) with a finite predictability are sorted by it and cut
//   into five equal-count quintiles; per quintile gain = sleep accuracy -
//   baseline accuracy over the paired records of its queries. Reported: the
//   gain in the lowest and highest quintile. Needs >= 5 such queries.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <tuple>

#include "eval/eval_analysis.h"

namespace sleeptime::eval {

namespace analysis {

namespace {

// A point "reaches" an accuracy when it is at least that, up to float noise
// in sums of 0/1 divided by n.
constexpr double kEps = 1e-9;
// "Within one percentage point" for the token ratio.
constexpr double kMatchTolerance = 0.01;

std::string FamilyOf(const std::string& condition, int k) {
  if (condition == "sleep") return "sleep k=" + std::to_string(k);
  return condition;
}

// Family display order: baseline, sleep by k, passk, then anything else.
std::tuple<int, int, std::string> FamilyOrder(const Point& p) {
  if (p.condition == "baseline") return {0, 0, ""};
  if (p.condition == "sleep") return {1, p.k, ""};
  if (p.condition == "passk") return {2, 0, ""};
  return {3, 0, p.condition};
}

std::vector<Point> GroupPoints(const std::vector<ItemRecord>& records) {
  struct Acc {
    Point p;
    double tokens = 0, latency = 0, ttft = 0;
    int64_t kv = 0, latency_n = 0, ttft_n = 0;
    std::map<std::string, int64_t> sleep_by_item;  // per context, so one value per item
  };
  std::map<std::tuple<std::string, int, int, int>, Acc> groups;
  for (const ItemRecord& r : records) {
    Acc& a = groups[{r.condition, r.k, r.budget, r.verbosity}];
    a.p.condition = r.condition;
    a.p.k = r.k;
    a.p.budget = r.budget;
    a.p.verbosity = r.verbosity;
    a.p.n += 1;
    a.p.correct += r.correct ? 1 : 0;
    a.tokens += static_cast<double>(r.completion_tokens);
    a.kv += r.kv_restored ? 1 : 0;
    if (r.anticipated) {
      a.p.anticipated += 1;
      a.p.anticipated_correct += r.correct ? 1 : 0;
    }
    if (std::isfinite(r.latency_ms)) a.latency += r.latency_ms, a.latency_n += 1;
    if (std::isfinite(r.ttft_ms)) a.ttft += r.ttft_ms, a.ttft_n += 1;
    // The same context's c' is written once; its cost repeats on each record.
    // max() tolerates a runner that only fills it in on the first record.
    int64_t& s = a.sleep_by_item[r.item_id];
    s = std::max(s, r.sleep_tokens);
  }
  std::vector<Point> points;
  for (auto& [key, a] : groups) {
    Point p = a.p;
    p.family = FamilyOf(p.condition, p.k);
    const double n = static_cast<double>(p.n);
    p.accuracy = static_cast<double>(p.correct) / n;
    p.mean_test_tokens = a.tokens / n;
    p.kv_restored_rate = static_cast<double>(a.kv) / n;
    p.mean_latency_ms = a.latency_n ? a.latency / static_cast<double>(a.latency_n) : NAN;
    p.mean_ttft_ms = a.ttft_n ? a.ttft / static_cast<double>(a.ttft_n) : NAN;
    double sleep_sum = 0;
    for (const auto& [item, tokens] : a.sleep_by_item) sleep_sum += static_cast<double>(tokens);
    p.sleep_tokens_per_context = sleep_sum / static_cast<double>(a.sleep_by_item.size());
    points.push_back(std::move(p));
  }
  std::stable_sort(points.begin(), points.end(), [](const Point& a, const Point& b) {
    return std::tuple(FamilyOrder(a), a.budget, a.verbosity, a.k) <
           std::tuple(FamilyOrder(b), b.budget, b.verbosity, b.k);
  });
  return points;
}

std::vector<Family> BuildFamilies(std::vector<Point>& points) {
  std::vector<Family> families;
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < points.size(); ++i) {
    auto [it, added] = index.emplace(points[i].family, families.size());
    if (added) families.push_back(Family{points[i].family, {}, {}});
    families[it->second].points.push_back(i);
  }
  for (Family& f : families) {
    // Cheapest first; at equal cost the more accurate first, so it is the one kept.
    std::stable_sort(f.points.begin(), f.points.end(), [&](size_t a, size_t b) {
      if (points[a].mean_test_tokens != points[b].mean_test_tokens)
        return points[a].mean_test_tokens < points[b].mean_test_tokens;
      return points[a].accuracy > points[b].accuracy;
    });
    double best = -1;
    for (size_t i : f.points) {
      if (points[i].accuracy > best + kEps) {
        f.frontier.push_back(i);
        points[i].on_frontier = true;
        best = points[i].accuracy;
      }
    }
  }
  return families;
}

// The cheapest point of `condition` with accuracy >= `at_least` (-1: none).
int Cheapest(const std::vector<Point>& points, const std::string& condition, double at_least) {
  int best = -1;
  for (size_t i = 0; i < points.size(); ++i) {
    const Point& p = points[i];
    if (p.condition != condition || p.accuracy < at_least - kEps) continue;
    if (best < 0 || p.mean_test_tokens < points[best].mean_test_tokens ||
        (p.mean_test_tokens == points[best].mean_test_tokens && p.accuracy > points[best].accuracy))
      best = static_cast<int>(i);
  }
  return best;
}

void TokenRatio(Analysis& a) {
  const auto& pts = a.points;
  double best = -1;
  for (const Point& p : pts)
    if (p.condition == "baseline") best = std::max(best, p.accuracy);
  if (best < 0) {
    a.notes.push_back("No baseline records: the token ratio and amortization need the baseline.");
    return;
  }
  Findings& f = a.findings;
  f.baseline_best_accuracy = best;
  a.baseline_best = Cheapest(pts, "baseline", best - kMatchTolerance);
  f.baseline_tokens_at_best = pts[a.baseline_best].mean_test_tokens;
  a.sleep_match = Cheapest(pts, "sleep", best - kMatchTolerance);
  if (a.sleep_match < 0) {
    a.notes.push_back(fmt::format(
        "No sleep-time point reaches the baseline's best accuracy ({:.1f}%, within 1 point): the token ratio "
        "is not defined for this run.",
        100 * best));
    return;
  }
  f.sleep_tokens_to_match = pts[a.sleep_match].mean_test_tokens;
  // 0 test tokens (every answer anticipated) is an infinite saving, not NaN.
  f.token_ratio = f.sleep_tokens_to_match > 0 ? f.baseline_tokens_at_best / f.sleep_tokens_to_match
                                              : std::numeric_limits<double>::infinity();
}

void SleepScaling(Analysis& a) {
  std::map<std::pair<int, int>, ScalingCurve> curves;
  for (const Point& p : a.points) {
    if (p.condition != "sleep") continue;
    ScalingCurve& c = curves[{p.budget, p.verbosity}];
    c.budget = p.budget;
    c.verbosity = p.verbosity;
    c.k_accuracy.emplace_back(p.k, p.accuracy);
  }
  for (const Point& p : a.points) {
    if (p.condition != "baseline") continue;
    auto it = curves.find({p.budget, p.verbosity});
    if (it != curves.end()) it->second.baseline_accuracy = p.accuracy;
  }
  for (auto& [key, c] : curves) {
    std::sort(c.k_accuracy.begin(), c.k_accuracy.end());
    c.k_max = c.k_accuracy.back().first;
    if (c.k_accuracy.front().first == 1 && c.k_max > 1)
      c.gain = c.k_accuracy.back().second - c.k_accuracy.front().second;
    a.scaling.push_back(c);
  }
  for (const ScalingCurve& c : a.scaling) {  // by budget, so a tie keeps the smaller budget
    if (std::isnan(c.gain)) continue;
    if (std::isnan(a.findings.sleep_scaling_gain) || c.gain > a.findings.sleep_scaling_gain + kEps) {
      a.findings.sleep_scaling_gain = c.gain;
      a.findings.sleep_scaling_budget = c.budget;
    }
  }
  if (!a.scaling.empty() && std::isnan(a.findings.sleep_scaling_gain))
    a.notes.push_back("Sleep-time scaling needs sleep runs at k = 1 and at a larger k at the same budget.");
}

void Amortization(Analysis& a, const ReportOptions& options) {
  const auto& pts = a.points;
  int s = a.sleep_match;
  if (s < 0) {
    for (size_t i = 0; i < pts.size(); ++i) {
      if (pts[i].condition != "sleep") continue;
      if (s < 0 || pts[i].accuracy > pts[s].accuracy + kEps ||
          (std::fabs(pts[i].accuracy - pts[s].accuracy) <= kEps &&
           pts[i].mean_test_tokens < pts[s].mean_test_tokens))
        s = static_cast<int>(i);
    }
  }
  if (s < 0 || a.baseline_best < 0) return;
  const double target = std::min(pts[s].accuracy, a.findings.baseline_best_accuracy);
  const int b = Cheapest(pts, "baseline", target);
  if (b < 0) return;  // unreachable: the baseline's best point qualifies
  a.amort_sleep = s;
  a.amort_baseline = b;
  a.amort_sleep_tokens_per_context = pts[s].sleep_tokens_per_context;
  const double t = options.test_token_weight;
  auto row = [&](int n) {
    AmortizationRow r;
    r.queries_per_context = n;
    r.baseline_cost = t * pts[b].mean_test_tokens;
    r.sleep_cost = pts[s].sleep_tokens_per_context / n + t * pts[s].mean_test_tokens;
    r.ratio = r.sleep_cost > 0 ? r.baseline_cost / r.sleep_cost : NAN;
    return r;
  };
  for (int n : options.queries_per_context)
    if (n > 0) a.amortization.push_back(row(n));
  a.findings.amortization_ratio_at_10 = row(10).ratio;
}

// Queries' kinds in the paper's order of decreasing predictability.
int KindOrder(const std::string& kind) {
  if (kind == "value") return 0;
  if (kind == "combination") return 1;
  if (kind == "hypothetical") return 2;
  if (kind.empty()) return 4;
  return 3;
}

void Predictability(Analysis& a, const std::vector<ItemRecord>& records) {
  // Which sleep k to compare: 1 if run, else the smallest.
  int k = 0;
  for (const ItemRecord& r : records)
    if (r.condition == "sleep" && (k == 0 || r.k < k)) k = r.k;
  for (const ItemRecord& r : records)
    if (r.condition == "sleep" && r.k == 1) k = 1;
  if (k == 0) return;
  a.predictability_k = k;
  std::set<std::pair<int, int>> base_settings, sleep_settings;
  for (const ItemRecord& r : records) {
    if (r.condition == "baseline") base_settings.insert({r.budget, r.verbosity});
    if (r.condition == "sleep" && r.k == k) sleep_settings.insert({r.budget, r.verbosity});
  }
  std::vector<const ItemRecord*> paired;
  for (const ItemRecord& r : records) {
    const bool base = r.condition == "baseline" && sleep_settings.count({r.budget, r.verbosity});
    const bool sleep = r.condition == "sleep" && r.k == k && base_settings.count({r.budget, r.verbosity});
    if (base || sleep) paired.push_back(&r);
  }
  if (paired.empty()) return;

  // By kind: the fallback view when the backend cannot score tokens.
  struct Tally {
    int64_t base_n = 0, base_correct = 0, sleep_n = 0, sleep_correct = 0;
  };
  std::map<std::pair<int, std::string>, Tally> kinds;
  for (const ItemRecord* r : paired) {
    Tally& t = kinds[{KindOrder(r->kind), r->kind}];
    if (r->condition == "sleep") {
      t.sleep_n += 1;
      t.sleep_correct += r->correct ? 1 : 0;
    } else {
      t.base_n += 1;
      t.base_correct += r->correct ? 1 : 0;
    }
  }
  for (const auto& [key, t] : kinds) {
    KindRow row;
    row.kind = key.second;
    row.baseline_n = t.base_n;
    row.sleep_n = t.sleep_n;
    if (t.base_n) row.baseline_accuracy = static_cast<double>(t.base_correct) / static_cast<double>(t.base_n);
    if (t.sleep_n) row.sleep_accuracy = static_cast<double>(t.sleep_correct) / static_cast<double>(t.sleep_n);
    row.gain = row.sleep_accuracy - row.baseline_accuracy;
    a.by_kind.push_back(row);
  }

  // Predictability per query: the first finite value seen (it is a property
  // of (q, c), identical across conditions when the runner scores once).
  std::map<std::pair<std::string, int>, double> pred;
  for (const ItemRecord* r : paired)
    if (std::isfinite(r->predictability))
      pred.emplace(std::pair(r->item_id, r->query_index), r->predictability);
  a.predictability_available = !pred.empty();
  if (pred.empty()) {
    a.notes.push_back("Predictability is unavailable for this backend (it cannot score tokens).");
    return;
  }
  if (pred.size() < 5) {
    a.notes.push_back(
        fmt::format("Predictability quintiles need at least 5 scored queries; got {}.", pred.size()));
    return;
  }
  std::vector<std::pair<double, std::pair<std::string, int>>> order;
  for (const auto& [q, v] : pred) order.emplace_back(v, q);
  std::sort(order.begin(), order.end());  // ties broken by (item, query): deterministic
  std::map<std::pair<std::string, int>, int> quintile_of;
  a.quintiles.resize(5);
  for (size_t i = 0; i < order.size(); ++i) {
    const int q = static_cast<int>(i * 5 / order.size());
    quintile_of[order[i].second] = q;
    QuintileRow& row = a.quintiles[q];
    row.quintile = q + 1;
    row.queries += 1;
    if (std::isnan(row.predictability_lo)) row.predictability_lo = order[i].first;
    row.predictability_hi = order[i].first;
  }
  std::vector<std::pair<int64_t, int64_t>> correct(5);
  for (const ItemRecord* r : paired) {
    auto it = quintile_of.find({r->item_id, r->query_index});
    if (it == quintile_of.end()) continue;  // unscored query
    QuintileRow& row = a.quintiles[it->second];
    if (r->condition == "sleep") {
      row.sleep_n += 1;
      correct[it->second].second += r->correct ? 1 : 0;
    } else {
      row.baseline_n += 1;
      correct[it->second].first += r->correct ? 1 : 0;
    }
  }
  for (int q = 0; q < 5; ++q) {
    QuintileRow& row = a.quintiles[q];
    if (row.baseline_n)
      row.baseline_accuracy = static_cast<double>(correct[q].first) / static_cast<double>(row.baseline_n);
    if (row.sleep_n)
      row.sleep_accuracy = static_cast<double>(correct[q].second) / static_cast<double>(row.sleep_n);
    row.gain = row.sleep_accuracy - row.baseline_accuracy;
  }
  a.findings.predictability_gain_low = a.quintiles.front().gain;
  a.findings.predictability_gain_high = a.quintiles.back().gain;
}

std::string Pct(double v) {
  return fmt::format("{:.1f}%", 100 * v);
}
std::string Pts(double v) {
  return fmt::format("{:+.1f} pts", 100 * v);
}

}  // namespace

Analysis Analyze(const std::vector<ItemRecord>& records, const ReportOptions& options) {
  Analysis a;
  a.points = GroupPoints(records);
  a.families = BuildFamilies(a.points);
  TokenRatio(a);
  SleepScaling(a);
  Amortization(a, options);
  Predictability(a, records);
  return a;
}

std::vector<FindingRow> FindingRows(const Findings& f) {
  std::vector<FindingRow> rows;
  FindingRow r1{"Test-time tokens to reach the baseline's best accuracy [^1]", "", "~5× fewer"};
  if (std::isnan(f.baseline_best_accuracy)) {
    r1.measured = "n/a: no baseline records";
  } else if (std::isnan(f.sleep_tokens_to_match)) {
    r1.measured = fmt::format("not reached: no sleep point comes within 1 pt of the baseline's best ({})",
                              Pct(f.baseline_best_accuracy));
  } else if (std::isinf(f.token_ratio)) {
    r1.measured = fmt::format("∞: sleep needs 0 test tokens (baseline best {} at {:.0f} tokens/query)",
                              Pct(f.baseline_best_accuracy), f.baseline_tokens_at_best);
  } else {
    r1.measured =
        fmt::format("**{:.2f}×** fewer: {:.1f} → {:.1f} tokens/query (baseline best {})", f.token_ratio,
                    f.baseline_tokens_at_best, f.sleep_tokens_to_match, Pct(f.baseline_best_accuracy));
  }
  rows.push_back(r1);

  FindingRow r2{"Accuracy gain from sleep-time scaling [^2]", "", "up to +13 pts (GSM), +18 pts (AIME)"};
  r2.measured = std::isnan(f.sleep_scaling_gain)
                    ? "n/a: needs sleep runs at k = 1 and a larger k"
                    : fmt::format("**{}** (k = 1 → largest k, budget {})", Pts(f.sleep_scaling_gain),
                                  f.sleep_scaling_budget);
  rows.push_back(r2);

  FindingRow r3{"Cost per query at 10 queries per context [^3]", "", "2.5× lower"};
  if (std::isnan(f.amortization_ratio_at_10)) {
    r3.measured = "n/a: needs baseline and sleep records";
  } else if (f.amortization_ratio_at_10 >= 1) {
    r3.measured = fmt::format("**{:.2f}×** lower with sleep", f.amortization_ratio_at_10);
  } else {
    r3.measured = fmt::format("**{:.2f}×**: sleep costs {:.2f}× more", f.amortization_ratio_at_10,
                              1 / f.amortization_ratio_at_10);
  }
  rows.push_back(r3);

  FindingRow r4{"Accuracy gain by predictability quintile [^4]", "", "gain grows with predictability"};
  r4.measured = std::isnan(f.predictability_gain_low) && std::isnan(f.predictability_gain_high)
                    ? "unavailable: the backend cannot score tokens (or < 5 scored queries)"
                    : fmt::format("lowest quintile **{}** → highest **{}**", Pts(f.predictability_gain_low),
                                  Pts(f.predictability_gain_high));
  rows.push_back(r4);
  return rows;
}

std::vector<std::string> FindingFootnotes() {
  return {
      "Points group records by (condition, k, budget, verbosity); tokens are mean completion (test-time) "
      "tokens per query, prefill not counted. A* = best baseline accuracy; baseline cost = cheapest "
      "baseline point within 1 pt of A*; sleep cost = cheapest sleep point (any k, any budget) with "
      "accuracy ≥ A* − 1 pt; ratio = baseline tokens / sleep tokens.",

      "At each test-time budget with sleep runs at k = 1 and a larger k: "
      "accuracy(largest k) − accuracy(k = 1); the largest such gain and its budget.",

      "Cost per query in sleep-token units = sleep tokens per context / N + t × test tokens per query "
      "(t = the test-token weight, 10 by default); baseline = t × test tokens. Sleep point = the one "
      "behind finding 1, else the most accurate sleep point; baseline point = the cheapest with "
      "accuracy ≥ min(sleep accuracy, A*). Ratio = baseline / sleep at N = 10.",

      "Queries with a finite predictability (log P(q | c) per token) cut into five equal-count "
      "quintiles; gain = sleep (k = 1, else smallest k) − baseline accuracy over the budgets both ran.",
  };
}

}  // namespace analysis

Findings ComputeFindings(const std::vector<ItemRecord>& records, const ReportOptions& options) {
  return analysis::Analyze(records, options).findings;
}

std::string FindingsTable(const Findings& f) {
  std::string md = "| Finding | Measured | Paper |\n|---|---|---|\n";
  for (const auto& row : analysis::FindingRows(f))
    md += "| " + row.finding + " | " + row.measured + " | " + row.paper + " |\n";
  md += "\n";
  // Ratios between conditions a model cannot solve compare noise: say so.
  if (std::isfinite(f.baseline_best_accuracy) && f.baseline_best_accuracy < 0.2) {
    md += fmt::format(
        "**Caution:** the baseline's best accuracy is {:.1f}%: this model barely solves the task, so the "
        "ratios above compare near-chance answers and say little about sleep-time compute.\n\n",
        100 * f.baseline_best_accuracy);
  }
  const auto notes = analysis::FindingFootnotes();
  for (size_t i = 0; i < notes.size(); ++i) md += fmt::format("[^{}]: {}\n", i + 1, notes[i]);
  return md;
}

}  // namespace sleeptime::eval
