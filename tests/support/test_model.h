// Shared fixtures for the test suites: a tiny random llama model and temp dirs.
#pragma once

#include <gtest/gtest.h>
#include <llama.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sleeptime/llama_backend.h"

// Path of a tiny random llama model (n_embd 64, 2 layers, 4 heads, n_ff 128,
// n_ctx_train 4096, seed 7, init_scale 1.0, the byte-level vocabulary) written
// once per process into a per-process temporary directory; thread-safe. The
// directory is removed when the process exits. If writing fails, the calling
// test gets a non-fatal failure and the returned path does not exist.
const std::string& TinyModelPath();

// Creates a fresh, empty directory under the system temporary directory whose
// name starts with `prefix` and returns its path. The caller removes it.
// Aborts the test binary (with a message) if it cannot be created.
std::string MakeTempDir(const std::string& prefix);

// Opens `model` on one thread (test binaries run side by side, and ggml's
// spinning threads stall each other on a busy machine), with the given window
// and KV-state directory (empty: memory only). Returns nullptr after recording
// a test failure when it cannot.
std::unique_ptr<sleeptime::LlamaBackend> OpenTestBackend(const std::string& model, const std::string& kv_dir,
                                                         int n_ctx = 1024, int n_slots = 1);

// llama.cpp's own tokenization of `text` (no special-token parsing), for
// comparing against our tokenizers.
std::vector<int32_t> LlamaTokenize(const llama_vocab* vocab, const std::string& text, bool add_special);

// Fixture base: a scratch directory and a backend, both gone after each test
// (the backend first: it holds files in the directory).
class ScratchBackendTest : public ::testing::Test {
 protected:
  void TearDown() override;
  std::string dir_;
  std::unique_ptr<sleeptime::LlamaBackend> backend_;
};
