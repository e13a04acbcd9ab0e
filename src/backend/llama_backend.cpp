#include "sleeptime/llama_backend.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "backend/llama_handles.h"
#include "backend/model_fingerprint.h"
#include "backend/streamed_text.h"

namespace sleeptime {
namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

void QuietLog(ggml_log_level level, const char* text, void*) {
  if (level == GGML_LOG_LEVEL_ERROR) spdlog::error("llama.cpp: {}", text);
}
void VerboseLog(ggml_log_level, const char* text, void*) {
  fputs(text, stderr);
}

void InitLlamaOnce(bool verbose) {
  static std::once_flag once;
  std::call_once(once, [] { llama_backend_init(); });
  llama_log_set(verbose ? VerboseLog : QuietLog, nullptr);
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

const char* PrefixSourceName(PrefixSource s) {
  switch (s) {
    case PrefixSource::kNone:
      return "none";
    case PrefixSource::kPrefilled:
      return "prefilled";
    case PrefixSource::kResident:
      return "resident";
    case PrefixSource::kMemory:
      return "memory";
    case PrefixSource::kDisk:
      return "disk";
  }
  return "?";
}

struct Slot {
  llama::ContextPtr ctx;
  std::vector<Token> resident;  // tokens whose K/V the context holds, in order
  bool busy = false;
};

struct LlamaBackend::Impl {
  LlamaBackendOptions options;
  llama::ModelPtr model;
  const llama_vocab* vocab = nullptr;
  std::string fingerprint;
  std::string chat_template;  // empty when the model has none
  int n_ctx = 0;
  std::unique_ptr<KvStateCache> cache;

  std::mutex slots_mu;
  std::condition_variable slot_freed;
  std::vector<Slot> slots;

  // Borrowed slot, returned to the pool on scope exit.
  class SlotLease {
   public:
    SlotLease(Impl* impl, Slot* slot) : impl_(impl), slot_(slot) {}
    ~SlotLease() {
      std::lock_guard<std::mutex> lock(impl_->slots_mu);
      slot_->busy = false;
      impl_->slot_freed.notify_one();
    }
    Slot& operator*() { return *slot_; }
    Slot* operator->() { return slot_; }

   private:
    Impl* impl_;
    Slot* slot_;
  };

  // Prefers a free slot that already holds `prefix` so resident reuse works
  // when several slots serve different contexts.
  SlotLease Acquire(const std::vector<Token>& prefix) {
    std::unique_lock<std::mutex> lock(slots_mu);
    slot_freed.wait(
        lock, [&] { return std::any_of(slots.begin(), slots.end(), [](const Slot& s) { return !s.busy; }); });
    Slot* best = nullptr;
    for (auto& s : slots) {
      if (s.busy) continue;
      bool holds = !prefix.empty() && s.resident.size() >= prefix.size() &&
                   std::equal(prefix.begin(), prefix.end(), s.resident.begin());
      if (best == nullptr || holds) best = &s;
      if (holds) break;
    }
    best->busy = true;
    return SlotLease(this, best);
  }

  Result<std::vector<Token>> Tokenize(std::string_view text, bool add_bos) const {
    if (text.empty()) {
      if (add_bos && llama_vocab_get_add_bos(vocab)) return std::vector<Token>{llama_vocab_bos(vocab)};
      return std::vector<Token>{};
    }
    int32_t n =
        -llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), nullptr, 0, add_bos, true);
    if (n <= 0) return Status::InvalidArgument("text cannot be tokenized");
    std::vector<Token> tokens(static_cast<size_t>(n));
    int32_t got = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), tokens.data(), n,
                                 add_bos, true);
    if (got < 0) return Status::Internal("tokenizer size changed between calls");
    tokens.resize(static_cast<size_t>(got));
    return tokens;
  }

  // BOS goes with the prefix, or with the suffix when there is no prefix.
  Result<std::pair<std::vector<Token>, std::vector<Token>>> TokenizePrompt(const Prompt& prompt) const {
    std::vector<Token> prefix;
    if (!prompt.prefix.empty()) {
      ST_ASSIGN_OR_RETURN(prefix, Tokenize(prompt.prefix, true));
    }
    ST_ASSIGN_OR_RETURN(auto suffix, Tokenize(prompt.suffix, prompt.prefix.empty()));
    return std::make_pair(std::move(prefix), std::move(suffix));
  }

  std::string Piece(Token t) const {
    char buf[256];
    int32_t n = llama_token_to_piece(vocab, t, buf, sizeof(buf), 0, false);
    if (n < 0) {
      std::string big(static_cast<size_t>(-n), '\0');
      n = llama_token_to_piece(vocab, t, big.data(), -n, 0, false);
      big.resize(static_cast<size_t>(std::max(n, 0)));
      return big;
    }
    return std::string(buf, static_cast<size_t>(n));
  }

  // Decodes tokens[from..) at positions from.., requesting logits for the
  // last one only.
  Status Decode(Slot& slot, const std::vector<Token>& tokens, size_t from) {
    llama::Batch batch(options.n_batch);
    for (size_t i = from; i < tokens.size();) {
      YieldScope::Point();
      batch.Clear();
      for (; i < tokens.size() && batch.size() < batch.capacity(); ++i) {
        batch.Add(tokens[i], static_cast<llama_pos>(i), i + 1 == tokens.size());
      }
      int32_t rc = llama_decode(slot.ctx.get(), batch.get());
      if (rc != 0) {
        slot.resident.clear();
        llama_memory_clear(llama_get_memory(slot.ctx.get()), true);
        return Status::Internal("llama_decode failed with code " + std::to_string(rc));
      }
    }
    slot.resident.assign(tokens.begin(), tokens.end());
    return Status::Ok();
  }

  // Restores a verified state of `prefix` into the slot. Any failure leaves
  // the slot empty and is reported; the caller then prefills.
  Status Restore(Slot& slot, const std::vector<Token>& prefix, const std::string& key, PrefixSource& source) {
    ST_ASSIGN_OR_RETURN(auto hit, cache->Get(key));
    if (!hit) return Status::NotFound("no saved state");
    // Memory-tier blobs were verified when they entered memory and are immutable.
    bool from_disk = hit->tier == KvStateCache::Tier::kDisk;
    auto payload = DecodeKvState(*hit->blob, fingerprint, prefix, /*verify_checksum=*/from_disk);
    if (!payload.ok()) {
      cache->Remove(key);
      return payload.status();
    }
    llama_memory_t mem = llama_get_memory(slot.ctx.get());
    llama_memory_clear(mem, true);
    slot.resident.clear();
    size_t read = llama_state_seq_set_data(slot.ctx.get(), reinterpret_cast<const uint8_t*>(payload->data()),
                                           payload->size(), 0);
    // A restore that "succeeds" without the cells in place would silently
    // re-prefill or, worse, attend to nothing: check the positions we got.
    if (read == 0 || llama_memory_seq_pos_max(mem, 0) != static_cast<llama_pos>(prefix.size()) - 1 ||
        llama_memory_seq_pos_min(mem, 0) != 0) {
      llama_memory_clear(mem, true);
      cache->Remove(key);
      return Status::Corruption("llama.cpp refused the saved state");
    }
    slot.resident = prefix;
    if (from_disk) cache->Remember(key, hit->blob);
    source = from_disk ? PrefixSource::kDisk : PrefixSource::kMemory;
    return Status::Ok();
  }

  Status SaveState(Slot& slot, const std::vector<Token>& prefix, const std::string& key, int64_t* bytes) {
    size_t size = llama_state_seq_get_size(slot.ctx.get(), 0);
    std::string payload(size, '\0');
    size_t got =
        llama_state_seq_get_data(slot.ctx.get(), reinterpret_cast<uint8_t*>(payload.data()), size, 0);
    if (got == 0) return Status::Internal("llama_state_seq_get_data returned nothing");
    payload.resize(got);
    auto blob = std::make_shared<const std::string>(EncodeKvState(fingerprint, prefix, payload));
    if (bytes) *bytes = static_cast<int64_t>(blob->size());
    return cache->Put(key, blob);
  }

  struct Prepared {
    int64_t n_prompt = 0;
    int64_t n_cached = 0;
    PrefixSource source = PrefixSource::kNone;
  };

  // Brings the slot's KV cache to hold exactly the prompt's tokens with the
  // logits of the last one ready.
  Result<Prepared> Prepare(Slot& slot, const std::vector<Token>& prefix, const std::vector<Token>& suffix,
                           bool reuse, Timings& timings) {
    Prepared out;
    std::vector<Token> all = prefix;
    all.insert(all.end(), suffix.begin(), suffix.end());
    out.n_prompt = static_cast<int64_t>(all.size());
    if (all.empty()) return Status::InvalidArgument("empty prompt");
    if (out.n_prompt >= n_ctx) {
      return Status::OutOfRange("prompt is " + std::to_string(out.n_prompt) +
                                " tokens; the model's context window is " + std::to_string(n_ctx));
    }
    llama_memory_t mem = llama_get_memory(slot.ctx.get());
    // Reusable prefix length; the last prompt token is always decoded so its
    // logits exist.
    size_t keep = 0;
    if (reuse && !prefix.empty()) {
      size_t usable = std::min(prefix.size(), all.size() - 1);
      bool resident = slot.resident.size() >= prefix.size() &&
                      std::equal(prefix.begin(), prefix.end(), slot.resident.begin());
      if (resident) {
        keep = usable;
        out.source = PrefixSource::kResident;
      } else {
        auto t0 = Clock::now();
        std::string key = KvStateKey(fingerprint, prefix);
        Status st = Restore(slot, prefix, key, out.source);
        timings.restore_ms = MsSince(t0);
        if (st.ok()) {
          keep = usable;
        } else if (st.code() != StatusCode::kNotFound) {
          spdlog::warn("KV state {} not restored ({}); prefilling instead", key, st.message());
        }
      }
      if (keep == 0) {
        auto t1 = Clock::now();
        llama_memory_clear(mem, true);
        ST_RETURN_IF_ERROR(Decode(slot, prefix, 0));
        timings.prefill_ms += MsSince(t1);
        out.source = PrefixSource::kPrefilled;
        // Save now, while the KV holds exactly the prefix: the next query
        // with this prefix restores instead of prefilling.
        Status saved = SaveState(slot, prefix, KvStateKey(fingerprint, prefix), nullptr);
        if (!saved.ok()) spdlog::warn("cannot save KV state: {}", saved.message());
        keep = usable;
      }
      if (out.source != PrefixSource::kPrefilled) out.n_cached = static_cast<int64_t>(keep);
    } else {
      llama_memory_clear(mem, true);
      slot.resident.clear();
    }
    // Drop whatever follows the kept prefix (an earlier suffix, generation).
    if (!llama_memory_seq_rm(mem, 0, static_cast<llama_pos>(keep), -1)) {
      llama_memory_clear(mem, true);
      keep = 0;
    }
    slot.resident.resize(keep);
    auto t2 = Clock::now();
    ST_RETURN_IF_ERROR(Decode(slot, all, keep));
    timings.prefill_ms += MsSince(t2);
    return out;
  }
};

LlamaBackend::LlamaBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LlamaBackend::~LlamaBackend() = default;

Result<std::unique_ptr<LlamaBackend>> LlamaBackend::Open(const LlamaBackendOptions& options) {
  std::error_code ec;
  if (options.model_path.empty()) return Status::InvalidArgument("no model given (use --model PATH)");
  if (!std::filesystem::is_regular_file(options.model_path, ec)) {
    return Status::NotFound("model file not found: " + options.model_path);
  }
  if (options.n_slots < 1) return Status::InvalidArgument("need at least one slot");
  InitLlamaOnce(options.verbose);

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  if (options.on_load_progress) {
    mp.progress_callback = [](float p, void* ud) {
      (*static_cast<std::function<void(float)>*>(ud))(p);
      return true;
    };
    mp.progress_callback_user_data = &impl->options.on_load_progress;
  }
  impl->model.reset(llama_model_load_from_file(options.model_path.c_str(), mp));
  if (!impl->model)
    return Status::InvalidArgument("cannot load model " + options.model_path +
                                   " (not a GGUF llama.cpp reads?)");
  impl->vocab = llama_model_get_vocab(impl->model.get());
  if (const char* tmpl = llama_model_chat_template(impl->model.get(), nullptr)) impl->chat_template = tmpl;

  int n_train = llama_model_n_ctx_train(impl->model.get());
  impl->n_ctx = options.n_ctx > 0 ? options.n_ctx : std::min(n_train, 4096);
  // ggml's worker threads spin while they wait for each other: for a tiny
  // model the per-op work is smaller than the synchronisation, and on a
  // loaded machine a spinning thread that lost its core stalls the others
  // (measured here: 64 tokens in 75 ms on 1 thread, 20 s on 2 while the
  // other core was busy). Small models get one thread unless asked.
  constexpr uint64_t kParamsPerThread = 50'000'000;
  int threads = options.n_threads;
  if (threads <= 0) {
    threads = llama_model_n_params(impl->model.get()) < kParamsPerThread
                  ? 1
                  : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(impl->n_ctx);
  cp.n_batch = static_cast<uint32_t>(options.n_batch);
  cp.n_ubatch = static_cast<uint32_t>(options.n_batch);
  cp.n_seq_max = 1;
  cp.n_threads = threads;
  cp.n_threads_batch = threads;
  // Fixed, not AUTO: the V-cache layout (transposed or not) differs with flash
  // attention, and it is part of what a saved state must match.
  cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  cp.no_perf = true;
  impl->slots.resize(static_cast<size_t>(options.n_slots));
  for (auto& slot : impl->slots) {
    slot.ctx.reset(llama_init_from_model(impl->model.get(), cp));
    if (!slot.ctx)
      return Status::Internal("cannot create a llama.cpp context of " + std::to_string(impl->n_ctx) +
                              " tokens");
  }
  std::string layout = "k=" + std::to_string(cp.type_k) + ",v=" + std::to_string(cp.type_v) + ",fa=0";
  ST_ASSIGN_OR_RETURN(impl->fingerprint, ComputeModelFingerprint(options.model_path, layout));
  ST_ASSIGN_OR_RETURN(impl->cache, KvStateCache::Open(options.kv_cache));
  return std::unique_ptr<LlamaBackend>(new LlamaBackend(std::move(impl)));
}

const std::string& LlamaBackend::ModelFingerprint() const {
  return impl_->fingerprint;
}

std::string LlamaBackend::ModelDescription() const {
  char buf[256];
  llama_model_desc(impl_->model.get(), buf, sizeof(buf));
  return std::string(buf) + ", " + std::to_string(llama_model_n_params(impl_->model.get())) + " params";
}

int LlamaBackend::ContextWindow() const {
  return impl_->n_ctx;
}

int LlamaBackend::MaxParallel() const {
  return impl_->options.n_slots;
}

std::optional<std::string> LlamaBackend::ModelMetadata(const std::string& key) const {
  int32_t n = llama_model_meta_val_str(impl_->model.get(), key.c_str(), nullptr, 0);
  if (n < 0) return std::nullopt;
  std::string value(static_cast<size_t>(n) + 1, '\0');
  llama_model_meta_val_str(impl_->model.get(), key.c_str(), value.data(), value.size());
  value.resize(static_cast<size_t>(n));
  return value;
}

Result<std::vector<Token>> LlamaBackend::Tokenize(std::string_view text, bool add_bos) const {
  return impl_->Tokenize(text, add_bos);
}

Result<int64_t> LlamaBackend::CountTokens(const Prompt& prompt) const {
  ST_ASSIGN_OR_RETURN(auto tokens, impl_->TokenizePrompt(prompt));
  return static_cast<int64_t>(tokens.first.size() + tokens.second.size());
}

std::string LlamaBackend::Detokenize(const std::vector<Token>& tokens) const {
  std::string out;
  for (Token t : tokens) out += impl_->Piece(t);
  return out;
}

bool LlamaBackend::HasChatTemplate() const {
  return !impl_->chat_template.empty();
}

Result<Prompt> LlamaBackend::RenderChat(const std::vector<ChatMessage>& messages) const {
  if (impl_->chat_template.empty()) return Status::NotFound("model has no chat template");
  if (messages.empty()) return Status::InvalidArgument("no messages");
  auto render = [&](size_t n, bool add_assistant) -> Result<std::string> {
    std::vector<llama_chat_message> msgs;
    for (size_t i = 0; i < n; ++i) msgs.push_back({messages[i].role.c_str(), messages[i].content.c_str()});
    std::string buf(4096, '\0');
    for (int attempt = 0; attempt < 2; ++attempt) {
      int32_t len = llama_chat_apply_template(impl_->chat_template.c_str(), msgs.data(), msgs.size(),
                                              add_assistant, buf.data(), static_cast<int32_t>(buf.size()));
      if (len < 0) return Status::InvalidArgument("the model's chat template is not supported by llama.cpp");
      if (static_cast<size_t>(len) <= buf.size()) {
        buf.resize(static_cast<size_t>(len));
        return buf;
      }
      buf.assign(static_cast<size_t>(len), '\0');
    }
    return Status::Internal("chat template output kept growing");
  };
  ST_ASSIGN_OR_RETURN(std::string full, render(messages.size(), true));
  Prompt prompt;
  if (messages.size() > 1) {
    ST_ASSIGN_OR_RETURN(std::string head, render(messages.size() - 1, false));
    // Templates that rewrite earlier turns give no stable prefix; then nothing is reused.
    if (full.compare(0, head.size(), head) == 0) {
      prompt.prefix = head;
      prompt.suffix = full.substr(head.size());
      return prompt;
    }
  }
  prompt.suffix = full;
  return prompt;
}

Result<Generation> LlamaBackend::Generate(const Prompt& prompt, const GenerateOptions& options) {
  auto t0 = Clock::now();
  Impl& im = *impl_;
  if (options.max_tokens < 0) return Status::InvalidArgument("max_tokens must be >= 0");
  ST_ASSIGN_OR_RETURN(auto tokens, im.TokenizePrompt(prompt));
  auto& [prefix, suffix] = tokens;
  auto slot = im.Acquire(prefix);
  Generation gen;
  ST_ASSIGN_OR_RETURN(auto prep, im.Prepare(*slot, prefix, suffix, options.reuse_prefix, gen.timings));
  gen.usage.prompt_tokens = prep.n_prompt;
  gen.usage.cached_tokens = prep.n_cached;
  gen.prefix_source = prep.source;

  llama::SamplerPtr sampler(llama_sampler_chain_init(llama_sampler_chain_default_params()));
  if (options.temperature <= 0.0f) {
    llama_sampler_chain_add(sampler.get(), llama_sampler_init_greedy());
  } else {
    llama_sampler_chain_add(sampler.get(), llama_sampler_init_temp(options.temperature));
    llama_sampler_chain_add(sampler.get(), llama_sampler_init_dist(options.seed));
  }

  auto tgen = Clock::now();
  llama::Batch batch(1);
  std::vector<Token>& resident = slot->resident;
  int max_tokens = std::min<int64_t>(options.max_tokens, im.n_ctx - prep.n_prompt);
  gen.finish = FinishReason::kLength;
  StreamedText stream(options.on_text, options.stop);
  for (int i = 0; i < max_tokens; ++i) {
    if (options.should_continue && !options.should_continue()) {
      gen.finish = FinishReason::kCancelled;
      break;
    }
    Token tok = llama_sampler_sample(sampler.get(), slot->ctx.get(), -1);
    if (i == 0) gen.timings.ttft_ms = MsSince(t0);
    if (llama_vocab_is_eog(im.vocab, tok)) {
      gen.finish = FinishReason::kEndOfText;
      break;
    }
    ++gen.usage.completion_tokens;
    gen.text += im.Piece(tok);
    if (options.on_token) options.on_token(static_cast<int>(gen.usage.completion_tokens));
    bool stopped = false;
    for (const auto& s : options.stop) {
      if (!s.empty() && EndsWith(gen.text, s)) {
        gen.text.resize(gen.text.size() - s.size());
        gen.stop_matched = s;
        gen.finish = FinishReason::kStop;
        stopped = true;
        break;
      }
    }
    if (!stopped) stream.Update(gen.text);
    if (stopped || i + 1 == max_tokens) break;
    batch.Clear();
    batch.Add(tok, static_cast<llama_pos>(resident.size()), true);
    if (llama_decode(slot->ctx.get(), batch.get()) != 0) {
      resident.clear();
      llama_memory_clear(llama_get_memory(slot->ctx.get()), true);
      return Status::Internal("llama_decode failed during generation");
    }
    resident.push_back(tok);
  }
  stream.Finish(gen.text);
  gen.timings.generate_ms = MsSince(tgen);
  gen.timings.total_ms = MsSince(t0);
  return gen;
}

Result<PrefixStateInfo> LlamaBackend::SavePrefix(std::string_view prefix_text) {
  Impl& im = *impl_;
  if (prefix_text.empty()) return Status::InvalidArgument("empty prefix");
  ST_ASSIGN_OR_RETURN(auto prefix, im.Tokenize(prefix_text, true));
  PrefixStateInfo info;
  info.key = KvStateKey(im.fingerprint, prefix);
  info.n_tokens = static_cast<int64_t>(prefix.size());
  if (info.n_tokens >= im.n_ctx) {
    return Status::OutOfRange("prefix is " + std::to_string(info.n_tokens) +
                              " tokens; the model's context window is " + std::to_string(im.n_ctx));
  }
  if (im.cache->Contains(info.key)) {
    info.already_saved = true;
    return info;
  }
  auto slot = im.Acquire(prefix);
  auto t0 = Clock::now();
  llama_memory_clear(llama_get_memory(slot->ctx.get()), true);
  ST_RETURN_IF_ERROR(im.Decode(*slot, prefix, 0));
  info.prefill_ms = MsSince(t0);
  ST_RETURN_IF_ERROR(im.SaveState(*slot, prefix, info.key, &info.state_bytes));
  return info;
}

Result<Backend::Logits> LlamaBackend::NextTokenLogits(const Prompt& prompt, bool reuse_prefix) {
  auto t0 = Clock::now();
  Impl& im = *impl_;
  ST_ASSIGN_OR_RETURN(auto tokens, im.TokenizePrompt(prompt));
  auto& [prefix, suffix] = tokens;
  auto slot = im.Acquire(prefix);
  Logits out;
  ST_ASSIGN_OR_RETURN(auto prep, im.Prepare(*slot, prefix, suffix, reuse_prefix, out.timings));
  out.prefix_source = prep.source;
  const float* logits = llama_get_logits_ith(slot->ctx.get(), -1);
  if (!logits) return Status::Internal("no logits after decode");
  int n_vocab = llama_vocab_n_tokens(im.vocab);
  out.values.assign(logits, logits + n_vocab);
  out.timings.ttft_ms = MsSince(t0);
  out.timings.total_ms = out.timings.ttft_ms;
  return out;
}

Result<Backend::Score> LlamaBackend::ScoreContinuation(const Prompt& prompt, std::string_view continuation) {
  Impl& im = *impl_;
  ST_ASSIGN_OR_RETURN(auto tokens, im.TokenizePrompt(prompt));
  auto& [prefix, suffix] = tokens;
  ST_ASSIGN_OR_RETURN(std::vector<Token> cont, im.Tokenize(continuation, false));
  if (static_cast<int64_t>(prefix.size() + suffix.size() + cont.size()) > im.n_ctx)
    return Status::OutOfRange("prompt and continuation exceed the context window");
  auto slot = im.Acquire(prefix);
  Timings timings;
  ST_ASSIGN_OR_RETURN(auto prep, im.Prepare(*slot, prefix, suffix, true, timings));
  (void)prep;
  const int n_vocab = llama_vocab_n_tokens(im.vocab);
  Score score;
  llama::Batch batch(1);
  for (size_t i = 0; i < cont.size(); ++i) {
    const float* logits = llama_get_logits_ith(slot->ctx.get(), -1);
    if (!logits) return Status::Internal("no logits after decode");
    // log_softmax(logits)[tok], stably.
    const float mx = *std::max_element(logits, logits + n_vocab);
    double sum = 0;
    for (int v = 0; v < n_vocab; ++v) sum += std::exp(static_cast<double>(logits[v] - mx));
    score.log_prob += static_cast<double>(logits[cont[i]] - mx) - std::log(sum);
    ++score.tokens;
    if (i + 1 == cont.size()) break;
    batch.Clear();
    batch.Add(cont[i], static_cast<llama_pos>(slot->resident.size()), true);
    if (llama_decode(slot->ctx.get(), batch.get()) != 0) {
      slot->resident.clear();
      llama_memory_clear(llama_get_memory(slot->ctx.get()), true);
      return Status::Internal("llama_decode failed while scoring");
    }
    slot->resident.push_back(cont[i]);
  }
  return score;
}

KvStateCache& LlamaBackend::kv_cache() {
  return *impl_->cache;
}

void LlamaBackend::EvictResidentPrefixes() {
  std::lock_guard<std::mutex> lock(impl_->slots_mu);
  for (auto& s : impl_->slots) {
    if (s.busy) continue;
    s.resident.clear();
    llama_memory_clear(llama_get_memory(s.ctx.get()), true);
  }
}

}  // namespace sleeptime
