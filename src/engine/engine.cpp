#include "sleeptime/engine.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string_view>

#include "engine/consensus.h"
#include "engine/fan_out.h"
#include "sleeptime/hash.h"

namespace sleeptime {
namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

bool UsedKvState(PrefixSource s) {
  return s == PrefixSource::kResident || s == PrefixSource::kMemory || s == PrefixSource::kDisk;
}

// A context that cannot fit is reported in the user's terms: how many tokens
// the prompt takes, what the budget adds, and the model's limit. `extra` is
// prompt text the engine may append (the forced-answer marker).
Status CheckFits(Backend* backend, const Context& context, const Prompt& prompt, int budget,
                 const std::string& extra) {
  ST_ASSIGN_OR_RETURN(int64_t n, backend->CountTokens(Prompt{prompt.prefix, prompt.suffix + extra}));
  int window = backend->ContextWindow();
  if (n + budget > window) {
    return Status::OutOfRange("context '" + context.id + "' needs " + std::to_string(n) +
                              " prompt tokens + " + std::to_string(budget) +
                              " to generate = " + std::to_string(n + budget) +
                              " tokens; the model's window is " + std::to_string(window));
  }
  return Status::Ok();
}

// Templates place the context themselves; a trailing newline from a file
// would otherwise change the prompt the model was trained on.
std::string ContextBody(const Context& context) {
  std::string text = context.text;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  return text;
}

// Length of the longest end of `text` that begins `marker` (the marker
// without its trailing spaces) and is shorter than it: the model was writing
// the marker when the budget cut it.
size_t PartialMarker(std::string_view text, std::string_view marker) {
  for (size_t n = std::min(text.size(), marker.size() - (marker.empty() ? 0 : 1)); n > 0; --n)
    if (text.substr(text.size() - n) == marker.substr(0, n)) return n;
  return 0;
}

}  // namespace

const char* CombineModeName(CombineMode mode) {
  switch (mode) {
    case CombineMode::kMerge:
      return "merge";
    case CombineMode::kConsensus:
      return "consensus";
    case CombineMode::kConcatenate:
      break;
  }
  return "concat";
}

std::optional<CombineMode> ParseCombineMode(std::string_view name) {
  if (name == "concat") return CombineMode::kConcatenate;
  if (name == "merge") return CombineMode::kMerge;
  if (name == "consensus") return CombineMode::kConsensus;
  return std::nullopt;
}

namespace {

int ResolveAnswerReserve(const Backend* backend, int requested) {
  if (requested > 0) return requested;
  if (backend != nullptr) {
    if (auto v = backend->ModelMetadata(kAnswerReserveKey)) {
      int n = 0;
      auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
      // A malformed value is ignored, not trusted: the default only costs reasoning tokens.
      if (ec == std::errc() && end == v->data() + v->size() && n > 0) return n;
    }
  }
  return kDefaultAnswerReserve;
}

}  // namespace

Engine::Engine(Backend* backend, Store* store, PromptTemplates templates, EngineOptions options)
    : backend_(backend), store_(store), templates_(std::move(templates)), options_(options) {
  options_.answer_reserve = ResolveAnswerReserve(backend_, options.answer_reserve);
}

Result<Prompt> Engine::AnswerPrompt(const Context& context, const std::optional<LearnedContext>& learned,
                                    const std::string& query, int verbosity) const {
  if (verbosity < 0 || verbosity > 4) return Status::InvalidArgument("verbosity must be 0..4");
  std::string prefix = learned
                           ? RenderTemplate(templates_.answer_prefix_notes,
                                            {{"context", ContextBody(context)}, {"notes", learned->text}})
                           : RenderTemplate(templates_.answer_prefix, {{"context", ContextBody(context)}});
  std::string suffix =
      RenderTemplate(templates_.question, {{"query", query}, {"verbosity", templates_.verbosity[verbosity]}});
  if (backend_->HasChatTemplate()) {
    return backend_->RenderChat({{"system", prefix}, {"user", suffix}});
  }
  return Prompt{std::move(prefix), std::move(suffix)};
}

Result<int> Engine::MaxBudget(const Context& context, const std::optional<LearnedContext>& learned,
                              const std::string& query) const {
  ST_ASSIGN_OR_RETURN(Prompt prompt, AnswerPrompt(context, learned, query, 0));
  ST_ASSIGN_OR_RETURN(int64_t n,
                      backend_->CountTokens(Prompt{prompt.prefix, prompt.suffix + templates_.force_answer}));
  return static_cast<int>(std::max<int64_t>(0, backend_->ContextWindow() - n));
}

Result<SleepResult> Engine::Sleep(const std::string& context_id, const SleepOptions& options) {
  if (options.budget < 0) return Status::InvalidArgument("sleep budget must not be negative (0: automatic)");
  if (options.passes < 1) return Status::InvalidArgument("sleep passes must be at least 1");
  auto t0 = Clock::now();
  ST_ASSIGN_OR_RETURN(Context context, store_->GetContext(context_id));
  std::string sleep_text = RenderTemplate(templates_.sleep, {{"context", ContextBody(context)}});
  Prompt prompt{"", sleep_text};
  if (backend_->HasChatTemplate()) {
    ST_ASSIGN_OR_RETURN(prompt, backend_->RenderChat({{"user", sleep_text}}));
  }

  int budget = options.budget;
  if (budget == 0) {
    constexpr int kDefaultSleepBudget = 512;
    ST_ASSIGN_OR_RETURN(int64_t n, backend_->CountTokens(prompt));
    budget =
        static_cast<int>(std::clamp<int64_t>((backend_->ContextWindow() - n) / 2, 1, kDefaultSleepBudget));
  }
  ST_RETURN_IF_ERROR(CheckFits(backend_, context, prompt, budget, ""));
  if (options.parallel < 0)
    return Status::InvalidArgument("sleep parallelism must not be negative (0: automatic)");
  SleepResult result;
  const bool merging = options.combine == CombineMode::kMerge && options.passes > 1;
  const int total = budget * (options.passes + (merging ? 1 : 0));
  // Candidates may be written on several threads at once: the counts and the
  // progress callback are shared.
  std::mutex mu;
  int progress = 0;  // tokens generated so far, all generations (guarded by mu)
  // One generation of notes (a candidate, a merge or a rewrite), its tokens
  // counted, its trailing whitespace trimmed.
  auto write_notes = [&](const Prompt& p, float temperature, uint32_t seed,
                         int max_tokens) -> Result<std::string> {
    GenerateOptions gen;
    gen.max_tokens = max_tokens;
    gen.stop = templates_.sleep_stop;
    gen.temperature = temperature;
    gen.seed = seed;
    if (options.on_progress) {
      auto reported = std::make_shared<int>(0);
      gen.on_token = [&, reported](int n) {
        std::lock_guard<std::mutex> lock(mu);
        progress += n - *reported;
        *reported = n;
        options.on_progress(progress, total);
      };
    }
    gen.should_continue = options.should_continue;
    ST_ASSIGN_OR_RETURN(Generation g, backend_->Generate(p, gen));
    if (g.finish == FinishReason::kCancelled) {
      return Status::Unavailable(options.cancel_reason ? options.cancel_reason() : "sleep cancelled");
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      result.prompt_tokens += g.usage.prompt_tokens - g.usage.cached_tokens;
      result.completion_tokens += g.usage.completion_tokens;
    }
    std::string text = g.text;
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
  };

  // The k candidates, in parallel where the backend allows. Identical greedy
  // candidates would add nothing: with k > 1 they sample. A consensus keeps
  // the greedy notes as candidate 0, so the samples can only outvote them.
  const bool consensus = options.combine == CombineMode::kConsensus && options.passes > 1;
  const float temperature = options.passes > 1 && options.temperature <= 0 ? 0.7f : options.temperature;
  result.parallel =
      std::min(options.passes, options.parallel > 0 ? options.parallel : backend_->MaxParallel());
  ST_ASSIGN_OR_RETURN(std::vector<std::string> candidates,
                      FanOut(options.passes, result.parallel, [&](int i) {
                        const float t = consensus && i == 0 ? 0.0f : temperature;
                        return write_notes(prompt, t, static_cast<uint32_t>(i + 1), budget);
                      }));
  std::string notes;
  if (consensus) {
    result.chosen = static_cast<int>(MostAgreedCandidate(candidates, &result.agreement));
    notes = candidates[static_cast<size_t>(result.chosen)];
  } else {
    for (size_t i = 0; i < candidates.size(); ++i) {
      if (i > 0) notes += templates_.notes_separator;
      notes += candidates[i];
    }
  }
  if (merging) {
    const std::string text =
        RenderTemplate(templates_.merge, {{"context", ContextBody(context)}, {"candidates", notes}});
    Prompt merge{"", text};
    if (backend_->HasChatTemplate()) {
      ST_ASSIGN_OR_RETURN(merge, backend_->RenderChat({{"user", text}}));
    }
    ST_ASSIGN_OR_RETURN(int64_t n, backend_->CountTokens(merge));
    // The merge may use less than the sleep budget when the window is tight,
    // but at least what the longest candidate took: a merge cut shorter than
    // one candidate would lose what they found. Else the concatenation stays
    // (merged is false).
    int64_t longest = 0;
    for (const std::string& c : candidates) {
      ST_ASSIGN_OR_RETURN(int64_t t, backend_->CountTokens(Prompt{"", c}));
      longest = std::max(longest, std::min<int64_t>(t, budget));  // re-tokenized text may count more
    }
    const int64_t merge_budget = std::min<int64_t>(budget, backend_->ContextWindow() - n);
    if (merge_budget >= std::max<int64_t>(1, longest)) {
      ST_ASSIGN_OR_RETURN(notes, write_notes(merge, 0.0f, 0, static_cast<int>(merge_budget)));
      result.merged = true;
    }
  }

  // Refinement: continue the sleep prompt after the notes so far; the rewrite
  // replaces them.
  if (options.refine_rounds < 0) return Status::InvalidArgument("refine rounds must not be negative");
  for (int round = 0; round < options.refine_rounds && !result.converged; ++round) {
    const std::string text = sleep_text + notes + templates_.notes_separator;
    Prompt refine{"", text};
    if (backend_->HasChatTemplate()) {
      ST_ASSIGN_OR_RETURN(refine, backend_->RenderChat({{"user", text}}));
    }
    ST_ASSIGN_OR_RETURN(int64_t n, backend_->CountTokens(refine));
    if (n + budget > backend_->ContextWindow()) break;  // no room to rewrite: keep what we have
    ST_ASSIGN_OR_RETURN(std::string rewrite, write_notes(refine, 0.0f, 0, budget));
    ++result.refine_rounds_run;
    result.converged = rewrite == notes;
    notes = std::move(rewrite);
  }
  if (options.refine_rounds > 0 && options.require_convergence && !result.converged) {
    return Status::Unavailable("guard: max rewrite rounds (" + std::to_string(options.refine_rounds) +
                               ") reached without the notes converging");
  }

  if (options.passes > 1) result.candidates = std::move(candidates);
  LearnedContext lc;
  lc.context_id = context.id;
  lc.context_version = context.version;
  lc.text = notes;
  lc.model = backend_->ModelFingerprint();
  lc.sleep_prompt_tokens = result.prompt_tokens;
  lc.sleep_completion_tokens = result.completion_tokens;
  lc.settings_json =
      nlohmann::json{{"budget", budget},
                     {"passes", options.passes},
                     {"combine", merging     ? (result.merged ? "merge" : "concat (merge did not fit)")
                                 : consensus ? "consensus (candidate " + std::to_string(result.chosen) + ")"
                                             : "concat"},
                     {"refine_rounds", result.refine_rounds_run},
                     {"temperature", options.temperature},
                     {"template_sha256", Sha256Hex(templates_.sleep)}}
          .dump();
  // The answer prefix built from c′ is known now: prefill it while idle so a
  // query pays only for its own tokens.
  ST_ASSIGN_OR_RETURN(Prompt answer, AnswerPrompt(context, lc, "", 0));
  if (!answer.prefix.empty()) {
    ST_ASSIGN_OR_RETURN(PrefixStateInfo kv, backend_->SavePrefix(answer.prefix));
    lc.kv_key = kv.key;
    lc.kv_tokens = kv.n_tokens;
    lc.kv_bytes = kv.state_bytes;
    result.kv_prefill_ms = kv.prefill_ms;
  }
  // Fails if the context changed while we slept: a stale c′ is never stored as current.
  auto stored = store_->PutLearnedContext(lc);
  if (!stored.ok()) {
    if (stored.status().code() == StatusCode::kFailedPrecondition && options.stale_text)
      *options.stale_text = lc.text;
    return stored.status();
  }
  lc.id = *stored;
  result.learned = std::move(lc);
  result.sleep_ms = MsSince(t0);
  return result;
}

Result<AskResult> Engine::Ask(const std::string& context_id, const std::string& query,
                              const AskOptions& options) {
  if (options.budget < 0)
    return Status::InvalidArgument("test-time budget must not be negative (0: automatic)");
  if (query.empty()) return Status::InvalidArgument("empty question");
  auto t0 = Clock::now();
  ST_ASSIGN_OR_RETURN(Context context, store_->GetContext(context_id));
  std::optional<LearnedContext> learned;
  if (options.use_learned) {
    ST_ASSIGN_OR_RETURN(learned, store_->CurrentLearnedContext(context.id, backend_->ModelFingerprint()));
  }
  ST_ASSIGN_OR_RETURN(Prompt prompt, AnswerPrompt(context, learned, query, options.verbosity));
  int budget = options.budget;
  if (budget == 0) {
    constexpr int kDefaultAskBudget = 256;
    ST_ASSIGN_OR_RETURN(
        int64_t n, backend_->CountTokens(Prompt{prompt.prefix, prompt.suffix + templates_.force_answer}));
    budget = static_cast<int>(std::clamp<int64_t>(backend_->ContextWindow() - n, 1, kDefaultAskBudget));
  }
  ST_RETURN_IF_ERROR(CheckFits(backend_, context, prompt, budget, templates_.force_answer));

  // The budget is a hard cap on everything generated. Reasoning may use all
  // but `reserve` tokens; when it runs out, or the model itself starts the
  // answer, the answer marker is appended and the answer generated within
  // what is left. Stopping at the model's own marker keeps it from being
  // written twice.
  int reserve = std::min(options_.answer_reserve, (budget + 1) / 2);
  std::string marker = templates_.force_answer;
  while (!marker.empty() && (marker.back() == ' ' || marker.back() == '\n')) marker.pop_back();
  GenerateOptions gen;
  gen.max_tokens = budget - reserve;
  gen.stop = templates_.stop;
  gen.on_text = options.on_text;
  gen.temperature = options.temperature;
  gen.seed = options.seed;
  if (!marker.empty()) gen.stop.push_back(marker);
  AskResult result;
  Generation first;
  if (gen.max_tokens > 0) {
    ST_ASSIGN_OR_RETURN(first, backend_->Generate(prompt, gen));
    result.answer = first.text;
    result.usage = first.usage;
    result.prefix_source = first.prefix_source;
    result.ttft_ms = first.timings.ttft_ms;
  }
  // A server that applies stop strings itself does not say which one ended
  // the text (llama-server), so an unnamed stop may be the marker. Either way
  // the text holds no marker (it is a stop), so the answer is forced then.
  bool reached_marker = !marker.empty() && first.finish == FinishReason::kStop &&
                        (first.stop_matched == marker || first.stop_matched.empty());
  result.forced = gen.max_tokens == 0 || first.finish == FinishReason::kLength;
  if (result.forced || reached_marker) {
    // Cut while writing the marker itself (" E=169. answ"): complete it, so
    // that the answer does not follow "answ answer: ", a text the model never
    // saw (with byte tokens the demo model's " answer:" is 8 tokens).
    const std::string marker_rest =
        templates_.force_answer.substr(result.forced ? PartialMarker(result.answer, marker) : 0);
    Prompt answer_prompt{prompt.prefix, prompt.suffix + result.answer + marker_rest};
    GenerateOptions agen;
    agen.max_tokens = budget - static_cast<int>(result.usage.completion_tokens);
    agen.stop = templates_.stop;
    agen.stop.push_back("\n");
    agen.temperature = options.temperature;
    agen.seed = options.seed;
    if (options.on_text) {
      options.on_text(marker_rest);
      agen.on_text = options.on_text;
    }
    ST_ASSIGN_OR_RETURN(Generation g, backend_->Generate(answer_prompt, agen));
    result.answer += marker_rest + g.text;
    if (gen.max_tokens == 0) {
      result.usage.prompt_tokens = g.usage.prompt_tokens;
      result.usage.cached_tokens = g.usage.cached_tokens;
      result.prefix_source = g.prefix_source;
      result.ttft_ms = g.timings.ttft_ms;
    }
    result.usage.completion_tokens += g.usage.completion_tokens;
    result.usage.reasoning_tokens += g.usage.reasoning_tokens;
  }
  result.used_learned_context = learned.has_value();
  result.latency_ms = MsSince(t0);

  QueryRecord rec;
  rec.context_id = context.id;
  rec.context_version = context.version;
  rec.query = query;
  rec.answer = result.answer;
  rec.model = backend_->ModelFingerprint();
  rec.prompt_tokens = result.usage.prompt_tokens;
  rec.cached_tokens = result.usage.cached_tokens;
  rec.completion_tokens = result.usage.completion_tokens;
  rec.latency_ms = result.latency_ms;
  rec.used_learned_context = result.used_learned_context;
  rec.used_kv_state = UsedKvState(result.prefix_source);
  if (options.log_query) {
    ST_ASSIGN_OR_RETURN(result.query_id, store_->LogQuery(rec));
  }
  return result;
}

Result<ContextStats> Engine::Stats(const std::string& context_id) {
  ST_ASSIGN_OR_RETURN(Context context, store_->GetContext(context_id));
  ContextStats s;
  s.context_id = context.id;
  s.version = context.version;
  s.test_token_weight = options_.test_token_weight;
  ST_ASSIGN_OR_RETURN(auto learned, store_->CurrentLearnedContext(context.id, backend_->ModelFingerprint()));
  if (learned) {
    s.has_learned_context = true;
    s.sleep_tokens = learned->sleep_completion_tokens;
  }
  ST_ASSIGN_OR_RETURN(auto queries, store_->Queries(context.id));
  double tokens_sleep = 0, tokens_base = 0, ms_sleep = 0, ms_base = 0;
  for (const auto& q : queries) {
    if (q.context_version != context.version) continue;
    if (q.used_learned_context) {
      ++s.queries_with_sleep;
      tokens_sleep += static_cast<double>(q.completion_tokens);
      ms_sleep += q.latency_ms;
    } else {
      ++s.queries_baseline;
      tokens_base += static_cast<double>(q.completion_tokens);
      ms_base += q.latency_ms;
    }
  }
  if (s.queries_with_sleep > 0) {
    s.mean_test_tokens_with_sleep = tokens_sleep / static_cast<double>(s.queries_with_sleep);
    s.mean_latency_ms_with_sleep = ms_sleep / static_cast<double>(s.queries_with_sleep);
  }
  if (s.queries_baseline > 0) {
    s.mean_test_tokens_baseline = tokens_base / static_cast<double>(s.queries_baseline);
    s.mean_latency_ms_baseline = ms_base / static_cast<double>(s.queries_baseline);
  }
  std::vector<int64_t> ns = {1, 2, 5, 10, 20, 50};
  if (s.queries_with_sleep > 0 && std::find(ns.begin(), ns.end(), s.queries_with_sleep) == ns.end()) {
    ns.push_back(s.queries_with_sleep);
    std::sort(ns.begin(), ns.end());
  }
  const double t = options_.test_token_weight;
  for (int64_t n : ns) {
    CostPoint p;
    p.queries = n;
    if (s.has_learned_context && s.queries_with_sleep > 0) {
      p.per_query_with_sleep =
          static_cast<double>(s.sleep_tokens) / static_cast<double>(n) + t * s.mean_test_tokens_with_sleep;
    }
    if (s.queries_baseline > 0) p.per_query_baseline = t * s.mean_test_tokens_baseline;
    s.cost_curve.push_back(p);
  }
  return s;
}

}  // namespace sleeptime
