// WriteReport: the eval's records as files a person reads.
//
// Every file is derived from one analysis::Analyze() call so the table, the
// plots and results.json cannot disagree. Each file is written to a temporary
// name and renamed, so a report interrupted half-way (Ctrl-C during a long
// eval that rewrites its report as it goes) never leaves a truncated file.
#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "eval/eval_analysis.h"
#include "eval/svg_plot.h"

extern char** environ;

namespace sleeptime::eval {

namespace {

namespace fs = std::filesystem;
using analysis::Analysis;
using analysis::Point;
using nlohmann::ordered_json;

ordered_json Num(double v) {
  return std::isfinite(v) ? ordered_json(v) : ordered_json(nullptr);
}

Status WriteFileAtomic(const fs::path& path, const std::string& content) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Status::IoError("cannot write " + tmp.string());
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.close();
    if (!out) return Status::IoError("cannot write " + tmp.string() + " (disk full?)");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec)
    return Status::IoError("cannot rename " + tmp.string() + " to " + path.string() + ": " + ec.message());
  return Status::Ok();
}

// The PATH lookup a shell's `command -v` does, without a shell: paths with
// spaces or quotes need no escaping and a missing tool costs nothing.
std::string FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return "";
  std::string dirs = path;
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t colon = dirs.find(':', start);
    std::string dir = dirs.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (dir.empty()) dir = ".";
    const std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0 && fs::is_regular_file(candidate)) return candidate;
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return "";
}

// svg -> png with rsvg-convert; false when it fails. The PNGs are a
// convenience next to the SVGs, so a failure is reported in results.json, not
// as an error.
bool ConvertToPng(const std::string& tool, const fs::path& svg, const fs::path& png) {
  const std::string in = svg.string(), out = png.string();
  std::vector<std::string> args = {tool, "--format", "png", "--output", out, in};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // Its stderr would interleave with a progress bar: send it to /dev/null.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, tool.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return false;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return false;
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 && fs::exists(png);
}

std::string Pct(double v) {
  return std::isfinite(v) ? fmt::format("{:.1f}%", 100 * v) : "–";
}
std::string Fixed1(double v) {
  return std::isfinite(v) ? fmt::format("{:.1f}", v) : "–";
}

// Whether the records use more than one verbosity: then labels must name it.
bool ManyVerbosities(const Analysis& a) {
  std::set<int> v;
  for (const Point& p : a.points) v.insert(p.verbosity);
  return v.size() > 1;
}

// ---------------------------------------------------------------------------
// Charts

svg::Chart ParetoChart(const Analysis& a) {
  svg::Chart c;
  c.title = "Accuracy vs test-time compute (Pareto frontier per condition)";
  const auto& f = a.findings;
  if (std::isfinite(f.token_ratio))
    c.subtitle = fmt::format(
        "Baseline best: {} at {:.1f} tokens/query · sleep matches it at {:.1f} ({:.2f}× fewer)",
        Pct(f.baseline_best_accuracy), f.baseline_tokens_at_best, f.sleep_tokens_to_match, f.token_ratio);
  else if (std::isfinite(f.baseline_best_accuracy))
    c.subtitle = fmt::format("No sleep-time point comes within 1 point of the baseline's best accuracy ({})",
                             Pct(f.baseline_best_accuracy));
  c.x_label = "mean test-time tokens per query (completion tokens, log scale)";
  c.y_label = "accuracy (%)";
  c.log_x = true;
  c.empty_message = "no records";
  c.legend_note = "filled: on the frontier\nhollow: dominated";
  // Sleep families get the palette in k order; baseline and pass@k get
  // black and grey so they read as the references.
  constexpr svg::Marker kSleepMarkers[] = {svg::Marker::kCircle, svg::Marker::kTriangle,
                                           svg::Marker::kDiamond, svg::Marker::kTriangleDown,
                                           svg::Marker::kSquare};
  constexpr const char* kSleepColors[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"};
  int sleep_index = 0;
  for (const auto& fam : a.families) {
    svg::Series s;
    s.name = fam.name;
    for (size_t i : fam.points) {
      s.x.push_back(a.points[i].mean_test_tokens);
      s.y.push_back(100 * a.points[i].accuracy);
      s.hollow.push_back(!a.points[i].on_frontier);
    }
    if (fam.name == "baseline") {
      s.color = "#000000";
      s.marker = svg::Marker::kSquare;
    } else if (fam.name == "passk") {
      s.name = "pass@k (oracle)";
      s.color = "#7F7F7F";
      s.marker = svg::Marker::kCross;
      s.dashed = true;
    } else {
      s.color = kSleepColors[sleep_index % 6];
      s.marker = kSleepMarkers[sleep_index % 5];
      ++sleep_index;
    }
    c.series.push_back(std::move(s));
  }
  return c;
}

svg::Chart ScalingChart(const Analysis& a) {
  svg::Chart c;
  c.title = "Sleep-time scaling: accuracy vs sleep passes";
  if (std::isfinite(a.findings.sleep_scaling_gain))
    c.subtitle = fmt::format("Largest gain from k = 1 to the largest k: {:+.1f} points at budget {}",
                             100 * a.findings.sleep_scaling_gain, a.findings.sleep_scaling_budget);
  c.x_label = "sleep passes k (independent c′ concatenated)";
  c.y_label = "accuracy (%)";
  c.empty_message = "no sleep-time records";
  const bool verb = ManyVerbosities(a);
  int k_max = 1;
  bool any_baseline = false;
  for (const auto& curve : a.scaling) {
    svg::Series s;
    s.name = verb ? fmt::format("budget {}, verbosity {}", curve.budget, curve.verbosity)
                  : fmt::format("budget {}", curve.budget);
    if (std::isfinite(curve.baseline_accuracy)) {
      // The baseline at the same budget sits at k = 0, hollow and not
      // joined, so the jump from "no sleep" to k = 1 is visible but not
      // mistaken for part of the scaling curve.
      s.x.push_back(0);
      s.y.push_back(100 * curve.baseline_accuracy);
      s.hollow.push_back(true);
      any_baseline = true;
    }
    for (const auto& [k, acc] : curve.k_accuracy) {
      s.x.push_back(k);
      s.y.push_back(100 * acc);
      s.hollow.push_back(false);
      k_max = std::max(k_max, k);
    }
    c.series.push_back(std::move(s));
  }
  // Integer ticks only: k is a count.
  const int step = k_max > 10 ? (k_max + 9) / 10 : 1;
  for (int k = any_baseline ? 0 : 1; k <= k_max; k += step)
    c.x_ticks.emplace_back(k, k == 0 ? "0\n(baseline)" : std::to_string(k));
  if (any_baseline) c.legend_note = "hollow at k = 0: baseline\n(no sleep) at that budget";
  return c;
}

svg::Chart AmortizationChart(const Analysis& a, const ReportOptions& options) {
  svg::Chart c;
  c.title = "Amortized cost per query vs queries per context";
  c.x_label = "queries per context N (log scale)";
  c.y_label = "cost per query (sleep-token units)";
  c.log_x = true;
  c.y_min = 0;  // a ratio of costs is only honest from zero
  c.empty_message = "needs baseline and sleep-time records";
  if (a.amort_sleep >= 0 && a.amort_baseline >= 0) {
    const Point& sp = a.points[a.amort_sleep];
    const Point& bp = a.points[a.amort_baseline];
    c.subtitle = fmt::format("cost = sleep tokens / N + t × test tokens, t = {:g} · at N = 10: {:.2f}× ",
                             options.test_token_weight, a.findings.amortization_ratio_at_10);
    c.subtitle += a.findings.amortization_ratio_at_10 >= 1 ? "lower with sleep" : "higher with sleep";
    svg::Series base, sleep;
    base.name = fmt::format("baseline (budget {}, {})", bp.budget, Pct(bp.accuracy));
    base.color = "#000000";
    base.marker = svg::Marker::kSquare;
    sleep.name = fmt::format("sleep k={} (budget {}, {})", sp.k, sp.budget, Pct(sp.accuracy));
    sleep.color = "#0072B2";
    sleep.marker = svg::Marker::kCircle;
    for (const auto& row : a.amortization) {
      base.x.push_back(row.queries_per_context);
      base.y.push_back(row.baseline_cost);
      sleep.x.push_back(row.queries_per_context);
      sleep.y.push_back(row.sleep_cost);
      c.x_ticks.emplace_back(row.queries_per_context, std::to_string(row.queries_per_context));
    }
    c.series = {base, sleep};
  }
  return c;
}

std::string KindName(const std::string& kind) {
  return kind.empty() ? "(unlabelled)" : kind;
}

std::string KindTick(const analysis::KindRow& k) {
  if (k.baseline_n == k.sleep_n) return fmt::format("{}\n(n = {} each)", KindName(k.kind), k.sleep_n);
  return fmt::format("{}\n(n = {} base / {} sleep)", KindName(k.kind), k.baseline_n, k.sleep_n);
}

svg::Chart PredictabilityChart(const Analysis& a) {
  svg::Chart c;
  c.y_label = "accuracy gain, sleep − baseline (points)";
  c.y_zero_line = true;
  // The sign of the gain is the point of this chart: zero is always in view.
  c.y_min = 0;
  c.y_max = 0;
  svg::Series s;
  s.color = "#0072B2";
  s.marker = svg::Marker::kCircle;
  if (!a.quintiles.empty()) {
    c.title = "Accuracy gain from sleep-time compute by query predictability";
    c.subtitle =
        fmt::format("predictability = log P(q | c) per token; five equal-count quintiles; sleep k={}",
                    a.predictability_k);
    c.x_label = "predictability quintile (low → high; range of log P(q | c) per token)";
    s.name = fmt::format("sleep k={} − baseline", a.predictability_k);
    for (const auto& q : a.quintiles) {
      s.x.push_back(q.quintile);
      s.y.push_back(100 * q.gain);
      c.x_ticks.emplace_back(q.quintile, fmt::format("Q{}\n{:.2f}…{:.2f}", q.quintile, q.predictability_lo,
                                                     q.predictability_hi));
    }
  } else if (!a.by_kind.empty()) {
    // The fallback the issue allows: query kinds are ordered by how much of
    // the answer the context already states, the synthetic suite's proxy for
    // predictability.
    c.title = "Accuracy gain by query kind (fallback: predictability unavailable)";
    c.subtitle =
        "This backend cannot score tokens, so query kind stands in: value → combination → hypothetical";
    c.x_label = "query kind (fallback for predictability; most → least predictable)";
    s.name = fmt::format("sleep k={} − baseline", a.predictability_k);
    for (size_t i = 0; i < a.by_kind.size(); ++i) {
      const auto& k = a.by_kind[i];
      s.x.push_back(static_cast<double>(i + 1));
      s.y.push_back(100 * k.gain);
      c.x_ticks.emplace_back(static_cast<double>(i + 1), KindTick(k));
    }
  } else {
    c.title = "Accuracy gain by query predictability";
    c.x_label = "predictability quintile";
    c.empty_message = a.predictability_k ? "predictability unavailable for this backend"
                                         : "needs baseline and sleep-time records at a shared budget";
  }
  if (!s.x.empty()) c.series.push_back(std::move(s));
  return c;
}

// ---------------------------------------------------------------------------
// results.json

ordered_json PointJson(const Point& p) {
  ordered_json j;
  j["condition"] = p.condition;
  j["k"] = p.k;
  j["budget"] = p.budget;
  j["verbosity"] = p.verbosity;
  j["family"] = p.family;
  j["n"] = p.n;
  j["correct"] = p.correct;
  j["accuracy"] = Num(p.accuracy);
  j["mean_test_tokens"] = Num(p.mean_test_tokens);
  j["sleep_tokens_per_context"] = Num(p.sleep_tokens_per_context);
  j["anticipated"] = p.anticipated;
  j["anticipated_correct"] = p.anticipated_correct;
  j["kv_restored_rate"] = Num(p.kv_restored_rate);
  j["mean_latency_ms"] = Num(p.mean_latency_ms);
  j["mean_ttft_ms"] = Num(p.mean_ttft_ms);
  j["on_frontier"] = p.on_frontier;
  return j;
}

ordered_json ResultsJson(const Analysis& a, const ReportOptions& o, size_t n_records,
                         const std::vector<std::string>& pngs) {
  ordered_json j;
  j["format"] = "sleeptime-eval-results/1";
  j["options"] = {{"title", o.title},
                  {"model", o.model},
                  {"dataset", o.dataset},
                  {"command", o.command},
                  {"test_token_weight", Num(o.test_token_weight)},
                  {"queries_per_context", o.queries_per_context}};
  j["records"] = n_records;
  const Findings& f = a.findings;
  j["findings"] = {{"baseline_best_accuracy", Num(f.baseline_best_accuracy)},
                   {"baseline_tokens_at_best", Num(f.baseline_tokens_at_best)},
                   {"sleep_tokens_to_match", Num(f.sleep_tokens_to_match)},
                   {"token_ratio", Num(f.token_ratio)},
                   {"sleep_scaling_gain", Num(f.sleep_scaling_gain)},
                   {"sleep_scaling_budget", f.sleep_scaling_budget},
                   {"amortization_ratio_at_10", Num(f.amortization_ratio_at_10)},
                   {"predictability_gain_low", Num(f.predictability_gain_low)},
                   {"predictability_gain_high", Num(f.predictability_gain_high)}};
  j["definitions"] = analysis::FindingFootnotes();
  ordered_json points = ordered_json::array();
  for (const Point& p : a.points) points.push_back(PointJson(p));
  j["points"] = points;
  // Frontiers by point index into "points", cheapest first.
  ordered_json fronts = ordered_json::object();
  for (const auto& fam : a.families) fronts[fam.name] = fam.frontier;
  j["frontiers"] = fronts;
  auto index_or_null = [](int i) { return i >= 0 ? ordered_json(i) : ordered_json(nullptr); };
  j["token_ratio_points"] = {{"baseline", index_or_null(a.baseline_best)},
                             {"sleep", index_or_null(a.sleep_match)}};
  ordered_json scaling = ordered_json::array();
  for (const auto& c : a.scaling) {
    ordered_json ks = ordered_json::array();
    for (const auto& [k, acc] : c.k_accuracy) ks.push_back({{"k", k}, {"accuracy", Num(acc)}});
    scaling.push_back({{"budget", c.budget},
                       {"verbosity", c.verbosity},
                       {"baseline_accuracy", Num(c.baseline_accuracy)},
                       {"by_k", ks},
                       {"gain", Num(c.gain)}});
  }
  j["scaling"] = scaling;
  ordered_json amort = ordered_json::array();
  for (const auto& r : a.amortization)
    amort.push_back({{"queries_per_context", r.queries_per_context},
                     {"baseline_cost", Num(r.baseline_cost)},
                     {"sleep_cost", Num(r.sleep_cost)},
                     {"ratio", Num(r.ratio)}});
  j["amortization"] = {{"baseline_point", index_or_null(a.amort_baseline)},
                       {"sleep_point", index_or_null(a.amort_sleep)},
                       {"sleep_tokens_per_context", Num(a.amort_sleep_tokens_per_context)},
                       {"curve", amort}};
  ordered_json quint = ordered_json::array();
  for (const auto& q : a.quintiles)
    quint.push_back({{"quintile", q.quintile},
                     {"queries", q.queries},
                     {"predictability_lo", Num(q.predictability_lo)},
                     {"predictability_hi", Num(q.predictability_hi)},
                     {"baseline_n", q.baseline_n},
                     {"sleep_n", q.sleep_n},
                     {"baseline_accuracy", Num(q.baseline_accuracy)},
                     {"sleep_accuracy", Num(q.sleep_accuracy)},
                     {"gain", Num(q.gain)}});
  ordered_json kinds = ordered_json::array();
  for (const auto& k : a.by_kind)
    kinds.push_back({{"kind", k.kind},
                     {"baseline_n", k.baseline_n},
                     {"sleep_n", k.sleep_n},
                     {"baseline_accuracy", Num(k.baseline_accuracy)},
                     {"sleep_accuracy", Num(k.sleep_accuracy)},
                     {"gain", Num(k.gain)}});
  j["predictability"] = {{"available", a.predictability_available},
                         {"sleep_k", a.predictability_k},
                         {"quintiles", quint},
                         {"by_kind", kinds}};
  j["notes"] = a.notes;
  j["png"] = pngs;
  return j;
}

// ---------------------------------------------------------------------------
// summary.md and report.html

std::string MdCell(std::string s) {
  for (size_t i = 0; (i = s.find('|', i)) != std::string::npos; i += 2) s.replace(i, 1, "\\|");
  return s;
}

struct PointRow {
  std::vector<std::string> cells;
};

const std::vector<std::string>& PointHeader() {
  static const std::vector<std::string> h = {"condition",
                                             "k",
                                             "budget",
                                             "verbosity",
                                             "n",
                                             "accuracy",
                                             "test tokens / query",
                                             "sleep tokens / context",
                                             "anticipated hits (accuracy)",
                                             "KV restored",
                                             "on frontier"};
  return h;
}

std::vector<PointRow> PointRows(const Analysis& a) {
  std::vector<PointRow> rows;
  for (const Point& p : a.points) {
    PointRow r;
    r.cells = {p.condition,
               std::to_string(p.k),
               std::to_string(p.budget),
               std::to_string(p.verbosity),
               std::to_string(p.n),
               Pct(p.accuracy),
               Fixed1(p.mean_test_tokens),
               p.condition == "sleep" ? Fixed1(p.sleep_tokens_per_context) : "–",
               p.anticipated ? fmt::format("{} ({})", p.anticipated,
                                           Pct(static_cast<double>(p.anticipated_correct) /
                                               static_cast<double>(p.anticipated)))
                             : "0",
               Pct(p.kv_restored_rate),
               p.on_frontier ? "yes" : ""};
    rows.push_back(std::move(r));
  }
  return rows;
}

std::string SummaryMarkdown(const Analysis& a, const ReportOptions& o, size_t n_records) {
  std::string md = "# " + o.title + "\n\n";
  md += "- Model: " + (o.model.empty() ? "(not given)" : o.model) + "\n";
  md += "- Dataset: " + (o.dataset.empty() ? "(not given)" : o.dataset) + "\n";
  md += fmt::format("- Records: {} answered queries in {} condition points\n", n_records, a.points.size());
  md += fmt::format("- Cost weight t = {:g} (a test-time token costs t sleep-time tokens)\n",
                    o.test_token_weight);
  if (!o.command.empty()) md += "\nReproduce with:\n\n```sh\n" + o.command + "\n```\n";
  md += "\n## Findings\n\n" + FindingsTable(a.findings);
  if (!a.notes.empty()) {
    md += "\nNotes:\n\n";
    for (const auto& n : a.notes) md += "- " + n + "\n";
  }
  md += "\n## Points\n\n|";
  for (const auto& h : PointHeader()) md += " " + h + " |";
  md += "\n|";
  for (size_t i = 0; i < PointHeader().size(); ++i) md += i < 4 ? "---|" : "---:|";
  md += "\n";
  for (const auto& r : PointRows(a)) {
    md += "|";
    for (const auto& cell : r.cells) md += " " + MdCell(cell) + " |";
    md += "\n";
  }
  md += "\n## Plots\n\n";
  for (const char* name : {"pareto", "scaling", "amortization", "predictability"})
    md += fmt::format("![{0}]({0}.svg)\n", name);
  md += "\nAll of the above in one page: report.html. Per-query records: items.jsonl.\n";
  return md;
}

// The findings' Markdown emphasis and footnote marks, as HTML.
std::string InlineHtml(const std::string& md) {
  std::string s = svg::XmlEscape(md);
  std::string out;
  bool bold = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s.compare(i, 2, "**") == 0) {
      out += bold ? "</strong>" : "<strong>";
      bold = !bold;
      ++i;
    } else if (s.compare(i, 2, "[^") == 0 && i + 3 < s.size() && s[i + 3] == ']') {
      out += fmt::format(R"(<sup><a href="#fn{0}">{0}</a></sup>)", s[i + 2]);
      i += 3;
    } else {
      out += s[i];
    }
  }
  if (bold) out += "</strong>";
  return out;
}

std::string ReportHtml(const Analysis& a, const ReportOptions& o, size_t n_records,
                       const std::map<std::string, std::string>& svgs) {
  auto esc = [](const std::string& s) { return svg::XmlEscape(s); };
  std::string h;
  h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  h += "<title>" + esc(o.title) + "</title>\n";
  h += R"(<style>
body { font-family: DejaVu Sans, Verdana, Arial, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #111; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; }
pre { background: #f6f6f6; border: 1px solid #ddd; padding: 0.6em 0.8em; overflow-x: auto; }
figure { margin: 1.2em 0; }
figure svg { max-width: 100%; height: auto; border: 1px solid #eee; }
.meta { color: #444; }
.notes li, .footnotes li { font-size: 0.92em; color: #333; }
</style>
</head>
<body>
)";
  h += "<h1>" + esc(o.title) + "</h1>\n<p class=\"meta\">";
  h += "Model: <b>" + esc(o.model.empty() ? "(not given)" : o.model) + "</b> · Dataset: <b>" +
       esc(o.dataset.empty() ? "(not given)" : o.dataset) + "</b> · " +
       fmt::format("{} answered queries, {} condition points · t = {:g}", n_records, a.points.size(),
                   o.test_token_weight) +
       "</p>\n";
  if (!o.command.empty()) h += "<p>Reproduce with:</p>\n<pre><code>" + esc(o.command) + "</code></pre>\n";

  h += "<h2>Findings</h2>\n<table "
       "class=\"findings\">\n<tr><th>Finding</th><th>Measured</th><th>Paper</th></tr>\n";
  for (const auto& r : analysis::FindingRows(a.findings))
    h += "<tr><td>" + InlineHtml(r.finding) + "</td><td>" + InlineHtml(r.measured) + "</td><td>" +
         esc(r.paper) + "</td></tr>\n";
  h += "</table>\n<ol class=\"footnotes\">\n";
  const auto notes = analysis::FindingFootnotes();
  for (size_t i = 0; i < notes.size(); ++i)
    h += fmt::format("<li id=\"fn{}\">{}</li>\n", i + 1, InlineHtml(notes[i]));
  h += "</ol>\n";
  if (!a.notes.empty()) {
    h += "<ul class=\"notes\">\n";
    for (const auto& n : a.notes) h += "<li>" + esc(n) + "</li>\n";
    h += "</ul>\n";
  }

  h += "<h2>Plots</h2>\n";
  const std::pair<const char*, const char*> figures[] = {
      {"pareto", "Accuracy against mean test-time tokens per query; one series per condition family."},
      {"scaling", "Accuracy against the number of sleep passes k, one series per test-time budget."},
      {"amortization", "Cost per query as more queries share one context."},
      {"predictability", "Gain from sleep-time compute by how predictable the query is from the context."}};
  for (const auto& [name, caption] : figures) {
    auto it = svgs.find(name);
    if (it == svgs.end()) continue;
    h += fmt::format("<figure id=\"{}\">\n", name) + it->second + "<figcaption>" + esc(caption) +
         "</figcaption>\n</figure>\n";
  }

  h += "<h2>Points</h2>\n<table class=\"points\">\n<tr>";
  for (const auto& c : PointHeader()) h += "<th>" + esc(c) + "</th>";
  h += "</tr>\n";
  for (const auto& r : PointRows(a)) {
    h += "<tr>";
    for (size_t i = 0; i < r.cells.size(); ++i)
      h += (i == 0 ? "<td>" : "<td class=\"num\">") + esc(r.cells[i]) + "</td>";
    h += "</tr>\n";
  }
  h += "</table>\n";
  h +=
      "<p class=\"meta\">Files next to this page: results.json (every number above), summary.md, the SVG/PNG "
      "plots; items.jsonl holds one record per answered query.</p>\n";
  h += "</body>\n</html>\n";
  return h;
}

}  // namespace

Status WriteReport(const std::vector<ItemRecord>& records, const ReportOptions& options,
                   const std::string& out_dir) {
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) return Status::IoError("cannot create report directory " + out_dir + ": " + ec.message());
  const fs::path dir(out_dir);
  const Analysis a = analysis::Analyze(records, options);

  std::map<std::string, std::string> svgs = {
      {"pareto", svg::RenderSvg(ParetoChart(a))},
      {"scaling", svg::RenderSvg(ScalingChart(a))},
      {"amortization", svg::RenderSvg(AmortizationChart(a, options))},
      {"predictability", svg::RenderSvg(PredictabilityChart(a))},
  };
  std::vector<std::string> pngs;
  const std::string rsvg = FindOnPath("rsvg-convert");
  for (const auto& [name, text] : svgs) {
    const fs::path svg_path = dir / (name + ".svg");
    ST_RETURN_IF_ERROR(WriteFileAtomic(svg_path, text));
    if (rsvg.empty()) continue;
    const fs::path png = dir / (name + ".png");
    const fs::path tmp = dir / (name + ".png.tmp");
    if (ConvertToPng(rsvg, svg_path, tmp)) {
      fs::rename(tmp, png, ec);
      if (!ec) pngs.push_back(png.filename().string());
    } else {
      fs::remove(tmp, ec);
    }
  }
  ST_RETURN_IF_ERROR(WriteFileAtomic(dir / "results.json",
                                     ResultsJson(a, options, records.size(), pngs)
                                         .dump(2, ' ', false, ordered_json::error_handler_t::replace)));
  ST_RETURN_IF_ERROR(WriteFileAtomic(dir / "summary.md", SummaryMarkdown(a, options, records.size())));
  ST_RETURN_IF_ERROR(WriteFileAtomic(dir / "report.html", ReportHtml(a, options, records.size(), svgs)));
  return Status::Ok();
}

}  // namespace sleeptime::eval
