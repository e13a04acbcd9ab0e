// Models with a chat template: prompts go through the template, split so the
// context part stays a reusable KV prefix. Uses llama.cpp's phi-3 vocabulary
// (it carries a chat template) on random weights.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "sleeptime/engine.h"
#include "sleeptime/llama_backend.h"
#include "sleeptime/random_model.h"
#include "support/test_model.h"

namespace fs = std::filesystem;
using namespace sleeptime;

namespace {

class ChatTemplateTest : public ScratchBackendTest {
 protected:
  void SetUp() override {
    std::string vocab =
        std::string(SLEEPTIME_SOURCE_DIR) + "/third_party/llama.cpp/models/ggml-vocab-phi-3.gguf";
    if (!fs::exists(vocab)) GTEST_SKIP() << "no " << vocab << " (made by scripts/setup.sh)";
    dir_ = MakeTempDir("chat");
    RandomModelSpec spec;
    spec.n_embd = 32;
    spec.n_layer = 1;
    spec.n_head = 2;
    spec.n_head_kv = 2;
    spec.n_ff = 64;
    spec.vocab_from = vocab;
    ASSERT_TRUE(WriteRandomLlamaModel(spec, dir_ + "/phi3-random.gguf").ok());
    backend_ = OpenTestBackend(dir_ + "/phi3-random.gguf", dir_ + "/kv");
    ASSERT_NE(backend_, nullptr);
  }
};

TEST_F(ChatTemplateTest, RenderSplitsBeforeTheLastMessage) {
  ASSERT_TRUE(backend_->HasChatTemplate());
  auto p = backend_->RenderChat({{"system", "Ann has 12 apples."}, {"user", "How many?"}});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_NE(p->prefix.find("Ann has 12 apples."), std::string::npos);
  EXPECT_EQ(p->prefix.find("How many?"), std::string::npos);
  EXPECT_NE(p->suffix.find("How many?"), std::string::npos);
  // The prefix does not depend on the question, so its state is reusable.
  auto q = backend_->RenderChat({{"system", "Ann has 12 apples."}, {"user", "And Bob?"}});
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(p->prefix, q->prefix);
  EXPECT_NE(p->suffix, q->suffix);
}

TEST_F(ChatTemplateTest, EngineUsesTheTemplateAndReusesTheContextState) {
  auto store = Store::Open(dir_ + "/db.sqlite");
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->PutContext("c", "Ann has 12 apples. Bob has 5 more apples than Ann.").ok());
  Engine engine(backend_.get(), store->get(), DefaultPromptTemplates());
  SleepOptions so;
  so.budget = 8;
  auto slept = engine.Sleep("c", so);
  ASSERT_TRUE(slept.ok()) << slept.status().ToString();
  auto ctx = (*store)->GetContext("c");
  auto prompt = engine.AnswerPrompt(*ctx, slept->learned, "How many apples does Bob have?", 0);
  ASSERT_TRUE(prompt.ok());
  EXPECT_NE(prompt->suffix.find("<|user|>"), std::string::npos) << prompt->suffix;
  EXPECT_NE(prompt->prefix.find("Notes"), std::string::npos);

  backend_->EvictResidentPrefixes();
  AskOptions ao;
  ao.budget = 6;
  auto r = engine.Ask("c", "How many apples does Bob have?", ao);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->used_learned_context);
  EXPECT_EQ(r->prefix_source, PrefixSource::kMemory);
  EXPECT_EQ(r->usage.cached_tokens, slept->learned.kv_tokens);
}

}  // namespace
