// Budget forcing in the engine, against a scripted stand-in for a model so the
// reasoning text (and whether it reaches the answer marker) is under the
// test's control. One character = one token.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "sleeptime/engine.h"
#include "support/test_model.h"

namespace fs = std::filesystem;
using namespace sleeptime;

namespace {

class ScriptedBackend : public Backend {
 public:
  std::string reasoning;  // what the "model" writes after a question
  std::string answer;     // what it writes after the answer marker
  std::string marker = " answer: ";
  bool names_stop = true;  // false: like llama-server, which does not say which stop string it hit
  int calls = 0;
  std::map<std::string, std::string> metadata;

  const std::string& ModelFingerprint() const override { return fingerprint_; }
  std::string ModelDescription() const override { return "scripted"; }
  int ContextWindow() const override { return 100000; }
  std::optional<std::string> ModelMetadata(const std::string& key) const override {
    auto it = metadata.find(key);
    if (it == metadata.end()) return std::nullopt;
    return it->second;
  }
  Result<std::vector<Token>> Tokenize(std::string_view text, bool) const override {
    return std::vector<Token>(text.begin(), text.end());
  }
  Result<int64_t> CountTokens(const Prompt& p) const override {
    return static_cast<int64_t>(p.prefix.size() + p.suffix.size());
  }
  std::string Detokenize(const std::vector<Token>& t) const override {
    return std::string(t.begin(), t.end());
  }
  Result<Prompt> RenderChat(const std::vector<ChatMessage>&) const override {
    return Status::NotFound("none");
  }
  bool HasChatTemplate() const override { return false; }
  Result<PrefixStateInfo> SavePrefix(std::string_view) override { return PrefixStateInfo{}; }
  Result<Logits> NextTokenLogits(const Prompt&, bool) override { return Status::Internal("unused"); }

  Result<Generation> Generate(const Prompt& prompt, const GenerateOptions& options) override {
    ++calls;
    bool after_marker =
        prompt.suffix.size() >= marker.size() &&
        prompt.suffix.compare(prompt.suffix.size() - marker.size(), marker.size(), marker) == 0;
    Generation g = Write(after_marker ? answer : reasoning, options);
    g.usage.prompt_tokens = static_cast<int64_t>(prompt.prefix.size() + prompt.suffix.size());
    if (options.on_text) options.on_text(g.text);  // streamed in one piece
    return g;
  }

 private:
  Generation Write(const std::string& script, const GenerateOptions& options) const {
    Generation g;
    g.finish = FinishReason::kLength;
    for (char c : script) {
      if (g.usage.completion_tokens == options.max_tokens) return g;
      g.text += c;
      ++g.usage.completion_tokens;
      for (const auto& s : options.stop) {
        if (g.text.size() >= s.size() && g.text.compare(g.text.size() - s.size(), s.size(), s) == 0) {
          g.text.resize(g.text.size() - s.size());
          g.finish = FinishReason::kStop;
          if (names_stop) g.stop_matched = s;
          return g;
        }
      }
    }
    if (g.usage.completion_tokens < options.max_tokens) g.finish = FinishReason::kEndOfText;
    return g;
  }

 private:
  std::string fingerprint_ = std::string(64, 'f');
};

class EngineForcingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("forcing");
    auto store = Store::Open(dir_ + "/db");
    ASSERT_TRUE(store.ok());
    store_ = std::move(store).value();
    ASSERT_TRUE(store_->PutContext("c", "Ann has 12 apples. Bob has 5 more than Ann.").ok());
    templates_ = DefaultPromptTemplates();
    templates_.force_answer = " answer: ";
    templates_.stop = {"\n"};
  }
  void TearDown() override { fs::remove_all(dir_); }

  Result<AskResult> Ask(int budget, EngineOptions options = {}) {
    Engine engine(&backend_, store_.get(), templates_, options);
    AskOptions o;
    o.budget = budget;
    return engine.Ask("c", "How many does Bob have?", o);
  }

  std::string dir_;
  std::unique_ptr<Store> store_;
  PromptTemplates templates_;
  ScriptedBackend backend_;
};

// Also when a remote server cuts the marker off without naming it (names_stop
// false, as llama-server does): the answer still follows, as in process.
TEST_F(EngineForcingTest, ModelsOwnMarkerIsNotWrittenTwice) {
  backend_.reasoning = " Bob=Ann+5=12+5=17. answer: 17\n";
  backend_.answer = "17\n";
  for (bool names_stop : {true, false}) {
    backend_.names_stop = names_stop;
    backend_.calls = 0;
    auto r = Ask(100);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_FALSE(r->forced);
    EXPECT_EQ(r->answer, " Bob=Ann+5=12+5=17. answer: 17") << names_stop;
    EXPECT_EQ(backend_.calls, 2);
    // Tokens generated: the reasoning up to and including the model's " answer:",
    // then "17" and the newline.
    EXPECT_EQ(r->usage.completion_tokens,
              static_cast<int64_t>(std::string(" Bob=Ann+5=12+5=17. answer:").size() + 3));
  }
}

TEST_F(EngineForcingTest, ReasoningCutAtBudgetThenAnswerForcedWithinIt) {
  backend_.reasoning = std::string(500, 'x');
  backend_.answer = "17\n";
  for (int budget : {1, 2, 5, 9, 20, 64}) {
    auto r = Ask(budget);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->forced) << budget;
    EXPECT_LE(r->usage.completion_tokens, budget) << budget;
    EXPECT_NE(r->answer.find(" answer: "), std::string::npos);
    if (budget >= 6) {
      EXPECT_EQ(r->answer.substr(r->answer.size() - 2), "17") << budget;
    }
  }
}

// Cut while writing the marker: the marker is completed, not written again
// after the fragment ("answe answer: "), also in what is streamed.
TEST_F(EngineForcingTest, MarkerCutHalfwayIsCompleted) {
  backend_.reasoning = " Bob=17. answer: 17\n";
  backend_.answer = "17\n";
  std::string streamed;
  Engine engine(&backend_, store_.get(), templates_);
  AskOptions o;
  o.budget = 22;  // 8 kept for the answer: the reasoning stops after " Bob=17. answe"
  o.on_text = [&](std::string_view s) { streamed += s; };
  auto r = engine.Ask("c", "How many does Bob have?", o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->forced);
  EXPECT_EQ(r->answer, " Bob=17. answer: 17");
  EXPECT_EQ(streamed, r->answer);
  EXPECT_LE(r->usage.completion_tokens, 22);
}

TEST_F(EngineForcingTest, AnAnswerWithinBudgetIsNotForced) {
  backend_.reasoning = " 17\n";
  auto r = Ask(10);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->forced);
  EXPECT_EQ(r->answer, " 17");
  EXPECT_EQ(backend_.calls, 1);
}

}  // namespace

// The reserve for the forced answer: the option when set, else what the
// model's metadata says its answers take, else the default. Reasoning gets
// the rest of the budget.
TEST_F(EngineForcingTest, AnswerReserveFromOptionThenModelThenDefault) {
  backend_.reasoning = std::string(500, 'x');
  backend_.answer = "17\n";
  auto reasoning_tokens = [](const AskResult& r) { return static_cast<int>(r.answer.find(" answer: ")); };
  auto r = Ask(18);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(reasoning_tokens(*r), 18 - kDefaultAnswerReserve);
  backend_.metadata[kAnswerReserveKey] = "4";
  r = Ask(18);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(reasoning_tokens(*r), 14);
  EXPECT_EQ(r->answer.substr(r->answer.size() - 2), "17");
  EXPECT_LE(r->usage.completion_tokens, 18);
  r = Ask(18, EngineOptions{.answer_reserve = 6});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(reasoning_tokens(*r), 12);
  for (const char* malformed : {"", "four", "-3", "0", "4x"}) {
    backend_.metadata[kAnswerReserveKey] = malformed;
    Engine engine(&backend_, store_.get(), templates_);
    EXPECT_EQ(engine.answer_reserve(), kDefaultAnswerReserve) << malformed;
  }
}
