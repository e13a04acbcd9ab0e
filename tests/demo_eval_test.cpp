// The demo-model evaluation: its prompts equal the language's own rendering,
// and a run on a random model produces a complete, consistent report.
#include "sleeptime/demo_eval.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "sleeptime/engine.h"
#include "sleeptime/llama_backend.h"
#include "sleeptime/reasoning_language.h"
#include "support/test_model.h"

namespace fs = std::filesystem;
using namespace sleeptime;

namespace {

// Render through the engine (templates) and through the language (the
// training data's own rendering): the model must see identical bytes.
TEST(DemoTemplates, EnginePromptsEqualTrainingPrompts) {
  std::string dir = MakeTempDir("demo-templates");
  auto store = Store::Open(dir + "/db");
  ASSERT_TRUE(store.ok());
  auto backend = OpenTestBackend(TinyModelPath(), "");
  ASSERT_NE(backend, nullptr);
  Engine engine(backend.get(), store->get(), lang::DemoPromptTemplates());
  for (uint64_t i = 0; i < 50; ++i) {
    auto p = lang::GenerateProblem(lang::SplitSeed(lang::Split::kHeldOut, i));
    Context c;
    c.id = "x";
    c.text = lang::RenderContext(p) + (i % 2 ? "\n" : "");  // as from a file
    LearnedContext lc;
    lc.text = lang::RenderNotes(p);
    for (const auto& q : p.queries) {
      auto plain = engine.AnswerPrompt(c, std::nullopt, q.text, 0);
      ASSERT_TRUE(plain.ok());
      EXPECT_EQ(plain->prefix + plain->suffix, lang::RenderAnswerPrompt(p, q));
      EXPECT_EQ(plain->prefix, lang::RenderAnswerPrefix(p));
      auto with_notes = engine.AnswerPrompt(c, lc, q.text, 0);
      ASSERT_TRUE(with_notes.ok());
      EXPECT_EQ(with_notes->prefix + with_notes->suffix, lang::RenderAnswerPrompt(p, q, &lc.text));
    }
    EXPECT_EQ(RenderTemplate(lang::DemoPromptTemplates().sleep, {{"context", lang::RenderContext(p)}}),
              lang::RenderSleepPrompt(p));
  }
  backend.reset();
  fs::remove_all(dir);
}

// A scratch folder and the tiny random-weight model, removed at the end.
class DemoEvalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("demo-eval");
    backend_ = OpenTestBackend(TinyModelPath(), dir_ + "/kv", 2048);
    ASSERT_NE(backend_, nullptr);
  }
  void TearDown() override {
    backend_.reset();
    fs::remove_all(dir_);
  }
  DemoEvalOptions Options(int problems, int unlimited_budget, int sleep_budget) const {
    DemoEvalOptions eo;
    eo.problems = problems;
    eo.unlimited_budget = unlimited_budget;
    eo.sleep_budget = sleep_budget;
    eo.samples_path = dir_ + "/samples.jsonl";
    return eo;
  }
  std::string dir_;
  std::unique_ptr<LlamaBackend> backend_;
};

TEST_F(DemoEvalTest, RunsEveryModeOnARandomModel) {
  DemoEvalOptions eo = Options(2, 30, 20);
  int progress_calls = 0;
  eo.on_progress = [&](const std::string&, int, int) { ++progress_calls; };
  auto r = RunDemoEval(backend_.get(), dir_, eo);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->reasoned.at(0).n, 8);
  EXPECT_EQ(r->direct.at(0).n, 8);
  EXPECT_EQ(r->notes.at(0).n, 8);
  EXPECT_EQ(progress_calls, 4);
  EXPECT_LE(r->reasoned.at(0).mean_tokens(), 30);
  EXPECT_EQ(r->notes_budget, std::max(1, static_cast<int>(r->reasoned.at(0).mean_tokens() * 0.2)));
  EXPECT_LE(r->notes.at(0).mean_tokens(), r->notes_budget);
  // The engine keeps up to 8 tokens (at most half) for the answer.
  EXPECT_EQ(r->notes_reasoning_budget, r->notes_budget - std::min(8, (r->notes_budget + 1) / 2));
  EXPECT_GT(r->notes_derived, 0);
  auto j = nlohmann::json::parse(r->ToJson());
  EXPECT_EQ(j["problems"], 2);
  EXPECT_EQ(j["notes_reasoning_budget"], r->notes_reasoning_budget);
  EXPECT_NE(r->ToMarkdown().find("| 1-3 |"), std::string::npos);
  EXPECT_TRUE(j["reasoned_lookups"].contains("written"));
  EXPECT_LE(r->lookups.correct, r->lookups.written);
  EXPECT_LE(r->lookups.source_right, r->lookups.defined);
  EXPECT_EQ(j["reasoned_computations"]["+"]["n"], r->computations.written[0]);
  EXPECT_LE(r->computations.all_correct(), r->computations.all_written());
  EXPECT_NE(r->ToMarkdown().find("Computations in the reasoned answers"), std::string::npos);
  // The reference reasoning from notes: every query counted once, under its kind.
  int64_t references = 0;
  for (const auto& [kind, fit] : r->notes_reference_by_kind) {
    references += fit.queries;
    EXPECT_GT(fit.tokens, 0) << kind;
    EXPECT_LE(fit.within_budget, fit.queries) << kind;
    EXPECT_EQ(j["notes_reference_by_kind"][kind]["n"], fit.queries);
  }
  EXPECT_EQ(references, 8);
  const auto& by_kind = r->notes_reference_by_kind;
  if (by_kind.count("value") && by_kind.count("hypothetical")) {
    // A value is read from the notes; a hypothetical walks and recomputes its path.
    auto mean = [](const DemoEvalReport::ReferenceFit& f) { return double(f.tokens) / f.queries; };
    EXPECT_LT(mean(by_kind.at("value")), mean(by_kind.at("hypothetical")));
  }
  EXPECT_NE(r->ToMarkdown().find("reasoning from complete notes"), std::string::npos);
  EXPECT_NE(r->ToMarkdown().find("95% intervals (Wilson score): reasoned 1-3 steps"), std::string::npos);
  EXPECT_LE(j["reasoned"]["all"]["accuracy_low95"].get<double>(),
            j["reasoned"]["all"]["accuracy"].get<double>());
  EXPECT_GE(j["reasoned"]["all"]["accuracy_high95"].get<double>(),
            j["reasoned"]["all"]["accuracy"].get<double>());
  // Every generation is in the samples file: 8 reasoned, 8 direct, 2 sleeps, 8 from notes.
  std::map<std::string, int> modes;
  std::ifstream samples(eo.samples_path);
  for (std::string line; std::getline(samples, line);) {
    auto s = nlohmann::json::parse(line);
    ++modes[s["mode"].get<std::string>()];
    EXPECT_TRUE(s.contains("text") && s.contains("gold") && s.contains("parsed")) << line;
  }
  EXPECT_EQ(modes, (std::map<std::string, int>{{"direct", 8}, {"notes", 8}, {"reasoned", 8}, {"sleep", 2}}));
}

// Sleep-time scaling in the acceptance run: k candidates per context, one
// kept by consensus, every candidate in the samples and its tokens counted.
TEST_F(DemoEvalTest, SleepPassesKeepOneCandidateByConsensus) {
  DemoEvalOptions eo = Options(1, 10, 12);
  auto one = RunDemoEval(backend_.get(), dir_, eo);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  eo.sleep_passes = 3;
  eo.samples_path = dir_ + "/samples3.jsonl";
  auto three = RunDemoEval(backend_.get(), dir_, eo);
  ASSERT_TRUE(three.ok()) << three.status().ToString();
  EXPECT_GT(three->sleep_tokens, one->sleep_tokens);
  EXPECT_LE(three->sleep_greedy_replaced, 1);
  auto j = nlohmann::json::parse(three->ToJson());
  EXPECT_EQ(j["sleep_passes"], 3);
  EXPECT_NE(three->ToMarkdown().find("3 notes candidates per context"), std::string::npos);
  EXPECT_EQ(one->ToMarkdown().find("notes candidates per context"), std::string::npos);
  std::map<std::string, int> modes;
  std::ifstream samples(eo.samples_path);
  for (std::string line; std::getline(samples, line);) ++modes[nlohmann::json::parse(line)["mode"]];
  EXPECT_EQ(modes["sleep"], 1);
  EXPECT_EQ(modes["sleep candidate"], 3);
  eo.sleep_passes = 0;
  EXPECT_EQ(RunDemoEval(backend_.get(), dir_, eo).status().code(), StatusCode::kInvalidArgument);
}

// One pass writes the greedy notes whatever --sleep-temperature says: the
// temperature only draws the samples a consensus weighs (a single sampled
// pass once stood in for the greedy notes of every acceptance run).
TEST_F(DemoEvalTest, OnePassWritesGreedyNotesAtAnyTemperature) {
  auto notes_at = [&](float temperature) {
    DemoEvalOptions eo = Options(2, 10, 24);
    eo.sleep_temperature = temperature;
    eo.samples_path = dir_ + "/samples-t" + std::to_string(temperature) + ".jsonl";
    auto r = RunDemoEval(backend_.get(), dir_, eo);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    std::vector<std::string> notes;
    std::ifstream samples(eo.samples_path);
    for (std::string line; std::getline(samples, line);) {
      auto s = nlohmann::json::parse(line);
      if (s["mode"] == "sleep") notes.push_back(s["text"]);
    }
    return notes;
  };
  const std::vector<std::string> greedy = notes_at(0.0f);
  ASSERT_EQ(greedy.size(), 2u);
  EXPECT_EQ(notes_at(1.5f), greedy);
}

// Published values of the 95% Wilson score interval.
TEST(WilsonInterval95, MatchesKnownIntervals) {
  struct Case {
    int64_t correct, n;
    double low, high, tolerance;
  };
  const Case cases[] = {
      {0, 10, 0.0, 0.2775, 5e-5},  // never 0 wide at the edges
      {10, 10, 0.7225, 1.0, 5e-5},    {50, 100, 0.4038, 0.5962, 5e-5},
      {76, 90, 0.7557, 0.9050, 5e-4},  // the point estimate 0.844 is not the center
      {0, 0, 0.0, 1.0, 0.0},           // no data: the whole range
  };
  for (const Case& c : cases) {
    const Interval i = WilsonInterval95(c.correct, c.n);
    EXPECT_NEAR(i.low, c.low, c.tolerance + 1e-12) << c.correct << "/" << c.n;
    EXPECT_NEAR(i.high, c.high, c.tolerance + 1e-12) << c.correct << "/" << c.n;
  }
}

}  // namespace
