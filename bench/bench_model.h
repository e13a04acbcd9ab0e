// Shared by the benchmarks: a scratch directory and the random-weight model
// they run on when no --model is given (n_embd 512, 8 layers: a decode step
// costs what a small real model's does).
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include "sleeptime/llama_backend.h"
#include "sleeptime/random_model.h"

namespace sleeptime::bench {

inline std::string ScratchDir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir.string();
}

// Writes the model into `dir` and returns its path.
inline Result<std::string> WriteBenchModel(const std::string& dir, int n_ctx_train) {
  RandomModelSpec spec;
  spec.n_embd = 512;
  spec.n_layer = 8;
  spec.n_head = spec.n_head_kv = 8;
  spec.n_ff = 1536;
  spec.n_ctx_train = n_ctx_train;
  const std::string path = dir + "/bench-model.gguf";
  if (Status st = WriteRandomLlamaModel(spec, path); !st.ok()) return st;
  return path;
}

// The model a benchmark runs on: `model` when given (--model), else the bench model written into `dir`.
inline Result<std::string> ModelOrBenchModel(const std::string& model, const std::string& dir,
                                             int n_ctx_train) {
  if (!model.empty()) return model;
  return WriteBenchModel(dir, n_ctx_train);
}

// Options every benchmark opens its in-process backend with.
inline LlamaBackendOptions BenchBackendOptions(const std::string& model, int n_ctx, int threads, int slots) {
  LlamaBackendOptions options;
  options.model_path = model;
  options.n_ctx = n_ctx;
  options.n_threads = threads;
  options.n_slots = slots;
  return options;
}

}  // namespace sleeptime::bench
