// Shared fixtures for the test suites: a tiny random llama model and temp dirs.
#pragma once

#include <string>

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
