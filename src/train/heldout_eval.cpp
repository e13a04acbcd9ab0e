// Held-out accuracy of an exported demo model, greedy-decoded with llama.cpp
// (see sleeptime/trainer.h).
#include <llama.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>

#include "sleeptime/trainer.h"

namespace sleeptime {
namespace {

void QuietLog(ggml_log_level, const char*, void*) {}

struct ModelDeleter {
  void operator()(llama_model* m) const { llama_model_free(m); }
};
struct ContextDeleter {
  void operator()(llama_context* c) const { llama_free(c); }
};

// The text a token stands for ("" for special tokens).
std::string Piece(const llama_vocab* vocab, llama_token t) {
  char buf[64];
  const int n = llama_token_to_piece(vocab, t, buf, sizeof(buf), 0, /*special=*/false);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

// Greedy continuation of `prompt` until "\n", a special token or max_tokens.
std::string Generate(llama_context* ctx, const std::string& prompt, int max_tokens, int64_t* generated) {
  llama_memory_clear(llama_get_memory(ctx), true);
  const llama_vocab* vocab = llama_model_get_vocab(llama_get_model(ctx));
  std::vector<llama_token> tokens(prompt.size() + 2);
  const int n_tokens =
      llama_tokenize(vocab, prompt.data(), static_cast<int32_t>(prompt.size()), tokens.data(),
                     static_cast<int32_t>(tokens.size()), /*add_special=*/true,
                     /*parse_special=*/false);
  if (n_tokens < 0) return "";
  tokens.resize(static_cast<size_t>(n_tokens));
  const int n_ctx = static_cast<int>(llama_n_ctx(ctx));
  if (static_cast<int>(tokens.size()) >= n_ctx) return "";
  if (llama_decode(ctx, llama_batch_get_one(tokens.data(), static_cast<int32_t>(tokens.size()))) != 0)
    return "";
  std::string out;
  int pos = static_cast<int>(tokens.size());
  const int n_vocab = llama_vocab_n_tokens(vocab);
  for (int i = 0; i < max_tokens && pos < n_ctx; ++i) {
    const float* logits = llama_get_logits_ith(ctx, -1);
    llama_token best = static_cast<llama_token>(std::max_element(logits, logits + n_vocab) - logits);
    ++*generated;
    const std::string piece = Piece(vocab, best);
    if (piece.empty() || piece == "\n") break;
    out += piece;
    if (llama_decode(ctx, llama_batch_get_one(&best, 1)) != 0) break;
    ++pos;
  }
  return out;
}

}  // namespace

int HeldOutEvalReport::reasoned_all_total() const {
  int n = 0;
  for (int v : reasoned_total) n += v;
  return n;
}
int HeldOutEvalReport::reasoned_all_correct() const {
  int n = 0;
  for (int v : reasoned_correct) n += v;
  return n;
}

Result<HeldOutEvalReport> EvaluateHeldOut(const std::string& gguf_path, const HeldOutEvalOptions& options) {
  static std::once_flag once;
  std::call_once(once, [] { llama_backend_init(); });
  llama_log_set(QuietLog, nullptr);
  const auto start = std::chrono::steady_clock::now();
  llama_model_params mp = llama_model_default_params();
  std::unique_ptr<llama_model, ModelDeleter> model(llama_model_load_from_file(gguf_path.c_str(), mp));
  if (!model) return Status::IoError("cannot load model '" + gguf_path + "'");
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(std::max(1024, llama_model_n_ctx_train(model.get())));
  cp.n_batch = cp.n_ctx;
  cp.n_ubatch = cp.n_ctx;
  cp.n_threads = options.threads;
  cp.n_threads_batch = options.threads;
  cp.no_perf = true;
  std::unique_ptr<llama_context, ContextDeleter> ctx(llama_init_from_model(model.get(), cp));
  if (!ctx) return Status::Internal("cannot create a llama.cpp context for '" + gguf_path + "'");

  HeldOutEvalReport report;
  report.reasoned_total.assign(9, 0);
  report.reasoned_correct.assign(9, 0);
  for (int i = 0; i < options.problems; ++i) {
    const uint64_t seed =
        lang::SplitSeed(lang::Split::kHeldOut, options.first_index + static_cast<uint64_t>(i));
    const lang::Problem problem = lang::GenerateProblem(seed, options.generator);
    for (const auto& q : problem.queries) {
      const std::string prompt = lang::RenderAnswerPrompt(problem, q);
      const std::string reasoned = Generate(ctx.get(), prompt, options.max_tokens, &report.generated_tokens);
      const auto answer = lang::ParseAnswer(reasoned);
      report.lookups += lang::ScoreLookups(problem, reasoned);
      report.computations += lang::ScoreComputations(reasoned);
      const int steps = std::clamp(q.steps, 0, 8);
      ++report.reasoned_total[steps];
      if (answer && *answer == q.answer) ++report.reasoned_correct[steps];
      if (options.direct) {
        const std::string direct =
            Generate(ctx.get(), prompt + lang::kAnswerMarker, 8, &report.generated_tokens);
        const auto d = lang::ParseAnswer(std::string(lang::kAnswerMarker) + direct);
        ++report.direct_total;
        if (d && *d == q.answer) ++report.direct_correct;
      }
    }
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace sleeptime
