#include "support/test_model.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "sleeptime/random_model.h"

namespace {

std::string g_tiny_model_dir;
pid_t g_tiny_model_owner = 0;

void RemoveTinyModelDir() {
  // Only the process that created it (not a forked child) cleans up.
  if (g_tiny_model_dir.empty() || getpid() != g_tiny_model_owner) return;
  std::error_code ec;
  std::filesystem::remove_all(g_tiny_model_dir, ec);
}

}  // namespace

std::string MakeTempDir(const std::string& prefix) {
  std::error_code ec;
  std::filesystem::path base = std::filesystem::temp_directory_path(ec);
  if (ec) base = "/tmp";
  std::string templ = (base / (prefix + "-XXXXXX")).string();
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    std::fprintf(stderr, "MakeTempDir: mkdtemp(%s) failed: %s\n", templ.c_str(), std::strerror(errno));
    std::abort();
  }
  return std::string(buf.data());
}

const std::string& TinyModelPath() {
  static std::once_flag once;
  static std::string path;
  std::call_once(once, [] {
    g_tiny_model_dir = MakeTempDir("sleeptime-tiny-model");
    g_tiny_model_owner = getpid();
    std::atexit(RemoveTinyModelDir);
    path = g_tiny_model_dir + "/tiny.gguf";
    sleeptime::RandomModelSpec spec;
    spec.n_embd = 64;
    spec.n_layer = 2;
    spec.n_head = 4;
    spec.n_head_kv = 4;
    spec.n_ff = 128;
    spec.n_ctx_train = 4096;
    spec.seed = 7;
    spec.init_scale = 1.0f;
    spec.name = "sleeptime-tiny";
    const sleeptime::Status st = sleeptime::WriteRandomLlamaModel(spec, path);
    if (!st.ok()) ADD_FAILURE() << "TinyModelPath: cannot write the tiny model: " << st.ToString();
  });
  return path;
}

std::unique_ptr<sleeptime::LlamaBackend> OpenTestBackend(const std::string& model, const std::string& kv_dir,
                                                         int n_ctx, int n_slots) {
  sleeptime::LlamaBackendOptions o;
  o.model_path = model;
  o.n_ctx = n_ctx;
  o.n_threads = 1;
  o.n_slots = n_slots;
  o.kv_cache.dir = kv_dir;
  auto b = sleeptime::LlamaBackend::Open(o);
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  return b.ok() ? std::move(b).value() : nullptr;
}

std::vector<int32_t> LlamaTokenize(const llama_vocab* vocab, const std::string& text, bool add_special) {
  std::vector<llama_token> tokens(text.size() + 8);
  int32_t n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                             static_cast<int32_t>(tokens.size()), add_special, /*parse_special=*/false);
  if (n < 0) {
    tokens.resize(static_cast<size_t>(-n));
    n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                       static_cast<int32_t>(tokens.size()), add_special, false);
  }
  tokens.resize(static_cast<size_t>(std::max(n, 0)));
  return tokens;
}

void ScratchBackendTest::TearDown() {
  backend_.reset();
  if (!dir_.empty()) std::filesystem::remove_all(dir_);
}
