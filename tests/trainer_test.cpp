// Tests of the demo-model trainer: tokenization equals llama.cpp's, the
// exported GGUF reproduces the trainer's logits in llama.cpp, the loss falls,
// checkpoint + resume is bit-identical, and the MUL_MAT gradient rewrite
// matches ggml's autodiff.
#include "sleeptime/trainer.h"

#include <ggml.h>
#include <gguf.h>
#include <gtest/gtest.h>
#include <llama.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "backend/llama_handles.h"
#include "sleeptime/demo_eval.h"
#include "sleeptime/engine.h"
#include "sleeptime/prompts.h"
#include "sleeptime/random_model.h"
#include "support/test_model.h"

namespace sleeptime {
namespace {

namespace fs = std::filesystem;

void SilentLog(ggml_log_level, const char*, void*) {}

using ::sleeptime::llama::ContextPtr;
using ::sleeptime::llama::ModelPtr;

// A tiny model that trains in milliseconds per step.
TrainerConfig TinyConfig() {
  TrainerConfig c;
  c.n_embd = 32;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_ff = 64;
  c.n_ctx = 192;
  c.batch_seqs = 2;
  c.generator.max_facts = 4;
  c.generator.max_depth = 2;
  c.total_steps = 60;
  c.warmup_steps = 5;
  c.lr = 3e-3f;
  c.seed = 7;
  return c;
}

// TinyConfig with the richest vocabulary: name tokens, factored op tokens.
TrainerConfig FactoredTinyConfig() {
  TrainerConfig c = TinyConfig();
  c.name_tokens = c.op_tokens = c.factor_op_tokens = true;
  return c;
}

class TrainerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    llama_log_set(SilentLog, nullptr);
    llama_backend_init();
  }
  static void TearDownTestSuite() { llama_backend_free(); }

  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("sleeptime-trainer-test-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<Trainer> MakeTrainer(const TrainerConfig& c) {
    auto r = Trainer::Create(c);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }

 public:
  static std::vector<float> Run(Trainer& t, int steps) {
    std::vector<float> losses;
    for (int i = 0; i < steps; ++i) {
      auto s = t.Step();
      EXPECT_TRUE(s.ok()) << s.status().ToString();
      if (!s.ok()) break;
      EXPECT_TRUE(std::isfinite(s->loss));
      EXPECT_GT(s->loss_tokens, 0);
      losses.push_back(s->loss);
    }
    return losses;
  }

 protected:
  std::string dir_;
};

TEST_F(TrainerTest, TokenizeBytesEqualsLlamaTokenize) {
  const std::string path = dir_ + "/vocab.gguf";
  RandomModelSpec spec;
  spec.n_embd = 16;
  spec.n_layer = 1;
  spec.n_head = 2;
  spec.n_head_kv = 2;
  spec.n_ff = 16;
  ASSERT_TRUE(WriteRandomLlamaModel(spec, path).ok());
  llama_model_params mp = llama_model_default_params();
  mp.vocab_only = true;
  ModelPtr model(llama_model_load_from_file(path.c_str(), mp));
  ASSERT_NE(model, nullptr);
  const llama_vocab* vocab = llama_model_get_vocab(model.get());

  std::vector<std::string> texts = {"",
                                    " ",
                                    "  ",
                                    "a b",
                                    " lead",
                                    "trail ",
                                    "Ann has 12 apples.\nQ: x",
                                    "\xE2\x96\x81",
                                    "x\xE2\x96\x81y",
                                    "Ünïcödé ✓",
                                    "tab\tand\rCR"};
  std::string all;
  for (int b = 1; b < 256; ++b) all.push_back(static_cast<char>(b));
  texts.push_back(all);
  for (uint64_t i = 0; i < 30; ++i) {
    const lang::Problem p = lang::GenerateProblem(lang::SplitSeed(lang::Split::kTrain, i));
    for (const auto& ex : lang::RenderTrainingExamples(p, i)) {
      texts.push_back(ex.prompt);
      texts.push_back(ex.completion);
      texts.push_back(ex.prompt + ex.completion);
    }
  }
  for (const auto& text : texts) {
    for (bool bos : {false, true}) {
      EXPECT_EQ(TokenizeBytes(text, bos), LlamaTokenize(vocab, text, bos)) << "text: '" << text << "'";
    }
  }
  // Tokenizing prompt and completion separately equals tokenizing their concatenation.
  EXPECT_EQ(TokenizeBytes("a ", true).size() + TokenizeBytes("b", false).size(),
            TokenizeBytes("a b", true).size());
}

// TokenizeBytes with the merged tokens of `config` equals llama.cpp's
// tokenizer on the exported vocabulary; returns how many merged tokens it met.
int ExpectTokenizeBytesEqualsLlamaTokenize(const TrainerConfig& config, const std::string& dir);

TEST_F(TrainerTest, TokenizeBytesWithNameTokensEqualsLlamaTokenize) {
  TrainerConfig config = TinyConfig();
  config.name_tokens = true;
  EXPECT_GT(ExpectTokenizeBytesEqualsLlamaTokenize(config, dir_), 100);  // every context's definitions
  EXPECT_EQ(
      TokenizeBytes("C=B*2.", false, true),
      (std::vector<int32_t>{NameToken('C'), ByteToken('B'), ByteToken('*'), ByteToken('2'), ByteToken('.')}));
}

TEST_F(TrainerTest, TokenizeBytesWithOpTokensEqualsLlamaTokenize) {
  TrainerConfig config = TinyConfig();
  config.name_tokens = true;
  config.op_tokens = true;
  EXPECT_GT(ExpectTokenizeBytesEqualsLlamaTokenize(config, dir_), 200);  // definitions and relations
  EXPECT_EQ(TokenizeBytes("C=B*2. D+E=4-Z-1.", false, true, true),
            (std::vector<int32_t>{NameToken('C'), OpToken('B', '*'), ByteToken('2'), ByteToken('.'),
                                  kSpaceToken, OpToken('D', '+'), NameToken('E'), ByteToken('4'),
                                  ByteToken('-'), OpToken('Z', '-'), ByteToken('1'), ByteToken('.')}));
  EXPECT_EQ(OpToken('Z', '*'), kOpVocabSize - 1);
  EXPECT_EQ(OpToken('A', '/'), -1);
}

int ExpectTokenizeBytesEqualsLlamaTokenize(const TrainerConfig& config, const std::string& dir) {
  auto made = Trainer::Create(config);
  EXPECT_TRUE(made.ok()) << made.status().ToString();
  if (!made.ok()) return 0;
  std::unique_ptr<Trainer> trainer = std::move(made).value();
  const std::string path = dir + "/names.gguf";
  EXPECT_TRUE(trainer->ExportGguf(path).ok());
  llama_model_params mp = llama_model_default_params();
  mp.vocab_only = true;
  ModelPtr model(llama_model_load_from_file(path.c_str(), mp));
  EXPECT_NE(model, nullptr);
  if (!model) return 0;
  const llama_vocab* vocab = llama_model_get_vocab(model.get());
  EXPECT_EQ(llama_vocab_n_tokens(vocab), ByteVocabSize(config.name_tokens, config.op_tokens));

  std::vector<std::string> texts = {"A=",
                                    "Z=",
                                    "a=",
                                    "[=",
                                    "@=",
                                    "AB=C",
                                    "A==B",
                                    "=A=",
                                    "C'=D",
                                    "C'=C-3",
                                    "a+B*c-D/E",
                                    "A+=B-",
                                    "Z*",
                                    " C=B*2.",
                                    "Q: x=Y",
                                    "A=\xE2\x96\x81"
                                    "B=",
                                    "A"};
  lang::MixOptions mix;
  mix.lookup_rate = 1.0;
  for (uint64_t i = 0; i < 30; ++i) {
    const lang::Problem p = lang::GenerateProblem(lang::SplitSeed(lang::Split::kTrain, i));
    for (const auto& ex : lang::RenderTrainingExamples(p, i, mix)) {
      std::string all = ex.prompt + ex.completion;
      for (const auto& f : ex.followups) all += f.prompt + f.completion;
      texts.push_back(all);
    }
  }
  int merged = 0;
  for (const auto& text : texts) {
    const std::vector<int32_t> mine = TokenizeBytes(text, true, config.name_tokens, config.op_tokens);
    EXPECT_EQ(mine, LlamaTokenize(vocab, text, true)) << "text: '" << text << "'";
    merged += static_cast<int>(
        std::count_if(mine.begin(), mine.end(), [](int32_t t) { return t >= kByteVocabSize; }));
  }
  return merged;
}

// Logits of the exported GGUF in llama.cpp equal the trainer's forward pass.
void ExpectExportedLogitsMatch(const TrainerConfig& config, const std::string& dir, int steps);

TEST_F(TrainerTest, ExportedModelMatchesTrainerLogitsInLlamaCpp) {
  ExpectExportedLogitsMatch(TinyConfig(), dir_, 20);
}

TEST_F(TrainerTest, ExportedNameTokenModelMatchesTrainerLogitsInLlamaCpp) {
  TrainerConfig config = TinyConfig();
  config.name_tokens = true;
  ExpectExportedLogitsMatch(config, dir_, 20);
}

TEST_F(TrainerTest, ExportedOpTokenModelMatchesTrainerLogitsInLlamaCpp) {
  TrainerConfig config = TinyConfig();
  config.name_tokens = true;
  config.op_tokens = true;
  ExpectExportedLogitsMatch(config, dir_, 20);
}

TEST_F(TrainerTest, ExportedFactoredOpTokenModelMatchesTrainerLogitsInLlamaCpp) {
  TrainerConfig config = FactoredTinyConfig();
  config.mix.style.reversed_results = true;  // carried in the GGUF
  config.mix.style.notes_every_fact = true;
  config.mix.style.hypothetical_relations = true;
  config.mix.style.short_from_notes = true;
  config.mix.style.short_named_operands = true;
  config.mix.style.short_factors = true;
  ExpectExportedLogitsMatch(config, dir_, 20);
}

// The [n_embd, n_vocab] F32 tensor `name` of the GGUF at `path`.
std::vector<float> ReadGgufTable(const std::string& path, const char* name, int64_t* n_embd) {
  ggml_context* data = nullptr;
  gguf_init_params params{/*no_alloc=*/false, /*ctx=*/&data};
  gguf_context* gguf = gguf_init_from_file(path.c_str(), params);
  std::vector<float> out;
  if (gguf != nullptr && data != nullptr) {
    const ggml_tensor* t = ggml_get_tensor(data, name);
    if (t != nullptr && t->type == GGML_TYPE_F32) {
      *n_embd = t->ne[0];
      const auto* f = static_cast<const float*>(t->data);
      out.assign(f, f + ggml_nelements(t));
    }
  }
  if (data) ggml_free(data);
  if (gguf) gguf_free(gguf);
  return out;
}

TEST_F(TrainerTest, FactoredOpTokensStartAsLetterPlusOperatorAndLearnApart) {
  const TrainerConfig config = FactoredTinyConfig();
  auto trainer = MakeTrainer(config);
  ASSERT_NE(trainer, nullptr);
  auto check = [&](bool at_init) {
    const std::string path = dir_ + "/factored.gguf";
    ASSERT_TRUE(trainer->ExportGguf(path).ok());
    for (const char* name : {"token_embd.weight", "output.weight"}) {
      int64_t n = 0;
      const std::vector<float> table = ReadGgufTable(path, name, &n);
      ASSERT_EQ(table.size(), static_cast<size_t>(n) * kOpVocabSize) << name;
      double max_rest = 0, max_part = 0;
      for (char letter : {'A', 'B', 'Z'}) {
        for (char op : kOpTokenOperators) {
          const float* v = &table[OpToken(letter, op) * n];
          const float* l = &table[ByteToken(letter) * n];
          const float* o = &table[ByteToken(op) * n];
          for (int64_t e = 0; e < n; ++e) {
            max_rest = std::max<double>(max_rest, std::fabs(v[e] - l[e] - o[e]));
            max_part = std::max<double>(max_part, std::fabs(l[e]));
          }
        }
      }
      EXPECT_GT(max_part, 1e-3) << name;
      if (at_init) {
        EXPECT_LT(max_rest, 1e-6) << name << ": op tokens start as letter + operator";
      } else {
        EXPECT_GT(max_rest, 1e-6) << name << ": op tokens learn a rest of their own";
      }
    }
  };
  check(true);
  Run(*trainer, 5);
  check(false);
}

void ExpectExportedLogitsMatch(const TrainerConfig& config, const std::string& dir, int steps) {
  auto made = Trainer::Create(config);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  std::unique_ptr<Trainer> trainer = std::move(made).value();
  for (int i = 0; i < steps; ++i)
    ASSERT_TRUE(trainer->Step().ok());  // trained weights: logits far from uniform
  const std::string path = dir + "/model.gguf";
  ASSERT_TRUE(trainer->ExportGguf(path).ok());
  const int n_vocab = ByteVocabSize(config.name_tokens, config.op_tokens);

  const lang::Problem p = lang::GenerateProblem(lang::SplitSeed(lang::Split::kHeldOut, 3));
  const std::vector<int32_t> tokens =
      TokenizeBytes(lang::RenderAnswerPrompt(p, p.queries.at(0)), true, config.name_tokens, config.op_tokens);
  if (config.name_tokens) {
    ASSERT_TRUE(std::any_of(tokens.begin(), tokens.end(), [](int32_t t) { return t >= kByteVocabSize; }));
  }
  if (config.op_tokens) {
    ASSERT_TRUE(std::any_of(tokens.begin(), tokens.end(), [](int32_t t) { return t >= kNameVocabSize; }));
  }
  ASSERT_GT(tokens.size(), 20u);
  ASSERT_LE(tokens.size(), 192u);
  auto mine = trainer->Logits(tokens);
  ASSERT_TRUE(mine.ok()) << mine.status().ToString();

  ModelPtr model(llama_model_load_from_file(path.c_str(), llama_model_default_params()));
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(llama_model_n_params(model.get()), trainer->parameter_count());
  EXPECT_EQ(llama_model_n_ctx_train(model.get()), 192);
  // The model carries the reasoning language's prompt templates.
  auto carried = LoadPromptTemplates(
      [&](const std::string& name) -> std::optional<std::string> {
        char buf[512];
        int32_t n =
            llama_model_meta_val_str(model.get(), (kModelPromptKeyPrefix + name).c_str(), buf, sizeof(buf));
        if (n < 0) return std::nullopt;
        return std::string(buf, static_cast<size_t>(n));
      },
      "");
  ASSERT_TRUE(carried.ok());
  const PromptTemplates want = lang::DemoPromptTemplates();
  EXPECT_EQ(carried->sleep, want.sleep);
  EXPECT_EQ(carried->answer_prefix_notes, want.answer_prefix_notes);
  EXPECT_EQ(carried->question, want.question);
  EXPECT_EQ(carried->force_answer, want.force_answer);
  EXPECT_EQ(carried->notes_separator, want.notes_separator);
  EXPECT_EQ(carried->stop, want.stop);
  // And the style its traces are written in.
  char style[128];
  const int32_t n = llama_model_meta_val_str(model.get(), lang::kTraceStyleKey, style, sizeof(style));
  ASSERT_GE(n, 0);
  auto parsed = lang::ParseTraceStyle(std::string_view(style, static_cast<size_t>(n)));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->value_lines, config.mix.style.value_lines);
  EXPECT_EQ(parsed->reversed_results, config.mix.style.reversed_results);
  EXPECT_EQ(parsed->notes_every_fact, config.mix.style.notes_every_fact);
  EXPECT_EQ(parsed->hypothetical_relations, config.mix.style.hypothetical_relations);
  EXPECT_EQ(parsed->short_from_notes, config.mix.style.short_from_notes);
  EXPECT_EQ(parsed->short_named_operands, config.mix.style.short_named_operands);
  EXPECT_EQ(parsed->short_factors, config.mix.style.short_factors);
  EXPECT_EQ(parsed->short_paths, config.mix.style.short_paths);
  EXPECT_EQ(parsed->compact_paths, config.mix.style.compact_paths);
  // And how many tokens its longest answer takes ("999" and the newline).
  char reserve[16];
  const int32_t r = llama_model_meta_val_str(model.get(), kAnswerReserveKey, reserve, sizeof(reserve));
  EXPECT_EQ(std::string(reserve, static_cast<size_t>(std::max(r, 0))), "4");
  EXPECT_EQ(carried->verbosity[0], "");
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = 256;
  cp.n_batch = 256;
  cp.n_ubatch = 256;
  cp.n_threads = 1;
  cp.n_threads_batch = 1;
  ContextPtr ctx(llama_init_from_model(model.get(), cp));
  ASSERT_NE(ctx, nullptr);
  llama_batch batch = llama_batch_init(static_cast<int32_t>(tokens.size()), 0, 1);
  for (size_t i = 0; i < tokens.size(); ++i) {
    batch.token[i] = tokens[i];
    batch.pos[i] = static_cast<llama_pos>(i);
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = 0;
    batch.logits[i] = 1;
  }
  batch.n_tokens = static_cast<int32_t>(tokens.size());
  ASSERT_EQ(llama_decode(ctx.get(), batch), 0);
  // Tolerance: F32 weights on both sides; the kernels differ in summation order
  // (and llama.cpp may use an F16 KV cache), so logits agree to ~1e-3 of their scale.
  float max_diff = 0, max_abs = 0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const float* theirs = llama_get_logits_ith(ctx.get(), static_cast<int32_t>(i));
    ASSERT_NE(theirs, nullptr);
    for (int v = 0; v < n_vocab; ++v) {
      const float a = (*mine)[i * n_vocab + v];
      max_diff = std::max(max_diff, std::fabs(a - theirs[v]));
      max_abs = std::max(max_abs, std::fabs(a));
    }
  }
  llama_batch_free(batch);
  std::printf("exported vs trainer logits: max |diff| %.3g, max |logit| %.3g over %zu positions\n", max_diff,
              max_abs, tokens.size());
  EXPECT_GT(max_abs, 1e-3f) << "degenerate logits";
  EXPECT_LT(max_diff, 1e-3f + 1e-3f * max_abs) << "max |logit| " << max_abs;
}

TEST_F(TrainerTest, LossDecreases) {
  auto trainer = MakeTrainer(TinyConfig());
  ASSERT_NE(trainer, nullptr);
  const std::vector<float> losses = Run(*trainer, 40);
  ASSERT_EQ(losses.size(), 40u);
  auto mean = [](auto b, auto e) { return std::accumulate(b, e, 0.0) / std::distance(b, e); };
  const double first = mean(losses.begin(), losses.begin() + 5);
  const double last = mean(losses.end() - 5, losses.end());
  EXPECT_NEAR(first, std::log(260.0), 0.3) << "a fresh model predicts ~uniformly";
  EXPECT_LT(last, first - 1.0) << "first " << first << " last " << last;
  EXPECT_EQ(trainer->step(), 40);
  EXPECT_GT(trainer->tokens_seen(), 0);
}

TEST_F(TrainerTest, MultiQueryExamplesCarryMoreLossPerToken) {
  TrainerConfig one = TinyConfig();
  one.n_ctx = 1024;
  one.mix.queries_per_example = 1;
  TrainerConfig four = one;
  four.mix.queries_per_example = 4;
  auto a = MakeTrainer(one), b = MakeTrainer(four);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  auto share = [](Trainer& t) {
    int64_t loss = 0, all = 0;
    for (int i = 0; i < 6; ++i) {
      auto s = t.Step();
      EXPECT_TRUE(s.ok());
      if (!s.ok()) break;
      loss += s->loss_tokens;
      all += s->batch_tokens;
    }
    return double(loss) / double(all);
  };
  const double fa = share(*a), fb = share(*b);
  // The context is paid once for several answers, so the share of tokens
  // that carry loss grows; the followup questions themselves carry none.
  EXPECT_GT(fb, fa * 1.2) << fa << " " << fb;
  EXPECT_LT(fb, 0.6);
}

TEST_F(TrainerTest, PackWindowFillsRowsFuller) {
  TrainerConfig in_order = TinyConfig();
  in_order.mix.queries_per_example = 2;  // examples of 100-190 tokens in 192-token rows
  TrainerConfig windowed = in_order;
  windowed.pack_window = 16;
  auto a = MakeTrainer(in_order), b = MakeTrainer(windowed);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  auto fill = [](Trainer& t, const TrainerConfig& c) {
    int64_t tokens = 0;
    for (int i = 0; i < 8; ++i) {
      auto s = t.Step();
      EXPECT_TRUE(s.ok());
      if (!s.ok()) break;
      EXPECT_LE(s->batch_tokens, int64_t{c.batch_seqs} * c.n_ctx);
      tokens += s->batch_tokens;
    }
    return double(tokens) / (8.0 * c.batch_seqs * c.n_ctx);
  };
  const double fa = fill(*a, in_order), fb = fill(*b, windowed);
  EXPECT_GT(fb, fa + 0.1) << "rows filled " << fa << " in order, " << fb << " with a window";
  EXPECT_GT(fb, 0.8);
}

TEST_F(TrainerTest, ResumeIsBitIdentical) {
  TrainerConfig c = FactoredTinyConfig();
  c.pack_window = 4;  // examples wait across the checkpoint
  c.mix.style.value_lines = true;
  c.mix.style.reversed_results = true;
  c.mix.style.notes_every_fact = true;
  c.mix.style.hypothetical_relations = true;
  c.mix.style.short_from_notes = true;
  c.mix.queries_per_example = 2;  // stored in the checkpoint with the curriculum
  c.curriculum_problems = 3;
  c.mix.arithmetic_rate = 0.5;
  c.mix.arithmetic_items = 5;
  auto straight = MakeTrainer(c);
  ASSERT_NE(straight, nullptr);
  Run(*straight, 6);

  auto first = MakeTrainer(c);
  ASSERT_NE(first, nullptr);
  Run(*first, 3);
  ASSERT_TRUE(first->SaveCheckpoint(dir_ + "/ckpt").ok());
  first.reset();
  ASSERT_TRUE(Trainer::HasCheckpoint(dir_ + "/ckpt"));
  auto resumed = Trainer::Resume(dir_ + "/ckpt", c.threads);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_EQ((*resumed)->step(), 3);
  EXPECT_EQ((*resumed)->config().n_embd, c.n_embd);
  EXPECT_EQ((*resumed)->config().total_steps, c.total_steps);
  EXPECT_EQ((*resumed)->config().mix.queries_per_example, 2);
  EXPECT_EQ((*resumed)->config().curriculum_problems, 3);
  EXPECT_TRUE((*resumed)->config().factor_op_tokens);
  EXPECT_EQ((*resumed)->config().mix.arithmetic_rate, 0.5);
  EXPECT_EQ((*resumed)->config().mix.arithmetic_items, 5);
  EXPECT_EQ((*resumed)->config().pack_window, 4);
  EXPECT_TRUE((*resumed)->config().mix.style.value_lines);
  EXPECT_TRUE((*resumed)->config().mix.style.reversed_results);
  EXPECT_TRUE((*resumed)->config().mix.style.notes_every_fact);
  EXPECT_TRUE((*resumed)->config().mix.style.hypothetical_relations);
  EXPECT_TRUE((*resumed)->config().mix.style.short_from_notes);
  Run(**resumed, 3);
  EXPECT_EQ((*resumed)->step(), 6);
  EXPECT_EQ((*resumed)->tokens_seen(), straight->tokens_seen());
  EXPECT_TRUE((*resumed)->Weights() == straight->Weights()) << "resumed weights differ";
}

// Checkpoints of format versions 4 (before factor_op_tokens), 5 (before
// arithmetic drills), 6 (before pack_window), 7 (before value lines), 8 (before reversed results) and
// 9 (before hypothetical relations) still resume.
// Fine-tuning starts from a trained model's weights under a new config (here
// another trace style and seed): the copy is exact, training then moves it,
// and a model of another shape is refused.
TEST_F(TrainerTest, CopyWeightsFromStartsAFineTune) {
  TrainerConfig c = FactoredTinyConfig();
  auto trained = MakeTrainer(c);
  ASSERT_NE(trained, nullptr);
  Run(*trained, 3);
  TrainerConfig tuned_config = c;
  tuned_config.seed = c.seed + 1;
  tuned_config.mix.style.short_from_notes = true;
  auto tuned = MakeTrainer(tuned_config);
  ASSERT_NE(tuned, nullptr);
  ASSERT_NE(tuned->Weights(), trained->Weights());
  ASSERT_TRUE(tuned->CopyWeightsFrom(*trained).ok());
  EXPECT_EQ(tuned->Weights(), trained->Weights());
  EXPECT_EQ(tuned->step(), 0);
  Run(*tuned, 1);
  EXPECT_NE(tuned->Weights(), trained->Weights());

  TrainerConfig wider = c;
  wider.n_ff = c.n_ff * 2;
  auto other = MakeTrainer(wider);
  ASSERT_NE(other, nullptr);
  const std::vector<float> before = other->Weights();
  EXPECT_FALSE(other->CopyWeightsFrom(*trained).ok());
  EXPECT_EQ(other->Weights(), before);
}

TEST_F(TrainerTest, OlderCheckpointVersionsResume) {
  const TrainerConfig c = TinyConfig();
  auto first = MakeTrainer(c);
  ASSERT_NE(first, nullptr);
  Run(*first, 2);
  ASSERT_TRUE(first->SaveCheckpoint(dir_ + "/ckpt").ok());
  const std::string path = dir_ + "/ckpt/checkpoint.bin";
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  ASSERT_EQ(bytes.substr(0, 8), "STTRNCKE");
  // Magic, 5 x i32 shape, u64 seed, i32 batch, name_tokens, op_tokens, then factor_op_tokens; then the
  // generator (4 x i32, 3 x i64, 3 x i32) and the mix (5 x f64, i32, u64, i32, f64, i32), then
  // arithmetic_rate (f64 0.0) and arithmetic_items (i32 16).
  const size_t factor_at = 8 + 5 * 4 + 8 + 4 + 2;
  const size_t arithmetic_at = factor_at + 1 + (4 * 4 + 3 * 8 + 3 * 4) + (5 * 8 + 4 + 8 + 4 + 8 + 4);
  ASSERT_EQ(bytes[factor_at], 0);
  ASSERT_EQ(bytes.substr(arithmetic_at, 8), std::string(8, '\0'));
  int32_t items = 0;
  std::memcpy(&items, bytes.data() + arithmetic_at + 8, sizeof(items));
  ASSERT_EQ(items, c.mix.arithmetic_items);
  // The curriculum (i64, 2 x i32, f64) and the schedule (i64, 2 x f32, i32, 5 x f32), then pack_window (i32
  // 1), value_lines, reversed_results, notes_every_fact, hypothetical_relations, short_from_notes,
  // short_named_operands, short_factors, short_paths, compact_paths, hypothetical_drill_rate (f64 0.0),
  // notes_factors, factor_block, notes_sweeps, sweep_lookups, keep_notes and reversed_changes; the file ends
  // with the examples waiting to be packed (u64 count 1, then problem and example, 2 x u64).
  const size_t window_at = arithmetic_at + 12 + (8 + 2 * 4 + 8) + (8 + 2 * 4 + 4 + 5 * 4);
  int32_t window = 0;
  std::memcpy(&window, bytes.data() + window_at, sizeof(window));
  ASSERT_EQ(window, 1);
  ASSERT_EQ(bytes[window_at + 4], 0);
  ASSERT_EQ(bytes[window_at + 5], 0);
  ASSERT_EQ(bytes[window_at + 6], 0);
  ASSERT_EQ(bytes[window_at + 7], 0);
  ASSERT_EQ(bytes[window_at + 8], 0);
  ASSERT_EQ(bytes[window_at + 9], 0);
  ASSERT_EQ(bytes[window_at + 10], 0);
  ASSERT_EQ(bytes[window_at + 11], 0);
  ASSERT_EQ(bytes[window_at + 12], 0);
  ASSERT_EQ(bytes.substr(window_at + 13, 8), std::string(8, '\0'));
  ASSERT_EQ(bytes[window_at + 21], 0);
  ASSERT_EQ(bytes[window_at + 22], 0);
  ASSERT_EQ(bytes[window_at + 23], 0);
  ASSERT_EQ(bytes[window_at + 24], 0);
  ASSERT_EQ(bytes[window_at + 25], 0);
  ASSERT_EQ(bytes[window_at + 26], 0);
  uint64_t waiting = 0;
  std::memcpy(&waiting, bytes.data() + bytes.size() - 24, sizeof(waiting));
  ASSERT_EQ(waiting, 1u);
  for (char version : {'D', 'C', 'B', 'A', '@', '?', '>', '=', '<', ';', ':', '9', '8', '7', '6', '5', '4'}) {
    if (version == 'D') bytes.erase(window_at + 26, 1);
    if (version == 'C') bytes.erase(window_at + 25, 1);
    if (version == 'B') bytes.erase(window_at + 23, 2);
    if (version == 'A') bytes.erase(window_at + 22, 1);
    if (version == '@') bytes.erase(window_at + 21, 1);
    if (version == '?') bytes.erase(window_at + 13, 8);
    if (version == '>') bytes.erase(window_at + 12, 1);
    if (version == '=') bytes.erase(window_at + 11, 1);
    if (version == '<') bytes.erase(window_at + 10, 1);
    if (version == ';') bytes.erase(window_at + 9, 1);
    if (version == ':') bytes.erase(window_at + 8, 1);
    if (version == '9') bytes.erase(window_at + 7, 1);
    if (version == '8') bytes.erase(window_at + 5, 2);
    if (version == '7') bytes.erase(window_at + 4, 1);
    if (version == '6') {
      bytes.resize(bytes.size() - 24);
      bytes.erase(window_at, 4);
    }
    if (version == '5') bytes.erase(arithmetic_at, 12);
    if (version == '4') bytes.erase(factor_at, 1);
    bytes[7] = version;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    auto resumed = Trainer::Resume(dir_ + "/ckpt", c.threads);
    ASSERT_TRUE(resumed.ok()) << version << ": " << resumed.status().ToString();
    EXPECT_EQ((*resumed)->step(), 2);
    EXPECT_FALSE((*resumed)->config().factor_op_tokens);
    EXPECT_EQ((*resumed)->config().mix.arithmetic_rate, 0.0);
    EXPECT_TRUE((*resumed)->Weights() == first->Weights());
  }

  bytes[7] = 'F';  // a future version is refused, not misread
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  auto future = Trainer::Resume(dir_ + "/ckpt", c.threads);
  EXPECT_FALSE(future.ok());
  EXPECT_EQ(future.status().code(), StatusCode::kCorruption);
}

// Trainer::Create refuses `c` with an InvalidArgument that names `flag`.
void ExpectRefused(const TrainerConfig& c, const std::string& flag) {
  auto made = Trainer::Create(c);
  ASSERT_FALSE(made.ok()) << flag;
  EXPECT_EQ(made.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(made.status().message().find(flag), std::string::npos) << made.status().ToString();
}

// Trace-style flags that mean nothing alone, or that replace one another:
// each `refused` style names its flag in the error; `mended` (when set) is
// the same intent made valid, and is accepted.
TEST_F(TrainerTest, TraceStyleFlagsThatNeedOrExcludeOthersAreRefused) {
  struct Case {
    const char* flag;
    lang::TraceStyle refused;
    std::optional<lang::TraceStyle> mended;
  };
  const Case cases[] = {
      {"--short-named-operands",
       {.short_named_operands = true},
       lang::TraceStyle{.short_from_notes = true, .short_named_operands = true}},
      {"--short-factors",
       {.short_factors = true},
       lang::TraceStyle{.short_from_notes = true, .short_factors = true}},
      {"--short-paths",
       {.short_paths = true},
       lang::TraceStyle{.short_from_notes = true, .short_paths = true}},
      // A path replaces the factor: both at once is a mistake, not a silent choice.
      {"--short-paths", {.short_from_notes = true, .short_factors = true, .short_paths = true}, std::nullopt},
      // Compact paths shorten short_paths' form and mean nothing without it.
      {"--compact-paths",
       {.short_from_notes = true, .compact_paths = true},
       lang::TraceStyle{.short_from_notes = true, .short_paths = true, .compact_paths = true}},
      // Factors read from the notes replace the path, and need short_from_notes.
      {"--notes-factors",
       {.short_from_notes = true, .short_paths = true, .compact_paths = true, .notes_factors = true},
       lang::TraceStyle{.short_from_notes = true, .notes_factors = true}},
      {"--notes-factors", {.notes_factors = true}, std::nullopt},
      // Where the factor lines go means nothing without them.
      {"--factor-block",
       {.short_from_notes = true, .factor_block = true},
       lang::TraceStyle{.short_from_notes = true, .notes_factors = true, .factor_block = true}},
      // Sweeps replace the every-fact walks: both at once is a mistake.
      {"--notes-sweeps",
       {.notes_every_fact = true, .notes_sweeps = true},
       lang::TraceStyle{.notes_sweeps = true, .sweep_lookups = true}},
      {"--sweep-lookups", {.sweep_lookups = true}, lang::TraceStyle{.notes_sweeps = true}},
      // The change is written only by a step from notes.
      {"--reversed-changes",
       {.reversed_changes = true},
       lang::TraceStyle{.short_from_notes = true, .reversed_changes = true}},
  };
  for (const Case& k : cases) {
    TrainerConfig c = TinyConfig();
    c.mix.style = k.refused;
    ExpectRefused(c, k.flag);
    if (!k.mended) continue;
    c.mix.style = *k.mended;
    EXPECT_TRUE(Trainer::Create(c).ok()) << k.flag << " mended";
  }
}

TEST_F(TrainerTest, CorruptCheckpointIsRejected) {
  EXPECT_FALSE(Trainer::HasCheckpoint(dir_ + "/none"));
  EXPECT_FALSE(Trainer::Resume(dir_ + "/none", 1).ok());
  fs::create_directories(dir_ + "/bad");
  std::ofstream(dir_ + "/bad/checkpoint.bin") << "not a checkpoint";
  auto r = Trainer::Resume(dir_ + "/bad", 1);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
}

void ExpectMatmulGradientsMatchAutodiff(const TrainerConfig& a);

TEST_F(TrainerTest, MatmulGradientsMatchAutodiff) {
  ExpectMatmulGradientsMatchAutodiff(TinyConfig());
}

TEST_F(TrainerTest, MatmulGradientsMatchAutodiffWithFactoredOpTokens) {
  ExpectMatmulGradientsMatchAutodiff(FactoredTinyConfig());
}

void ExpectMatmulGradientsMatchAutodiff(const TrainerConfig& a) {
  TrainerConfig b = a;
  b.matmul_grads = false;
  auto ta = Trainer::Create(a);
  auto tb = Trainer::Create(b);
  ASSERT_TRUE(ta.ok() && tb.ok());
  const auto la = TrainerTest::Run(**ta, 4);
  const auto lb = TrainerTest::Run(**tb, 4);
  ASSERT_EQ(la.size(), lb.size());
  for (size_t i = 0; i < la.size(); ++i) EXPECT_NEAR(la[i], lb[i], 1e-4) << "step " << i;
  const auto wa = (*ta)->Weights();
  const auto wb = (*tb)->Weights();
  ASSERT_EQ(wa.size(), wb.size());
  double max_diff = 0;
  for (size_t i = 0; i < wa.size(); ++i) max_diff = std::max<double>(max_diff, std::fabs(wa[i] - wb[i]));
  EXPECT_LT(max_diff, 1e-4);
}

// A token that never occurs in the input gets no gradient through the input
// embedding, so (without weight decay) its stored vector must not move. With
// factored op tokens the gradient reaches the stored table through a transpose
// and a matrix product; stepped in the wrong layout, it moves rows nothing read.
void ExpectUnusedInputVectorsStayPut(TrainerConfig c) {
  c.weight_decay = 0.0f;
  auto t = Trainer::Create(c);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  const std::vector<float> before = (*t)->Weights();  // token_embd.weight comes first
  TrainerTest::Run(**t, 3);
  const std::vector<float> after = (*t)->Weights();
  const size_t n_embd = static_cast<size_t>(c.n_embd);
  for (int byte : {0x01, 0x02, 0x07, 0x80, 0xFE}) {
    const size_t row = static_cast<size_t>(ByteToken(static_cast<unsigned char>(byte))) * n_embd;
    for (size_t e = 0; e < n_embd; ++e)
      ASSERT_EQ(before[row + e], after[row + e])
          << "byte 0x" << std::hex << byte << " element " << std::dec << e;
  }
}

TEST_F(TrainerTest, UnusedInputVectorsStayPut) {
  ExpectUnusedInputVectorsStayPut(TinyConfig());
}

TEST_F(TrainerTest, UnusedInputVectorsStayPutWithFactoredOpTokens) {
  ExpectUnusedInputVectorsStayPut(FactoredTinyConfig());
}

TEST_F(TrainerTest, LearningRateScheduleIsWarmupThenCosine) {
  auto t = MakeTrainer(TinyConfig());
  ASSERT_NE(t, nullptr);
  const TrainerConfig& c = t->config();
  EXPECT_FLOAT_EQ(t->LearningRate(0), c.lr / c.warmup_steps);
  EXPECT_FLOAT_EQ(t->LearningRate(c.warmup_steps - 1), c.lr);
  EXPECT_NEAR(t->LearningRate(c.total_steps), c.lr * c.lr_min_ratio, 1e-9);
  EXPECT_GT(t->LearningRate(c.warmup_steps + 5), t->LearningRate(c.warmup_steps + 30));
}

}  // namespace
}  // namespace sleeptime
