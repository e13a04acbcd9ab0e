// LlamaBackend on a tiny random-weight model: generation, budgets, and KV-state
// save/restore verified against cold prefills.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include "sleeptime/llama_backend.h"
#include "support/test_model.h"

namespace fs = std::filesystem;
using namespace sleeptime;

namespace {

// Restored and cold logits come from different batch shapes (the restore
// decodes only the suffix), so float summation order differs; on the tiny
// F32 model the difference measured ~1e-5. The bound is loose enough for other
// CPUs and tight enough that a wrong or missing prefix (differences of order 1)
// fails.
constexpr float kLogitTolerance = 1e-3f;

const Prompt kPrompt{"Ann has 12 apples. Bob has 5 more apples than Ann. Cid has twice as many as Bob.\n",
                     "Question: how many apples does Cid have?\nAnswer:"};

std::unique_ptr<LlamaBackend> OpenBackend(const std::string& kv_dir, int n_slots = 1, int n_ctx = 1024) {
  return OpenTestBackend(TinyModelPath(), kv_dir, n_ctx, n_slots);
}

float MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

class BackendTest : public ScratchBackendTest {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("backend");
    backend_ = OpenBackend(dir_ + "/kv");
    ASSERT_NE(backend_, nullptr);
  }
};

TEST_F(BackendTest, LoadsAndDescribesModel) {
  EXPECT_EQ(backend_->ContextWindow(), 1024);
  EXPECT_EQ(backend_->ModelFingerprint().size(), 64u);
  EXPECT_NE(backend_->ModelDescription().find("params"), std::string::npos);
  EXPECT_FALSE(backend_->HasChatTemplate());
  EXPECT_EQ(backend_->ModelMetadata("general.architecture"), std::optional<std::string>("llama"));
  EXPECT_EQ(backend_->ModelMetadata("no.such.key"), std::nullopt);
  EXPECT_EQ(backend_->RenderChat({{"user", "hi"}}).status().code(), StatusCode::kNotFound);
}

TEST_F(BackendTest, MissingModelFileIsAClearError) {
  LlamaBackendOptions o;
  o.model_path = dir_ + "/nope.gguf";
  auto b = LlamaBackend::Open(o);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kNotFound);
  EXPECT_NE(b.status().message().find("nope.gguf"), std::string::npos);
}

TEST_F(BackendTest, TokenizeRoundTrip) {
  const std::string text = "Ann has 12 apples. Ünïcödé ✓ {\"json\": [1, 2]}\n\ttabs";
  auto tokens = backend_->Tokenize(text, false);
  ASSERT_TRUE(tokens.ok());
  EXPECT_GT(tokens->size(), 10u);
  EXPECT_EQ(backend_->Detokenize(*tokens), text);
  auto with_bos = backend_->Tokenize(text, true);
  ASSERT_TRUE(with_bos.ok());
  EXPECT_EQ(with_bos->size(), tokens->size() + 1);
  auto n = backend_->CountTokens(kPrompt);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, static_cast<int64_t>(backend_->Tokenize(kPrompt.prefix, true)->size() +
                                     backend_->Tokenize(kPrompt.suffix, false)->size()));
}

TEST_F(BackendTest, GreedyIsDeterministicAndBudgetIsExact) {
  GenerateOptions g;
  g.max_tokens = 23;
  g.reuse_prefix = false;
  auto a = backend_->Generate(kPrompt, g);
  auto b = backend_->Generate(kPrompt, g);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->text, b->text);
  ASSERT_EQ(a->finish, FinishReason::kLength) << "random model emitted end-of-text; pick another prompt";
  EXPECT_EQ(a->usage.completion_tokens, 23);
  for (int budget : {1, 2, 7}) {
    g.max_tokens = budget;
    auto r = backend_->Generate(kPrompt, g);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->usage.completion_tokens, budget);
    // Greedy: a shorter budget yields a prefix of the longer generation.
    EXPECT_EQ(a->text.rfind(r->text, 0), 0u);
  }
  // Same answer whether the prefix comes from a KV state or not.
  g.max_tokens = 23;
  g.reuse_prefix = true;
  auto c = backend_->Generate(kPrompt, g);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->text, a->text);
}

TEST_F(BackendTest, StopStringEndsGenerationAndIsRemoved) {
  GenerateOptions g;
  g.max_tokens = 40;
  auto full = backend_->Generate(kPrompt, g);
  ASSERT_TRUE(full.ok());
  ASSERT_GE(full->text.size(), 6u);
  std::string stop = full->text.substr(3, 2);
  g.stop = {stop};
  auto r = backend_->Generate(kPrompt, g);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->finish, FinishReason::kStop);
  EXPECT_EQ(r->stop_matched, stop);
  EXPECT_EQ(full->text.rfind(r->text + stop, 0), 0u);
}

TEST_F(BackendTest, SampledGenerationDependsOnSeed) {
  GenerateOptions g;
  g.max_tokens = 30;
  g.temperature = 1.5f;
  g.seed = 1;
  auto a = backend_->Generate(kPrompt, g);
  auto a2 = backend_->Generate(kPrompt, g);
  g.seed = 2;
  auto b = backend_->Generate(kPrompt, g);
  ASSERT_TRUE(a.ok() && a2.ok() && b.ok());
  EXPECT_EQ(a->text, a2->text);
  EXPECT_NE(a->text, b->text);
}

TEST_F(BackendTest, RestoredLogitsMatchColdPrefill) {
  auto cold = backend_->NextTokenLogits(kPrompt, /*reuse_prefix=*/false);
  ASSERT_TRUE(cold.ok());
  EXPECT_EQ(cold->prefix_source, PrefixSource::kNone);

  auto saved = backend_->SavePrefix(kPrompt.prefix);
  ASSERT_TRUE(saved.ok()) << saved.status().ToString();
  EXPECT_EQ(saved->n_tokens, static_cast<int64_t>(backend_->Tokenize(kPrompt.prefix, true)->size()));
  EXPECT_GT(saved->state_bytes, 0);
  EXPECT_TRUE(fs::exists(backend_->kv_cache().PathFor(saved->key)));

  backend_->EvictResidentPrefixes();
  auto from_memory = backend_->NextTokenLogits(kPrompt, true);
  ASSERT_TRUE(from_memory.ok());
  EXPECT_EQ(from_memory->prefix_source, PrefixSource::kMemory);
  EXPECT_LT(MaxAbsDiff(cold->values, from_memory->values), kLogitTolerance);

  backend_->EvictResidentPrefixes();
  backend_->kv_cache().DropMemoryTier();
  auto from_disk = backend_->NextTokenLogits(kPrompt, true);
  ASSERT_TRUE(from_disk.ok());
  EXPECT_EQ(from_disk->prefix_source, PrefixSource::kDisk);
  EXPECT_LT(MaxAbsDiff(cold->values, from_disk->values), kLogitTolerance);

  auto resident = backend_->NextTokenLogits(kPrompt, true);
  ASSERT_TRUE(resident.ok());
  EXPECT_EQ(resident->prefix_source, PrefixSource::kResident);
  EXPECT_LT(MaxAbsDiff(cold->values, resident->values), kLogitTolerance);

  // The logits are not all alike, so the comparison above means something.
  auto other = backend_->NextTokenLogits({"Dee has 3 pears.\n", kPrompt.suffix}, false);
  ASSERT_TRUE(other.ok());
  EXPECT_GT(MaxAbsDiff(cold->values, other->values), 100 * kLogitTolerance);
}

TEST_F(BackendTest, GenerationFromSavedStatePrefillsOnlyTheSuffix) {
  ASSERT_TRUE(backend_->SavePrefix(kPrompt.prefix).ok());
  backend_->EvictResidentPrefixes();
  GenerateOptions g;
  g.max_tokens = 5;
  auto r = backend_->Generate(kPrompt, g);
  ASSERT_TRUE(r.ok());
  auto n_prefix = static_cast<int64_t>(backend_->Tokenize(kPrompt.prefix, true)->size());
  auto n_suffix = static_cast<int64_t>(backend_->Tokenize(kPrompt.suffix, false)->size());
  EXPECT_EQ(r->prefix_source, PrefixSource::kMemory);
  EXPECT_EQ(r->usage.prompt_tokens, n_prefix + n_suffix);
  EXPECT_EQ(r->usage.cached_tokens, n_prefix);
}

TEST_F(BackendTest, StateSurvivesAProcessRestart) {
  auto saved = backend_->SavePrefix(kPrompt.prefix);
  ASSERT_TRUE(saved.ok());
  auto cold = backend_->NextTokenLogits(kPrompt, false);
  backend_.reset();
  auto fresh = OpenBackend(dir_ + "/kv");
  ASSERT_NE(fresh, nullptr);
  auto restored = fresh->NextTokenLogits(kPrompt, true);
  ASSERT_TRUE(restored.ok());
  EXPECT_EQ(restored->prefix_source, PrefixSource::kDisk);
  EXPECT_LT(MaxAbsDiff(cold->values, restored->values), kLogitTolerance);
}

TEST_F(BackendTest, CorruptStateFileIsRefusedAndPrefilled) {
  auto saved = backend_->SavePrefix(kPrompt.prefix);
  ASSERT_TRUE(saved.ok());
  std::string path = backend_->kv_cache().PathFor(saved->key);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(path) / 2));
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5a);
    f.seekp(static_cast<std::streamoff>(fs::file_size(path) / 2));
    f.write(&c, 1);
  }
  backend_->EvictResidentPrefixes();
  backend_->kv_cache().DropMemoryTier();
  auto cold = backend_->NextTokenLogits(kPrompt, false);
  backend_->EvictResidentPrefixes();
  auto r = backend_->NextTokenLogits(kPrompt, true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->prefix_source, PrefixSource::kPrefilled);
  EXPECT_LT(MaxAbsDiff(cold->values, r->values), kLogitTolerance);
}

TEST_F(BackendTest, StateOfAnotherPrefixIsRefused) {
  Prompt other{"Dee has 3 pears. Eve has 4 more pears than Dee.\n", kPrompt.suffix};
  auto a = backend_->SavePrefix(kPrompt.prefix);
  auto b = backend_->SavePrefix(other.prefix);
  ASSERT_TRUE(a.ok() && b.ok());
  // Put B's state where A's belongs: checksum and format are valid, the prefix is not.
  fs::copy_file(backend_->kv_cache().PathFor(b->key), backend_->kv_cache().PathFor(a->key),
                fs::copy_options::overwrite_existing);
  backend_->EvictResidentPrefixes();
  backend_->kv_cache().DropMemoryTier();
  auto r = backend_->NextTokenLogits(kPrompt, true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->prefix_source, PrefixSource::kPrefilled);
}

TEST_F(BackendTest, PromptLongerThanWindowIsOutOfRange) {
  auto small = OpenBackend(dir_ + "/kv-small", 1, 64);
  ASSERT_NE(small, nullptr);
  auto r = small->Generate({std::string(200, 'x'), "?"}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(r.status().message().find("64"), std::string::npos);
}

TEST_F(BackendTest, SlotsServeConcurrentCalls) {
  auto multi = OpenBackend(dir_ + "/kv-multi", 2);
  ASSERT_NE(multi, nullptr);
  GenerateOptions g;
  g.max_tokens = 8;
  auto expected = multi->Generate(kPrompt, g);
  ASSERT_TRUE(expected.ok());
  std::vector<std::string> got(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto r = multi->Generate(kPrompt, g);
      if (r.ok()) got[static_cast<size_t>(i)] = r->text;
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& text : got) EXPECT_EQ(text, expected->text);
}

}  // namespace

namespace {

TEST_F(BackendTest, ChatWithoutTemplateFallsBackToRoleLines) {
  GenerateOptions g;
  g.max_tokens = 4;
  auto r = backend_->GenerateChat({{"system", "You count apples."}, {"user", "How many?"}}, g);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->usage.completion_tokens, 4);
  auto expected = backend_->CountTokens({"system: You count apples.\n", "user: How many?\nassistant:"});
  EXPECT_EQ(r->usage.prompt_tokens, *expected);
  EXPECT_EQ(backend_->GenerateChat({}, g).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace

// log P(continuation | prompt), scored in one pass over the continuation,
// equals the sum of next-token log-softmaxes from cold prefills of each
// longer prompt; a repeated call (prefix resident) gives the same number.
TEST_F(BackendTest, ScoreContinuationMatchesNextTokenLogits) {
  const Prompt prompt{"Ann has 12 apples. Bob has 5 more than Ann.\n", "Q: "};
  const std::string cont = "How many?";
  auto score = backend_->ScoreContinuation(prompt, cont);
  ASSERT_TRUE(score.ok()) << score.status().ToString();
  auto toks = backend_->Tokenize(cont, false);
  ASSERT_TRUE(toks.ok());
  ASSERT_EQ(score->tokens, static_cast<int64_t>(toks->size()));
  double expected = 0;
  for (size_t i = 0; i < toks->size(); ++i) {
    const std::string done = backend_->Detokenize(std::vector<Token>(toks->begin(), toks->begin() + i));
    auto l = backend_->NextTokenLogits(Prompt{prompt.prefix, prompt.suffix + done}, /*reuse_prefix=*/false);
    ASSERT_TRUE(l.ok());
    const auto& v = l->values;
    const float mx = *std::max_element(v.begin(), v.end());
    double sum = 0;
    for (float x : v) sum += std::exp(static_cast<double>(x - mx));
    expected += static_cast<double>(v[(*toks)[i]] - mx) - std::log(sum);
  }
  EXPECT_NEAR(score->log_prob, expected, 1e-2 * std::max(1.0, std::fabs(expected)));
  auto again = backend_->ScoreContinuation(prompt, cont);
  ASSERT_TRUE(again.ok());
  EXPECT_NEAR(again->log_prob, score->log_prob, 1e-3 * std::max(1.0, std::fabs(expected)));
  EXPECT_LT(score->log_prob, 0);
}
