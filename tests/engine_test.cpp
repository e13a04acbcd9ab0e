// Engine over the tiny random model and a real Store: sleep, ask, budgets,
// staleness and the cost accounting.
#include "sleeptime/engine.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "engine/consensus.h"
#include "sleeptime/llama_backend.h"
#include "support/test_model.h"

namespace fs = std::filesystem;
using namespace sleeptime;

namespace {

SleepOptions Sleeping(int budget, int passes = 1) {
  SleepOptions o;
  o.budget = budget;
  o.passes = passes;
  return o;
}

AskOptions Asking(int budget, bool use_learned = true) {
  AskOptions o;
  o.budget = budget;
  o.use_learned = use_learned;
  return o;
}

const char* kContext =
    "Ann has 12 apples. Cid has twice as many apples as Bob. Bob has 5 more apples than Ann.";

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("engine");
    auto store = Store::Open(dir_ + "/db.sqlite");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    backend_ = OpenTestBackend(TinyModelPath(), dir_ + "/kv", 2048);
    ASSERT_NE(backend_, nullptr);
    engine_ = std::make_unique<Engine>(backend_.get(), store_.get(), DefaultPromptTemplates());
    ASSERT_TRUE(store_->PutContext("apples", kContext).ok());
  }
  void TearDown() override {
    engine_.reset();
    backend_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  std::string dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<LlamaBackend> backend_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(EngineTest, SleepThenAskUsesLearnedContextAndItsKvState) {
  SleepOptions so;
  so.budget = 24;
  auto slept = engine_->Sleep("apples", so);
  ASSERT_TRUE(slept.ok()) << slept.status().ToString();
  EXPECT_EQ(slept->completion_tokens, slept->learned.sleep_completion_tokens);
  EXPECT_GT(slept->completion_tokens, 0);
  EXPECT_LE(slept->completion_tokens, 24);
  EXPECT_GT(slept->learned.kv_tokens, 0);
  EXPECT_GT(slept->learned.kv_bytes, 0);

  // A query after a restart of the slots must come from the saved state.
  backend_->EvictResidentPrefixes();
  AskOptions ao;
  ao.budget = 12;
  auto r = engine_->Ask("apples", "How many apples does Cid have?", ao);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->used_learned_context);
  EXPECT_EQ(r->prefix_source, PrefixSource::kMemory);

  // The query prefilled only its own tokens: everything but the suffix was cached.
  auto ctx = store_->GetContext("apples");
  auto prompt = engine_->AnswerPrompt(*ctx, slept->learned, "How many apples does Cid have?", 0);
  ASSERT_TRUE(prompt.ok());
  auto n_prefix = static_cast<int64_t>(backend_->Tokenize(prompt->prefix, true)->size());
  auto n_suffix = static_cast<int64_t>(backend_->Tokenize(prompt->suffix, false)->size());
  EXPECT_EQ(n_prefix, slept->learned.kv_tokens);
  EXPECT_EQ(r->usage.cached_tokens, n_prefix);
  EXPECT_EQ(r->usage.prompt_tokens - r->usage.cached_tokens, n_suffix);

  auto log = store_->Queries("apples");
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->size(), 1u);
  EXPECT_TRUE((*log)[0].used_learned_context);
  EXPECT_TRUE((*log)[0].used_kv_state);
  EXPECT_EQ((*log)[0].cached_tokens, n_prefix);
  EXPECT_EQ((*log)[0].completion_tokens, r->usage.completion_tokens);
}

TEST_F(EngineTest, BaselineIgnoresLearnedContext) {
  ASSERT_TRUE(engine_->Sleep("apples", Sleeping(8)).ok());
  AskOptions ao;
  ao.budget = 6;
  ao.use_learned = false;
  auto r = engine_->Ask("apples", "How many apples does Bob have?", ao);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->used_learned_context);
}

TEST_F(EngineTest, StaleLearnedContextIsNeverUsed) {
  ASSERT_TRUE(engine_->Sleep("apples", Sleeping(8)).ok());
  ASSERT_TRUE(store_->PutContext("apples", std::string(kContext) + " Dee has 3 apples.").ok());
  auto r = engine_->Ask("apples", "How many apples does Dee have?", Asking(6));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->used_learned_context);
  auto stats = engine_->Stats("apples");
  ASSERT_TRUE(stats.ok());
  EXPECT_FALSE(stats->has_learned_context);
  EXPECT_EQ(stats->version, 2);
}

TEST_F(EngineTest, BudgetIsAHardCapAndForcesAnAnswer) {
  for (int budget : {1, 2, 5, 20}) {
    auto r = engine_->Ask("apples", "How many apples does Cid have?", Asking(budget));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_LE(r->usage.completion_tokens, budget) << budget;
    if (r->forced) {
      EXPECT_NE(r->answer.find("The answer is"), std::string::npos);
    }
  }
  // A random model never writes the stop string in 5 tokens: the answer is forced.
  auto r = engine_->Ask("apples", "How many apples does Cid have?", Asking(5));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->forced);
}

TEST_F(EngineTest, StatsFollowThePapersCostModel) {
  auto slept = engine_->Sleep("apples", Sleeping(16));
  ASSERT_TRUE(slept.ok());
  int64_t with_sleep_tokens = 0;
  for (const char* q : {"How many apples does Ann have?", "How many apples does Cid have?"}) {
    auto r = engine_->Ask("apples", q, Asking(6));
    ASSERT_TRUE(r.ok());
    with_sleep_tokens += r->usage.completion_tokens;
  }
  auto base = engine_->Ask("apples", "How many apples does Bob have?", Asking(9, false));
  ASSERT_TRUE(base.ok());
  auto s = engine_->Stats("apples");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->queries_with_sleep, 2);
  EXPECT_EQ(s->queries_baseline, 1);
  EXPECT_EQ(s->sleep_tokens, slept->completion_tokens);
  double mean = static_cast<double>(with_sleep_tokens) / 2.0;
  EXPECT_DOUBLE_EQ(s->mean_test_tokens_with_sleep, mean);
  bool saw_ten = false;
  for (const auto& p : s->cost_curve) {
    EXPECT_DOUBLE_EQ(p.per_query_with_sleep,
                     static_cast<double>(s->sleep_tokens) / static_cast<double>(p.queries) + 10.0 * mean);
    EXPECT_DOUBLE_EQ(p.per_query_baseline, 10.0 * static_cast<double>(base->usage.completion_tokens));
    saw_ten |= p.queries == 10;
  }
  EXPECT_TRUE(saw_ten);
}

TEST_F(EngineTest, ContextLongerThanWindowSaysHowLong) {
  std::string big;
  for (int i = 0; i < 300; ++i) big += "Ann has 12 apples. ";
  ASSERT_TRUE(store_->PutContext("big", big).ok());
  auto r = engine_->Ask("big", "How many?", Asking(8));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(r.status().message().find("window is 2048"), std::string::npos) << r.status().message();
  auto s = engine_->Sleep("big", Sleeping(8));
  EXPECT_EQ(s.status().code(), StatusCode::kOutOfRange);
}

TEST_F(EngineTest, UnknownContextIsNotFound) {
  EXPECT_EQ(engine_->Ask("nope", "q", {}).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(engine_->Sleep("nope", {}).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(engine_->Stats("nope").status().code(), StatusCode::kNotFound);
}

TEST_F(EngineTest, SeveralPassesConcatenateNotes) {
  auto one = engine_->Sleep("apples", Sleeping(10, 1));
  auto three = engine_->Sleep("apples", Sleeping(10, 3));
  ASSERT_TRUE(one.ok() && three.ok());
  EXPECT_GT(three->completion_tokens, one->completion_tokens);
  EXPECT_GT(three->learned.text.size(), one->learned.text.size());
  auto current = store_->CurrentLearnedContext("apples", backend_->ModelFingerprint());
  ASSERT_TRUE(current.ok() && current->has_value());
  EXPECT_EQ((*current)->id, three->learned.id);
}

TEST_F(EngineTest, ParallelCandidatesEqualSequentialOnes) {
  auto wide = OpenTestBackend(TinyModelPath(), dir_ + "/kv-wide", 2048, 3);
  ASSERT_NE(wide, nullptr);
  Engine engine(wide.get(), store_.get(), DefaultPromptTemplates());
  SleepOptions so = Sleeping(12, 3);
  so.parallel = 1;
  auto one_at_a_time = engine.Sleep("apples", so);
  so.parallel = 3;
  auto at_once = engine.Sleep("apples", so);
  so.parallel = 0;
  auto automatic = engine.Sleep("apples", so);
  ASSERT_TRUE(one_at_a_time.ok() && at_once.ok() && automatic.ok());
  EXPECT_EQ(one_at_a_time->parallel, 1);
  EXPECT_EQ(at_once->parallel, 3);
  EXPECT_EQ(automatic->parallel, 3);  // the backend's slots
  // Candidate i samples with seed i + 1 wherever it runs: the same c′.
  EXPECT_EQ(at_once->learned.text, one_at_a_time->learned.text);
  EXPECT_EQ(at_once->completion_tokens, one_at_a_time->completion_tokens);
  EXPECT_EQ(automatic->learned.text, one_at_a_time->learned.text);
  so.parallel = -1;
  EXPECT_EQ(engine.Sleep("apples", so).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(EngineTest, MergeWritesOneNotesFromTheCandidates) {
  SleepOptions so = Sleeping(12, 2);
  auto concatenated = engine_->Sleep("apples", so);
  so.combine = CombineMode::kMerge;
  auto merged = engine_->Sleep("apples", so);
  ASSERT_TRUE(concatenated.ok() && merged.ok());
  EXPECT_FALSE(concatenated->merged);
  EXPECT_TRUE(merged->merged);
  // The same two candidates (same seeds), then one more generation of at
  // most the budget that read them; its text is the c′.
  EXPECT_GT(merged->completion_tokens, concatenated->completion_tokens);
  EXPECT_LE(merged->completion_tokens, concatenated->completion_tokens + 12);
  EXPECT_NE(merged->learned.text, concatenated->learned.text);
  EXPECT_NE(merged->learned.settings_json.find("\"combine\":\"merge\""), std::string::npos)
      << merged->learned.settings_json;
  // One candidate has nothing to merge.
  so.passes = 1;
  auto single = engine_->Sleep("apples", so);
  ASSERT_TRUE(single.ok());
  EXPECT_FALSE(single->merged);
}

TEST_F(EngineTest, ConsensusKeepsTheMostAgreedCandidateVerbatim) {
  SleepOptions so = Sleeping(12, 3);
  so.combine = CombineMode::kConsensus;
  auto r = engine_->Sleep("apples", so);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->candidates.size(), 3u);
  ASSERT_EQ(r->agreement.size(), 3u);
  ASSERT_GE(r->chosen, 0);
  ASSERT_LT(r->chosen, 3);
  EXPECT_EQ(r->learned.text, r->candidates[static_cast<size_t>(r->chosen)]);
  EXPECT_EQ(static_cast<size_t>(r->chosen), MostAgreedCandidate(r->candidates));
  EXPECT_NE(r->learned.settings_json.find("consensus (candidate " + std::to_string(r->chosen) + ")"),
            std::string::npos)
      << r->learned.settings_json;
  // Candidate 0 is the greedy notes: what one pass writes.
  so.passes = 1;
  auto greedy = engine_->Sleep("apples", so);
  ASSERT_TRUE(greedy.ok());
  EXPECT_EQ(r->candidates[0], greedy->learned.text);
  EXPECT_TRUE(greedy->candidates.empty());
  EXPECT_EQ(greedy->chosen, -1);
  // Every candidate's tokens are counted.
  EXPECT_GT(r->completion_tokens, greedy->completion_tokens);
}

TEST_F(EngineTest, AMergeThatDoesNotFitKeepsTheCandidatesJoined) {
  auto small = OpenTestBackend(TinyModelPath(), dir_ + "/kv-small", 640);
  ASSERT_NE(small, nullptr);
  Engine engine(small.get(), store_.get(), DefaultPromptTemplates());
  // The sleep prompt takes ~445 of the 640 tokens: a candidate fits, the
  // merge prompt (as long, plus the candidates) with its budget does not.
  SleepOptions so = Sleeping(150, 2);
  so.combine = CombineMode::kMerge;
  auto r = engine.Sleep("apples", so);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  if (r->completion_tokens < 2 * 30) GTEST_SKIP() << "the candidates ended early; the merge prompt fits";
  EXPECT_FALSE(r->merged);
  EXPECT_NE(r->learned.settings_json.find("did not fit"), std::string::npos) << r->learned.settings_json;
}

}  // namespace

namespace {

TEST_F(EngineTest, AutomaticBudgetsFitTheWindow) {
  auto small = OpenTestBackend(TinyModelPath(), dir_ + "/kv-small", 640);
  ASSERT_NE(small, nullptr);
  Engine engine(small.get(), store_.get(), DefaultPromptTemplates());
  auto slept = engine.Sleep("apples", SleepOptions{});
  ASSERT_TRUE(slept.ok()) << slept.status().ToString();
  auto ctx = store_->GetContext("apples");
  auto sleep_prompt = RenderTemplate(DefaultPromptTemplates().sleep, {{"context", ctx->text}});
  int64_t n = *small->CountTokens({"", sleep_prompt});
  EXPECT_LE(slept->completion_tokens, (640 - n) / 2);
  // The automatic test budget takes what the window leaves, at most 256.
  auto r = engine.Ask("apples", "How many?", AskOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->used_learned_context);
  EXPECT_LE(r->usage.completion_tokens, 256);
  EXPECT_LE(r->usage.prompt_tokens + r->usage.completion_tokens, 640);
  EXPECT_EQ(engine.Ask("apples", "How many?", Asking(-1)).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
