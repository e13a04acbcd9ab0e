// Random-weight llama-architecture GGUF writer (see sleeptime/random_model.h).
//
// The metadata and tensor descriptors are built in a gguf_context; the header is
// written with gguf_get_meta_data and the tensor data is then streamed tensor by
// tensor (with the GGUF alignment padding), so peak memory is one tensor, not the
// whole model. Tensor data is generated in fixed-size chunks, each from its own
// std::mt19937_64 seeded from (seed, tensor index, chunk index): the file depends
// only on the spec, never on the number of threads that generated it.
#include "sleeptime/random_model.h"

#include <fcntl.h>
#include <ggml.h>
#include <gguf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <random>
#include <thread>
#include <vector>

namespace sleeptime {
namespace {

// llama.cpp's llama_token_type values (tokenizer.ggml.token_type).
constexpr int32_t kTokenTypeNormal = 1;
constexpr int32_t kTokenTypeUnknown = 2;
constexpr int32_t kTokenTypeControl = 3;
constexpr int32_t kTokenTypeByte = 6;

// llama_ftype values (general.file_type).
constexpr uint32_t kFileTypeAllF32 = 0;
constexpr uint32_t kFileTypeMostlyF16 = 1;

constexpr int64_t kChunkElements = int64_t{1} << 16;

struct GgufDeleter {
  void operator()(gguf_context* ctx) const { gguf_free(ctx); }
};
using GgufPtr = std::unique_ptr<gguf_context, GgufDeleter>;

struct GgmlDeleter {
  void operator()(ggml_context* ctx) const { ggml_free(ctx); }
};
using GgmlPtr = std::unique_ptr<ggml_context, GgmlDeleter>;

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Standard normal samples by Marsaglia's polar method, two per accepted pair of
// 32-bit uniforms taken from one 64-bit draw (std::normal_distribution's
// algorithm is implementation-defined; this keeps files identical across
// standard libraries, and needs no trigonometry).
void FillGaussian(std::mt19937_64& rng, float std_dev, float* out, int64_t n) {
  constexpr double kScale = 0x1.0p-31;
  int64_t i = 0;
  while (i < n) {
    double u, v, s;
    do {
      const uint64_t x = rng();
      u = static_cast<double>(static_cast<uint32_t>(x >> 32)) * kScale - 1.0;
      v = static_cast<double>(static_cast<uint32_t>(x)) * kScale - 1.0;
      s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    const double m = std::sqrt(-2.0 * std::log(s) / s) * std_dev;
    out[i++] = static_cast<float>(u * m);
    if (i < n) out[i++] = static_cast<float>(v * m);
  }
}

struct TensorPlan {
  std::string name;
  int64_t ne0 = 0;  // input dimension (fan-in)
  int64_t ne1 = 1;  // 1 for vectors
  bool is_norm = false;
  ggml_type type = GGML_TYPE_F32;

  int64_t elements() const { return ne0 * ne1; }
};

std::vector<TensorPlan> PlanTensors(const RandomModelSpec& spec, int n_vocab) {
  const ggml_type wtype = spec.f16 ? GGML_TYPE_F16 : GGML_TYPE_F32;
  const int64_t n_embd = spec.n_embd;
  const int64_t n_embd_kv = static_cast<int64_t>(spec.n_embd / spec.n_head) * spec.n_head_kv;
  const int64_t n_ff = spec.n_ff;
  std::vector<TensorPlan> plan;
  auto matrix = [&](std::string name, int64_t ne0, int64_t ne1) {
    plan.push_back({std::move(name), ne0, ne1, false, wtype});
  };
  auto norm = [&](std::string name) { plan.push_back({std::move(name), n_embd, 1, true, GGML_TYPE_F32}); };

  matrix("token_embd.weight", n_embd, n_vocab);
  norm("output_norm.weight");
  matrix("output.weight", n_embd, n_vocab);
  for (int il = 0; il < spec.n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    norm(p + "attn_norm.weight");
    matrix(p + "attn_q.weight", n_embd, n_embd);
    matrix(p + "attn_k.weight", n_embd, n_embd_kv);
    matrix(p + "attn_v.weight", n_embd, n_embd_kv);
    matrix(p + "attn_output.weight", n_embd, n_embd);
    norm(p + "ffn_norm.weight");
    matrix(p + "ffn_gate.weight", n_embd, n_ff);
    matrix(p + "ffn_up.weight", n_embd, n_ff);
    matrix(p + "ffn_down.weight", n_ff, n_embd);
  }
  return plan;
}

Status ValidateSpec(const RandomModelSpec& spec) {
  auto bad = [](const std::string& m) { return Status::InvalidArgument("random model: " + m); };
  if (spec.n_embd <= 0) return bad("n_embd must be positive, got " + std::to_string(spec.n_embd));
  if (spec.n_layer <= 0) return bad("n_layer must be positive, got " + std::to_string(spec.n_layer));
  if (spec.n_head <= 0) return bad("n_head must be positive, got " + std::to_string(spec.n_head));
  if (spec.n_head_kv <= 0) return bad("n_head_kv must be positive, got " + std::to_string(spec.n_head_kv));
  if (spec.n_ff <= 0) return bad("n_ff must be positive, got " + std::to_string(spec.n_ff));
  if (spec.n_ctx_train <= 0)
    return bad("n_ctx_train must be positive, got " + std::to_string(spec.n_ctx_train));
  if (spec.n_embd % spec.n_head != 0) {
    return bad("n_embd " + std::to_string(spec.n_embd) + " is not a multiple of n_head " +
               std::to_string(spec.n_head));
  }
  if ((spec.n_embd / spec.n_head) % 2 != 0) {
    return bad("head dimension n_embd/n_head = " + std::to_string(spec.n_embd / spec.n_head) +
               " must be even for RoPE");
  }
  if (spec.n_head_kv > spec.n_head || spec.n_head % spec.n_head_kv != 0) {
    return bad("n_head " + std::to_string(spec.n_head) + " is not a multiple of n_head_kv " +
               std::to_string(spec.n_head_kv));
  }
  if (!std::isfinite(spec.init_scale) || spec.init_scale <= 0.0f) {
    return bad("init_scale must be positive and finite");
  }
  return Status::Ok();
}

void SetByteVocab(gguf_context* ctx) {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<int32_t> types = {kTokenTypeUnknown, kTokenTypeControl, kTokenTypeControl};
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
    tokens.emplace_back(buf);
    types.push_back(kTokenTypeByte);
  }
  // llama.cpp's SPM tokenizer escapes ' ' as U+2581 before tokenizing and only
  // turns U+2581 back into ' ' for NORMAL tokens, so without this token a space
  // would round-trip as the three bytes of "▁".
  tokens.emplace_back("\xE2\x96\x81");
  types.push_back(kTokenTypeNormal);

  std::vector<const char*> token_ptrs;
  token_ptrs.reserve(tokens.size());
  for (const auto& t : tokens) token_ptrs.push_back(t.c_str());
  const std::vector<float> scores(tokens.size(), 0.0f);

  gguf_set_val_str(ctx, "tokenizer.ggml.model", "llama");
  gguf_set_arr_str(ctx, "tokenizer.ggml.tokens", token_ptrs.data(), token_ptrs.size());
  gguf_set_arr_data(ctx, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores.data(), scores.size());
  gguf_set_arr_data(ctx, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types.data(), types.size());
  gguf_set_val_u32(ctx, "tokenizer.ggml.bos_token_id", 1);
  gguf_set_val_u32(ctx, "tokenizer.ggml.eos_token_id", 2);
  gguf_set_val_u32(ctx, "tokenizer.ggml.unknown_token_id", 0);
  gguf_set_val_bool(ctx, "tokenizer.ggml.add_bos_token", true);
  gguf_set_val_bool(ctx, "tokenizer.ggml.add_eos_token", false);
  gguf_set_val_bool(ctx, "tokenizer.ggml.add_space_prefix", false);
}

// Copies every tokenizer.* key of the GGUF at `path` into `dst`; sets *n_vocab.
Status CopyVocab(const std::string& path, gguf_context* dst, int* n_vocab) {
  gguf_init_params params{/*no_alloc=*/true, /*ctx=*/nullptr};
  GgufPtr src(gguf_init_from_file(path.c_str(), params));
  if (!src) return Status::IoError("cannot read vocabulary GGUF '" + path + "'");

  const int64_t tokens_id = gguf_find_key(src.get(), "tokenizer.ggml.tokens");
  if (tokens_id < 0 || gguf_get_kv_type(src.get(), tokens_id) != GGUF_TYPE_ARRAY ||
      gguf_get_arr_type(src.get(), tokens_id) != GGUF_TYPE_STRING) {
    return Status::InvalidArgument("vocabulary GGUF '" + path +
                                   "' has no tokenizer.ggml.tokens string array");
  }
  const size_t n = gguf_get_arr_n(src.get(), tokens_id);
  if (n == 0 || n > static_cast<size_t>(INT32_MAX)) {
    return Status::InvalidArgument("vocabulary GGUF '" + path + "' has " + std::to_string(n) + " tokens");
  }
  *n_vocab = static_cast<int>(n);

  const std::string prefix = "tokenizer.";
  const int64_t n_kv = gguf_get_n_kv(src.get());
  for (int64_t i = 0; i < n_kv; ++i) {
    const char* key = gguf_get_key(src.get(), i);
    if (std::strncmp(key, prefix.c_str(), prefix.size()) != 0) continue;
    const gguf_type type = gguf_get_kv_type(src.get(), i);
    if (type == GGUF_TYPE_ARRAY) {
      const gguf_type arr_type = gguf_get_arr_type(src.get(), i);
      const size_t arr_n = gguf_get_arr_n(src.get(), i);
      if (arr_type == GGUF_TYPE_STRING) {
        std::vector<const char*> strs(arr_n);
        for (size_t j = 0; j < arr_n; ++j) strs[j] = gguf_get_arr_str(src.get(), i, j);
        gguf_set_arr_str(dst, key, strs.data(), arr_n);
      } else if (arr_type == GGUF_TYPE_ARRAY) {
        return Status::InvalidArgument("vocabulary GGUF '" + path + "': nested array key '" + key +
                                       "' is not supported");
      } else {
        gguf_set_arr_data(dst, key, arr_type, gguf_get_arr_data(src.get(), i), arr_n);
      }
      continue;
    }
    switch (type) {
      case GGUF_TYPE_UINT8:
        gguf_set_val_u8(dst, key, gguf_get_val_u8(src.get(), i));
        break;
      case GGUF_TYPE_INT8:
        gguf_set_val_i8(dst, key, gguf_get_val_i8(src.get(), i));
        break;
      case GGUF_TYPE_UINT16:
        gguf_set_val_u16(dst, key, gguf_get_val_u16(src.get(), i));
        break;
      case GGUF_TYPE_INT16:
        gguf_set_val_i16(dst, key, gguf_get_val_i16(src.get(), i));
        break;
      case GGUF_TYPE_UINT32:
        gguf_set_val_u32(dst, key, gguf_get_val_u32(src.get(), i));
        break;
      case GGUF_TYPE_INT32:
        gguf_set_val_i32(dst, key, gguf_get_val_i32(src.get(), i));
        break;
      case GGUF_TYPE_FLOAT32:
        gguf_set_val_f32(dst, key, gguf_get_val_f32(src.get(), i));
        break;
      case GGUF_TYPE_BOOL:
        gguf_set_val_bool(dst, key, gguf_get_val_bool(src.get(), i));
        break;
      case GGUF_TYPE_STRING:
        gguf_set_val_str(dst, key, gguf_get_val_str(src.get(), i));
        break;
      case GGUF_TYPE_UINT64:
        gguf_set_val_u64(dst, key, gguf_get_val_u64(src.get(), i));
        break;
      case GGUF_TYPE_INT64:
        gguf_set_val_i64(dst, key, gguf_get_val_i64(src.get(), i));
        break;
      case GGUF_TYPE_FLOAT64:
        gguf_set_val_f64(dst, key, gguf_get_val_f64(src.get(), i));
        break;
      default:
        return Status::InvalidArgument("vocabulary GGUF '" + path + "': key '" + key +
                                       "' has unsupported type");
    }
  }
  return Status::Ok();
}

// Fills `out` (ggml type `type`, `n` elements) with the data of tensor
// `tensor_index`; matrices are Gaussian, generated in parallel chunks.
void GenerateTensor(const TensorPlan& t, uint64_t seed, uint64_t tensor_index, float init_scale,
                    std::vector<uint8_t>& out) {
  const int64_t n = t.elements();
  const size_t elem_size = ggml_type_size(t.type);
  out.resize(static_cast<size_t>(n) * elem_size);
  if (t.is_norm) {
    auto* dst = reinterpret_cast<float*>(out.data());
    std::fill(dst, dst + n, 1.0f);
    return;
  }
  const float std_dev = init_scale / std::sqrt(static_cast<float>(t.ne0));
  const int64_t n_chunks = (n + kChunkElements - 1) / kChunkElements;
  const uint64_t tensor_seed = SplitMix64(seed ^ SplitMix64(tensor_index + 0x5157));
  std::atomic<int64_t> next_chunk{0};

  auto worker = [&]() {
    std::vector<float> tmp(t.type == GGML_TYPE_F32 ? 0 : kChunkElements);
    for (int64_t c = next_chunk.fetch_add(1); c < n_chunks; c = next_chunk.fetch_add(1)) {
      std::mt19937_64 rng(SplitMix64(tensor_seed + static_cast<uint64_t>(c)));
      const int64_t begin = c * kChunkElements;
      const int64_t len = std::min(kChunkElements, n - begin);
      if (t.type == GGML_TYPE_F32) {
        FillGaussian(rng, std_dev, reinterpret_cast<float*>(out.data()) + begin, len);
      } else {
        FillGaussian(rng, std_dev, tmp.data(), len);
        ggml_fp32_to_fp16_row(tmp.data(), reinterpret_cast<ggml_fp16_t*>(out.data()) + begin, len);
      }
    }
  };

  const int64_t hw = std::max<int64_t>(1, std::thread::hardware_concurrency());
  const int64_t n_threads = std::min<int64_t>({hw, 8, n_chunks});
  std::vector<std::thread> threads;
  for (int64_t i = 1; i < n_threads; ++i) threads.emplace_back(worker);
  worker();
  for (auto& th : threads) th.join();
}

std::string ErrnoText() {
  return std::strerror(errno);
}

// Writes everything to the already-open temporary file `f`.
Status WriteFile(const RandomModelSpec& spec, gguf_context* ctx, const std::vector<TensorPlan>& plan, FILE* f,
                 const std::string& tmp_path) {
  const size_t meta_size = gguf_get_meta_size(ctx);
  {
    std::vector<uint8_t> meta(meta_size);
    gguf_get_meta_data(ctx, meta.data());
    if (std::fwrite(meta.data(), 1, meta.size(), f) != meta.size()) {
      return Status::IoError("cannot write '" + tmp_path + "': " + ErrnoText());
    }
  }
  const size_t alignment = gguf_get_alignment(ctx);
  const std::vector<uint8_t> zeros(alignment, 0);
  // Tensor i is generated into bufs[i % 2] while tensor i-1 is being written
  // from the other buffer.
  std::vector<uint8_t> bufs[2];
  auto write_tensor = [&](const std::vector<uint8_t>& data) -> Status {
    if (std::fwrite(data.data(), 1, data.size(), f) != data.size()) {
      return Status::IoError("cannot write '" + tmp_path + "': " + ErrnoText());
    }
    const size_t pad = GGML_PAD(data.size(), alignment) - data.size();
    if (pad > 0 && std::fwrite(zeros.data(), 1, pad, f) != pad) {
      return Status::IoError("cannot write '" + tmp_path + "': " + ErrnoText());
    }
    return Status::Ok();
  };
  std::future<Status> pending;  // destroyed (joined) before bufs
  size_t offset = 0;            // relative to the start of the data section
  for (size_t i = 0; i < plan.size(); ++i) {
    const int64_t id = static_cast<int64_t>(i);
    if (gguf_get_tensor_offset(ctx, id) != offset) {
      return Status::Internal("random model: tensor offset mismatch for " + plan[i].name);
    }
    std::vector<uint8_t>& data = bufs[i % 2];
    GenerateTensor(plan[i], spec.seed, i, spec.init_scale, data);
    if (data.size() != gguf_get_tensor_size(ctx, id)) {
      return Status::Internal("random model: tensor size mismatch for " + plan[i].name);
    }
    offset += GGML_PAD(data.size(), alignment);
    if (pending.valid()) ST_RETURN_IF_ERROR(pending.get());
    pending = std::async(std::launch::async, write_tensor, std::cref(data));
  }
  if (pending.valid()) ST_RETURN_IF_ERROR(pending.get());
  if (std::fflush(f) != 0 || ::fsync(fileno(f)) != 0) {
    return Status::IoError("cannot write '" + tmp_path + "': " + ErrnoText());
  }
  return Status::Ok();
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
  ST_RETURN_IF_ERROR(ValidateSpec(spec));
  if (path.empty()) return Status::InvalidArgument("random model: empty output path");

  GgufPtr ctx(gguf_init_empty());
  if (!ctx) return Status::Internal("random model: gguf_init_empty failed");
  gguf_context* g = ctx.get();

  gguf_set_val_str(g, "general.architecture", "llama");
  gguf_set_val_str(g, "general.name", spec.name.c_str());
  gguf_set_val_u32(g, "general.file_type", spec.f16 ? kFileTypeMostlyF16 : kFileTypeAllF32);
  gguf_set_val_u32(g, "llama.context_length", static_cast<uint32_t>(spec.n_ctx_train));
  gguf_set_val_u32(g, "llama.embedding_length", static_cast<uint32_t>(spec.n_embd));
  gguf_set_val_u32(g, "llama.block_count", static_cast<uint32_t>(spec.n_layer));
  gguf_set_val_u32(g, "llama.feed_forward_length", static_cast<uint32_t>(spec.n_ff));
  gguf_set_val_u32(g, "llama.attention.head_count", static_cast<uint32_t>(spec.n_head));
  gguf_set_val_u32(g, "llama.attention.head_count_kv", static_cast<uint32_t>(spec.n_head_kv));
  gguf_set_val_u32(g, "llama.rope.dimension_count", static_cast<uint32_t>(spec.n_embd / spec.n_head));
  gguf_set_val_f32(g, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
  gguf_set_val_f32(g, "llama.rope.freq_base", 10000.0f);

  int n_vocab = 0;
  if (spec.vocab_from.empty()) {
    SetByteVocab(g);
    n_vocab = kByteVocabSize;
  } else {
    ST_RETURN_IF_ERROR(CopyVocab(spec.vocab_from, g, &n_vocab));
  }
  gguf_set_val_u32(g, "llama.vocab_size", static_cast<uint32_t>(n_vocab));

  const std::vector<TensorPlan> plan = PlanTensors(spec, n_vocab);
  ggml_init_params gparams{};
  gparams.mem_size = (plan.size() + 1) * ggml_tensor_overhead();
  gparams.mem_buffer = nullptr;
  gparams.no_alloc = true;
  GgmlPtr gctx(ggml_init(gparams));
  if (!gctx) return Status::Internal("random model: ggml_init failed");
  for (const auto& t : plan) {
    ggml_tensor* tensor = t.ne1 == 1 ? ggml_new_tensor_1d(gctx.get(), t.type, t.ne0)
                                     : ggml_new_tensor_2d(gctx.get(), t.type, t.ne0, t.ne1);
    ggml_set_name(tensor, t.name.c_str());
    gguf_add_tensor(g, tensor);
  }

  // A unique temporary next to the target, renamed over it when complete.
  std::string tmp_path = path + ".tmp.XXXXXX";
  const int fd = ::mkstemp(tmp_path.data());
  if (fd < 0) return Status::IoError("cannot create a temporary file for '" + path + "': " + ErrnoText());
  ::fchmod(fd, 0644);
  FILE* f = ::fdopen(fd, "wb");
  if (f == nullptr) {
    const Status st = Status::IoError("cannot open '" + tmp_path + "': " + ErrnoText());
    ::close(fd);
    ::unlink(tmp_path.c_str());
    return st;
  }
  Status st = WriteFile(spec, g, plan, f, tmp_path);
  if (std::fclose(f) != 0 && st.ok()) st = Status::IoError("cannot close '" + tmp_path + "': " + ErrnoText());
  if (st.ok() && std::rename(tmp_path.c_str(), path.c_str()) != 0) {
    st = Status::IoError("cannot rename '" + tmp_path + "' to '" + path + "': " + ErrnoText());
  }
  if (!st.ok()) ::unlink(tmp_path.c_str());
  return st;
}

}  // namespace sleeptime
