// Random-weight llama-architecture GGUF writer (see sleeptime/random_model.h).
//
// The file layout and metadata come from the shared writer
// (backend/llama_gguf_writer.h); this file only generates the weights. Tensor
// data is generated in fixed-size chunks, each from its own std::mt19937_64
// seeded from (seed, tensor index, chunk index): the file depends only on the
// spec, never on the number of threads that generated it.
#include "sleeptime/random_model.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#include "backend/llama_gguf_writer.h"
#include "common/random.h"

namespace sleeptime {
namespace {

constexpr int64_t kChunkElements = int64_t{1} << 16;

LlamaGgufSpec ToGgufSpec(const RandomModelSpec& spec) {
  LlamaGgufSpec g;
  static_cast<LlamaShape&>(g) = spec;
  g.f16 = spec.f16;
  g.vocab_from = spec.vocab_from;
  g.name = spec.name;
  return g;
}

// Fills `out` (n elements) with the data of tensor `tensor_index`; matrices
// are Gaussian, generated in parallel chunks.
void GenerateTensor(const LlamaTensorInfo& t, uint64_t seed, uint64_t tensor_index, float init_scale,
                    float* out) {
  const int64_t n = t.elements();
  if (t.is_norm) {
    std::fill(out, out + n, 1.0f);
    return;
  }
  const float std_dev = init_scale / std::sqrt(static_cast<float>(t.ne0));
  const int64_t n_chunks = (n + kChunkElements - 1) / kChunkElements;
  const uint64_t tensor_seed = SplitMix64(seed ^ SplitMix64(tensor_index + 0x5157));
  std::atomic<int64_t> next_chunk{0};

  auto worker = [&]() {
    for (int64_t c = next_chunk.fetch_add(1); c < n_chunks; c = next_chunk.fetch_add(1)) {
      std::mt19937_64 rng(SplitMix64(tensor_seed + static_cast<uint64_t>(c)));
      const int64_t begin = c * kChunkElements;
      const int64_t len = std::min(kChunkElements, n - begin);
      FillGaussian(rng, std_dev, out + begin, len);
    }
  };

  const int64_t hw = std::max<int64_t>(1, std::thread::hardware_concurrency());
  const int64_t n_threads = std::min<int64_t>({hw, 8, n_chunks});
  std::vector<std::thread> threads;
  for (int64_t i = 1; i < n_threads; ++i) threads.emplace_back(worker);
  worker();
  for (auto& th : threads) th.join();
}

}  // namespace

uint64_t RandomModelParameterCount(const RandomModelSpec& spec, int n_vocab) {
  if (spec.n_head <= 0 || n_vocab <= 0) return 0;
  const uint64_t n_embd = static_cast<uint64_t>(std::max(spec.n_embd, 0));
  const uint64_t n_embd_kv =
      static_cast<uint64_t>(spec.n_embd / spec.n_head) * static_cast<uint64_t>(std::max(spec.n_head_kv, 0));
  const uint64_t n_ff = static_cast<uint64_t>(std::max(spec.n_ff, 0));
  const uint64_t per_layer = 2 * n_embd                // attn_norm, ffn_norm
                             + 2 * n_embd * n_embd     // attn_q, attn_output
                             + 2 * n_embd * n_embd_kv  // attn_k, attn_v
                             + 3 * n_embd * n_ff;      // ffn_gate, ffn_up, ffn_down
  return 2 * static_cast<uint64_t>(n_vocab) * n_embd + n_embd +
         static_cast<uint64_t>(std::max(spec.n_layer, 0)) * per_layer;
}

Status WriteRandomLlamaModel(const RandomModelSpec& spec, const std::string& path) {
  const Status valid = ValidateLlamaGgufSpec(ToGgufSpec(spec));
  if (!valid.ok()) return Status::InvalidArgument("random model: " + valid.message());
  if (!std::isfinite(spec.init_scale) || spec.init_scale <= 0.0f) {
    return Status::InvalidArgument("random model: init_scale must be positive and finite");
  }
  const uint64_t seed = spec.seed;
  const float init_scale = spec.init_scale;
  return WriteLlamaGguf(
      ToGgufSpec(spec),
      [seed, init_scale](const LlamaTensorInfo& t, size_t index, float* out) {
        GenerateTensor(t, seed, index, init_scale, out);
        return Status::Ok();
      },
      path);
}

}  // namespace sleeptime
