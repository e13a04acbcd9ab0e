// Trains the demo model: a llama-architecture transformer over the project's
// 260-token byte vocabulary, from random init, on the reasoning language
// (sleeptime/reasoning_language.h), and exports it as a GGUF llama.cpp loads.
//
// The forward graph is built directly on ggml (the same ops as llama.cpp's
// llama graph: RMSNorm, RoPE mode 0, softmax attention scaled by
// 1/sqrt(head_dim), SwiGLU, untied output), differentiated by ggml's autodiff
// and optimized with AdamW (ggml_opt_step_adamw). Every weight is trained,
// token embeddings and K/V projections included.
//
// Data: problems from training seeds (lang::SplitSeed(kTrain, ...)) rendered
// with lang::RenderTrainingExamples; each example is "<s>" + prompt +
// completion, tokenized exactly as llama.cpp tokenizes it (TokenizeBytes).
// Examples are packed into batch_seqs sequences of n_ctx tokens; every example
// starts at position 0 and attends only to itself (block-diagonal causal
// mask), exactly what the model sees at inference. The loss is the mean
// cross-entropy over completion tokens only: their hidden states are gathered
// (ggml_get_rows) before the output projection, so prompt and padding
// positions get no gradient at all.
//
// One cosine learning-rate schedule over total_steps (linear warmup, decay to
// lr * lr_min_ratio). Training is deterministic given the config and the
// thread count: checkpoint + resume reproduces the uninterrupted run bit for
// bit.
//
// Thread-safety: a Trainer is not thread-safe; use one from one thread at a
// time. Distinct Trainers are independent. The free functions are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sleeptime/random_model.h"
#include "sleeptime/reasoning_language.h"
#include "sleeptime/status.h"

namespace sleeptime {

// Token ids of the byte vocabulary (sleeptime/random_model.h).
inline constexpr int32_t kBosToken = 1;
inline constexpr int32_t kSpaceToken = 259;  // "\u2581": llama.cpp's SPM tokenizer maps ' ' to it
// Byte b is token b + 3.
inline constexpr int32_t ByteToken(unsigned char b) {
  return static_cast<int32_t>(b) + 3;
}

// Name token of an uppercase letter: "C=" (with the name-token vocabulary).
inline constexpr int32_t NameToken(char letter) {
  return kByteVocabSize + (letter - 'A');
}

// Op token of an uppercase letter and an operator of kOpTokenOperators: "B*"
// (with the op-token vocabulary); -1 for any other operator.
inline constexpr int32_t OpToken(char letter, char op) {
  const int index = op == '+' ? 0 : op == '-' ? 1 : op == '*' ? 2 : -1;
  return index < 0 ? -1 : kNameVocabSize + 26 * index + (letter - 'A');
}

// The tokens llama.cpp's tokenizer gives `text` with the byte vocabulary
// (add_space_prefix off): ' ' -> kSpaceToken, any other byte b -> b + 3, and
// the UTF-8 sequence of "\u2581" itself -> kSpaceToken. add_bos prepends kBosToken.
// With name_tokens (kNameVocabSize), an uppercase letter followed by '=' is
// one token, NameToken(letter); with op_tokens too (kOpVocabSize), one
// followed by '+', '-' or '*' is OpToken(letter, op).
std::vector<int32_t> TokenizeBytes(std::string_view text, bool add_bos, bool name_tokens = false,
                                   bool op_tokens = false);

struct TrainerConfig {
  // Model shape (n_vocab: ByteVocabSize(name_tokens, op_tokens): 260, 286 or 364).
  int n_embd = 256;
  int n_layer = 4;
  int n_head = 4;
  int n_ff = 768;
  int n_ctx = 512;           // sequence length of a training row; also the exported context length
  bool name_tokens = false;  // vocabulary with "A=".."Z=" tokens (sleeptime/random_model.h)
  bool op_tokens = false;    // and "A+".."Z*" tokens; needs name_tokens
  // With op_tokens: each op token's input embedding and output vector are its
  // letter's plus its operator's plus a learned rest (zero at init), so "B*"
  // shares what is learned about "B" and "*" instead of starting as one of 78
  // rare tokens. The exported GGUF holds the sums: an ordinary op-token model.
  bool factor_op_tokens = false;

  // Data.
  uint64_t seed = 1;   // weights init and data order
  int batch_seqs = 8;  // sequences (rows of n_ctx tokens) per optimizer step
  lang::GeneratorOptions generator;
  lang::MixOptions mix;  // mix.max_bytes is capped at n_ctx - 1 (the BOS)
  // Curriculum: the first `curriculum_problems` problems are small (at most
  // curriculum_max_facts facts, depth curriculum_max_depth), where copying
  // names and numbers from the context is learned soonest; then `generator`.
  int64_t curriculum_problems = 0;
  int curriculum_max_facts = 4;
  int curriculum_max_depth = 2;
  // Lookup drills (mix.lookup_rate) in the curriculum; negative: mix.lookup_rate.
  double curriculum_lookup_rate = -1.0;
  // Examples waiting to be packed into rows: each row takes the longest that
  // still fits. 1 packs in stream order (runs up to 11 of models/README.md);
  // more fills rows fuller, so a step of the same cost carries more tokens.
  int pack_window = 1;

  // Optimization.
  int64_t total_steps = 1000;  // length of the cosine schedule
  float lr = 1e-3f;
  float lr_min_ratio = 0.1f;
  int warmup_steps = 50;
  float beta1 = 0.9f;
  float beta2 = 0.99f;
  float eps = 1e-8f;
  float weight_decay = 0.01f;  // matrices only (not norms)
  float init_std = 0.02f;      // output projections of each block: init_std / sqrt(2 n_layer)

  int threads = 1;
  // Compute the weight and activation gradients of matrix products with
  // MUL_MAT instead of autodiff's OUT_PROD (the same math, ~3x faster on CPU).
  // Not stored in checkpoints (like threads).
  bool matmul_grads = true;
};

struct StepStats {
  int64_t step = 0;          // steps completed, including this one
  float loss = 0.0f;         // mean cross-entropy per completion token
  float lr = 0.0f;           // learning rate used
  int64_t loss_tokens = 0;   // completion tokens in the batch
  int64_t batch_tokens = 0;  // non-padding tokens in the batch
  int64_t examples = 0;      // examples in the batch
};

class Trainer {
 public:
  // A freshly initialized model.
  static Result<std::unique_ptr<Trainer>> Create(const TrainerConfig& config);
  // Continues from the checkpoint in `dir` (written by SaveCheckpoint): the
  // config stored there is used, except `threads` and `matmul_grads`.
  static Result<std::unique_ptr<Trainer>> Resume(const std::string& dir, int threads,
                                                 bool matmul_grads = true);
  static bool HasCheckpoint(const std::string& dir);

  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // One optimizer step on the next batch.
  Result<StepStats> Step();

  // Writes weights, AdamW moments, step and data position to dir/checkpoint.bin
  // (temporary file + rename; creates dir).
  Status SaveCheckpoint(const std::string& dir) const;

  // Writes the weights as a llama GGUF (byte vocabulary, context length n_ctx).
  Status ExportGguf(const std::string& path, bool f16 = false) const;

  // Next-token logits (n_vocab per position, position-major) of every position
  // of `tokens` (one sequence starting at position 0), by the trainer's graph.
  Result<std::vector<float>> Logits(std::span<const int32_t> tokens) const;

  // All weights concatenated in file order (tests compare them).
  std::vector<float> Weights() const;
  // Starts from another trainer's weights (fine-tuning: a new data mix or
  // schedule on a trained model); the optimizer state, step and data stream
  // stay this trainer's. Fails unless both have the same tensors and shapes.
  Status CopyWeightsFrom(const Trainer& other);

  const TrainerConfig& config() const;
  int64_t step() const;
  int64_t tokens_seen() const;       // non-padding tokens of all batches so far
  int64_t loss_tokens_seen() const;  // completion tokens so far
  uint64_t parameter_count() const;
  // The learning rate of step `step` (0-based) under the config's schedule.
  float LearningRate(int64_t step) const;

 private:
  struct Impl;
  explicit Trainer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---- Held-out evaluation through llama.cpp (of an exported GGUF) ----
struct HeldOutEvalOptions {
  int problems = 50;  // held-out problems lang::SplitSeed(kHeldOut, first_index + i)
  uint64_t first_index = 0;
  int max_tokens = 256;  // generation cap per answer
  bool direct = true;    // also measure direct answers
  int threads = 1;
  lang::GeneratorOptions generator;
};

struct HeldOutEvalReport {
  // Reasoned answers (no notes, unlimited budget), by reasoning steps (index = steps, 0..8).
  std::vector<int> reasoned_total, reasoned_correct;
  int direct_total = 0, direct_correct = 0;
  // Relation lookups ("C=B*2.") in the reasoned answers, and which of their parts copy the context's fact.
  lang::LookupScore lookups;
  lang::ComputationScore computations;  // and their computations ("=12+5=17.")
  int64_t generated_tokens = 0;
  double seconds = 0;
  int reasoned_all_total() const;
  int reasoned_all_correct() const;
};

// Greedy-decodes the held-out queries with the model at `gguf_path`.
Result<HeldOutEvalReport> EvaluateHeldOut(const std::string& gguf_path, const HeldOutEvalOptions& options);

}  // namespace sleeptime
