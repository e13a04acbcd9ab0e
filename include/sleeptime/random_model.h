// Writes llama-architecture GGUF files with random weights.
//
// Tests need a real model that llama.cpp loads in milliseconds, and the
// benchmark needs one of realistic shape; neither can be downloaded here. The
// weights are random (seeded, so files are reproducible), the tokenizer is real:
// either the project's byte-level SPM vocabulary (kByteVocabSize = 260 tokens:
// <unk> <s> </s>, the 256 byte tokens <0xXX> at ids 3..258, and "\u2581" at 259,
// which llama.cpp needs to detokenize spaces back to ' ') or one copied from a
// vocab-only GGUF such as llama.cpp's models/ggml-vocab-llama-spm.gguf.
// Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <string>

#include "sleeptime/status.h"

namespace sleeptime {

// Size of the byte-level vocabulary written when RandomModelSpec::vocab_from is empty.
inline constexpr int kByteVocabSize = 260;
// The byte vocabulary with name tokens: 26 more tokens "A=" .. "Z=" (ids 260..285),
// which llama.cpp's SPM tokenizer merges wherever an uppercase letter precedes '='.
// The demo language defines a quantity by such a pair ("C=B*2."), so with them a
// definition starts with one token that no other sentence of the context holds,
// and looking a definition up becomes a one-token match (an induction copy).
inline constexpr int kNameTokenCount = 26;
inline constexpr int kNameVocabSize = kByteVocabSize + kNameTokenCount;
// The name-token vocabulary with op tokens: 78 more, "A+" .. "Z+", "A-" .. "Z-",
// "A*" .. "Z*" (ids 286..363), merged wherever an uppercase letter precedes an
// operator. A relation's right side ("B*2") then starts with one token that
// carries the source and the operation together, so a lookup copies both right
// after the name token, in one induction step. With name tokens alone the
// operation was a second copy keyed on a source letter that several facts
// share, and the model (run 5) wrote it at chance.
inline constexpr char kOpTokenOperators[] = {'+', '-', '*'};
inline constexpr int kOpTokenCount = 26 * 3;
inline constexpr int kOpVocabSize = kNameVocabSize + kOpTokenCount;

// Size of the byte vocabulary with the optional merged tokens.
inline constexpr int ByteVocabSize(bool name_tokens, bool op_tokens) {
  return op_tokens ? kOpVocabSize : name_tokens ? kNameVocabSize : kByteVocabSize;
}

// The shape of a llama-architecture model (also used by the GGUF writer).
struct LlamaShape {
  int n_embd = 64;
  int n_layer = 2;
  int n_head = 4;
  int n_head_kv = 4;
  int n_ff = 128;
  int n_ctx_train = 4096;
};

struct RandomModelSpec : LlamaShape {
  uint64_t seed = 1;
  bool f16 = false;  // store matrices as F16 (halves the file); norms stay F32
  // Standard deviation of the weights is init_scale / sqrt(fan_in); large
  // enough that logits differ clearly between tokens.
  float init_scale = 1.0f;
  // Empty: byte-level SPM vocabulary. Otherwise the path of a GGUF whose
  // tokenizer.* keys are copied.
  std::string vocab_from;
  std::string name = "sleeptime-random";
};

// Writes the model to `path` (replaced atomically via a temporary file).
Status WriteRandomLlamaModel(const RandomModelSpec& spec, const std::string& path);

// Parameter count of the model `spec` describes, given the vocabulary size.
uint64_t RandomModelParameterCount(const RandomModelSpec& spec, int n_vocab);

}  // namespace sleeptime
