// Llama-architecture GGUF writer shared by the random-weight writer and the
// trainer's exporter (see llama_gguf_writer.h).
//
// The metadata and tensor descriptors are built in a gguf_context; the header is
// written with gguf_get_meta_data and the tensor data is then streamed tensor by
// tensor (with the GGUF alignment padding): tensor i is filled while tensor i-1
// is being written.
#include "backend/llama_gguf_writer.h"

#include <fcntl.h>
#include <ggml.h>
#include <gguf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <vector>

#include "sleeptime/random_model.h"  // kByteVocabSize

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

struct GgufDeleter {
  void operator()(gguf_context* ctx) const { gguf_free(ctx); }
};
using GgufPtr = std::unique_ptr<gguf_context, GgufDeleter>;

struct GgmlDeleter {
  void operator()(ggml_context* ctx) const { ggml_free(ctx); }
};
using GgmlPtr = std::unique_ptr<ggml_context, GgmlDeleter>;

std::string ErrnoText() {
  return std::strerror(errno);
}

void SetByteVocab(gguf_context* ctx, bool name_tokens, bool op_tokens) {
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
  if (name_tokens) {
    for (char c = 'A'; c <= 'Z'; ++c) {
      tokens.push_back(std::string(1, c) + "=");
      types.push_back(kTokenTypeNormal);
    }
  }
  if (op_tokens) {
    for (char op : kOpTokenOperators) {
      for (char c = 'A'; c <= 'Z'; ++c) {
        tokens.push_back(std::string{c, op});
        types.push_back(kTokenTypeNormal);
      }
    }
  }

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

ggml_type TensorType(const LlamaGgufSpec& spec, const LlamaTensorInfo& t) {
  return (spec.f16 && !t.is_norm) ? GGML_TYPE_F16 : GGML_TYPE_F32;
}

// Writes everything to the already-open temporary file `f`.
Status WriteFile(const LlamaGgufSpec& spec, gguf_context* ctx, const std::vector<LlamaTensorInfo>& plan,
                 const LlamaTensorFiller& fill, FILE* f, const std::string& tmp_path) {
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
  // Tensor i is filled into bufs[i % 2] while tensor i-1 is being written
  // from the other buffer.
  std::vector<uint8_t> bufs[2];
  std::vector<float> f32;
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
      return Status::Internal("gguf writer: tensor offset mismatch for " + plan[i].name);
    }
    const int64_t n = plan[i].elements();
    const ggml_type type = TensorType(spec, plan[i]);
    std::vector<uint8_t>& data = bufs[i % 2];
    data.resize(static_cast<size_t>(n) * ggml_type_size(type));
    if (type == GGML_TYPE_F32) {
      Status st = fill(plan[i], i, reinterpret_cast<float*>(data.data()));
      if (!st.ok()) {
        if (pending.valid()) pending.get();
        return st;
      }
    } else {
      f32.resize(static_cast<size_t>(n));
      Status st = fill(plan[i], i, f32.data());
      if (!st.ok()) {
        if (pending.valid()) pending.get();
        return st;
      }
      ggml_fp32_to_fp16_row(f32.data(), reinterpret_cast<ggml_fp16_t*>(data.data()), n);
    }
    if (data.size() != gguf_get_tensor_size(ctx, id)) {
      if (pending.valid()) pending.get();
      return Status::Internal("gguf writer: tensor size mismatch for " + plan[i].name);
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

Status ValidateLlamaGgufSpec(const LlamaGgufSpec& spec) {
  auto bad = [](const std::string& m) { return Status::InvalidArgument("llama model: " + m); };
  if (spec.n_embd <= 0) return bad("n_embd must be positive, got " + std::to_string(spec.n_embd));
  if (spec.n_layer <= 0) return bad("n_layer must be positive, got " + std::to_string(spec.n_layer));
  if (spec.n_head <= 0) return bad("n_head must be positive, got " + std::to_string(spec.n_head));
  if (spec.n_head_kv <= 0) return bad("n_head_kv must be positive, got " + std::to_string(spec.n_head_kv));
  if (spec.n_ff <= 0) return bad("n_ff must be positive, got " + std::to_string(spec.n_ff));
  if (spec.n_ctx_train <= 0)
    return bad("n_ctx_train must be positive, got " + std::to_string(spec.n_ctx_train));
  if (spec.name_tokens && !spec.vocab_from.empty()) return bad("name tokens extend the byte vocabulary only");
  if (spec.op_tokens && !spec.name_tokens) return bad("op tokens extend the name-token vocabulary only");
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
  return Status::Ok();
}

std::vector<LlamaTensorInfo> PlanLlamaTensors(const LlamaGgufSpec& spec, int n_vocab) {
  const int64_t n_embd = spec.n_embd;
  const int64_t n_embd_kv = static_cast<int64_t>(spec.n_embd / spec.n_head) * spec.n_head_kv;
  const int64_t n_ff = spec.n_ff;
  std::vector<LlamaTensorInfo> plan;
  auto matrix = [&](std::string name, int64_t ne0, int64_t ne1) {
    plan.push_back({std::move(name), ne0, ne1, false});
  };
  auto norm = [&](std::string name) { plan.push_back({std::move(name), n_embd, 1, true}); };

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

Result<int> LlamaGgufVocabSize(const LlamaGgufSpec& spec) {
  if (spec.vocab_from.empty()) return ByteVocabSize(spec.name_tokens, spec.op_tokens);
  GgufPtr g(gguf_init_empty());
  int n_vocab = 0;
  ST_RETURN_IF_ERROR(CopyVocab(spec.vocab_from, g.get(), &n_vocab));
  return n_vocab;
}

Status WriteLlamaGguf(const LlamaGgufSpec& spec, const LlamaTensorFiller& fill, const std::string& path) {
  ST_RETURN_IF_ERROR(ValidateLlamaGgufSpec(spec));
  if (path.empty()) return Status::InvalidArgument("llama model: empty output path");

  GgufPtr ctx(gguf_init_empty());
  if (!ctx) return Status::Internal("gguf writer: gguf_init_empty failed");
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
  gguf_set_val_f32(g, "llama.attention.layer_norm_rms_epsilon", spec.rms_eps);
  gguf_set_val_f32(g, "llama.rope.freq_base", spec.rope_freq_base);
  for (const auto& [key, value] : spec.string_metadata) gguf_set_val_str(g, key.c_str(), value.c_str());

  int n_vocab = 0;
  if (spec.vocab_from.empty()) {
    SetByteVocab(g, spec.name_tokens, spec.op_tokens);
    n_vocab = ByteVocabSize(spec.name_tokens, spec.op_tokens);
  } else {
    ST_RETURN_IF_ERROR(CopyVocab(spec.vocab_from, g, &n_vocab));
  }
  gguf_set_val_u32(g, "llama.vocab_size", static_cast<uint32_t>(n_vocab));

  const std::vector<LlamaTensorInfo> plan = PlanLlamaTensors(spec, n_vocab);
  ggml_init_params gparams{};
  gparams.mem_size = (plan.size() + 1) * ggml_tensor_overhead();
  gparams.mem_buffer = nullptr;
  gparams.no_alloc = true;
  GgmlPtr gctx(ggml_init(gparams));
  if (!gctx) return Status::Internal("gguf writer: ggml_init failed");
  for (const auto& t : plan) {
    const ggml_type type = TensorType(spec, t);
    ggml_tensor* tensor = t.ne1 == 1 ? ggml_new_tensor_1d(gctx.get(), type, t.ne0)
                                     : ggml_new_tensor_2d(gctx.get(), type, t.ne0, t.ne1);
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
  Status st = WriteFile(spec, g, plan, fill, f, tmp_path);
  if (std::fclose(f) != 0 && st.ok()) st = Status::IoError("cannot close '" + tmp_path + "': " + ErrnoText());
  if (st.ok() && std::rename(tmp_path.c_str(), path.c_str()) != 0) {
    st = Status::IoError("cannot rename '" + tmp_path + "' to '" + path + "': " + ErrnoText());
  }
  if (!st.ok()) ::unlink(tmp_path.c_str());
  return st;
}

}  // namespace sleeptime
