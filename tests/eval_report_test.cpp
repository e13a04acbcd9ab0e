// The eval report: items.jsonl records, the four findings on records whose
// answers are worked out by hand, and the files WriteReport leaves behind.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "eval/eval_analysis.h"
#include "eval/svg_plot.h"
#include "sleeptime/eval.h"

namespace sleeptime::eval {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------
// A minimal XML well-formedness check (no library needed): balanced tags,
// quoted attributes without duplicates, only the five predefined or numeric
// entities, one root element. Enough to catch an unescaped "&" or "<" in a
// label or a tag left open, which would make a browser refuse the SVG.
std::string XmlProblem(const std::string& s) {
  auto name_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ':' || c == '.';
  };
  auto entities_ok = [&](size_t from, size_t to) -> std::string {
    for (size_t i = from; i < to; ++i) {
      if (s[i] == '<') return "'<' in text at " + std::to_string(i);
      if (s[i] != '&') continue;
      const size_t semi = s.find(';', i);
      if (semi == std::string::npos || semi > to) return "unterminated entity at " + std::to_string(i);
      const std::string e = s.substr(i + 1, semi - i - 1);
      static const std::set<std::string> named = {"amp", "lt", "gt", "quot", "apos"};
      bool ok = named.count(e) > 0;
      if (!ok && e.size() > 1 && e[0] == '#') {
        ok = true;
        const bool hex = e[1] == 'x';
        for (size_t k = hex ? 2 : 1; k < e.size(); ++k)
          ok = ok && (hex ? std::isxdigit(static_cast<unsigned char>(e[k]))
                          : std::isdigit(static_cast<unsigned char>(e[k])));
      }
      if (!ok) return "bad entity &" + e + "; at " + std::to_string(i);
    }
    return "";
  };
  std::vector<std::string> stack;
  int roots = 0;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] != '<') {
      const size_t next = std::min(s.find('<', i), s.size());
      if (stack.empty() && s.find_first_not_of(" \t\r\n", i) < next) return "text outside the root element";
      if (auto p = entities_ok(i, next); !p.empty()) return p;
      i = next;
      continue;
    }
    if (s.compare(i, 2, "<?") == 0) {
      const size_t end = s.find("?>", i);
      if (end == std::string::npos) return "unterminated <?";
      i = end + 2;
      continue;
    }
    if (s.compare(i, 4, "<!--") == 0) {
      const size_t end = s.find("-->", i);
      if (end == std::string::npos) return "unterminated comment";
      i = end + 3;
      continue;
    }
    if (s.compare(i, 2, "<!") == 0) return "unexpected <! at " + std::to_string(i);
    const bool closing = s[i + 1] == '/';
    size_t j = i + (closing ? 2 : 1);
    const size_t name_start = j;
    while (j < s.size() && name_char(s[j])) ++j;
    const std::string name = s.substr(name_start, j - name_start);
    if (name.empty()) return "empty tag name at " + std::to_string(i);
    if (closing) {
      while (j < s.size() && std::isspace(static_cast<unsigned char>(s[j]))) ++j;
      if (j >= s.size() || s[j] != '>') return "bad closing tag " + name;
      if (stack.empty() || stack.back() != name)
        return "closing </" + name + "> does not match <" + (stack.empty() ? "" : stack.back()) + ">";
      stack.pop_back();
      if (stack.empty()) ++roots;
      i = j + 1;
      continue;
    }
    std::set<std::string> attrs;
    while (true) {
      while (j < s.size() && std::isspace(static_cast<unsigned char>(s[j]))) ++j;
      if (j >= s.size()) return "unterminated tag " + name;
      if (s.compare(j, 2, "/>") == 0) {
        if (stack.empty()) ++roots;
        i = j + 2;
        break;
      }
      if (s[j] == '>') {
        stack.push_back(name);
        i = j + 1;
        break;
      }
      const size_t a0 = j;
      while (j < s.size() && name_char(s[j])) ++j;
      const std::string attr = s.substr(a0, j - a0);
      if (attr.empty()) return "bad attribute in <" + name + "> at " + std::to_string(j);
      if (!attrs.insert(attr).second) return "duplicate attribute " + attr + " in <" + name + ">";
      if (j >= s.size() || s[j] != '=') return "attribute " + attr + " without value";
      ++j;
      if (j >= s.size() || (s[j] != '"' && s[j] != '\'')) return "unquoted attribute " + attr;
      const char q = s[j];
      const size_t end = s.find(q, j + 1);
      if (end == std::string::npos) return "unterminated attribute " + attr;
      if (auto p = entities_ok(j + 1, end); !p.empty()) return p + " (attribute " + attr + ")";
      j = end + 1;
    }
  }
  if (!stack.empty()) return "unclosed <" + stack.back() + ">";
  if (roots != 1) return "expected one root element, got " + std::to_string(roots);
  return "";
}

TEST(XmlCheck, CatchesWhatItShould) {
  EXPECT_EQ(XmlProblem(R"(<svg a="1"><g><text>x &amp; y</text></g><rect/></svg>)"), "");
  EXPECT_NE(XmlProblem("<svg><g></svg>"), "");
  EXPECT_NE(XmlProblem("<svg><text>a & b</text></svg>"), "");
  EXPECT_NE(XmlProblem(R"(<svg a="1" a="2"></svg>)"), "");
  EXPECT_NE(XmlProblem("<svg></svg><svg></svg>"), "");
  EXPECT_NE(XmlProblem("<svg><text>1 < 2</text></svg>"), "");
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t Count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t i = hay.find(needle); i != std::string::npos; i = hay.find(needle, i + 1)) ++n;
  return n;
}

// ---------------------------------------------------------------------------
// Records

TEST(EvalRecord, RoundTripsEveryField) {
  ItemRecord r;
  r.condition = "sleep";
  r.k = 3;
  r.budget = 128;
  r.verbosity = 2;
  r.item_id = "heldout-\"7\"\n";
  r.query_index = 4;
  r.kind = "hypothetical";
  r.steps = 5;
  r.predictability = -1.2345678901234567;
  r.prompt_tokens = 4000000000LL;  // past 32 bits
  r.cached_tokens = 900;
  r.completion_tokens = 37;
  r.sleep_tokens = 512;
  r.queries_per_context = 6;
  r.correct = true;
  r.kv_restored = true;
  r.anticipated = true;
  r.latency_ms = 12.5;
  r.ttft_ms = 3.25;
  r.answer = "45 — é";
  const std::string line = ToJsonLine(r);
  EXPECT_EQ(line.find('\n'), std::string::npos) << "one record must stay on one line";
  auto back = FromJsonLine(line);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->condition, r.condition);
  EXPECT_EQ(back->k, r.k);
  EXPECT_EQ(back->budget, r.budget);
  EXPECT_EQ(back->verbosity, r.verbosity);
  EXPECT_EQ(back->item_id, r.item_id);
  EXPECT_EQ(back->query_index, r.query_index);
  EXPECT_EQ(back->kind, r.kind);
  EXPECT_EQ(back->steps, r.steps);
  EXPECT_EQ(back->predictability, r.predictability);  // exact: JSON doubles round-trip
  EXPECT_EQ(back->prompt_tokens, r.prompt_tokens);
  EXPECT_EQ(back->cached_tokens, r.cached_tokens);
  EXPECT_EQ(back->completion_tokens, r.completion_tokens);
  EXPECT_EQ(back->sleep_tokens, r.sleep_tokens);
  EXPECT_EQ(back->queries_per_context, r.queries_per_context);
  EXPECT_EQ(back->correct, r.correct);
  EXPECT_EQ(back->kv_restored, r.kv_restored);
  EXPECT_EQ(back->anticipated, r.anticipated);
  EXPECT_EQ(back->latency_ms, r.latency_ms);
  EXPECT_EQ(back->ttft_ms, r.ttft_ms);
  EXPECT_EQ(back->answer, r.answer);
}

TEST(EvalRecord, NanPredictabilityIsNullAndBack) {
  ItemRecord r;
  r.condition = "baseline";
  r.item_id = "a";
  const std::string line = ToJsonLine(r);
  EXPECT_NE(line.find("\"predictability\":null"), std::string::npos) << line;
  auto back = FromJsonLine(line);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_TRUE(std::isnan(back->predictability));
}

TEST(EvalRecord, InvalidUtf8AnswerStillWritesValidJson) {
  ItemRecord r;
  r.condition = "baseline";
  r.item_id = "a";
  r.answer = "4\xE2\x82";  // a code point cut by a token boundary
  auto back = FromJsonLine(ToJsonLine(r));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->answer.substr(0, 1), "4");
}

TEST(EvalRecord, IgnoresUnknownFieldsAndDefaultsTelemetry) {
  auto r = FromJsonLine(
      R"({"condition":"passk","k":4,"budget":64,"item_id":"x","query_index":1,"correct":false,"future":{"a":1}})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->condition, "passk");
  EXPECT_EQ(r->k, 4);
  EXPECT_EQ(r->completion_tokens, 0);
  EXPECT_TRUE(std::isnan(r->predictability));
}

TEST(EvalRecord, MalformedLinesAreInvalidArgumentWithTheReason) {
  // Every case but the first four is valid JSON with one field wrong or missing.
  const std::string p = R"({"condition":"baseline","k":0,"item_id":"x","query_index":0,)";
  struct Case {
    std::string line;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"", "empty"},
      {"{\"condition\":", "not valid JSON"},
      {"[1,2]", "object"},
      {R"({"k":0,"budget":1,"item_id":"x","query_index":0,"correct":true})", "\"condition\""},
      {p + R"("budget":64,"correct":"yes"})", "\"correct\""},
      {p + R"("budget":64,"correct":true,"completion_tokens":1.5})", "\"completion_tokens\""},
      {p + R"("budget":99999999999,"correct":true})", "\"budget\""},
      {p + R"("budget":64,"correct":true,"predictability":"high"})", "\"predictability\""},
      {p + R"("budget":64})", "\"correct\""},
      {p + R"("correct":true})", "\"budget\""},
  };
  for (const auto& c : cases) {
    auto r = FromJsonLine(c.line);
    ASSERT_FALSE(r.ok()) << c.line;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.line;
    EXPECT_NE(r.status().message().find(c.says), std::string::npos)
        << "line: " << c.line << "\nmessage: " << r.status().message();
  }
}

// ---------------------------------------------------------------------------
// Findings on hand-made records
//
// 10 items × 2 queries = 20 queries; query i (0..19) has predictability
// -2.0 + 0.1 i, so quintile q holds queries 4q..4q+3. Each point answers all
// 20 queries with a fixed token count and a chosen number of correct answers
// per quintile (the first c queries of the quintile are correct).
struct PointSpec {
  std::string condition;
  int k;
  int budget;
  int64_t tokens;
  std::array<int, 5> correct_per_quintile;
  bool sleep = false;  // sleep tokens: 200 on even items, 400 on odd (mean over items: 300)
};

std::vector<ItemRecord> MakeRecords(const std::vector<PointSpec>& specs, bool with_predictability = true) {
  static const char* kinds[] = {"value", "combination", "hypothetical"};
  std::vector<ItemRecord> out;
  for (const auto& spec : specs) {
    for (int i = 0; i < 20; ++i) {
      ItemRecord r;
      r.condition = spec.condition;
      r.k = spec.k;
      r.budget = spec.budget;
      r.item_id = "item-" + std::to_string(i / 2);
      r.query_index = i % 2;
      r.kind = kinds[i % 3];
      r.predictability = with_predictability ? -2.0 + 0.1 * i : std::numeric_limits<double>::quiet_NaN();
      r.completion_tokens = spec.tokens;
      r.sleep_tokens = spec.sleep ? ((i / 2) % 2 == 0 ? 200 : 400) : 0;
      r.queries_per_context = 2;
      r.correct = (i % 4) < spec.correct_per_quintile[i / 4];
      r.latency_ms = 10;
      r.ttft_ms = 2;
      r.answer = "1";
      out.push_back(r);
    }
  }
  return out;
}

// baseline: 50% at 25 tokens, 80% at 100, 80% at 180 (dominated).
// sleep k=1: 80% at 20 tokens (budget 25), 90% at 60 (budget 100).
// sleep k=3: 90% at 22 (budget 25), 95% at 60 (budget 100).
std::vector<PointSpec> Specs() {
  return {
      {"baseline", 0, 25, 25, {2, 2, 2, 2, 2}},     {"baseline", 0, 100, 100, {4, 3, 3, 3, 3}},
      {"baseline", 0, 200, 180, {4, 3, 3, 3, 3}},   {"sleep", 1, 25, 20, {2, 3, 3, 4, 4}, true},
      {"sleep", 1, 100, 60, {3, 3, 4, 4, 4}, true}, {"sleep", 3, 25, 22, {3, 4, 3, 4, 4}, true},
      {"sleep", 3, 100, 60, {4, 3, 4, 4, 4}, true}, {"passk", 4, 25, 100, {2, 3, 3, 3, 3}},
  };
}

TEST(EvalFindings, MatchesHandComputedAnswers) {
  ReportOptions o;  // t = 10
  const Findings f = ComputeFindings(MakeRecords(Specs()), o);
  // Token ratio: A* = 0.8 first reached at 100 tokens; sleep k=1 gets 0.8 at 20.
  EXPECT_DOUBLE_EQ(f.baseline_best_accuracy, 0.8);
  EXPECT_DOUBLE_EQ(f.baseline_tokens_at_best, 100);
  EXPECT_DOUBLE_EQ(f.sleep_tokens_to_match, 20);
  EXPECT_DOUBLE_EQ(f.token_ratio, 5.0);
  // Scaling: budget 25: 0.9 - 0.8 = 0.10; budget 100: 0.95 - 0.90 = 0.05.
  EXPECT_NEAR(f.sleep_scaling_gain, 0.10, 1e-12);
  EXPECT_EQ(f.sleep_scaling_budget, 25);
  // Amortization at N = 10 (sleep k=1 budget 25 vs baseline budget 100):
  // baseline 10 × 100 = 1000; sleep 300 / 10 + 10 × 20 = 230.
  EXPECT_NEAR(f.amortization_ratio_at_10, 1000.0 / 230.0, 1e-12);
  // Predictability (sleep k=1 vs baseline, budgets 25 and 100 pooled, 8
  // records per side per quintile): Q1 sleep 2+3, baseline 2+4 -> -1/8;
  // Q5 sleep 4+4, baseline 2+3 -> +3/8.
  EXPECT_NEAR(f.predictability_gain_low, -0.125, 1e-12);
  EXPECT_NEAR(f.predictability_gain_high, 0.375, 1e-12);
}

// n records of one point with `correct` of them right.
void AddPoint(std::vector<ItemRecord>* out, const std::string& condition, int k, int budget, int n,
              int correct, int64_t tokens) {
  for (int i = 0; i < n; ++i) {
    ItemRecord r;
    r.condition = condition;
    r.k = k;
    r.budget = budget;
    r.item_id = "item-" + std::to_string(i);
    r.correct = i < correct;
    r.completion_tokens = tokens;
    out->push_back(r);
  }
}

TEST(EvalFindings, TokenRatioMatchesWithinOnePercentagePoint) {
  // Baseline: 80.0% at 100 tokens, 80.5% at 200. Sleep: 79.5% at 20.
  // Within one point, 100 tokens already give the baseline's best, and the
  // sleep point counts as reaching it: 100 / 20.
  std::vector<ItemRecord> records;
  AddPoint(&records, "baseline", 0, 100, 200, 160, 100);
  AddPoint(&records, "baseline", 0, 200, 200, 161, 200);
  AddPoint(&records, "sleep", 1, 100, 200, 159, 20);
  AddPoint(&records, "sleep", 1, 200, 200, 157, 10);  // 78.5%: cheaper but short of A* - 1 pt
  const Findings f = ComputeFindings(records, ReportOptions{});
  EXPECT_DOUBLE_EQ(f.baseline_best_accuracy, 0.805);
  EXPECT_DOUBLE_EQ(f.baseline_tokens_at_best, 100);
  EXPECT_DOUBLE_EQ(f.sleep_tokens_to_match, 20);
  EXPECT_DOUBLE_EQ(f.token_ratio, 5.0);
}

TEST(EvalFindings, AnalysisDetails) {
  ReportOptions o;
  o.queries_per_context = {1, 10};
  const auto a = analysis::Analyze(MakeRecords(Specs()), o);
  ASSERT_EQ(a.points.size(), 8u);
  EXPECT_EQ(a.points[0].family, "baseline");
  EXPECT_EQ(a.points[3].family, "sleep k=1");
  EXPECT_EQ(a.points[7].family, "passk");
  EXPECT_DOUBLE_EQ(a.points[3].sleep_tokens_per_context, 300);
  EXPECT_DOUBLE_EQ(a.points[0].sleep_tokens_per_context, 0);
  // The baseline frontier drops the 180-token point (no better than 100 tokens).
  ASSERT_EQ(a.families[0].name, "baseline");
  EXPECT_EQ(a.families[0].frontier, (std::vector<size_t>{0, 1}));
  EXPECT_FALSE(a.points[2].on_frontier);
  // Amortization curve at N = 1: sleep 300 + 200 = 500 vs baseline 1000.
  ASSERT_EQ(a.amortization.size(), 2u);
  EXPECT_DOUBLE_EQ(a.amortization[0].sleep_cost, 500);
  EXPECT_DOUBLE_EQ(a.amortization[0].baseline_cost, 1000);
  EXPECT_DOUBLE_EQ(a.amortization[0].ratio, 2.0);
  ASSERT_EQ(a.quintiles.size(), 5u);
  for (const auto& q : a.quintiles) EXPECT_EQ(q.queries, 4u);
  EXPECT_NEAR(a.quintiles[0].predictability_lo, -2.0, 1e-12);
  EXPECT_NEAR(a.quintiles[4].predictability_hi, -0.1, 1e-12);
  EXPECT_EQ(a.predictability_k, 1);
  // By kind, in the order value, combination, hypothetical.
  ASSERT_EQ(a.by_kind.size(), 3u);
  EXPECT_EQ(a.by_kind[0].kind, "value");
  EXPECT_EQ(a.by_kind[2].kind, "hypothetical");
}

TEST(EvalFindings, UnreachedMissingAndUnavailableAreNaNAndSaidSo) {
  // Sleep never reaches the baseline's 80%: no token ratio, the most
  // accurate sleep point (70%) is compared with the cheapest baseline at 70%+.
  std::vector<PointSpec> specs = {
      {"baseline", 0, 100, 100, {4, 4, 3, 3, 2}},    // 80%
      {"sleep", 1, 100, 30, {3, 3, 3, 3, 2}, true},  // 70%
      {"sleep", 2, 100, 40, {3, 3, 3, 3, 2}, true},  // 70%, dearer: not chosen
  };
  const Findings f = ComputeFindings(MakeRecords(specs, /*with_predictability=*/false), ReportOptions{});
  EXPECT_DOUBLE_EQ(f.baseline_best_accuracy, 0.8);
  EXPECT_TRUE(std::isnan(f.sleep_tokens_to_match));
  EXPECT_TRUE(std::isnan(f.token_ratio));
  EXPECT_NEAR(f.sleep_scaling_gain, 0.0, 1e-12);
  // 1000 / (300 / 10 + 10 × 30) = 1000 / 330.
  EXPECT_NEAR(f.amortization_ratio_at_10, 1000.0 / 330.0, 1e-12);
  EXPECT_TRUE(std::isnan(f.predictability_gain_low));
  EXPECT_TRUE(std::isnan(f.predictability_gain_high));
  const std::string table = FindingsTable(f);
  EXPECT_NE(table.find("not reached"), std::string::npos) << table;
  EXPECT_NE(table.find("unavailable"), std::string::npos) << table;

  const Findings none = ComputeFindings({}, ReportOptions{});
  EXPECT_TRUE(std::isnan(none.baseline_best_accuracy));
  EXPECT_TRUE(std::isnan(none.sleep_scaling_gain));
  EXPECT_TRUE(std::isnan(none.amortization_ratio_at_10));
  EXPECT_NE(FindingsTable(none).find("no baseline records"), std::string::npos);
}

TEST(EvalFindings, TableShowsTheNumbersAndDefinitions) {
  const std::string t = FindingsTable(ComputeFindings(MakeRecords(Specs()), ReportOptions{}));
  EXPECT_NE(t.find("| Finding | Measured | Paper |"), std::string::npos) << t;
  EXPECT_NE(t.find("5.00×"), std::string::npos) << t;
  EXPECT_NE(t.find("+10.0 pts"), std::string::npos) << t;
  EXPECT_NE(t.find("4.35×"), std::string::npos) << t;
  EXPECT_NE(t.find("-12.5 pts"), std::string::npos) << t;
  EXPECT_NE(t.find("+37.5 pts"), std::string::npos) << t;
  for (int i = 1; i <= 4; ++i) EXPECT_NE(t.find("[^" + std::to_string(i) + "]: "), std::string::npos) << t;
}

// ---------------------------------------------------------------------------
// Plot helpers

TEST(SvgPlot, TicksAreRoundNumbers) {
  EXPECT_EQ(svg::NiceLinearTicks(0, 97, 6), (std::vector<double>{0, 20, 40, 60, 80, 100}));
  EXPECT_EQ(svg::LogTicks(10, 1000), (std::vector<double>{10, 20, 50, 100, 200, 500, 1000}));
  EXPECT_EQ(svg::FormatTick(0.1 + 0.2), "0.3");
  EXPECT_EQ(svg::FormatTick(20000), "20k");
  EXPECT_EQ(svg::FormatTick(2.5), "2.5");
  EXPECT_EQ(svg::FormatTick(-0.0), "0");
  EXPECT_EQ(svg::XmlEscape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
}

TEST(SvgPlot, ChartIsWellFormedWithLabelsAndLegend) {
  svg::Chart c;
  c.title = "Tokens & <accuracy>";
  c.x_label = "tokens per query";
  c.y_label = "accuracy (%)";
  c.log_x = true;
  c.series.push_back({"A & B", {10, 100, 1000}, {50, 60, 70}, {}, true, false, "", std::nullopt});
  c.series.push_back({"zero skipped", {0, 50}, {10, std::nan("")}, {}, true, false, "", std::nullopt});
  const std::string s = svg::RenderSvg(c);
  EXPECT_EQ(XmlProblem(s), "") << s;
  EXPECT_NE(s.find("Tokens &amp; &lt;accuracy&gt;"), std::string::npos);
  EXPECT_NE(s.find(">A &amp; B<"), std::string::npos);
  EXPECT_NE(s.find(">tokens per query<"), std::string::npos);
  EXPECT_EQ(s.find("nan"), std::string::npos) << "a NaN coordinate leaked into the SVG";
  EXPECT_EQ(s.find("inf"), std::string::npos) << "an infinite coordinate leaked into the SVG";
}

// ---------------------------------------------------------------------------
// WriteReport

class ReportDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sleeptime-eval-report-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override {
    // SLEEPTIME_KEEP_REPORT=1 keeps the files to look at.
    if (std::getenv("SLEEPTIME_KEEP_REPORT") == nullptr) fs::remove_all(dir_);
  }
  fs::path dir_;
};

bool RsvgOnPath() {
  return std::system("command -v rsvg-convert >/dev/null 2>&1") == 0;
}

TEST_F(ReportDir, WritesEveryFileReadably) {
  ReportOptions o;
  o.title = "sleeptime eval (test)";
  o.model = "tiny-test.gguf";
  o.dataset = "synthetic held-out";
  o.command = "sleeptime eval --dataset synthetic --out report";
  const auto records = MakeRecords(Specs());
  ASSERT_TRUE(WriteReport(records, o, dir_.string()).ok());

  for (const char* f : {"results.json", "summary.md", "pareto.svg", "scaling.svg", "amortization.svg",
                        "predictability.svg", "report.html"})
    EXPECT_TRUE(fs::exists(dir_ / f)) << f;
  for (const auto& e : fs::directory_iterator(dir_))
    EXPECT_NE(e.path().extension(), ".tmp") << "temporary file left behind: " << e.path();
  if (RsvgOnPath()) {
    for (const char* f : {"pareto.png", "scaling.png", "amortization.png", "predictability.png"}) {
      ASSERT_TRUE(fs::exists(dir_ / f)) << f;
      EXPECT_EQ(ReadFile(dir_ / f).substr(1, 3), "PNG") << f;
    }
  }

  // The SVGs: well-formed, with their axis labels and legend entries.
  struct Expect {
    const char* file;
    std::vector<std::string> texts;
  };
  const std::vector<Expect> expects = {
      {"pareto.svg",
       {"mean test-time tokens per query", "accuracy (%)", ">baseline<", ">sleep k=1<", ">sleep k=3<",
        ">pass@k (oracle)<", "5.00× fewer"}},
      {"scaling.svg", {"sleep passes k", "accuracy (%)", ">budget 25<", ">budget 100<", "(baseline)"}},
      {"amortization.svg",
       {"queries per context N", "cost per query (sleep-token units)", "baseline (budget 100, 80.0%)",
        "sleep k=1 (budget 25, 80.0%)", "4.35×"}},
      {"predictability.svg",
       {"predictability quintile", "accuracy gain, sleep − baseline (points)", "Q1", "Q5"}},
  };
  std::string html = ReadFile(dir_ / "report.html");
  for (const auto& e : expects) {
    const std::string s = ReadFile(dir_ / e.file);
    EXPECT_EQ(XmlProblem(s), "") << e.file;
    for (const auto& t : e.texts) EXPECT_NE(s.find(t), std::string::npos) << e.file << " lacks " << t;
    // Inlined unchanged into the page.
    EXPECT_NE(html.find(s), std::string::npos) << e.file << " is not inlined in report.html";
  }

  // The page: four plots, the findings and points tables, the command.
  EXPECT_EQ(Count(html, "<svg "), 4u);
  for (const char* id : {"pareto", "scaling", "amortization", "predictability"})
    EXPECT_NE(html.find(std::string("<figure id=\"") + id + "\">"), std::string::npos) << id;
  EXPECT_NE(html.find("<table class=\"findings\">"), std::string::npos);
  EXPECT_NE(html.find("<table class=\"points\">"), std::string::npos);
  EXPECT_NE(html.find("<strong>5.00×</strong>"), std::string::npos);
  EXPECT_NE(html.find("sleeptime eval --dataset synthetic --out report"), std::string::npos);
  EXPECT_EQ(html.find("src=\"http"), std::string::npos) << "the page must be self-contained";
  EXPECT_EQ(Count(html, "<tr>"), 1u + 4u + 1u + 8u);  // findings header + rows, points header + rows

  // summary.md: title, model, dataset, command, the findings table, points.
  const std::string md = ReadFile(dir_ / "summary.md");
  const Findings f = ComputeFindings(records, o);
  EXPECT_NE(md.find(FindingsTable(f)), std::string::npos) << md;
  for (const std::string t :
       {"# sleeptime eval (test)", "tiny-test.gguf", "synthetic held-out",
        "sleeptime eval --dataset synthetic --out report", "| sleep | 3 | 100 | 0 | 20 |"})
    EXPECT_NE(md.find(t), std::string::npos) << "summary.md lacks " << t << "\n" << md;

  // results.json: the same numbers, NaN as null.
  const auto j = nlohmann::json::parse(ReadFile(dir_ / "results.json"));
  EXPECT_DOUBLE_EQ(j["findings"]["token_ratio"].get<double>(), 5.0);
  EXPECT_EQ(j["points"].size(), 8u);
  EXPECT_EQ(j["frontiers"]["baseline"], nlohmann::json::array({0, 1}));
  EXPECT_EQ(j["options"]["command"], o.command);
  EXPECT_EQ(j["amortization"]["curve"].size(), o.queries_per_context.size());
  EXPECT_EQ(j["predictability"]["quintiles"].size(), 5u);
  EXPECT_TRUE(j["points"][0]["mean_latency_ms"].is_number());
}

TEST_F(ReportDir, FallsBackToQueryKindWithoutPredictability) {
  ASSERT_TRUE(
      WriteReport(MakeRecords(Specs(), /*with_predictability=*/false), ReportOptions{}, dir_.string()).ok());
  const std::string s = ReadFile(dir_ / "predictability.svg");
  EXPECT_EQ(XmlProblem(s), "");
  EXPECT_NE(s.find("fallback"), std::string::npos) << s;
  const size_t v = s.find(">value<"), c = s.find(">combination<"), h = s.find(">hypothetical<");
  ASSERT_NE(v, std::string::npos) << s;
  ASSERT_NE(c, std::string::npos);
  ASSERT_NE(h, std::string::npos);
  EXPECT_LT(v, c);
  EXPECT_LT(c, h);
  const auto j = nlohmann::json::parse(ReadFile(dir_ / "results.json"));
  EXPECT_TRUE(j["findings"]["predictability_gain_low"].is_null());
  EXPECT_FALSE(j["predictability"]["available"].get<bool>());
}

TEST_F(ReportDir, EmptyRecordsStillGiveAValidReport) {
  ASSERT_TRUE(WriteReport({}, ReportOptions{}, dir_.string()).ok());
  for (const char* f : {"pareto.svg", "scaling.svg", "amortization.svg", "predictability.svg"})
    EXPECT_EQ(XmlProblem(ReadFile(dir_ / f)), "") << f;
  EXPECT_NE(ReadFile(dir_ / "pareto.svg").find("no records"), std::string::npos);
  const auto j = nlohmann::json::parse(ReadFile(dir_ / "results.json"));
  EXPECT_TRUE(j["findings"]["token_ratio"].is_null());
}

TEST_F(ReportDir, UnwritableDirectoryIsAnError) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "file") << "x";
  const Status s = WriteReport({}, ReportOptions{}, (dir_ / "file" / "sub").string());
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kIoError);
}

}  // namespace
}  // namespace sleeptime::eval
