// The reasoning language as text: questions, context, notes, reasoning and
// the training-example mix. See include/sleeptime/reasoning_language.h for
// the layout.
#include <algorithm>
#include <string>
#include <vector>

#include "sleeptime/reasoning_language.h"

namespace sleeptime::lang {
namespace {

std::string Num(int64_t v) {
  return std::to_string(v);
}

char OpChar(Op op) {
  return static_cast<char>(op);
}

// Definitions and values of a (valid) problem.
struct Graph {
  const Problem* problem = nullptr;
  std::vector<const Fact*> def;
  std::vector<int64_t> value;
  bool ok = false;

  explicit Graph(const Problem& p) : problem(&p), def(p.names.size(), nullptr) {
    for (const Fact& f : p.facts)
      if (f.target >= 0 && f.target < static_cast<int>(def.size())) def[f.target] = &f;
    auto v = Evaluate(p);
    ok = v.ok();
    if (ok) value = *v;
  }
  bool Valid(int q) const { return q >= 0 && q < static_cast<int>(def.size()); }
  const std::string& Name(int q) const { return problem->names[q]; }
  // Base quantity first, q last.
  std::vector<int> Path(int q) const {
    std::vector<int> path;
    for (int x = q; Valid(x) && path.size() <= def.size(); x = def[x]->op == Op::kBase ? -1 : def[x]->source)
      path.push_back(x);
    std::reverse(path.begin(), path.end());
    return path;
  }
  bool IsBase(int q) const { return def[q]->op == Op::kBase; }
};

// "Bob=Ann+5=12+5=17." (prime: "Cid'=Bob'*2=20*2=40.", the hypothetical world).
std::string FactStep(const Graph& g, int q, bool prime, int64_t source_value, int64_t value) {
  const Fact& f = *g.def[q];
  const std::string p = prime ? "'" : "";
  const std::string tail = std::string(1, OpChar(f.op)) + Num(f.operand);
  return g.Name(q) + p + "=" + g.Name(f.source) + p + tail + "=" + Num(source_value) + tail + "=" +
         Num(value) + ".";
}

std::string PlainFactStep(const Graph& g, int q) {
  return FactStep(g, q, false, g.value[g.def[q]->source], g.value[q]);
}

std::string CombinationStep(const Graph& g, int a, char op, int b) {
  const int64_t r = op == '+' ? g.value[a] + g.value[b] : g.value[a] - g.value[b];
  return g.Name(a) + op + g.Name(b) + "=" + Num(g.value[a]) + op + Num(g.value[b]) + "=" + Num(r) + ".";
}

// The reasoning steps for `q`, without the separating spaces.
std::vector<std::string> Steps(const Graph& g, const Query& q, bool with_notes) {
  std::vector<std::string> steps;
  std::vector<bool> listed(g.def.size(), false);
  auto chain = [&](int x) {
    for (int y : g.Path(x)) {
      if (g.IsBase(y) || listed[y]) continue;
      listed[y] = true;
      steps.push_back(PlainFactStep(g, y));
    }
  };
  switch (q.kind) {
    case QueryKind::kValue:
      if (!with_notes) chain(q.asked);
      break;
    case QueryKind::kCombination:
      if (!with_notes) {
        chain(q.asked);
        chain(q.other);
      }
      steps.push_back(CombinationStep(g, q.asked, q.op, q.other));
      break;
    case QueryKind::kHypothetical: {
      if (!with_notes) chain(q.other);
      const std::string z = g.Name(q.other);
      const std::string tail = std::string(1, q.op) + Num(q.amount);
      int64_t v = g.value[q.other] + (q.op == '+' ? q.amount : -q.amount);
      steps.push_back(z + "'=" + z + tail + "=" + Num(g.value[q.other]) + tail + "=" + Num(v) + ".");
      std::vector<int> path = g.Path(q.asked);
      auto it = std::find(path.begin(), path.end(), q.other);
      if (it == path.end()) break;
      for (++it; it != path.end(); ++it) {
        const Fact& f = *g.def[*it];
        const int64_t next = f.op == Op::kAdd   ? v + f.operand
                             : f.op == Op::kSub ? v - f.operand
                                                : v * f.operand;
        steps.push_back(FactStep(g, *it, true, v, next));
        v = next;
      }
      break;
    }
  }
  return steps;
}

std::string Join(const std::vector<std::string>& steps) {
  std::string out;
  for (const auto& s : steps) out += " " + s;
  return out;
}

std::string QuestionText(const Problem& p, const Query& q) {
  auto name = [&](int i) -> std::string {
    return i >= 0 && i < static_cast<int>(p.names.size()) ? p.names[i] : "?";
  };
  switch (q.kind) {
    case QueryKind::kValue:
      return "How many does " + name(q.asked) + " have?";
    case QueryKind::kCombination:
      if (q.op == '+') return "How many do " + name(q.asked) + " and " + name(q.other) + " have together?";
      return "How many more does " + name(q.asked) + " have than " + name(q.other) + "?";
    case QueryKind::kHypothetical:
      return "If " + name(q.other) + " had " + Num(q.amount) + (q.op == '+' ? " more" : " fewer") +
             ", how many would " + name(q.asked) + " have?";
  }
  return "";
}

}  // namespace

const char* QueryKindName(QueryKind kind) {
  switch (kind) {
    case QueryKind::kValue:
      return "value";
    case QueryKind::kCombination:
      return "combination";
    case QueryKind::kHypothetical:
      return "hypothetical";
  }
  return "?";
}

const char* FormatName(Format format) {
  switch (format) {
    case Format::kSleep:
      return "sleep";
    case Format::kReasoned:
      return "reasoned";
    case Format::kDirect:
      return "direct";
    case Format::kForced:
      return "forced";
  }
  return "?";
}

Status CompleteQuery(const Problem& problem, Query* query) {
  ST_ASSIGN_OR_RETURN(int64_t answer, EvaluateQuery(problem, *query));
  Graph g(problem);
  if (!g.ok) return Status::InvalidArgument("invalid problem");
  if (query->kind == QueryKind::kHypothetical) {
    std::vector<int> path = g.Path(query->asked);
    if (std::find(path.begin(), path.end(), query->other) == path.end())
      return Status::InvalidArgument("the changed quantity is not an ancestor of the asked one");
  }
  if (query->kind == QueryKind::kValue && g.IsBase(query->asked))
    return Status::InvalidArgument("value queries ask for derived quantities");
  query->text = QuestionText(problem, *query);
  query->answer = answer;
  query->steps = static_cast<int>(Steps(g, *query, false).size());
  query->steps_with_notes = static_cast<int>(Steps(g, *query, true).size());
  return Status::Ok();
}

std::string RenderContext(const Problem& p) {
  std::string out;
  for (const Fact& f : p.facts) {
    if (!out.empty()) out += ' ';
    const std::string& who = p.names[f.target];
    switch (f.op) {
      case Op::kBase:
        out += who + " has " + Num(f.operand) + " " + p.unit + ".";
        break;
      case Op::kAdd:
        out += who + " has " + Num(f.operand) + " more than " + p.names[f.source] + ".";
        break;
      case Op::kSub:
        out += who + " has " + Num(f.operand) + " fewer than " + p.names[f.source] + ".";
        break;
      case Op::kMul:
        out += who + " has " + (f.operand == 2 ? "twice" : "three times") + " as many as " +
               p.names[f.source] + ".";
        break;
    }
  }
  return out;
}

std::string RenderNotes(const Problem& problem, const NotesOptions& options) {
  Graph g(problem);
  if (!g.ok) return "";
  std::vector<std::string> steps;
  for (int q : DerivedInDependencyOrder(problem)) steps.push_back(PlainFactStep(g, q));
  const int n = static_cast<int>(problem.names.size());
  Rng rng(options.seed ^ (problem.seed * 0x9e3779b97f4a7c15ULL));
  std::vector<std::string> anticipated;
  for (int tries = 0; static_cast<int>(anticipated.size()) < options.anticipated && tries < 100; ++tries) {
    int a = static_cast<int>(rng.Below(n)), b = static_cast<int>(rng.Below(n));
    if (a == b || (g.IsBase(a) && g.IsBase(b))) continue;
    std::string step;
    if (rng.Chance(0.5)) {
      if (a > b) std::swap(a, b);
      if (g.value[a] + g.value[b] > kMaxValue) continue;
      step = CombinationStep(g, a, '+', b);
    } else {
      if (g.value[a] == g.value[b]) continue;
      if (g.value[a] < g.value[b]) std::swap(a, b);
      step = CombinationStep(g, a, '-', b);
    }
    if (std::find(anticipated.begin(), anticipated.end(), step) != anticipated.end()) continue;
    anticipated.push_back(step);
  }
  steps.insert(steps.end(), anticipated.begin(), anticipated.end());
  return Join(steps);
}

std::string RenderSleepPrompt(const Problem& problem) {
  return RenderContext(problem) + "\n" + kNotesMarker;
}

std::string RenderAnswerPrefix(const Problem& problem, std::span<const std::string> notes) {
  std::string out = RenderContext(problem) + "\n";
  for (const std::string& n : notes) out += kNotesMarker + n + kStop;
  return out;
}

std::string RenderQuestion(const Query& query) {
  return kQuestionMarker + query.text;
}

std::string RenderAnswerPrompt(const Problem& problem, const Query& query,
                               std::span<const std::string> notes) {
  return RenderAnswerPrefix(problem, notes) + RenderQuestion(query);
}

std::string RenderAnswerPrompt(const Problem& problem, const Query& query, const std::string* notes) {
  if (notes == nullptr) return RenderAnswerPrompt(problem, query, std::span<const std::string>());
  return RenderAnswerPrompt(problem, query, std::span<const std::string>(notes, 1));
}

std::string RenderReasoning(const Problem& problem, const Query& query, bool with_notes) {
  Graph g(problem);
  if (!g.ok) return "";
  return Join(Steps(g, query, with_notes));
}

std::string RenderAnswerCompletion(const Problem& problem, const Query& query, bool with_notes) {
  return RenderReasoning(problem, query, with_notes) + kAnswerMarker + Num(query.answer) + kStop;
}

std::vector<TrainingExample> RenderTrainingExamples(const Problem& problem, uint64_t seed,
                                                    const MixOptions& mix) {
  std::vector<TrainingExample> out;
  Rng rng(seed ^ (problem.seed * 0xd1b54a32d192ed03ULL));
  const int anticipated_max = std::max(mix.max_anticipated, 0);
  auto notes_sample = [&]() {
    NotesOptions o;
    o.anticipated = static_cast<int>(rng.Below(anticipated_max + 1));
    o.seed = rng.Next();
    return RenderNotes(problem, o);
  };
  auto fits = [&](const TrainingExample& e) {
    return e.prompt.size() + e.completion.size() <= mix.max_bytes;
  };

  if (rng.Chance(mix.sleep_rate)) {
    TrainingExample e;
    e.format = Format::kSleep;
    e.prompt = RenderSleepPrompt(problem);
    e.completion = notes_sample() + kStop;
    e.steps = static_cast<int>(DerivedInDependencyOrder(problem).size());
    if (fits(e)) out.push_back(std::move(e));
  }

  for (const Query& q : problem.queries) {
    std::vector<std::string> notes;
    if (rng.Chance(mix.notes_rate)) {
      notes.push_back(notes_sample());
      if (rng.Chance(mix.two_notes_rate)) notes.push_back(notes_sample());
    }
    const double u = static_cast<double>(rng.Next() >> 11) * 0x1.0p-53;
    Format format = u < mix.direct_rate                     ? Format::kDirect
                    : u < mix.direct_rate + mix.forced_rate ? Format::kForced
                                                            : Format::kReasoned;
    const uint64_t cut_draw = rng.Next();
    // Drop notes samples until the example fits.
    for (;;) {
      const bool with_notes = !notes.empty();
      const std::string reasoning = RenderReasoning(problem, q, with_notes);
      TrainingExample e;
      e.format = format;
      e.notes_samples = static_cast<int>(notes.size());
      e.kind = q.kind;
      e.answer = q.answer;
      e.steps = with_notes ? q.steps_with_notes : q.steps;
      e.prompt = RenderAnswerPrompt(problem, q, std::span<const std::string>(notes));
      if (format == Format::kForced && reasoning.empty()) format = e.format = Format::kDirect;
      switch (format) {
        case Format::kReasoned:
          e.completion = reasoning + kAnswerMarker + Num(q.answer) + kStop;
          break;
        case Format::kDirect:
          e.prompt += kAnswerMarker;
          e.completion = Num(q.answer) + kStop;
          break;
        case Format::kForced: {
          const size_t cut = cut_draw % reasoning.size();  // 0 .. size-1 bytes of reasoning kept
          e.prompt += reasoning.substr(0, cut) + kAnswerMarker;
          e.completion = Num(q.answer) + kStop;
          break;
        }
        case Format::kSleep:
          break;
      }
      if (fits(e)) {
        out.push_back(std::move(e));
        break;
      }
      if (notes.empty()) break;  // too long even without notes: dropped
      notes.pop_back();
    }
  }
  return out;
}

}  // namespace sleeptime::lang
