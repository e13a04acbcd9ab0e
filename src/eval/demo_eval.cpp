#include "sleeptime/demo_eval.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <nlohmann/json.hpp>

#include "sleeptime/engine.h"
#include "sleeptime/reasoning_language.h"
#include "sleeptime/store.h"

namespace fs = std::filesystem;

namespace sleeptime {

namespace lang {
PromptTemplates DemoPromptTemplates() {
  PromptTemplates t = DefaultPromptTemplates();
  t.sleep = kSleepTemplate;
  t.merge = kMergeTemplate;
  t.answer_prefix = kAnswerPrefixTemplate;
  t.answer_prefix_notes = kAnswerPrefixNotesTemplate;
  t.question = kQuestionTemplate;
  for (auto& v : t.verbosity) v.clear();  // the language has no verbosity instruction
  t.force_answer = kAnswerMarker;
  t.notes_separator = kNotesSeparator;
  t.stop = {kStop};
  t.sleep_stop = {kStop};
  return t;
}
}  // namespace lang

namespace {

std::string ContextId(uint64_t index) {
  return "heldout-" + std::to_string(index);
}

// Scores one answer into every bucket it belongs to.
void Score(const std::string& text, int64_t gold, int64_t tokens, std::initializer_list<ModeScore*> into) {
  auto got = lang::ParseAnswer(text);
  for (ModeScore* s : into) s->Add(got && *got == gold, got.has_value(), tokens);
}

// {"+": {"n", "correct"}, "-": …, "*": …}
nlohmann::json ComputationsJson(const lang::ComputationScore& c) {
  nlohmann::json j = nlohmann::json::object();
  for (int i = 0; i < 3; ++i) {
    j[std::string(1, lang::kComputationOperators[i])] = {{"n", c.written[i]}, {"correct", c.correct[i]}};
  }
  return j;
}

std::string ComputationsText(const lang::ComputationScore& c) {
  auto percent = [](int part, int whole) { return whole ? 100.0 * part / whole : 0.0; };
  std::string out =
      fmt::format("Computations in the reasoned answers (\"=12+5=17.\"): {} written, {:.1f}% right (",
                  c.all_written(), percent(c.all_correct(), c.all_written()));
  for (int i = 0; i < 3; ++i) {
    out += fmt::format("{}{} {:.1f}%", i ? ", " : "", lang::kComputationOperators[i],
                       percent(c.correct[i], c.written[i]));
  }
  return out + ").\n";
}

nlohmann::json ScoresJson(const std::map<int, ModeScore>& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [steps, s] : m) {
    j[steps == 0 ? "all" : std::to_string(steps)] = {{"n", s.n},
                                                     {"accuracy", s.accuracy()},
                                                     {"accuracy_low95", s.interval95().low},
                                                     {"accuracy_high95", s.interval95().high},
                                                     {"well_formed", s.well_formed_rate()},
                                                     {"mean_tokens", s.mean_tokens()}};
  }
  return j;
}

nlohmann::json KindJson(const std::map<std::string, ModeScore>& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [kind, s] : m)
    j[kind] = {{"n", s.n},
               {"accuracy", s.accuracy()},
               {"accuracy_low95", s.interval95().low},
               {"accuracy_high95", s.interval95().high},
               {"mean_tokens", s.mean_tokens()}};
  return j;
}

nlohmann::json ReferenceJson(const std::map<std::string, DemoEvalReport::ReferenceFit>& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [kind, fit] : m)
    j[kind] = {{"n", fit.queries},
               {"mean_tokens", fit.queries ? static_cast<double>(fit.tokens) / fit.queries : 0.0},
               {"within_budget", fit.queries ? static_cast<double>(fit.within_budget) / fit.queries : 0.0}};
  return j;
}

}  // namespace

Interval WilsonInterval95(int64_t correct, int64_t n) {
  if (n <= 0) return {};
  // Unlike p +- z*sqrt(p(1-p)/n), it stays inside [0, 1] and is not empty at
  // 0 or n of n, the rates these samples often hit.
  constexpr double z = 1.959963984540054;
  const double nn = static_cast<double>(n), p = static_cast<double>(correct) / nn;
  const double denominator = 1 + z * z / nn;
  const double center = (p + z * z / (2 * nn)) / denominator;
  const double half = z * std::sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn)) / denominator;
  return {std::max(0.0, center - half), std::min(1.0, center + half)};
}

Result<DemoEvalReport> RunDemoEval(Backend* backend, const std::string& work_dir,
                                   const DemoEvalOptions& options) {
  auto t0 = std::chrono::steady_clock::now();
  if (options.problems < 1) return Status::InvalidArgument("need at least one problem");
  if (options.sleep_passes < 1) return Status::InvalidArgument("sleep passes must be at least 1");
  std::error_code ec;
  fs::create_directories(work_dir, ec);
  fs::remove(fs::path(work_dir) / "eval.db", ec);
  ST_ASSIGN_OR_RETURN(auto store, Store::Open((fs::path(work_dir) / "eval.db").string()));
  PromptTemplates templates = lang::DemoPromptTemplates();
  EngineOptions engine_options;
  engine_options.answer_reserve = options.answer_reserve;
  Engine engine(backend, store.get(), templates, engine_options);

  std::vector<lang::Problem> problems;
  for (int i = 0; i < options.problems; ++i) {
    uint64_t index = options.first_problem + static_cast<uint64_t>(i);
    problems.push_back(lang::GenerateProblem(lang::SplitSeed(lang::Split::kHeldOut, index)));
    ST_ASSIGN_OR_RETURN(auto c, store->PutContext(ContextId(index), lang::RenderContext(problems.back())));
    (void)c;
  }
  auto progress = [&](const char* phase, int done) {
    if (options.on_progress) options.on_progress(phase, done, options.problems);
  };

  std::ofstream samples;
  if (!options.samples_path.empty()) {
    samples.open(options.samples_path, std::ios::trunc);
    if (!samples) return Status::IoError("cannot write " + options.samples_path);
  }
  auto sample = [&](const char* mode, const std::string& id, const std::string& question,
                    const std::string& text, int64_t gold) {
    if (!samples.is_open()) return;
    auto got = lang::ParseAnswer(text);
    samples << nlohmann::json{{"mode", mode},
                              {"context_id", id},
                              {"question", question},
                              {"text", text},
                              {"gold", gold},
                              {"parsed", got ? nlohmann::json(*got) : nlohmann::json(nullptr)}}
                   .dump(-1, ' ', false,
                         nlohmann::json::error_handler_t::replace)  // a model may write any bytes
            << '\n';
  };

  DemoEvalReport report;
  report.problems = options.problems;
  report.sleep_passes = options.sleep_passes;
  report.sleep_temperature = options.sleep_passes > 1 ? options.sleep_temperature : 0.0f;
  report.model = backend->ModelDescription();
  // Reference traces in the style the model was trained on (plain when the
  // model does not say).
  lang::TraceStyle style;
  if (auto name = backend->ModelMetadata(lang::kTraceStyleKey)) {
    ST_ASSIGN_OR_RETURN(style, lang::ParseTraceStyle(*name));
  }
  report.trace_style = lang::TraceStyleName(style);
  // Phase 1: reasoned and direct answers from the raw context; sleep.
  for (int i = 0; i < options.problems; ++i) {
    const auto& p = problems[static_cast<size_t>(i)];
    std::string id = ContextId(options.first_problem + static_cast<uint64_t>(i));
    ST_ASSIGN_OR_RETURN(Context context, store->GetContext(id));
    for (const auto& q : p.queries) {
      // "Unlimited": whatever the model's window leaves after the prompt, up to the option.
      ST_ASSIGN_OR_RETURN(int fits, engine.MaxBudget(context, std::nullopt, q.text));
      AskOptions ao;
      ao.budget = std::min(options.unlimited_budget, fits);
      ao.use_learned = false;
      ST_ASSIGN_OR_RETURN(AskResult r, engine.Ask(id, q.text, ao));
      Score(r.answer, q.answer, r.usage.completion_tokens,
            {&report.reasoned[0], &report.reasoned[q.steps],
             &report.reasoned_by_kind[lang::QueryKindName(q.kind)]});
      report.lookups += lang::ScoreLookups(p, r.answer);
      report.computations += lang::ScoreComputations(r.answer);
      sample("reasoned", id, q.text, r.answer, q.answer);

      GenerateOptions direct;
      direct.max_tokens = 6;
      direct.stop = {lang::kStop};
      ST_ASSIGN_OR_RETURN(Generation g, backend->Generate({lang::RenderAnswerPrefix(p),
                                                           lang::RenderQuestion(q) + lang::kAnswerMarker},
                                                          direct));
      Score(std::string(lang::kAnswerMarker) + g.text, q.answer, g.usage.completion_tokens,
            {&report.direct[0], &report.direct[q.steps]});
      sample("direct", id, q.text, std::string(lang::kAnswerMarker) + g.text, q.answer);
    }
    // The notes must leave room in the window for the context, a question and
    // its answer: a model that rambles gets cut, and is scored on what it wrote.
    constexpr int64_t kQuestionRoom = 128;
    SleepOptions so;
    ST_ASSIGN_OR_RETURN(int64_t prefix_tokens, backend->CountTokens({lang::RenderAnswerPrefix(p), ""}));
    so.budget = static_cast<int>(
        std::min<int64_t>(options.sleep_budget, backend->ContextWindow() - prefix_tokens - kQuestionRoom));
    if (so.budget < 1) return Status::OutOfRange("the model's window is too small for " + id);
    so.passes = options.sleep_passes;
    so.combine = CombineMode::kConsensus;
    // One pass is the greedy notes the bar is about; the temperature is for
    // the samples that a consensus weighs against them.
    so.temperature = options.sleep_passes > 1 ? options.sleep_temperature : 0.0f;
    ST_ASSIGN_OR_RETURN(SleepResult slept, engine.Sleep(id, so));
    report.sleep_greedy_replaced += slept.chosen > 0;
    auto score = lang::ScoreNotes(p, slept.learned.text);
    sample("sleep", id, "", slept.learned.text, 0);
    for (const std::string& candidate : slept.candidates) sample("sleep candidate", id, "", candidate, 0);
    report.notes_derived += score.derived;
    report.notes_stated += score.stated;
    report.notes_correct += score.correct;
    report.sleep_tokens += slept.completion_tokens;
    progress("reason+sleep", i + 1);
  }
  // Phase 2: answers from the model's own notes under a fraction of the
  // reasoned mode's mean budget.
  report.notes_budget = std::max(
      1, static_cast<int>(std::floor(report.reasoned[0].mean_tokens() * options.notes_budget_fraction)));
  // As Engine::Ask splits a budget.
  report.notes_reasoning_budget =
      report.notes_budget - std::min(engine.answer_reserve(), (report.notes_budget + 1) / 2);
  for (int i = 0; i < options.problems; ++i) {
    const auto& p = problems[static_cast<size_t>(i)];
    std::string id = ContextId(options.first_problem + static_cast<uint64_t>(i));
    for (const auto& q : p.queries) {
      AskOptions ao;
      ao.budget = report.notes_budget;
      ST_ASSIGN_OR_RETURN(AskResult r, engine.Ask(id, q.text, ao));
      if (!r.used_learned_context) return Status::Internal("the learned context was not used for " + id);
      sample("notes", id, q.text, r.answer, q.answer);
      ST_ASSIGN_OR_RETURN(auto reference, backend->Tokenize(lang::RenderReasoning(p, q, true, style), false));
      auto& fit = report.notes_reference_by_kind[lang::QueryKindName(q.kind)];
      ++fit.queries;
      fit.tokens += static_cast<int64_t>(reference.size());
      if (static_cast<int64_t>(reference.size()) <= report.notes_reasoning_budget) ++fit.within_budget;
      Score(r.answer, q.answer, r.usage.completion_tokens,
            {&report.notes[0], &report.notes[q.steps], &report.notes_by_kind[lang::QueryKindName(q.kind)]});
    }
    progress("answer from notes", i + 1);
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

std::string DemoEvalReport::ToJson() const {
  nlohmann::json j = {
      {"problems", problems},
      {"model", model},
      {"trace_style", trace_style},
      {"reasoned", ScoresJson(reasoned)},
      {"reasoned_by_kind", KindJson(reasoned_by_kind)},
      {"direct", ScoresJson(direct)},
      {"notes", ScoresJson(notes)},
      {"notes_by_kind", KindJson(notes_by_kind)},
      {"notes_budget", notes_budget},
      {"notes_reasoning_budget", notes_reasoning_budget},
      {"notes_reference_by_kind", ReferenceJson(notes_reference_by_kind)},
      {"sleep_notes_accuracy", notes_accuracy()},
      {"sleep_notes_accuracy_low95", WilsonInterval95(notes_correct, notes_derived).low},
      {"sleep_notes_accuracy_high95", WilsonInterval95(notes_correct, notes_derived).high},
      {"sleep_notes_stated", notes_derived ? static_cast<double>(notes_stated) / notes_derived : 0},
      {"reasoned_lookups",
       {{"written", lookups.written},
        {"correct", lookups.correct},
        {"defined", lookups.defined},
        {"source_right", lookups.source_right},
        {"op_right", lookups.op_right},
        {"operand_right", lookups.operand_right},
        {"other_fact", lookups.other_fact}}},
      {"reasoned_computations", ComputationsJson(computations)},
      {"sleep_mean_tokens", problems ? static_cast<double>(sleep_tokens) / problems : 0},
      {"sleep_passes", sleep_passes},
      {"sleep_temperature", sleep_temperature},
      {"sleep_greedy_replaced", sleep_greedy_replaced},
      {"seconds", seconds}};
  return j.dump(2);
}

std::string DemoEvalReport::ToMarkdown() const {
  auto percent = [](int64_t part, int64_t whole) { return whole ? 100.0 * part / whole : 0.0; };
  std::string out = fmt::format("{} held-out problems ({} queries), model: {}, traces: {}\n\n", problems,
                                reasoned.count(0) ? reasoned.at(0).n : 0, model,
                                trace_style.empty() ? "plain" : trace_style);
  out +=
      "| steps (from the raw context) | queries | reasoned, no notes | direct, no notes | from own notes |\n";
  out += "|---|---|---|---|---|\n";
  // The acceptance bars are stated for <= 3 steps and for 4: show the first as a row too.
  auto upto3 = [](const std::map<int, ModeScore>& m) {
    ModeScore sum;
    for (const auto& [steps, s] : m) {
      if (steps >= 1 && steps <= 3) sum.Add(s);
    }
    return sum;
  };
  {
    auto s = upto3(reasoned), d = upto3(direct), n = upto3(notes);
    out += fmt::format("| 1-3 | {} | {:.1f}% ({:.1f} tok) | {:.1f}% | {:.1f}% ({:.1f} tok) |\n", s.n,
                       100 * s.accuracy(), s.mean_tokens(), 100 * d.accuracy(), 100 * n.accuracy(),
                       n.mean_tokens());
  }
  for (const auto& [steps, s] : reasoned) {
    auto d = direct.count(steps) ? direct.at(steps) : ModeScore{};
    auto n = notes.count(steps) ? notes.at(steps) : ModeScore{};
    out += fmt::format("| {} | {} | {:.1f}% ({:.1f} tok) | {:.1f}% | {:.1f}% ({:.1f} tok) |\n",
                       steps == 0 ? "all" : std::to_string(steps), s.n, 100 * s.accuracy(), s.mean_tokens(),
                       100 * d.accuracy(), 100 * n.accuracy(), n.mean_tokens());
  }
  out += "\n| query kind | reasoned, no notes | from own notes |\n|---|---|---|\n";
  for (const auto& [kind, s] : reasoned_by_kind) {
    auto n = notes_by_kind.count(kind) ? notes_by_kind.at(kind) : ModeScore{};
    out += fmt::format("| {} | {:.1f}% ({:.1f} tok) | {:.1f}% ({:.1f} tok) |\n", kind, 100 * s.accuracy(),
                       s.mean_tokens(), 100 * n.accuracy(), n.mean_tokens());
  }
  out += fmt::format(
      "\nWell-formed answers (right or wrong): reasoned {:.1f}%, direct {:.1f}%, from notes {:.1f}%.\n"
      "Sleep: the model's own notes state {:.1f}% of derived quantities correctly ({}/{}; {} stated at all), "
      "{:.1f} tokens per "
      "context.\nLookups in the reasoned answers (\"C=B*2.\"): {} written, {:.1f}% copy the context's fact; "
      "of the {} of a name the context defines by a relation, the source is right in {:.1f}%, "
      "the operator in {:.1f}%, the constant in {:.1f}%, and {:.1f}% are another fact's right side.\n"
      "{}"
      "Budget from notes: {} tokens, {} of them for the reasoning (the reasoned mode spent {:.1f} on "
      "average). Run time {:.0f} s.\n",
      100 * (reasoned.count(0) ? reasoned.at(0).well_formed_rate() : 0.0),
      100 * (direct.count(0) ? direct.at(0).well_formed_rate() : 0.0),
      100 * (notes.count(0) ? notes.at(0).well_formed_rate() : 0.0), 100 * notes_accuracy(), notes_correct,
      notes_derived, notes_stated, problems ? static_cast<double>(sleep_tokens) / problems : 0.0,
      lookups.written, percent(lookups.correct, lookups.written), lookups.defined,
      percent(lookups.source_right, lookups.defined), percent(lookups.op_right, lookups.defined),
      percent(lookups.operand_right, lookups.defined), percent(lookups.other_fact, lookups.defined),
      ComputationsText(computations), notes_budget, notes_reasoning_budget,
      reasoned.count(0) ? reasoned.at(0).mean_tokens() : 0.0, seconds);
  if (sleep_passes > 1) {
    out += fmt::format(
        "Sleep-time scaling: {} notes candidates per context (the greedy notes and {} sampled at temperature "
        "{:.2f}); the one the others agree with most is kept (consensus), a sample rather than the greedy "
        "notes in {} of {} contexts. The sleep tokens above count every candidate.\n",
        sleep_passes, sleep_passes - 1, sleep_temperature, sleep_greedy_replaced, problems);
  }
  {
    auto interval = [](const char* what, const ModeScore& s) {
      const Interval i = s.interval95();
      return fmt::format("{} {:.1f}% [{:.1f}, {:.1f}]", what, 100 * s.accuracy(), 100 * i.low, 100 * i.high);
    };
    auto at = [](const std::map<int, ModeScore>& m, int steps) {
      return m.count(steps) ? m.at(steps) : ModeScore{};
    };
    ModeScore own_notes;
    own_notes.n = notes_derived;
    own_notes.correct = notes_correct;
    out += fmt::format("95% intervals (Wilson score): {}; {}; {}; {}; {}.\n",
                       interval("reasoned 1-3 steps", upto3(reasoned)),
                       interval("reasoned 4 steps", at(reasoned, 4)), interval("direct", at(direct, 0)),
                       interval("own notes", own_notes), interval("from notes", at(notes, 0)));
  }
  if (!notes_reference_by_kind.empty()) {
    out +=
        "The language's own reasoning from complete notes, in this model's tokens (what a model without "
        "mistakes writes; where it is longer than the reasoning budget, only a guess at the forced answer is "
        "left):";
    const char* sep = " ";
    for (const auto& [kind, fit] : notes_reference_by_kind) {
      out += fmt::format("{}{} {:.1f} tok, {:.0f}% within the reasoning budget", sep, kind,
                         fit.queries ? static_cast<double>(fit.tokens) / fit.queries : 0.0,
                         percent(fit.within_budget, fit.queries));
      sep = "; ";
    }
    out += ".\n";
  }
  return out;
}

}  // namespace sleeptime
