// One writer for llama-architecture GGUF files with the project's metadata.
//
// Both the random-weight writer (random_model.cpp) and the trainer's exporter
// (src/train) describe a model with a LlamaGgufSpec and supply tensor data
// through a callback, one tensor at a time, in F32; the writer converts
// matrices to F16 when spec.f16 is set, streams tensors to a temporary file
// next to the target (with GGUF alignment padding) and renames it over the
// target when complete. Peak memory is about two tensors.
// Thread-safe (no shared state); the callback is called from the calling
// thread only, in tensor order.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "sleeptime/random_model.h"
#include "sleeptime/status.h"

namespace sleeptime {

struct LlamaGgufSpec : LlamaShape {
  bool f16 = false;          // matrices as F16; norms stay F32
  std::string vocab_from;    // empty: the byte-level vocabulary (kByteVocabSize tokens)
  bool name_tokens = false;  // byte vocabulary + "A=".."Z=" (kNameVocabSize tokens); not with vocab_from
  bool op_tokens = false;    // and "A+".."Z*" (kOpVocabSize tokens); needs name_tokens
  std::string name = "sleeptime";
  float rms_eps = 1e-5f;
  float rope_freq_base = 10000.0f;
  // Further string keys, e.g. the prompt templates a model carries.
  std::vector<std::pair<std::string, std::string>> string_metadata;
};

// One tensor of the file, in llama.cpp's naming and layout: ne0 is the input
// dimension (fan-in), ne1 the output dimension (1 for vectors).
struct LlamaTensorInfo {
  std::string name;  // "token_embd.weight", "blk.0.attn_q.weight", ...
  int64_t ne0 = 0;
  int64_t ne1 = 1;
  bool is_norm = false;  // RMSNorm weight (always F32)
  int64_t elements() const { return ne0 * ne1; }
};

// Fills out[0 .. info.elements()) with tensor `index` of the plan, row-major
// (ne0 fastest), as F32.
using LlamaTensorFiller = std::function<Status(const LlamaTensorInfo& info, size_t index, float* out)>;

Status ValidateLlamaGgufSpec(const LlamaGgufSpec& spec);

// Tensors in file order: token_embd, output_norm, output, then per layer
// attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down.
std::vector<LlamaTensorInfo> PlanLlamaTensors(const LlamaGgufSpec& spec, int n_vocab);

// Vocabulary size `spec` yields (ByteVocabSize(name_tokens, op_tokens), or that of spec.vocab_from).
Result<int> LlamaGgufVocabSize(const LlamaGgufSpec& spec);

// Writes the file to `path` (replaced atomically).
Status WriteLlamaGguf(const LlamaGgufSpec& spec, const LlamaTensorFiller& fill, const std::string& path);

}  // namespace sleeptime
