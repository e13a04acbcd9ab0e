// sleeptime eval: the dataset loaders and splitter, answer matching, and a
// small end-to-end run of the CLI on the tiny test model whose report is
// checked for structure (the numbers of a random model mean nothing).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "sleeptime/eval_runner.h"
#include "support/test_model.h"

namespace fs = std::filesystem;
using namespace sleeptime::eval;

namespace {

TEST(EvalDataset, SplitKeepsDecimalsAbbreviationsAndQueriesWithoutQuestionMark) {
  auto [c1, q1] =
      SplitContextQuery("Mr. Smith buys 3 pens at $0.75 each. He pays with $5. How much change does he get?");
  EXPECT_EQ(c1, "Mr. Smith buys 3 pens at $0.75 each. He pays with $5.");
  EXPECT_EQ(q1, "How much change does he get?");
  auto [c2, q2] = SplitContextQuery("Ann has 2.5 kg of flour. She uses 1.5 kg. Find the flour left.");
  EXPECT_EQ(c2, "Ann has 2.5 kg of flour. She uses 1.5 kg.");
  EXPECT_EQ(q2, "Find the flour left.");
  auto [c3, q3] = SplitContextQuery("Just one sentence?");
  EXPECT_EQ(c3, "");
  EXPECT_EQ(q3, "Just one sentence?");
}

TEST(EvalDataset, AnswersCompareNumerically) {
  EXPECT_TRUE(AnswersMatch("45.0", "45"));
  EXPECT_TRUE(AnswersMatch("1,234", "1234"));
  EXPECT_TRUE(AnswersMatch("$7", "7"));
  EXPECT_FALSE(AnswersMatch("44", "45"));
  EXPECT_FALSE(AnswersMatch("", "45"));
  EXPECT_EQ(ExtractAnswer("so 3+4=7. answer: 7"), "7");
  EXPECT_EQ(ExtractAnswer("the total is 12.50 dollars"), "12.50");
  EXPECT_EQ(ExtractAnswer("no number"), "");
  EXPECT_EQ(GoldOf("3 + 4 = 7\n#### 7"), "7");
}

TEST(EvalAnticipation, PairsAreReadInTheirCommonForms) {
  const std::string notes =
      "Ann has 12 apples, Bob 17.\n"
      "Q: How many apples do Ann and Bob have together?\n"
      "A: 12 + 17 = 29 apples.\n"
      "- **Question:** What is Bob's total after buying 3 more? **Answer:** 20\n"
      "2. Q: How much is left?\n"
      "Some line in between.\n"
      "A: $4.50\n"
      "Q: A question never answered\n";
  const auto pairs = AnticipatedPairs(notes);
  ASSERT_EQ(pairs.size(), 3u);
  EXPECT_EQ(pairs[0].first, "How many apples do Ann and Bob have together?");
  EXPECT_EQ(pairs[0].second, "12 + 17 = 29 apples.");
  EXPECT_EQ(pairs[1].first, "What is Bob's total after buying 3 more?");
  EXPECT_EQ(pairs[1].second, "20");
  EXPECT_EQ(pairs[2].second, "$4.50");
}

TEST(EvalAnticipation, OnlyTheSameQuestionIsAnsweredFromTheNotes) {
  const std::string notes =
      "Q: How many apples do Ann and Bob have together?\nA: 12 + 17 = 29 apples.\n"
      "Q: How many apples will Cid have after he buys 3 more?\nA: 40\n";
  // Reworded with the same meaning and numbers.
  EXPECT_EQ(AnticipatedAnswer("How many apples do Ann and Bob have together?", notes), "29");
  EXPECT_EQ(AnticipatedAnswer("how many apples does Cid have after he buys 3 more", notes), "40");
  // Another number, another person, another question: not anticipated.
  EXPECT_FALSE(AnticipatedAnswer("How many apples will Cid have after he buys 4 more?", notes));
  EXPECT_FALSE(AnticipatedAnswer("How many apples do Ann and Dee have together?", notes));
  EXPECT_FALSE(AnticipatedAnswer("What is the price of a pear?", notes));
  EXPECT_FALSE(AnticipatedAnswer("How many apples do Ann and Bob have together?", "no questions here"));
  // The demo language's anticipated sums and differences.
  EXPECT_EQ(AnticipatedAnswer("How many do B and C have together?", " B=A+5=12+5=17. B+C=17+34=51."), "51");
  EXPECT_FALSE(AnticipatedAnswer("How many do B and D have together?", " B+C=17+34=51."));
}

TEST(EvalDataset, SyntheticSuiteIsHeldOutAndLabelled) {
  auto items = SyntheticDataset(5);
  ASSERT_EQ(items.size(), 5u);
  for (const auto& it : items) {
    EXPECT_FALSE(it.context.empty());
    ASSERT_EQ(it.queries.size(), 4u);
    for (const auto& q : it.queries) {
      EXPECT_FALSE(q.kind.empty());
      EXPECT_GT(q.steps, 0);
      EXPECT_FALSE(q.gold.empty());
    }
  }
  EXPECT_EQ(SyntheticDataset(5)[3].context, items[3].context);  // deterministic
}

TEST(EvalDataset, LoadsThePaperFormats) {
  const std::string dir = MakeTempDir("eval-data");
  const std::string path = dir + "/mixed.jsonl";
  {
    std::ofstream f(path);
    f << R"({"stateful_gsm_symbolic_context": "Ann has 3 pens. Bob has 2 more.", "stateful_gsm_symbolic_question": "How many does Bob have?", "answer": "3 + 2 = 5\n#### 5"})"
      << "\n"
      << R"({"question": "A box holds 4.5 kg. Two boxes weigh how much", "answer": "#### 9.0"})"
      << "\n"
      << R"({"stateful_aime_context": "Let x = 3.", "stateful_aime_question": "Find x squared.", "answer": 9})"
      << "\n"
      << R"({"id": "mq", "context": "C has 1.", "queries": [{"question": "C?", "answer": "1"}, {"question": "C+1?", "answer": 2}]})"
      << "\n\n";
  }
  auto items = LoadDataset(path);
  ASSERT_TRUE(items.ok()) << items.status().ToString();
  ASSERT_EQ(items->size(), 4u);
  EXPECT_EQ((*items)[0].queries[0].gold, "5");
  EXPECT_EQ((*items)[1].context, "A box holds 4.5 kg.");
  EXPECT_EQ((*items)[1].queries[0].text, "Two boxes weigh how much");
  EXPECT_EQ((*items)[1].queries[0].gold, "9.0");
  EXPECT_EQ((*items)[2].queries[0].gold, "9");
  EXPECT_EQ((*items)[3].id, "mq");
  EXPECT_EQ((*items)[3].queries.size(), 2u);
  {
    std::ofstream f(dir + "/bad.jsonl");
    f << "{\"nothing\": 1}\n";
  }
  auto bad = LoadDataset(dir + "/bad.jsonl");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("bad.jsonl:1"), std::string::npos) << bad.status().message();
  EXPECT_EQ(LoadDataset(dir + "/missing.jsonl").status().code(), sleeptime::StatusCode::kNotFound);
  fs::remove_all(dir);
}

int RunCli(const std::string& args, std::string* out) {
  const std::string cmd = std::string("env -u SLEEPTIME_MODEL ") + SLEEPTIME_CLI_PATH +
                          " -t 1 -c 1024 --model " + TinyModelPath() + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out->append(buf.data(), n);
  const int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(EvalCli, SmallRunWritesACompleteReportAndResumes) {
  const std::string dir = MakeTempDir("eval-run");
  std::string out;
  const std::string args = "--data-dir " + dir +
                           "/data eval -n 2 --budgets 4,8 --k 1,2 --passk 2 --sleep-budget 8 -o " + dir +
                           "/report";
  ASSERT_EQ(RunCli(args, &out), 0) << out;
  EXPECT_NE(out.find("report.html"), std::string::npos) << out;
  for (const char* f : {"items.jsonl", "results.json", "summary.md", "pareto.svg", "scaling.svg",
                        "amortization.svg", "predictability.svg", "report.html"})
    EXPECT_TRUE(fs::exists(dir + "/report/" + f)) << f;
  // 2 contexts x 4 queries x 2 budgets x (baseline + k=1 + k=2 + pass@2).
  auto records = ReadRecords(dir + "/report/items.jsonl");
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 2u * 4 * 2 * 4);
  int sleep_records = 0, restored = 0, scored = 0;
  for (const auto& r : *records) {
    EXPECT_LE(r.completion_tokens, r.condition == "passk" ? 2 * r.budget : r.budget);
    if (r.condition == "sleep") {
      ++sleep_records;
      EXPECT_GT(r.sleep_tokens, 0);
      restored += r.kv_restored;
    }
    scored += std::isfinite(r.predictability);
  }
  EXPECT_EQ(sleep_records, 2 * 4 * 2 * 2);
  EXPECT_GT(restored, 0);                                // c′ prefixes come from saved KV states
  EXPECT_EQ(scored, static_cast<int>(records->size()));  // in-process: log P(q | c) is exact
  std::ifstream rj(dir + "/report/results.json");
  nlohmann::json results = nlohmann::json::parse(rj, nullptr, false);
  ASSERT_FALSE(results.is_discarded());
  EXPECT_TRUE(results.contains("findings"));

  // Several verbosities in one run, and merged candidates.
  const std::string dir2 = dir + "/verbosities";
  ASSERT_EQ(
      RunCli("--data-dir " + dir2 + "/data eval -n 1 --budgets 4 --k 2 --combine merge --verbosity 0,3 " +
                 "--sleep-budget 8 --no-predictability -o " + dir2 + "/report",
             &out),
      0)
      << out;
  auto by_verbosity = ReadRecords(dir2 + "/report/items.jsonl");
  ASSERT_TRUE(by_verbosity.ok());
  ASSERT_EQ(by_verbosity->size(), 1u * 4 * 2 * 2);  // 4 queries x 2 verbosities x (baseline + k=2)
  std::map<int, int> per_verbosity;
  for (const auto& r : *by_verbosity) ++per_verbosity[r.verbosity];
  EXPECT_EQ(per_verbosity, (std::map<int, int>{{0, 8}, {3, 8}}));

  // --resume with every context done adds nothing.
  std::string again;
  ASSERT_EQ(RunCli(args + " --resume", &again), 0) << again;
  EXPECT_EQ(ReadRecords(dir + "/report/items.jsonl")->size(), records->size());
  fs::remove_all(dir);
}

}  // namespace
