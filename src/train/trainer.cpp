// The demo-model trainer (see sleeptime/trainer.h).
//
// Memory: weights, AdamW moments and a few small optimizer tensors live in one
// static CPU backend buffer. Each step builds a fresh graph (the number of
// completion tokens, hence the loss tensor's shape, changes from batch to
// batch): forward, ggml_build_backward_expand, one ggml_opt_step_adamw per
// weight; a ggml_gallocr reuses one compute buffer across steps.
#include "sleeptime/trainer.h"

#include <fcntl.h>
#include <ggml-alloc.h>
#include <ggml-backend.h>
#include <ggml-cpu.h>
#include <ggml.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <type_traits>

#include "backend/llama_gguf_writer.h"
#include "common/random.h"
#include "sleeptime/demo_eval.h"
#include "sleeptime/engine.h"
#include "sleeptime/prompts.h"
#include "sleeptime/random_model.h"

namespace sleeptime {
namespace {

constexpr float kRmsEps = 1e-5f;
constexpr float kRopeFreqBase = 10000.0f;
// The last byte is the format version; older files still load (version 4 has
// no factor_op_tokens, 4 and 5 no arithmetic drills, 4 to 6 no pack_window
// and no list of examples waiting to be packed, 4 to 7 no value lines, 4 to 8
// no reversed results and no notes_every_fact, 4 to 9 no
// hypothetical_relations, 4 to 10 no short_from_notes, 4 to 11 no
// short_named_operands, 4 to 12 no short_factors, 4 to 13 no short_paths,
// 4 to 14 no compact_paths, 4 to 15 no hypothetical drills, 4 to 16 no
// notes_factors, 4 to 17 no factor_block, 4 to 18 no notes_sweeps, 4 to 19
// no keep_notes, 4 to 20 no reversed_changes; version 10 is ':', the byte after '9', 11 is ';', 12 is
// '<', 13 is '=', 14 is '>', 15 is '?', 16 is '@', 17 is 'A', 18 is 'B', 19
// is 'C', 20 is 'D' and 21 is 'E').
constexpr char kCheckpointMagic[8] = {'S', 'T', 'T', 'R', 'N', 'C', 'K', 'E'};
constexpr char kOldestCheckpointVersion = '4';
constexpr char kCheckpointFile[] = "checkpoint.bin";

LlamaGgufSpec GgufSpec(const TrainerConfig& c) {
  LlamaGgufSpec s;
  s.n_embd = c.n_embd;
  s.n_layer = c.n_layer;
  s.n_head = c.n_head;
  s.n_head_kv = c.n_head;
  s.n_ff = c.n_ff;
  s.n_ctx_train = c.n_ctx;
  s.name = "sleeptime-demo";
  s.rms_eps = kRmsEps;
  s.rope_freq_base = kRopeFreqBase;
  s.name_tokens = c.name_tokens;
  s.op_tokens = c.op_tokens;
  return s;
}

Status ValidateConfig(const TrainerConfig& c) {
  ST_RETURN_IF_ERROR(ValidateLlamaGgufSpec(GgufSpec(c)));
  auto bad = [](const std::string& m) { return Status::InvalidArgument("trainer: " + m); };
  if (c.n_ctx < 16) return bad("n_ctx must be at least 16");
  if (c.batch_seqs <= 0) return bad("batch_seqs must be positive");
  if (c.total_steps <= 0) return bad("total_steps must be positive");
  if (!(c.lr > 0) || !(c.lr_min_ratio >= 0) || c.warmup_steps < 0) return bad("bad learning-rate schedule");
  if (!(c.beta1 >= 0 && c.beta1 < 1) || !(c.beta2 >= 0 && c.beta2 < 1)) return bad("bad AdamW betas");
  if (!(c.weight_decay >= 0 && c.weight_decay * c.lr <= 1)) return bad("bad weight decay");
  if (c.threads <= 0) return bad("threads must be positive");
  if (c.factor_op_tokens && !c.op_tokens) return bad("factor_op_tokens needs op_tokens");
  const lang::TraceStyle& style = c.mix.style;
  if (style.short_named_operands && !style.short_from_notes)
    return bad("short_named_operands (--short-named-operands) needs short_from_notes (--short-from-notes)");
  if (style.short_factors && !style.short_from_notes)
    return bad("short_factors (--short-factors) needs short_from_notes (--short-from-notes)");
  if (style.short_paths && !style.short_from_notes)
    return bad("short_paths (--short-paths) needs short_from_notes (--short-from-notes)");
  if (style.compact_paths && !style.short_paths)
    return bad("compact_paths (--compact-paths) needs short_paths (--short-paths)");
  if (style.notes_factors && !style.short_from_notes)
    return bad("notes_factors (--notes-factors) needs short_from_notes (--short-from-notes)");
  if (style.factor_block && !style.notes_factors)
    return bad("factor_block (--factor-block) needs notes_factors (--notes-factors)");
  if (style.reversed_changes && !style.short_from_notes)
    return bad("reversed_changes (--reversed-changes) needs short_from_notes (--short-from-notes)");
  if (style.sweep_lookups && !style.notes_sweeps)
    return bad("sweep_lookups (--sweep-lookups) needs notes_sweeps (--notes-sweeps)");
  if (style.notes_sweeps && style.notes_every_fact)
    return bad(
        "notes_sweeps (--notes-sweeps) gives every fact an entry in each sweep in place of "
        "notes_every_fact's walks (--notes-every-fact): set one");
  if (style.notes_factors && (style.short_paths || style.short_factors))
    return bad(
        "notes_factors (--notes-factors) reads the factor from the notes in place of short_paths' path "
        "(--short-paths) or short_factors' factor (--short-factors): set one");
  if (style.short_paths && style.short_factors)
    return bad(
        "short_paths (--short-paths) writes the path in place of short_factors' factor (--short-factors): "
        "set one");
  if (c.pack_window < 1) return bad("pack_window must be at least 1");
  return Status::Ok();
}

// ---- Binary serialization helpers (little-endian hosts only) ----
class Writer {
 public:
  void Bytes(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    buf_.insert(buf_.end(), b, b + n);
  }
  template <typename T>
  void Pod(const T& v) {
    Bytes(&v, sizeof(v));
  }
  void Str(const std::string& s) {
    Pod<uint64_t>(s.size());
    Bytes(s.data(), s.size());
  }
  const std::vector<uint8_t>& data() const { return buf_; }

 private:
  std::vector<uint8_t> buf_;
};

class Reader {
 public:
  explicit Reader(std::vector<uint8_t> data) : buf_(std::move(data)) {}
  bool Bytes(void* p, size_t n) {
    if (pos_ + n > buf_.size()) return false;
    std::memcpy(p, buf_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  template <typename T>
  bool Pod(T* v) {
    return Bytes(v, sizeof(*v));
  }
  bool Str(std::string* s) {
    uint64_t n = 0;
    if (!Pod(&n) || n > buf_.size() - pos_) return false;
    s->assign(reinterpret_cast<const char*>(buf_.data() + pos_), n);
    pos_ += n;
    return true;
  }
  bool done() const { return pos_ == buf_.size(); }

 private:
  std::vector<uint8_t> buf_;
  size_t pos_ = 0;
};

// The checkpointed config, in on-disk order, once for writing and reading
// alike, so the two cannot drift apart. `io` maps each member's type to its
// fixed on-disk width (int -> i32, size_t -> u64).
template <typename IO, typename Config>
void ConfigFields(IO& io, Config& c, char version) {
  io(c.n_embd), io(c.n_layer), io(c.n_head), io(c.n_ff), io(c.n_ctx), io(c.seed), io(c.batch_seqs);
  io(c.name_tokens), io(c.op_tokens);
  if (version >= '5') io(c.factor_op_tokens);
  auto& g = c.generator;
  io(g.min_facts), io(g.max_facts), io(g.max_depth), io(g.queries_per_problem);
  io(g.max_base_value), io(g.max_constant), io(g.max_mul_source);
  io(g.weight_value), io(g.weight_combination), io(g.weight_hypothetical);
  auto& m = c.mix;
  io(m.sleep_rate), io(m.notes_rate), io(m.two_notes_rate), io(m.direct_rate), io(m.forced_rate);
  io(m.max_anticipated), io(m.max_bytes), io(m.queries_per_example), io(m.lookup_rate), io(m.lookup_rounds);
  if (version >= '6') io(m.arithmetic_rate), io(m.arithmetic_items);
  io(c.curriculum_problems), io(c.curriculum_max_facts), io(c.curriculum_max_depth);
  io(c.curriculum_lookup_rate);
  io(c.total_steps), io(c.lr), io(c.lr_min_ratio), io(c.warmup_steps);
  io(c.beta1), io(c.beta2), io(c.eps), io(c.weight_decay), io(c.init_std);
  if (version >= '7') io(c.pack_window);
  if (version >= '8') io(m.style.value_lines);
  if (version >= '9') io(m.style.reversed_results), io(m.style.notes_every_fact);
  if (version >= ':') io(m.style.hypothetical_relations);
  if (version >= ';') io(m.style.short_from_notes);
  if (version >= '<') io(m.style.short_named_operands);
  if (version >= '=') io(m.style.short_factors);
  if (version >= '>') io(m.style.short_paths);
  if (version >= '?') io(m.style.compact_paths);
  if (version >= '@') io(m.hypothetical_drill_rate);
  if (version >= 'A') io(m.style.notes_factors);
  if (version >= 'B') io(m.style.factor_block);
  if (version >= 'C') io(m.style.notes_sweeps);
  if (version >= 'C') io(m.style.sweep_lookups);
  if (version >= 'D') io(m.keep_notes);
  if (version >= 'E') io(m.style.reversed_changes);
}

template <typename T>
using DiskType = std::conditional_t<std::is_same_v<T, int>, int32_t,
                                    std::conditional_t<std::is_same_v<T, size_t>, uint64_t, T>>;

void WriteConfig(Writer& w, const TrainerConfig& c) {
  auto io = [&w](const auto& v) { w.Pod(static_cast<DiskType<std::decay_t<decltype(v)>>>(v)); };
  ConfigFields(io, c, kCheckpointMagic[7]);
}

bool ReadConfig(Reader& r, TrainerConfig* c, char version) {
  bool ok = true;
  auto io = [&](auto& v) {
    using T = std::decay_t<decltype(v)>;
    DiskType<T> d{};
    ok = ok && r.Pod(&d);
    v = static_cast<T>(d);
  };
  ConfigFields(io, *c, version);
  return ok;
}

std::string ErrnoText() {
  return std::strerror(errno);
}

Status WriteFileAtomic(const std::string& path, const std::vector<uint8_t>& data) {
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return Status::IoError("cannot create '" + tmp + "': " + ErrnoText());
  bool ok = std::fwrite(data.data(), 1, data.size(), f) == data.size();
  ok = ok && std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) {
    ::unlink(tmp.c_str());
    return Status::IoError("cannot write '" + tmp + "': " + ErrnoText());
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Status::IoError("cannot rename '" + tmp + "' to '" + path + "': " + ErrnoText());
  }
  return Status::Ok();
}

// One packed batch: rows of n_ctx tokens, examples back to back.
struct Batch {
  std::vector<int32_t> tokens;     // T*B
  std::vector<int32_t> positions;  // T*B (position within the example)
  std::vector<int32_t> segment;    // T*B: example id, -1 for padding
  std::vector<int32_t> loss_rows;  // flattened indices whose next token is a completion token
  std::vector<int32_t> labels;     // the token predicted at each loss row
  int64_t real_tokens = 0;
  int64_t examples = 0;
};

// Calls f(op token, its letter's byte token, its operator's byte token) for each op token.
template <typename F>
void ForEachOpToken(F&& f) {
  for (char op : kOpTokenOperators) {
    for (char letter = 'A'; letter <= 'Z'; ++letter) f(OpToken(letter, op), ByteToken(letter), ByteToken(op));
  }
}

// The tensors that hold one vector per token, [n_embd, n_vocab].
bool IsTokenTable(const std::string& name) {
  return name == "token_embd.weight" || name == "output.weight";
}

// factor_op_tokens: a token table as the model uses it, from the stored one.
void EffectiveTokenTable(int64_t n_embd, float* table) {
  ForEachOpToken([&](int32_t token, int32_t letter, int32_t op) {
    for (int64_t e = 0; e < n_embd; ++e)
      table[token * n_embd + e] += table[letter * n_embd + e] + table[op * n_embd + e];
  });
}

}  // namespace

std::vector<int32_t> TokenizeBytes(std::string_view text, bool add_bos, bool name_tokens, bool op_tokens) {
  std::vector<int32_t> out;
  out.reserve(text.size() + 1);
  if (add_bos) out.push_back(kBosToken);
  for (size_t i = 0; i < text.size(); ++i) {
    const auto b = static_cast<unsigned char>(text[i]);
    if (name_tokens && b >= 'A' && b <= 'Z' && i + 1 < text.size() && text[i + 1] == '=') {
      out.push_back(NameToken(static_cast<char>(b)));
      ++i;
    } else if (op_tokens && b >= 'A' && b <= 'Z' && i + 1 < text.size() && OpToken('A', text[i + 1]) >= 0) {
      out.push_back(OpToken(static_cast<char>(b), text[i + 1]));
      ++i;
    } else if (b == ' ') {
      out.push_back(kSpaceToken);
    } else if (b == 0xE2 && i + 2 < text.size() && static_cast<unsigned char>(text[i + 1]) == 0x96 &&
               static_cast<unsigned char>(text[i + 2]) == 0x81) {
      out.push_back(kSpaceToken);
      i += 2;
    } else {
      out.push_back(ByteToken(b));
    }
  }
  return out;
}

// dst (contiguous F32) = a (any strides, same shape), copied in 32x32 tiles
// so that both the reads and the writes stay in cache; rows of tiles are
// split between threads.
void BlockedCopy(ggml_tensor* dst, const ggml_tensor* a, int ith, int nth, void*) {
  constexpr int64_t kTile = 32;
  const int64_t ne0 = a->ne[0], ne1 = a->ne[1], ne2 = a->ne[2], ne3 = a->ne[3];
  const int64_t tiles1 = (ne1 + kTile - 1) / kTile;
  const int64_t units = tiles1 * ne2 * ne3;
  const int64_t per = (units + nth - 1) / nth;
  const int64_t u0 = per * ith, u1 = std::min(units, u0 + per);
  auto* out = static_cast<float*>(dst->data);
  const auto* in = static_cast<const char*>(a->data);
  for (int64_t u = u0; u < u1; ++u) {
    const int64_t t1 = u % tiles1;
    const int64_t i2 = (u / tiles1) % ne2;
    const int64_t i3 = u / (tiles1 * ne2);
    const int64_t b1 = t1 * kTile, e1 = std::min(ne1, b1 + kTile);
    const char* src23 = in + i2 * a->nb[2] + i3 * a->nb[3];
    float* dst23 = out + (i3 * ne2 + i2) * ne1 * ne0;
    for (int64_t b0 = 0; b0 < ne0; b0 += kTile) {
      const int64_t e0 = std::min(ne0, b0 + kTile);
      for (int64_t i1 = b1; i1 < e1; ++i1) {
        float* d = dst23 + i1 * ne0;
        const char* srow = src23 + i1 * a->nb[1];
        for (int64_t i0 = b0; i0 < e0; ++i0) d[i0] = *reinterpret_cast<const float*>(srow + i0 * a->nb[0]);
      }
    }
  }
}

struct Trainer::Impl {
  TrainerConfig config;
  ggml_backend_t backend = nullptr;
  ggml_context* ctx_static = nullptr;
  ggml_backend_buffer_t buf_static = nullptr;
  ggml_gallocr_t galloc = nullptr;

  std::vector<LlamaTensorInfo> plan;
  std::vector<ggml_tensor*> weights, moment1, moment2;
  // factor_op_tokens: the constant [n_vocab, n_vocab] map from stored to
  // effective token vectors (identity, plus letter and operator for op tokens).
  ggml_tensor* op_factors = nullptr;
  ggml_tensor* loss_grad = nullptr;      // scalar 1: the loss's incoming gradient
  ggml_tensor* adamw_decay = nullptr;    // 7 AdamW parameters, matrices
  ggml_tensor* adamw_nodecay = nullptr;  // norms
  std::vector<uint8_t> compute_meta;

  // Training state.
  int64_t step = 0;
  int64_t tokens_seen = 0;
  int64_t loss_tokens_seen = 0;
  // The next example of the stream not yet drawn into `pending`.
  uint64_t problem_index = 0;
  uint64_t example_index = 0;
  // Examples of problem `cached_problem` (tokenized, with the prompt length).
  uint64_t cached_problem = std::numeric_limits<uint64_t>::max();
  struct TokenizedExample {
    std::vector<int32_t> tokens;
    std::vector<uint8_t> loss;  // loss[j]: token j is a completion token
  };
  std::vector<TokenizedExample> cached_examples;
  // Examples drawn from the stream and not yet packed (up to pack_window), in
  // stream order; checkpoints store where each came from, not its tokens.
  struct PendingExample {
    uint64_t problem = 0;
    uint64_t example = 0;
    TokenizedExample data;
  };
  std::vector<PendingExample> pending;

  ~Impl() {
    if (galloc) ggml_gallocr_free(galloc);
    if (buf_static) ggml_backend_buffer_free(buf_static);
    if (ctx_static) ggml_free(ctx_static);
    if (backend) ggml_backend_free(backend);
  }

  int head_dim() const { return config.n_embd / config.n_head; }
  int n_vocab() const { return ByteVocabSize(config.name_tokens, config.op_tokens); }

  Status Init() {
    backend = ggml_backend_cpu_init();
    if (!backend) return Status::Internal("trainer: cannot create the CPU backend");
    ggml_backend_cpu_set_n_threads(backend, config.threads);
    plan = PlanLlamaTensors(GgufSpec(config), n_vocab());
    ggml_init_params p{};
    p.mem_size = (3 * plan.size() + 8) * ggml_tensor_overhead();
    p.no_alloc = true;
    ctx_static = ggml_init(p);
    if (!ctx_static) return Status::Internal("trainer: ggml_init failed");
    for (const auto& t : plan) {
      auto make = [&](const char* prefix) {
        ggml_tensor* x = t.ne1 == 1 ? ggml_new_tensor_1d(ctx_static, GGML_TYPE_F32, t.ne0)
                                    : ggml_new_tensor_2d(ctx_static, GGML_TYPE_F32, t.ne0, t.ne1);
        ggml_format_name(x, "%s%s", prefix, t.name.c_str());
        return x;
      };
      weights.push_back(make(""));
      moment1.push_back(make("m."));
      moment2.push_back(make("v."));
    }
    for (ggml_tensor* wt : weights) ggml_set_param(wt);  // before any graph is built
    loss_grad = ggml_new_tensor_1d(ctx_static, GGML_TYPE_F32, 1);
    adamw_decay = ggml_new_tensor_1d(ctx_static, GGML_TYPE_F32, 7);
    adamw_nodecay = ggml_new_tensor_1d(ctx_static, GGML_TYPE_F32, 7);
    if (config.factor_op_tokens)
      op_factors = ggml_new_tensor_2d(ctx_static, GGML_TYPE_F32, n_vocab(), n_vocab());
    buf_static = ggml_backend_alloc_ctx_tensors(ctx_static, backend);
    if (!buf_static) return Status::Internal("trainer: cannot allocate the weights");
    ggml_backend_buffer_clear(buf_static, 0);
    const float one = 1.0f;
    ggml_backend_tensor_set(loss_grad, &one, 0, sizeof(one));
    if (op_factors) {
      const size_t V = static_cast<size_t>(n_vocab());
      std::vector<float> m(V * V, 0.0f);  // m[u + v * V]: stored vector u's weight in effective vector v
      for (size_t v = 0; v < V; ++v) m[v + v * V] = 1.0f;
      ForEachOpToken([&](int32_t token, int32_t letter, int32_t op) {
        m[static_cast<size_t>(letter) + token * V] = 1.0f;
        m[static_cast<size_t>(op) + token * V] = 1.0f;
      });
      ggml_backend_tensor_set(op_factors, m.data(), 0, m.size() * sizeof(float));
    }
    galloc = ggml_gallocr_new(ggml_backend_get_default_buffer_type(backend));
    compute_meta.resize(ggml_tensor_overhead() * 8192 + ggml_graph_overhead_custom(16384, true));
    return Status::Ok();
  }

  void InitWeights() {
    const float out_std = config.init_std / std::sqrt(2.0f * static_cast<float>(config.n_layer));
    std::vector<float> data;
    for (size_t i = 0; i < plan.size(); ++i) {
      const auto& t = plan[i];
      data.resize(static_cast<size_t>(t.elements()));
      if (t.is_norm) {
        std::fill(data.begin(), data.end(), 1.0f);
      } else {
        const bool out_proj = t.name.ends_with("attn_output.weight") || t.name.ends_with("ffn_down.weight");
        std::mt19937_64 rng(SplitMix64(config.seed ^ SplitMix64(0x7a11 + i)));
        FillGaussian(rng, out_proj ? out_std : config.init_std, data.data(), t.elements());
        // Factored op tokens start as exactly their letter plus their operator.
        if (config.factor_op_tokens && IsTokenTable(t.name)) {
          ForEachOpToken([&](int32_t token, int32_t, int32_t) {
            std::fill_n(data.begin() + static_cast<int64_t>(token) * t.ne0, t.ne0, 0.0f);
          });
        }
      }
      ggml_backend_tensor_set(weights[i], data.data(), 0, data.size() * sizeof(float));
    }
  }

  // ---- Data ----
  void LoadProblem(uint64_t index) {
    if (cached_problem == index) return;
    const uint64_t seed = lang::SplitSeed(lang::Split::kTrain, (config.seed << 32) + index);
    lang::GeneratorOptions generator = config.generator;
    if (static_cast<int64_t>(index) < config.curriculum_problems) {
      generator.max_facts = std::min(generator.max_facts, config.curriculum_max_facts);
      generator.min_facts = std::min(generator.min_facts, generator.max_facts);
      generator.max_depth = std::min(generator.max_depth, config.curriculum_max_depth);
    }
    const lang::Problem problem = lang::GenerateProblem(seed, generator);
    lang::MixOptions mix = config.mix;
    if (static_cast<int64_t>(index) < config.curriculum_problems && config.curriculum_lookup_rate >= 0)
      mix.lookup_rate = config.curriculum_lookup_rate;
    mix.max_bytes = std::min<size_t>(mix.max_bytes, static_cast<size_t>(config.n_ctx - 1));
    const auto examples = lang::RenderTrainingExamples(problem, SplitMix64(seed ^ 0xe8a3), mix);
    cached_examples.clear();
    for (const auto& ex : examples) {
      TokenizedExample t;
      auto append = [&t, this](const std::string& text, bool loss) {
        const std::vector<int32_t> toks = TokenizeBytes(text, false, config.name_tokens, config.op_tokens);
        t.tokens.insert(t.tokens.end(), toks.begin(), toks.end());
        t.loss.resize(t.tokens.size(), loss ? 1 : 0);
      };
      t.tokens.push_back(kBosToken);
      t.loss.resize(1, 0);
      append(ex.prompt, false);
      append(ex.completion, true);
      for (const auto& f : ex.followups) {
        append(f.prompt, false);
        append(f.completion, true);
      }
      if (t.tokens.size() > static_cast<size_t>(config.n_ctx) || ex.completion.empty()) continue;
      cached_examples.push_back(std::move(t));
    }
    cached_problem = index;
  }

  // The next example (advancing past problems with none left).
  const TokenizedExample& PeekExample() {
    for (;;) {
      LoadProblem(problem_index);
      if (example_index < cached_examples.size()) return cached_examples[example_index];
      ++problem_index;
      example_index = 0;
    }
  }

  void FillPending() {
    while (pending.size() < static_cast<size_t>(config.pack_window)) {
      const TokenizedExample& next = PeekExample();
      pending.push_back(PendingExample{problem_index, example_index, next});
      ++example_index;
    }
  }

  // Rows are filled with the longest waiting example that still fits (the
  // oldest among equals); a row closes when none fits. With pack_window 1 that
  // is the stream order, and a row closes at the first example too long for
  // it, which wastes about half an example per row: a quarter of the batch
  // with this language's 300–500-token examples in 512-token rows.
  Batch NextBatch() {
    const int T = config.n_ctx, B = config.batch_seqs;
    Batch b;
    b.tokens.assign(static_cast<size_t>(T) * B, 0);
    b.positions.assign(static_cast<size_t>(T) * B, 0);
    b.segment.assign(static_cast<size_t>(T) * B, -1);
    int row = 0, cursor = 0;
    int32_t seg = 0;
    while (row < B) {
      FillPending();
      size_t pick = pending.size();
      for (size_t i = 0; i < pending.size(); ++i) {
        const size_t len = pending[i].data.tokens.size();
        if (len <= static_cast<size_t>(T - cursor) &&
            (pick == pending.size() || len > pending[pick].data.tokens.size()))
          pick = i;
      }
      if (pick == pending.size()) {
        ++row;
        cursor = 0;
        continue;
      }
      const auto& [toks, loss] = pending[pick].data;
      const int len = static_cast<int>(toks.size());
      const int base = row * T + cursor;
      for (int j = 0; j < len; ++j) {
        b.tokens[base + j] = toks[j];
        b.positions[base + j] = j;
        b.segment[base + j] = seg;
      }
      // Position j-1 predicts token j.
      for (int j = 1; j < len; ++j) {
        if (!loss[j]) continue;
        b.loss_rows.push_back(base + j - 1);
        b.labels.push_back(toks[j]);
      }
      b.real_tokens += len;
      ++b.examples;
      ++seg;
      cursor += len;
      pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(pick));
    }
    return b;
  }

  // ---- Graph ----
  struct Graph {
    ggml_context* ctx = nullptr;
    ggml_cgraph* gf = nullptr;
    ggml_tensor *tokens, *positions, *mask, *rows, *labels, *logits, *loss;
    ~Graph() {
      if (ctx) ggml_free(ctx);
    }
  };

  // Forward graph for B rows of T tokens; logits of the K gathered rows.
  void BuildForward(Graph& g, int T, int B, int K, bool with_loss) {
    ggml_init_params p{};
    p.mem_size = compute_meta.size();
    p.mem_buffer = compute_meta.data();
    p.no_alloc = true;
    g.ctx = ggml_init(p);
    ggml_context* ctx = g.ctx;
    const int n_embd = config.n_embd, n_head = config.n_head, hd = head_dim();
    const int N = T * B;

    g.tokens = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, N);
    g.positions = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, N);
    g.mask = ggml_new_tensor_4d(ctx, GGML_TYPE_F32, T, T, 1, B);
    g.rows = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, K);
    for (ggml_tensor* t : {g.tokens, g.positions, g.mask, g.rows}) ggml_set_input(t);

    size_t w = 0;
    ggml_tensor* tok_embd = weights[w++];
    ggml_tensor* output_norm = weights[w++];
    ggml_tensor* output = weights[w++];
    if (op_factors) {
      // [n_embd, V] x [V, V]: each effective vector is a sum of stored ones.
      auto effective = [&](ggml_tensor* table) {
        return ggml_mul_mat(ctx, ggml_cont(ctx, ggml_transpose(ctx, table)), op_factors);
      };
      tok_embd = effective(tok_embd);
      output = effective(output);
    }
    ggml_tensor* x = ggml_get_rows(ctx, tok_embd, g.tokens);  // [n_embd, N]
    const float kq_scale = 1.0f / std::sqrt(static_cast<float>(hd));
    for (int il = 0; il < config.n_layer; ++il) {
      ggml_tensor* attn_norm = weights[w++];
      ggml_tensor* wq = weights[w++];
      ggml_tensor* wk = weights[w++];
      ggml_tensor* wv = weights[w++];
      ggml_tensor* wo = weights[w++];
      ggml_tensor* ffn_norm = weights[w++];
      ggml_tensor* w_gate = weights[w++];
      ggml_tensor* w_up = weights[w++];
      ggml_tensor* w_down = weights[w++];

      ggml_tensor* cur = ggml_mul(ctx, ggml_rms_norm(ctx, x, kRmsEps), attn_norm);
      ggml_tensor* q = ggml_reshape_3d(ctx, ggml_mul_mat(ctx, wq, cur), hd, n_head, N);
      ggml_tensor* k = ggml_reshape_3d(ctx, ggml_mul_mat(ctx, wk, cur), hd, n_head, N);
      ggml_tensor* v = ggml_reshape_4d(ctx, ggml_mul_mat(ctx, wv, cur), hd, n_head, T, B);
      q = ggml_rope_ext(ctx, q, g.positions, nullptr, hd, /*mode=*/0, config.n_ctx, kRopeFreqBase, 1.0f, 0.0f,
                        1.0f, 32.0f, 1.0f);
      k = ggml_rope_ext(ctx, k, g.positions, nullptr, hd, /*mode=*/0, config.n_ctx, kRopeFreqBase, 1.0f, 0.0f,
                        1.0f, 32.0f, 1.0f);
      // [hd, T, n_head, B]
      q = ggml_cont(ctx, ggml_permute(ctx, ggml_reshape_4d(ctx, q, hd, n_head, T, B), 0, 2, 1, 3));
      k = ggml_cont(ctx, ggml_permute(ctx, ggml_reshape_4d(ctx, k, hd, n_head, T, B), 0, 2, 1, 3));
      ggml_tensor* kq = ggml_mul_mat(ctx, k, q);  // [T_k, T_q, n_head, B]
      kq = ggml_soft_max_ext(ctx, kq, g.mask, kq_scale, 0.0f);
      ggml_tensor* vt = ggml_cont(ctx, ggml_permute(ctx, v, 1, 2, 0, 3));   // [T, hd, n_head, B]
      ggml_tensor* kqv = ggml_mul_mat(ctx, vt, kq);                         // [hd, T_q, n_head, B]
      ggml_tensor* o = ggml_cont(ctx, ggml_permute(ctx, kqv, 0, 2, 1, 3));  // [hd, n_head, T, B]
      o = ggml_reshape_2d(ctx, o, n_embd, N);
      x = ggml_add(ctx, x, ggml_mul_mat(ctx, wo, o));

      cur = ggml_mul(ctx, ggml_rms_norm(ctx, x, kRmsEps), ffn_norm);
      ggml_tensor* gate = ggml_mul_mat(ctx, w_gate, cur);
      ggml_tensor* up = ggml_mul_mat(ctx, w_up, cur);
      ggml_tensor* h = ggml_mul(ctx, ggml_silu(ctx, gate), up);
      x = ggml_add(ctx, x, ggml_mul_mat(ctx, w_down, h));
    }
    ggml_tensor* hsel = ggml_get_rows(ctx, x, g.rows);  // [n_embd, K]
    hsel = ggml_mul(ctx, ggml_rms_norm(ctx, hsel, kRmsEps), output_norm);
    g.logits = ggml_mul_mat(ctx, output, hsel);  // [n_vocab, K]
    g.gf = ggml_new_graph_custom(ctx, 16384, with_loss);
    if (with_loss) {
      g.labels = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, n_vocab(), K);
      ggml_set_input(g.labels);
      g.loss = ggml_cross_entropy_loss(ctx, g.logits, g.labels);
      ggml_set_output(g.loss);
      ggml_set_loss(g.loss);
      ggml_build_forward_expand(g.gf, g.loss);
    } else {
      ggml_set_output(g.logits);
      ggml_build_forward_expand(g.gf, g.logits);
    }
  }

  // dst = out_prod(a, b): dst[i0, i1] = sum_k a[i0, k] * b[i1, k]. The same as
  // mul_mat(a^T, b^T) with both operands made contiguous [k, ...].
  static void RewriteOutProd(ggml_context* ctx, ggml_cgraph* gf) {
    std::vector<std::pair<ggml_tensor*, ggml_tensor*>> cache;  // tensor -> its contiguous transpose
    const int n = ggml_graph_n_nodes(gf);
    for (int i = 0; i < n; ++i) {
      ggml_tensor* node = ggml_graph_node(gf, i);
      if (node->op != GGML_OP_OUT_PROD) continue;
      ggml_tensor* a = node->src[0];
      ggml_tensor* b = node->src[1];
      if (a->ne[2] != b->ne[2] || a->ne[3] != b->ne[3]) continue;  // broadcasting: keep OUT_PROD
      auto transposed = [ctx, &cache](ggml_tensor* t) -> ggml_tensor* {
        // transpose(transpose(x)) of a contiguous x is x itself.
        if (t->op == GGML_OP_TRANSPOSE && ggml_is_contiguous(t->src[0])) return t->src[0];
        for (const auto& [src, tr] : cache) {
          if (src == t) return tr;
        }
        // ggml_cont of a transposed view copies element by element (slow);
        // a blocked copy is several times faster.
        ggml_tensor* tr =
            ggml_map_custom1(ctx, ggml_transpose(ctx, t), BlockedCopy, GGML_N_TASKS_MAX, nullptr);
        cache.emplace_back(t, tr);
        return tr;
      };
      ggml_tensor* at = transposed(a);
      ggml_tensor* bt = transposed(b);
      node->op = GGML_OP_MUL_MAT;
      node->src[0] = at;
      node->src[1] = bt;
    }
  }

  void SetMask(const Graph& g, int T, int B, const std::vector<int32_t>& segment) {
    std::vector<float> mask(static_cast<size_t>(T) * T * B, -INFINITY);
    for (int b = 0; b < B; ++b) {
      for (int iq = 0; iq < T; ++iq) {
        const int32_t sq = segment[b * T + iq];
        float* row = mask.data() + (static_cast<size_t>(b) * T + iq) * T;
        if (sq < 0) {
          row[iq] = 0.0f;  // padding attends to itself (no empty softmax rows)
          continue;
        }
        for (int ik = iq; ik >= 0 && segment[b * T + ik] == sq; --ik) row[ik] = 0.0f;
      }
    }
    ggml_backend_tensor_set(g.mask, mask.data(), 0, mask.size() * sizeof(float));
  }

  void SetAdamParams(ggml_tensor* t, float lr, float wd, int64_t iter) {
    const float beta1h = 1.0f / (1.0f - std::pow(config.beta1, static_cast<float>(iter)));
    const float beta2h = 1.0f / (1.0f - std::pow(config.beta2, static_cast<float>(iter)));
    const float p[7] = {lr, config.beta1, config.beta2, config.eps, wd, beta1h, beta2h};
    ggml_backend_tensor_set(t, p, 0, sizeof(p));
  }

  float LearningRate(int64_t s) const {
    const double lr = config.lr;
    if (s < config.warmup_steps) return static_cast<float>(lr * (s + 1) / config.warmup_steps);
    const double span = std::max<int64_t>(1, config.total_steps - config.warmup_steps);
    const double t = std::clamp((s - config.warmup_steps) / span, 0.0, 1.0);
    const double min_lr = lr * config.lr_min_ratio;
    return static_cast<float>(min_lr + 0.5 * (lr - min_lr) * (1.0 + std::cos(M_PI * t)));
  }

  Result<StepStats> Step() {
    const int T = config.n_ctx, B = config.batch_seqs;
    Batch batch = NextBatch();
    const int K = static_cast<int>(batch.loss_rows.size());
    if (K == 0) return Status::Internal("trainer: a batch without completion tokens");

    Graph g;
    BuildForward(g, T, B, K, /*with_loss=*/true);
    // grad_accs: only the loss node has one (its gradient, fixed at 1).
    std::vector<ggml_tensor*> grad_accs(static_cast<size_t>(ggml_graph_n_nodes(g.gf)), nullptr);
    for (int i = 0; i < ggml_graph_n_nodes(g.gf); ++i) {
      if (ggml_graph_node(g.gf, i) == g.loss) grad_accs[i] = loss_grad;
    }
    ggml_build_backward_expand(g.ctx, g.gf, grad_accs.data());
    for (size_t i = 0; i < weights.size(); ++i) {
      ggml_tensor* grad = ggml_graph_get_grad(g.gf, weights[i]);
      if (!grad) return Status::Internal("trainer: no gradient for " + plan[i].name);
      // OPT_STEP_ADAMW reads the gradient as contiguous, ignoring its strides.
      // A table used through a transpose (factor_op_tokens) gets its gradient
      // as a transposed view; stepped as is, every element would move by
      // another element's gradient.
      if (!ggml_is_contiguous(grad)) grad = ggml_cont(g.ctx, grad);
      ggml_build_forward_expand(g.gf, ggml_opt_step_adamw(g.ctx, weights[i], grad, moment1[i], moment2[i],
                                                          plan[i].is_norm ? adamw_nodecay : adamw_decay));
    }
    // ggml's autodiff expresses matrix-product gradients as OUT_PROD, whose CPU
    // kernel is several times slower than MUL_MAT (measured: ~80% of a step).
    // Rewrite each OUT_PROD node in place as the equivalent MUL_MAT of the
    // transposed operands, then rebuild a plain compute graph from the roots.
    std::vector<ggml_tensor*> roots;
    for (int i = 0; i < ggml_graph_n_nodes(g.gf); ++i) {
      ggml_tensor* node = ggml_graph_node(g.gf, i);
      if (node->op == GGML_OP_OPT_STEP_ADAMW) roots.push_back(node);
    }
    roots.push_back(g.loss);
    if (config.matmul_grads) RewriteOutProd(g.ctx, g.gf);
    ggml_cgraph* gc = ggml_new_graph_custom(g.ctx, 16384, false);
    for (ggml_tensor* r : roots) ggml_build_forward_expand(gc, r);
    g.gf = gc;
    if (!ggml_gallocr_alloc_graph(galloc, g.gf))
      return Status::Internal("trainer: cannot allocate the graph");

    ggml_backend_tensor_set(g.tokens, batch.tokens.data(), 0, batch.tokens.size() * sizeof(int32_t));
    ggml_backend_tensor_set(g.positions, batch.positions.data(), 0, batch.positions.size() * sizeof(int32_t));
    ggml_backend_tensor_set(g.rows, batch.loss_rows.data(), 0, batch.loss_rows.size() * sizeof(int32_t));
    SetMask(g, T, B, batch.segment);
    {
      std::vector<float> labels(static_cast<size_t>(n_vocab()) * K, 0.0f);
      for (int i = 0; i < K; ++i) labels[static_cast<size_t>(i) * n_vocab() + batch.labels[i]] = 1.0f;
      ggml_backend_tensor_set(g.labels, labels.data(), 0, labels.size() * sizeof(float));
    }
    const float lr = LearningRate(step);
    SetAdamParams(adamw_decay, lr, config.weight_decay, step + 1);
    SetAdamParams(adamw_nodecay, lr, 0.0f, step + 1);

    if (ggml_backend_graph_compute(backend, g.gf) != GGML_STATUS_SUCCESS) {
      return Status::Internal("trainer: graph compute failed");
    }
    float loss = 0;
    ggml_backend_tensor_get(g.loss, &loss, 0, sizeof(loss));
    // The loss's gradient accumulator must stay 1 for the next step.
    const float one = 1.0f;
    ggml_backend_tensor_set(loss_grad, &one, 0, sizeof(one));

    ++step;
    tokens_seen += batch.real_tokens;
    loss_tokens_seen += K;
    StepStats s;
    s.step = step;
    s.loss = loss;
    s.lr = lr;
    s.loss_tokens = K;
    s.batch_tokens = batch.real_tokens;
    s.examples = batch.examples;
    return s;
  }

  Result<std::vector<float>> Logits(std::span<const int32_t> tokens) {
    const int T = static_cast<int>(tokens.size());
    if (T == 0 || T > config.n_ctx) return Status::InvalidArgument("trainer: logits need 1..n_ctx tokens");
    Graph g;
    BuildForward(g, T, 1, T, /*with_loss=*/false);
    ggml_gallocr_t ga = ggml_gallocr_new(ggml_backend_get_default_buffer_type(backend));
    if (!ggml_gallocr_alloc_graph(ga, g.gf)) {
      ggml_gallocr_free(ga);
      return Status::Internal("trainer: cannot allocate the graph");
    }
    std::vector<int32_t> pos(T), rows(T), seg(T, 0);
    for (int i = 0; i < T; ++i) pos[i] = rows[i] = i;
    ggml_backend_tensor_set(g.tokens, tokens.data(), 0, T * sizeof(int32_t));
    ggml_backend_tensor_set(g.positions, pos.data(), 0, T * sizeof(int32_t));
    ggml_backend_tensor_set(g.rows, rows.data(), 0, T * sizeof(int32_t));
    SetMask(g, T, 1, seg);
    const bool ok = ggml_backend_graph_compute(backend, g.gf) == GGML_STATUS_SUCCESS;
    std::vector<float> out;
    if (ok) {
      out.resize(static_cast<size_t>(T) * n_vocab());
      ggml_backend_tensor_get(g.logits, out.data(), 0, out.size() * sizeof(float));
    }
    ggml_gallocr_free(ga);
    if (!ok) return Status::Internal("trainer: graph compute failed");
    return out;
  }

  std::vector<float> TensorData(ggml_tensor* t) const {
    std::vector<float> v(static_cast<size_t>(ggml_nelements(t)));
    ggml_backend_tensor_get(t, v.data(), 0, v.size() * sizeof(float));
    return v;
  }

  std::vector<uint8_t> SerializeCheckpoint() const {
    Writer w;
    w.Bytes(kCheckpointMagic, sizeof(kCheckpointMagic));
    WriteConfig(w, config);
    w.Pod<int64_t>(step);
    w.Pod<int64_t>(tokens_seen);
    w.Pod<int64_t>(loss_tokens_seen);
    w.Pod<uint64_t>(problem_index);
    w.Pod<uint64_t>(example_index);
    w.Pod<uint64_t>(plan.size());
    for (size_t i = 0; i < plan.size(); ++i) {
      w.Str(plan[i].name);
      for (ggml_tensor* t : {weights[i], moment1[i], moment2[i]}) {
        const std::vector<float> d = TensorData(t);
        w.Pod<uint64_t>(d.size());
        w.Bytes(d.data(), d.size() * sizeof(float));
      }
    }
    w.Pod<uint64_t>(pending.size());
    for (const PendingExample& p : pending) {
      w.Pod<uint64_t>(p.problem);
      w.Pod<uint64_t>(p.example);
    }
    return w.data();
  }

  Status LoadState(Reader& r, const std::string& path, char version) {
    auto corrupt = [&](const std::string& m) {
      return Status::Corruption("checkpoint '" + path + "': " + m);
    };
    uint64_t n = 0;
    if (!r.Pod(&step) || !r.Pod(&tokens_seen) || !r.Pod(&loss_tokens_seen) || !r.Pod(&problem_index) ||
        !r.Pod(&example_index) || !r.Pod(&n)) {
      return corrupt("truncated header");
    }
    if (n != plan.size()) return corrupt("tensor count mismatch");
    std::vector<float> d;
    for (size_t i = 0; i < plan.size(); ++i) {
      std::string name;
      if (!r.Str(&name) || name != plan[i].name) return corrupt("unexpected tensor '" + name + "'");
      for (ggml_tensor* t : {weights[i], moment1[i], moment2[i]}) {
        uint64_t count = 0;
        if (!r.Pod(&count) || count != static_cast<uint64_t>(ggml_nelements(t))) return corrupt("bad size");
        d.resize(count);
        if (!r.Bytes(d.data(), count * sizeof(float))) return corrupt("truncated tensor");
        ggml_backend_tensor_set(t, d.data(), 0, count * sizeof(float));
      }
    }
    // Before version 7 nothing waited: the stream position says it all.
    uint64_t n_pending = 0;
    if (version >= '7' && !r.Pod(&n_pending)) return corrupt("truncated list of waiting examples");
    if (n_pending > static_cast<uint64_t>(config.pack_window))
      return corrupt("more waiting examples than pack_window");
    pending.clear();
    for (uint64_t i = 0; i < n_pending; ++i) {
      PendingExample p;
      if (!r.Pod(&p.problem) || !r.Pod(&p.example)) return corrupt("truncated list of waiting examples");
      LoadProblem(p.problem);
      if (p.example >= cached_examples.size())
        return corrupt("a waiting example that its problem does not have");
      p.data = cached_examples[p.example];
      pending.push_back(std::move(p));
    }
    if (!r.done()) return corrupt("trailing bytes");
    return Status::Ok();
  }
};

Trainer::Trainer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Trainer::~Trainer() = default;

Result<std::unique_ptr<Trainer>> Trainer::Create(const TrainerConfig& config) {
  ST_RETURN_IF_ERROR(ValidateConfig(config));
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  ST_RETURN_IF_ERROR(impl->Init());
  impl->InitWeights();
  return std::unique_ptr<Trainer>(new Trainer(std::move(impl)));
}

bool Trainer::HasCheckpoint(const std::string& dir) {
  std::error_code ec;
  return std::filesystem::is_regular_file(std::filesystem::path(dir) / kCheckpointFile, ec);
}

Result<std::unique_ptr<Trainer>> Trainer::Resume(const std::string& dir, int threads, bool matmul_grads) {
  const std::string path = (std::filesystem::path(dir) / kCheckpointFile).string();
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return Status::NotFound("no checkpoint at '" + path + "'");
  std::vector<uint8_t> data;
  uint8_t chunk[1 << 16];
  size_t got;
  while ((got = std::fread(chunk, 1, sizeof(chunk), f)) > 0) data.insert(data.end(), chunk, chunk + got);
  std::fclose(f);
  Reader r(std::move(data));
  char magic[8];
  if (!r.Bytes(magic, sizeof(magic)) || std::memcmp(magic, kCheckpointMagic, sizeof(magic) - 1) != 0) {
    return Status::Corruption("'" + path + "' is not a sleeptime trainer checkpoint");
  }
  const char version = magic[sizeof(magic) - 1];
  if (version < kOldestCheckpointVersion || version > kCheckpointMagic[7]) {
    return Status::Corruption("'" + path + "' is a trainer checkpoint of another version (" +
                              std::string(1, version) + ")");
  }
  TrainerConfig config;
  if (!ReadConfig(r, &config, version))
    return Status::Corruption("checkpoint '" + path + "': truncated config");
  config.threads = threads;
  config.matmul_grads = matmul_grads;
  ST_RETURN_IF_ERROR(ValidateConfig(config));
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  ST_RETURN_IF_ERROR(impl->Init());
  ST_RETURN_IF_ERROR(impl->LoadState(r, path, version));
  return std::unique_ptr<Trainer>(new Trainer(std::move(impl)));
}

Result<StepStats> Trainer::Step() {
  return impl_->Step();
}

Status Trainer::SaveCheckpoint(const std::string& dir) const {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IoError("cannot create '" + dir + "': " + ec.message());
  return WriteFileAtomic((std::filesystem::path(dir) / kCheckpointFile).string(),
                         impl_->SerializeCheckpoint());
}

Status Trainer::ExportGguf(const std::string& path, bool f16) const {
  LlamaGgufSpec spec = GgufSpec(impl_->config);
  spec.f16 = f16;
  // The model speaks the reasoning language: it carries its prompts.
  spec.string_metadata = PromptTemplateMetadata(lang::DemoPromptTemplates());
  spec.string_metadata.push_back({lang::kTraceStyleKey, lang::TraceStyleName(impl_->config.mix.style)});
  // Its answers are at most kMaxValue's digits, a byte token each, then the newline.
  spec.string_metadata.push_back(
      {kAnswerReserveKey, std::to_string(std::to_string(lang::kMaxValue).size() + 1)});
  const Impl* impl = impl_.get();
  return WriteLlamaGguf(
      spec,
      [impl](const LlamaTensorInfo& info, size_t index, float* out) {
        if (index >= impl->weights.size() || info.name != impl->plan[index].name) {
          return Status::Internal("trainer: export plan mismatch at " + info.name);
        }
        ggml_backend_tensor_get(impl->weights[index], out, 0,
                                static_cast<size_t>(info.elements()) * sizeof(float));
        if (impl->config.factor_op_tokens && IsTokenTable(info.name)) EffectiveTokenTable(info.ne0, out);
        return Status::Ok();
      },
      path);
}

Result<std::vector<float>> Trainer::Logits(std::span<const int32_t> tokens) const {
  return impl_->Logits(tokens);
}

std::vector<float> Trainer::Weights() const {
  std::vector<float> all;
  for (ggml_tensor* t : impl_->weights) {
    const std::vector<float> d = impl_->TensorData(t);
    all.insert(all.end(), d.begin(), d.end());
  }
  return all;
}

Status Trainer::CopyWeightsFrom(const Trainer& other) {
  const Impl& from = *other.impl_;
  Impl& to = *impl_;
  if (from.plan.size() != to.plan.size()) return Status::InvalidArgument("the models have different tensors");
  for (size_t i = 0; i < to.plan.size(); ++i) {
    if (from.plan[i].name != to.plan[i].name ||
        ggml_nelements(from.weights[i]) != ggml_nelements(to.weights[i]))
      return Status::InvalidArgument("tensor '" + to.plan[i].name + "' differs between the models");
  }
  for (size_t i = 0; i < to.plan.size(); ++i) {
    const std::vector<float> d = from.TensorData(from.weights[i]);
    ggml_backend_tensor_set(to.weights[i], d.data(), 0, d.size() * sizeof(float));
  }
  return Status::Ok();
}

const TrainerConfig& Trainer::config() const {
  return impl_->config;
}
int64_t Trainer::step() const {
  return impl_->step;
}
int64_t Trainer::tokens_seen() const {
  return impl_->tokens_seen;
}
int64_t Trainer::loss_tokens_seen() const {
  return impl_->loss_tokens_seen;
}
uint64_t Trainer::parameter_count() const {
  uint64_t n = 0;
  for (const auto& t : impl_->plan) n += static_cast<uint64_t>(t.elements());
  return n;
}
float Trainer::LearningRate(int64_t step) const {
  return impl_->LearningRate(step);
}

}  // namespace sleeptime
