// RunEval: every query of every item under every condition, through the Engine.
#include "sleeptime/eval_runner.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "sleeptime/engine.h"
#include "sleeptime/reasoning_language.h"
#include "sleeptime/store.h"

namespace sleeptime::eval {
namespace {

bool Reused(PrefixSource s) {
  return s == PrefixSource::kMemory || s == PrefixSource::kDisk || s == PrefixSource::kResident;
}

ItemRecord Base(const EvalItem& item, size_t qi, const std::string& condition, int k, int budget,
                int verbosity, double predictability) {
  ItemRecord r;
  r.condition = condition;
  r.k = k;
  r.budget = budget;
  r.verbosity = verbosity;
  r.item_id = item.id;
  r.query_index = static_cast<int>(qi);
  r.kind = item.queries[qi].kind;
  r.steps = item.queries[qi].steps;
  r.predictability = predictability;
  r.queries_per_context = static_cast<int>(item.queries.size());
  return r;
}

void Fill(ItemRecord* r, const AskResult& a, const std::string& gold) {
  r->prompt_tokens = a.usage.prompt_tokens;
  r->cached_tokens = a.usage.cached_tokens;
  r->completion_tokens = a.usage.completion_tokens;
  r->kv_restored = Reused(a.prefix_source);
  r->latency_ms = a.latency_ms;
  r->ttft_ms = a.ttft_ms;
  r->answer = ExtractAnswer(a.answer);
  r->correct = AnswersMatch(r->answer, gold);
}

}  // namespace

Result<std::vector<ItemRecord>> ReadRecords(const std::string& path) {
  std::vector<ItemRecord> out;
  std::ifstream in(path);
  if (!in) return out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto r = FromJsonLine(line);
    if (!r.ok()) {
      if (in.peek() == EOF) break;  // a last line cut short by an interruption
      return Status(r.status().code(), path + ": " + r.status().message());
    }
    out.push_back(std::move(r).value());
  }
  return out;
}

Result<std::vector<ItemRecord>> RunEval(Backend* backend, const PromptTemplates& templates,
                                        const std::vector<EvalItem>& items, const RunOptions& options) {
  if (options.budgets.empty()) return Status::InvalidArgument("eval: at least one budget is needed");
  for (int b : options.budgets)
    if (b <= 0) return Status::InvalidArgument("eval: budgets must be positive");
  for (int k : options.sleep_passes)
    if (k <= 0) return Status::InvalidArgument("eval: sleep passes k must be positive");
  if (options.verbosities.empty()) return Status::InvalidArgument("eval: at least one verbosity is needed");
  for (int v : options.verbosities)
    if (v < 0 || v > 4) return Status::InvalidArgument("eval: verbosity must be 0..4");
  std::error_code ec;
  std::filesystem::create_directories(options.work_dir, ec);
  if (ec) return Status::IoError("cannot create " + options.work_dir + ": " + ec.message());
  ST_ASSIGN_OR_RETURN(auto store,
                      Store::Open((std::filesystem::path(options.work_dir) / "eval.db").string()));
  EngineOptions engine_options;
  engine_options.answer_reserve = options.answer_reserve;
  Engine engine(backend, store.get(), templates, engine_options);

  // Resume: items with every record present are done; partial items rerun.
  std::map<std::string, size_t> have;
  if (options.resume) {
    ST_ASSIGN_OR_RETURN(auto old, ReadRecords(options.records_path));
    for (const ItemRecord& r : old) ++have[r.item_id];
  } else {
    std::filesystem::remove(options.records_path, ec);
  }
  // Every (verbosity, budget) setting runs under every condition.
  const size_t per_query = options.verbosities.size() * options.budgets.size() *
                           (1 + options.sleep_passes.size() + (options.passk > 0 ? 1 : 0));
  std::ofstream out(options.records_path, std::ios::app);
  if (!out) return Status::IoError("cannot write " + options.records_path);

  bool can_score = options.predictability;
  const int total = static_cast<int>(items.size());
  auto cancelled = [&] { return options.cancel && options.cancel->load(); };
  for (int done = 0; done < total && !cancelled(); ++done) {
    if (options.on_progress) options.on_progress(done, total);
    const EvalItem& item = items[static_cast<size_t>(done)];
    if (options.resume && have[item.id] >= per_query * item.queries.size()) continue;
    auto ctx = store->PutContext(item.id, item.context);
    if (!ctx.ok()) {
      spdlog::warn("eval: item {} skipped: {}", item.id, ctx.status().message());
      continue;
    }
    std::vector<double> pred(item.queries.size(), std::nan(""));
    if (can_score) {
      // Score the query where the prompt puts it: cut the rendered prompt at
      // a marker standing in for the query (templates may add text after it).
      constexpr char kMark[] = "\x01query\x01";
      auto prompt = engine.AnswerPrompt(*ctx, std::nullopt, kMark, options.verbosities.front());
      if (prompt.ok()) {
        const size_t at = prompt->suffix.find(kMark);
        if (at == std::string::npos) {
          prompt = Status::Internal("query position not found");
        } else {
          prompt->suffix.resize(at);
        }
      }
      for (size_t qi = 0; prompt.ok() && qi < item.queries.size(); ++qi) {
        auto s = backend->ScoreContinuation(*prompt, item.queries[qi].text);
        if (!s.ok()) {
          if (s.status().code() == StatusCode::kFailedPrecondition) can_score = false;
          break;
        }
        if (s->tokens > 0) pred[qi] = s->log_prob / static_cast<double>(s->tokens);
      }
    }

    std::vector<ItemRecord> recs;
    Status failed = Status::Ok();
    auto ask = [&](const std::string& q, int verbosity, int budget, bool learned, float temperature,
                   uint32_t seed) -> Result<AskResult> {
      AskOptions ao;
      ao.budget = budget;
      ao.verbosity = verbosity;
      ao.use_learned = learned;
      ao.temperature = temperature;
      ao.seed = seed;
      ao.log_query = false;
      auto a = engine.Ask(item.id, q, ao);
      if (a.ok() || a.status().code() != StatusCode::kOutOfRange) return a;
      // A budget larger than the window leaves: use what fits (the record
      // keeps the budget asked for; its tokens are what was spent).
      std::optional<LearnedContext> lc;
      if (learned) {
        ST_ASSIGN_OR_RETURN(lc, store->CurrentLearnedContext(item.id, backend->ModelFingerprint()));
      }
      ST_ASSIGN_OR_RETURN(int fits, engine.MaxBudget(*ctx, lc, q));
      if (fits <= 0) return a;
      ao.budget = std::min(budget, fits);
      return engine.Ask(item.id, q, ao);
    };
    // Baseline: T(q, c) at each verbosity and budget.
    for (int v : options.verbosities) {
      for (int b : options.budgets) {
        for (size_t qi = 0; qi < item.queries.size() && failed.ok() && !cancelled(); ++qi) {
          auto a = ask(item.queries[qi].text, v, b, false, 0, 0);
          if (!a.ok()) {
            failed = a.status();
            break;
          }
          ItemRecord r = Base(item, qi, "baseline", 0, b, v, pred[qi]);
          Fill(&r, *a, item.queries[qi].gold);
          recs.push_back(std::move(r));
        }
      }
    }
    // Sleep-time compute: c′ from k passes, then T(q, c′) at each budget.
    for (int k : options.sleep_passes) {
      if (!failed.ok() || cancelled()) break;
      SleepOptions so;
      so.budget = options.sleep_budget;
      so.passes = k;
      so.combine = options.combine;
      auto slept = engine.Sleep(item.id, so);
      if (!slept.ok()) {
        failed = slept.status();
        break;
      }
      for (int v : options.verbosities) {
        for (int b : options.budgets) {
          for (size_t qi = 0; qi < item.queries.size() && failed.ok() && !cancelled(); ++qi) {
            if (options.anticipation) {
              if (auto hit = AnticipatedAnswer(item.queries[qi].text, slept->learned.text)) {
                ItemRecord r = Base(item, qi, "sleep", k, b, v, pred[qi]);
                r.anticipated = true;
                r.answer = *hit;
                r.correct = AnswersMatch(r.answer, item.queries[qi].gold);
                r.sleep_tokens = slept->completion_tokens;
                recs.push_back(std::move(r));
                continue;
              }
            }
            auto a = ask(item.queries[qi].text, v, b, true, 0, 0);
            if (!a.ok()) {
              failed = a.status();
              break;
            }
            ItemRecord r = Base(item, qi, "sleep", k, b, v, pred[qi]);
            Fill(&r, *a, item.queries[qi].gold);
            r.sleep_tokens = slept->completion_tokens;
            recs.push_back(std::move(r));
          }
        }
      }
    }
    // Parallel baseline: pass@k with an oracle verifier, tokens summed.
    for (int v : options.verbosities) {
      if (options.passk <= 0) break;
      for (int b : options.budgets) {
        for (size_t qi = 0; qi < item.queries.size() && failed.ok() && !cancelled(); ++qi) {
          ItemRecord r = Base(item, qi, "passk", options.passk, b, v, pred[qi]);
          for (int s = 0; s < options.passk; ++s) {
            auto a = ask(item.queries[qi].text, v, b, false, options.passk_temperature,
                         static_cast<uint32_t>(s + 1));
            if (!a.ok()) {
              failed = a.status();
              break;
            }
            ItemRecord one = r;
            Fill(&one, *a, item.queries[qi].gold);
            r.completion_tokens += one.completion_tokens;
            r.prompt_tokens += one.prompt_tokens;
            r.cached_tokens += one.cached_tokens;
            r.latency_ms += one.latency_ms;
            if (s == 0) r.ttft_ms = one.ttft_ms;
            if (one.correct && !r.correct) {
              r.correct = true;
              r.answer = one.answer;
            }
          }
          recs.push_back(std::move(r));
        }
      }
    }
    if (cancelled()) break;  // a partial item is not written: --resume redoes it
    if (!failed.ok()) {
      if (failed.code() == StatusCode::kOutOfRange || failed.code() == StatusCode::kInvalidArgument) {
        spdlog::warn("eval: item {} skipped: {}", item.id, failed.message());
        continue;
      }
      return failed;
    }
    for (const ItemRecord& r : recs) out << ToJsonLine(r) << '\n';
    out.flush();
  }
  if (options.on_progress && !cancelled()) options.on_progress(total, total);
  out.close();
  return ReadRecords(options.records_path);
}

}  // namespace sleeptime::eval
