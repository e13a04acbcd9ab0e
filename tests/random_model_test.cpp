#include "sleeptime/random_model.h"

#include <gtest/gtest.h>
#include <llama.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "backend/llama_handles.h"
#include "support/test_model.h"

namespace sleeptime {
namespace {

namespace fs = std::filesystem;

constexpr const char* kLlamaSpmVocab = "/work/main/third_party/llama.cpp/models/ggml-vocab-llama-spm.gguf";

// Mixed ASCII, Latin-1 range and a 3-byte UTF-8 character (the source is UTF-8).
constexpr const char* kSampleText = "Ann has 12 apples. Ünïcödé ✓";

void SilentLog(ggml_log_level, const char*, void*) {}

using ::sleeptime::llama::ContextPtr;
using ::sleeptime::llama::ModelPtr;

ModelPtr LoadModel(const std::string& path) {
  llama_model_params params = llama_model_default_params();
  params.n_gpu_layers = 0;
  return ModelPtr(llama_model_load_from_file(path.c_str(), params));
}

ContextPtr NewContext(llama_model* model) {
  llama_context_params params = llama_context_default_params();
  params.n_ctx = 256;
  params.n_batch = 256;
  params.n_threads = 1;
  params.n_threads_batch = 1;
  return ContextPtr(llama_init_from_model(model, params));
}

std::string Detokenize(const llama_vocab* vocab, const std::vector<llama_token>& tokens) {
  std::string text(tokens.size() * 8 + 16, '\0');
  int32_t n = llama_detokenize(vocab, tokens.data(), static_cast<int32_t>(tokens.size()), text.data(),
                               static_cast<int32_t>(text.size()), /*remove_special=*/true,
                               /*unparse_special=*/false);
  if (n < 0) {
    text.resize(static_cast<size_t>(-n));
    n = llama_detokenize(vocab, tokens.data(), static_cast<int32_t>(tokens.size()), text.data(),
                         static_cast<int32_t>(text.size()), true, false);
  }
  text.resize(static_cast<size_t>(std::max(n, 0)));
  return text;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Decodes `tokens` and checks the last position's logits are finite and varied.
void ExpectSaneLogits(llama_model* model, std::vector<llama_token> tokens) {
  ContextPtr ctx = NewContext(model);
  ASSERT_NE(ctx, nullptr);
  ASSERT_EQ(llama_decode(ctx.get(), llama_batch_get_one(tokens.data(), static_cast<int32_t>(tokens.size()))),
            0);
  const float* logits = llama_get_logits_ith(ctx.get(), -1);
  ASSERT_NE(logits, nullptr);
  const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
  float lo = logits[0], hi = logits[0];
  for (int i = 0; i < n_vocab; ++i) {
    ASSERT_TRUE(std::isfinite(logits[i])) << "logit " << i << " = " << logits[i];
    lo = std::min(lo, logits[i]);
    hi = std::max(hi, logits[i]);
  }
  EXPECT_GT(hi - lo, 1e-3f) << "all logits are (nearly) equal";
}

class RandomModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    llama_log_set(SilentLog, nullptr);
    llama_backend_init();
  }
  static void TearDownTestSuite() { llama_backend_free(); }

  void SetUp() override { dir_ = MakeTempDir("sleeptime-random-model-test"); }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  // Files in dir_ other than `keep` (e.g. leftover temporaries).
  std::vector<std::string> OtherFiles(const std::vector<std::string>& keep) const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) {
      const std::string name = e.path().filename().string();
      if (std::find(keep.begin(), keep.end(), name) == keep.end()) out.push_back(name);
    }
    return out;
  }

  static RandomModelSpec TinySpec() {
    RandomModelSpec spec;
    spec.n_embd = 64;
    spec.n_layer = 2;
    spec.n_head = 4;
    spec.n_head_kv = 4;
    spec.n_ff = 128;
    spec.seed = 11;
    return spec;
  }

  std::string dir_;
};

TEST_F(RandomModelTest, ParameterCountFormula) {
  RandomModelSpec spec;
  spec.n_embd = 8;
  spec.n_layer = 3;
  spec.n_head = 2;
  spec.n_head_kv = 1;
  spec.n_ff = 16;
  // embd + output: 2*10*8; output_norm: 8; per layer: norms 16, q+o 128, k+v 2*8*4, ffn 3*8*16.
  EXPECT_EQ(RandomModelParameterCount(spec, 10), 160u + 8u + 3u * (16u + 128u + 64u + 384u));
}

TEST_F(RandomModelTest, TinyModelLoadsTokenizesAndDecodes) {
  const RandomModelSpec spec = TinySpec();
  const std::string path = Path("tiny.gguf");
  ASSERT_TRUE(WriteRandomLlamaModel(spec, path).ok());
  EXPECT_EQ(OtherFiles({"tiny.gguf"}), std::vector<std::string>{}) << "temporary file left behind";

  ModelPtr model = LoadModel(path);
  ASSERT_NE(model, nullptr);
  const llama_vocab* vocab = llama_model_get_vocab(model.get());
  EXPECT_EQ(llama_vocab_n_tokens(vocab), kByteVocabSize);
  EXPECT_EQ(llama_model_n_params(model.get()), RandomModelParameterCount(spec, kByteVocabSize));
  EXPECT_EQ(llama_model_n_embd(model.get()), 64);
  EXPECT_EQ(llama_model_n_layer(model.get()), 2);
  EXPECT_EQ(llama_model_n_ctx_train(model.get()), 4096);
  EXPECT_EQ(llama_vocab_bos(vocab), 1);
  EXPECT_EQ(llama_vocab_eos(vocab), 2);

  const std::string text = kSampleText;
  const std::vector<llama_token> tokens = LlamaTokenize(vocab, text, /*add_special=*/true);
  ASSERT_FALSE(tokens.empty());
  EXPECT_EQ(tokens.front(), 1) << "BOS is added";
  // Byte by byte: one token per byte, except that each space is one "\u2581" token.
  EXPECT_EQ(tokens.size(), 1 + text.size());
  EXPECT_EQ(tokens[1], 3 + 'A');
  EXPECT_EQ(Detokenize(vocab, tokens), text);

  std::string all_bytes;
  for (int b = 1; b < 256; ++b) all_bytes.push_back(static_cast<char>(b));
  EXPECT_EQ(Detokenize(vocab, LlamaTokenize(vocab, all_bytes, true)), all_bytes);
  const std::string spaces = "  two  spaces\n\ttab and newline  ";
  EXPECT_EQ(Detokenize(vocab, LlamaTokenize(vocab, spaces, true)), spaces);

  ExpectSaneLogits(model.get(), tokens);
}

TEST_F(RandomModelTest, SameSeedSameBytesDifferentSeedDifferentBytes) {
  RandomModelSpec spec = TinySpec();
  ASSERT_TRUE(WriteRandomLlamaModel(spec, Path("a.gguf")).ok());
  ASSERT_TRUE(WriteRandomLlamaModel(spec, Path("b.gguf")).ok());
  spec.seed = 12;
  ASSERT_TRUE(WriteRandomLlamaModel(spec, Path("c.gguf")).ok());
  const std::string a = ReadFile(Path("a.gguf"));
  const std::string b = ReadFile(Path("b.gguf"));
  const std::string c = ReadFile(Path("c.gguf"));
  ASSERT_FALSE(a.empty());
  EXPECT_TRUE(a == b) << "same seed must give a byte-identical file";
  EXPECT_EQ(a.size(), c.size());
  EXPECT_FALSE(a == c) << "different seeds must give different weights";
}

TEST_F(RandomModelTest, RewriteReplacesExistingFile) {
  RandomModelSpec spec = TinySpec();
  const std::string path = Path("m.gguf");
  {
    std::ofstream out(path);
    out << "not a model";
  }
  ASSERT_TRUE(WriteRandomLlamaModel(spec, path).ok());
  ModelPtr model = LoadModel(path);
  EXPECT_NE(model, nullptr);
  EXPECT_EQ(OtherFiles({"m.gguf"}), std::vector<std::string>{});
}

TEST_F(RandomModelTest, F16VariantLoadsAndDecodes) {
  RandomModelSpec spec = TinySpec();
  spec.f16 = true;
  spec.n_head_kv = 2;  // grouped-query attention too
  const std::string path = Path("f16.gguf");
  ASSERT_TRUE(WriteRandomLlamaModel(spec, path).ok());
  RandomModelSpec f32_spec = spec;
  f32_spec.f16 = false;
  ASSERT_TRUE(WriteRandomLlamaModel(f32_spec, Path("f32.gguf")).ok());
  EXPECT_LT(fs::file_size(path), fs::file_size(Path("f32.gguf")) * 6 / 10);

  ModelPtr model = LoadModel(path);
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(llama_model_n_params(model.get()), RandomModelParameterCount(spec, kByteVocabSize));
  char ftype[128];
  ASSERT_GT(llama_model_meta_val_str(model.get(), "general.file_type", ftype, sizeof(ftype)), 0);
  EXPECT_STREQ(ftype, "1");
  const llama_vocab* vocab = llama_model_get_vocab(model.get());
  ExpectSaneLogits(model.get(), LlamaTokenize(vocab, "hello world", true));
}

TEST_F(RandomModelTest, VocabFromLlamaSpm) {
  if (!fs::exists(kLlamaSpmVocab)) GTEST_SKIP() << kLlamaSpmVocab << " not present";
  RandomModelSpec spec = TinySpec();
  spec.vocab_from = kLlamaSpmVocab;
  spec.f16 = true;
  const std::string path = Path("spm.gguf");
  ASSERT_TRUE(WriteRandomLlamaModel(spec, path).ok());
  ModelPtr model = LoadModel(path);
  ASSERT_NE(model, nullptr);
  const llama_vocab* vocab = llama_model_get_vocab(model.get());
  EXPECT_EQ(llama_vocab_n_tokens(vocab), 32000);
  EXPECT_EQ(llama_model_n_params(model.get()), RandomModelParameterCount(spec, 32000));
  const std::string text = kSampleText;
  // Without BOS: the llama SPM vocabulary adds a space prefix, which detokenize
  // strips again only when the first token is not a (removed) BOS.
  const std::vector<llama_token> tokens = LlamaTokenize(vocab, text, /*add_special=*/false);
  EXPECT_LT(tokens.size(), text.size()) << "a real vocabulary merges bytes";
  EXPECT_EQ(Detokenize(vocab, tokens), text);
  ExpectSaneLogits(model.get(), LlamaTokenize(vocab, text, /*add_special=*/true));
}

TEST_F(RandomModelTest, BadSpecsAreRejected) {
  const std::string path = Path("bad.gguf");
  auto expect_invalid = [&](RandomModelSpec spec, const char* what) {
    const Status st = WriteRandomLlamaModel(spec, path);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << what << ": " << st.ToString();
    EXPECT_FALSE(st.message().empty());
    EXPECT_EQ(st.message().find('\n'), std::string::npos) << "one-line message";
  };
  RandomModelSpec spec = TinySpec();
  spec.n_head = 3;  // 64 % 3 != 0
  expect_invalid(spec, "n_embd % n_head");
  spec = TinySpec();
  spec.n_head_kv = 3;  // 4 % 3 != 0
  expect_invalid(spec, "n_head % n_head_kv");
  spec = TinySpec();
  spec.n_layer = 0;
  expect_invalid(spec, "n_layer 0");
  spec = TinySpec();
  spec.n_ff = -1;
  expect_invalid(spec, "negative n_ff");
  spec = TinySpec();
  spec.init_scale = std::nanf("");
  expect_invalid(spec, "NaN init_scale");
  EXPECT_EQ(WriteRandomLlamaModel(TinySpec(), "").code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(path));
  EXPECT_EQ(OtherFiles({}), std::vector<std::string>{});
}

TEST_F(RandomModelTest, IoErrorsAreReported) {
  RandomModelSpec spec = TinySpec();
  spec.vocab_from = Path("no-such-vocab.gguf");
  Status st = WriteRandomLlamaModel(spec, Path("m.gguf"));
  EXPECT_EQ(st.code(), StatusCode::kIoError) << st.ToString();
  EXPECT_NE(st.message().find("no-such-vocab.gguf"), std::string::npos) << st.message();

  {
    std::ofstream out(Path("garbage.gguf"));
    out << "this is not a gguf file";
  }
  spec.vocab_from = Path("garbage.gguf");
  st = WriteRandomLlamaModel(spec, Path("m.gguf"));
  EXPECT_EQ(st.code(), StatusCode::kIoError) << st.ToString();

  st = WriteRandomLlamaModel(TinySpec(), Path("no-such-dir/m.gguf"));
  EXPECT_EQ(st.code(), StatusCode::kIoError) << st.ToString();
  EXPECT_EQ(OtherFiles({"garbage.gguf"}), std::vector<std::string>{});
}

TEST_F(RandomModelTest, SharedTinyModelHelper) {
  const std::string& path = TinyModelPath();
  ASSERT_TRUE(fs::exists(path)) << path;
  EXPECT_EQ(&path, &TinyModelPath()) << "written once per process";
  ModelPtr model = LoadModel(path);
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(llama_model_n_embd(model.get()), 64);
  EXPECT_EQ(llama_model_n_layer(model.get()), 2);
  EXPECT_EQ(llama_model_n_head(model.get()), 4);
  EXPECT_EQ(llama_model_n_ctx_train(model.get()), 4096);
  EXPECT_EQ(llama_vocab_n_tokens(llama_model_get_vocab(model.get())), kByteVocabSize);

  const std::string a = MakeTempDir("sleeptime-mktemp");
  const std::string b = MakeTempDir("sleeptime-mktemp");
  EXPECT_NE(a, b);
  EXPECT_TRUE(fs::is_directory(a));
  EXPECT_TRUE(fs::is_empty(a));
  fs::remove_all(a);
  fs::remove_all(b);
}

// Not run by default: writes a benchmark-sized model (about 270M parameters,
// F16, the llama SPM vocabulary) and prints the time it took. Run with
//   random_model_test --gtest_also_run_disabled_tests --gtest_filter='*BenchmarkSized*'
TEST_F(RandomModelTest, DISABLED_WriteBenchmarkSizedModel) {
  if (!fs::exists(kLlamaSpmVocab)) GTEST_SKIP() << kLlamaSpmVocab << " not present";
  RandomModelSpec spec;
  spec.n_embd = 1024;
  spec.n_layer = 16;
  spec.n_head = 16;
  spec.n_head_kv = 16;
  spec.n_ff = 2816;
  spec.f16 = true;
  spec.vocab_from = kLlamaSpmVocab;
  const std::string path = Path("bench.gguf");
  const auto t0 = std::chrono::steady_clock::now();
  const Status st = WriteRandomLlamaModel(spec, path);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(st.ok()) << st.ToString();
  std::printf("wrote %llu parameters, %.1f MB, in %.2f s\n",
              static_cast<unsigned long long>(RandomModelParameterCount(spec, 32000)),
              static_cast<double>(fs::file_size(path)) / 1e6, s);
  ModelPtr model = LoadModel(path);
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(llama_model_n_params(model.get()), RandomModelParameterCount(spec, 32000));
}

}  // namespace
}  // namespace sleeptime
