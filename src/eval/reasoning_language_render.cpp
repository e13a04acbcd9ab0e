// The reasoning language as text: questions, context, notes, reasoning and
// the training-example mix. See include/sleeptime/reasoning_language.h for
// the layout.
#include <algorithm>
#include <optional>
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

// The end of a computation: "=17." or, with reversed results, "=~71=17.".
std::string ResultTail(int64_t value, const TraceStyle& style) {
  std::string out = "=";
  if (style.reversed_results) {
    std::string digits = Num(value);
    std::reverse(digits.begin(), digits.end());
    out += "~" + digits + "=";
  }
  return out + Num(value) + ".";
}

// "Bob=Ann+5=12+5=17." (prime: "Cid'=Bob'*2=20*2=40.", the hypothetical
// world; with hypothetical_relations "Cid=Bob*2'=20*2=40.").
std::string FactStep(const Graph& g, int q, bool prime, int64_t source_value, int64_t value,
                     const TraceStyle& style) {
  const Fact& f = *g.def[q];
  const std::string tail = std::string(1, OpChar(f.op)) + Num(f.operand);
  const std::string computation = std::string("=") + Num(source_value) + tail + ResultTail(value, style);
  if (prime && style.hypothetical_relations)
    return g.Name(q) + "=" + g.Name(f.source) + tail + "'" + computation;
  const std::string p = prime ? "'" : "";
  return g.Name(q) + p + "=" + g.Name(f.source) + p + tail + computation;
}

// "Bob+Cid=17+34=51."; with value lines "Bob+Cid =17+34=51.", so that "Cid="
// stays followed by Cid's value wherever it is written.
std::string CombinationStep(const Graph& g, int a, char op, int b, const TraceStyle& style) {
  const int64_t r = op == '+' ? g.value[a] + g.value[b] : g.value[a] - g.value[b];
  return g.Name(a) + op + g.Name(b) + (style.value_lines ? " =" : "=") + Num(g.value[a]) + op +
         Num(g.value[b]) + ResultTail(r, style);
}

// "Cid=Bob*2.": looking up the fact that defines `q` (a relation).
std::string LookStep(const Graph& g, int q) {
  const Fact& f = *g.def[q];
  return g.Name(q) + "=" + g.Name(f.source) + OpChar(f.op) + Num(f.operand) + ".";
}

// "Ann=12.": a value read from the context, the notes or an earlier step.
std::string ValueStep(const Graph& g, int q) {
  return g.Name(q) + "=" + Num(g.value[q]) + ".";
}

// TraceStyle::notes_factors: "T:A*1D*3R*6.", the factor that carries a change
// of each ancestor to `q`, nearest ancestor first.
std::string FactorLine(const Graph& g, int q) {
  std::string out = g.Name(q) + ":";
  int64_t factor = 1;
  for (int y = q; !g.IsBase(y); y = g.def[y]->source) {
    if (g.def[y]->op == Op::kMul) factor *= g.def[y]->operand;
    out += g.Name(g.def[y]->source) + "*" + Num(factor);
  }
  return out + ".";
}

// Reasoning as the language writes it: look up before computing. To state a
// quantity's value, walk its definitions upward ("Cid=Bob*2. Bob=Ann+5.")
// until a value is at hand ("Ann=12."), then compute back down
// ("Bob=Ann+5=12+5=17. Cid=Bob*2=17*2=34."). Every token then needs at most
// one lookup in the context or the lines just written; a trace that computes
// in dependency order straight away makes the first name it writes depend on
// the whole chain, which a tiny model does not learn (the learnability notes:
// pointer chasing without a scratchpad did not form).
class Tracer {
 public:
  Tracer(const Graph& g, std::vector<bool> known, const TraceStyle& style)
      : g_(g), known_(std::move(known)), style_(style) {}

  // States x's value: "x=v." when known or a base value, else the walk.
  void Resolve(int x) {
    std::vector<int> pending;
    int y = x;
    while (!g_.IsBase(y) && !known_[y]) {
      pending.push_back(y);
      Look(y);
      y = g_.def[y]->source;
    }
    lines_.push_back(ValueStep(g_, y));
    for (auto it = pending.rbegin(); it != pending.rend(); ++it) {
      lines_.push_back(FactStep(g_, *it, false, g_.value[g_.def[*it]->source], g_.value[*it], style_));
      if (style_.value_lines) lines_.push_back(ValueStep(g_, *it));
      if (factor_lines_) lines_.push_back(FactorLine(g_, *it));
      computed_.push_back(*it);
      known_[*it] = true;
      ++computations_;
    }
  }
  // Notes only: a factor line after each computed value (notes_factors).
  void StateFactors() { factor_lines_ = true; }
  void Look(int q) { lines_.push_back(LookStep(g_, q)); }
  void Compute(std::string step) {
    lines_.push_back(std::move(step));
    ++computations_;
  }
  bool Known(int q) const { return known_[q]; }

  const std::vector<std::string>& lines() const { return lines_; }
  // The quantities Resolve computed, in the order it wrote them.
  const std::vector<int>& computed() const { return computed_; }
  int computations() const { return computations_; }

 private:
  const Graph& g_;
  std::vector<bool> known_;
  TraceStyle style_;
  std::vector<std::string> lines_;
  int computations_ = 0;
  std::vector<int> computed_;
  bool factor_lines_ = false;
};

// The reasoning for `q`. With notes every derived value is known (read, not
// recomputed).
// Digits last-first: 319 -> "913".
std::string Reversed(int64_t v) {
  std::string digits = Num(v);
  std::reverse(digits.begin(), digits.end());
  return digits;
}

// TraceStyle::short_from_notes for a sum, difference or hypothetical: one
// step from the values the notes state, the result reversed.
std::string ShortStepFromNotes(const Graph& g, const Query& q, const TraceStyle& style) {
  if (q.kind == QueryKind::kCombination) {
    const int64_t a = g.value[q.asked], b = g.value[q.other];
    const int64_t r = q.op == '+' ? a + b : a - b;
    if (style.short_named_operands)
      return g.Name(q.asked) + "=" + Num(a) + q.op + g.Name(q.other) + "=" + Num(b) + "~" + Reversed(r);
    return g.Name(q.asked) + q.op + g.Name(q.other) + ":" + Num(a) + q.op + Num(b) + "~" + Reversed(r);
  }
  // The relations are affine, so a change of `other` by d changes `asked`
  // by d times the factors on the path between them.
  int64_t factor = 1;
  for (int y = q.asked; y != q.other && !g.IsBase(y); y = g.def[y]->source)
    if (g.def[y]->op == Op::kMul) factor *= g.def[y]->operand;
  const int64_t change = q.amount * factor;
  const int64_t v = g.value[q.asked] + (q.op == '+' ? change : -change);
  const std::string head = g.Name(q.asked) + "=" + Num(g.value[q.asked]);
  const std::string tail = (style.reversed_changes ? Reversed(change) : Num(change)) + "~" + Reversed(v);
  if (style.notes_factors) return head + g.Name(q.other) + "*" + Num(factor) + q.op + tail;
  if (style.short_paths) {
    std::string path;
    for (int y = q.asked; y != q.other && !g.IsBase(y); y = g.def[y]->source) {
      const bool mul = g.def[y]->op == Op::kMul;
      // Compact: the last relation's source is the changed quantity the
      // question names, so only its k says anything.
      if (style.compact_paths && !mul && g.def[y]->source == q.other) break;
      path += g.Name(g.def[y]->source) + OpChar(g.def[y]->op);
      if (mul) path += Num(g.def[y]->operand);
    }
    if (style.compact_paths) return head + path + q.op + tail;
    return head + q.op + path + ":" + tail;
  }
  if (style.short_factors) return head + q.op + Num(factor) + ":" + tail;
  return head + q.op + tail;
}

Tracer Trace(const Graph& g, const Query& q, bool with_notes, const TraceStyle& style) {
  std::vector<bool> known(g.def.size(), false);
  if (with_notes && style.short_from_notes && q.kind != QueryKind::kValue) {
    Tracer t(g, std::move(known), style);
    t.Compute(ShortStepFromNotes(g, q, style));
    return t;
  }
  if (with_notes)
    for (size_t i = 0; i < known.size(); ++i) known[i] = !g.IsBase(static_cast<int>(i));
  Tracer t(g, std::move(known), style);
  switch (q.kind) {
    case QueryKind::kValue:
      t.Resolve(q.asked);
      break;
    case QueryKind::kCombination:
      t.Resolve(q.asked);
      t.Resolve(q.other);
      t.Compute(CombinationStep(g, q.asked, q.op, q.other, style));
      break;
    case QueryKind::kHypothetical: {
      // The path from `asked` up to the changed quantity, whatever is known:
      // its values change.
      std::vector<int> path;
      for (int y = q.asked; y != q.other && !g.IsBase(y); y = g.def[y]->source) {
        path.push_back(y);
        t.Look(y);
      }
      t.Resolve(q.other);
      const std::string z = g.Name(q.other);
      const std::string tail = std::string(1, q.op) + Num(q.amount);
      int64_t v = g.value[q.other] + (q.op == '+' ? q.amount : -q.amount);
      const std::string computation = std::string("=") + Num(g.value[q.other]) + tail + ResultTail(v, style);
      // "Ann'=Ann+3=12+3=15."; with hypothetical_relations "Ann+3'=12+3=15.".
      t.Compute(style.hypothetical_relations ? z + tail + "'" + computation
                                             : z + "'=" + z + tail + computation);
      for (auto it = path.rbegin(); it != path.rend(); ++it) {
        const Fact& f = *g.def[*it];
        const int64_t next = f.op == Op::kAdd   ? v + f.operand
                             : f.op == Op::kSub ? v - f.operand
                                                : v * f.operand;
        t.Compute(FactStep(g, *it, true, v, next, style));
        v = next;
      }
      break;
    }
  }
  return t;
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

size_t ExampleBytes(const TrainingExample& e) {
  size_t bytes = e.prompt.size() + e.completion.size();
  for (const auto& f : e.followups) bytes += f.prompt.size() + f.completion.size();
  return bytes;
}

// Computations shaped like the traces': a value plus or minus a constant
// (1..20) or another value, or a value up to 99 doubled or tripled; operands
// and results in [kMinValue, kMaxValue]. Half the values have two digits.
TrainingExample RenderArithmeticDrill(Rng& rng, int items) {
  std::vector<TrainingFollowup> calcs;
  auto value = [&rng] { return rng.Chance(0.5) ? rng.Range(2, 99) : rng.Range(2, kMaxValue); };
  for (int i = 0; i < items; ++i) {
    int64_t a = 0, b = 0, r = 0;
    char op = '+';
    switch (rng.Below(3)) {
      case 0:
        a = std::min(value(), kMaxValue - 1);
        b = rng.Chance(0.6) ? rng.Range(1, std::min<int64_t>(20, kMaxValue - a))
                            : rng.Range(1, kMaxValue - a);
        r = a + b;
        break;
      case 1:
        op = '-';
        a = value();
        b = rng.Chance(0.6) ? rng.Range(1, std::min<int64_t>(20, a - 1)) : rng.Range(1, a - 1);
        r = a - b;
        break;
      default:
        op = '*';
        a = rng.Range(1, 99);
        b = rng.Range(2, 3);
        r = a * b;
        break;
    }
    TrainingFollowup c;
    c.prompt = std::string(1, ' ').append(Num(a)).append(1, op).append(Num(b)).append(1, '=');
    c.completion = Num(r) + ".";
    calcs.push_back(std::move(c));
  }
  calcs.back().completion += kStop;
  TrainingExample e;
  e.format = Format::kArithmetic;
  e.prompt = std::string(kArithmeticMarker) + calcs.front().prompt;
  e.completion = calcs.front().completion;
  e.followups.assign(calcs.begin() + 1, calcs.end());
  e.steps = items;
  return e;
}

// MixOptions::hypothetical_drill_rate: one notes sample, then hypotheticals
// only, answered from the notes: every pair of a derived quantity and one of
// its ancestors, in random order, as many as fit.
std::optional<TrainingExample> RenderHypotheticalDrill(const Problem& problem, Rng& rng,
                                                       const MixOptions& mix) {
  const Graph g(problem);
  if (!g.ok) return std::nullopt;
  std::vector<Query> queries;
  for (int asked = 0; asked < static_cast<int>(g.def.size()); ++asked) {
    for (int y = asked; !g.IsBase(y); y = g.def[y]->source) {
      Query q;
      q.kind = QueryKind::kHypothetical;
      q.asked = asked;
      q.other = g.def[y]->source;
      q.op = rng.Chance(0.5) ? '+' : '-';
      q.amount = rng.Range(1, 20);
      if (CompleteQuery(problem, &q).ok()) queries.push_back(std::move(q));
    }
  }
  for (size_t i = queries.size(); i > 1; --i) std::swap(queries[i - 1], queries[rng.Below(i)]);
  if (queries.empty()) return std::nullopt;

  NotesOptions o;
  o.anticipated = static_cast<int>(rng.Below(std::max(mix.max_anticipated, 0) + 1));
  o.seed = rng.Next();
  o.style = mix.style;
  const std::string notes = RenderNotes(problem, o);
  TrainingExample e;
  e.format = Format::kReasoned;
  e.notes_samples = 1;
  e.kind = QueryKind::kHypothetical;
  e.answer = queries.front().answer;
  e.steps = queries.front().steps_with_notes;
  e.prompt =
      RenderAnswerPrefix(problem, std::span<const std::string>(&notes, 1)) + RenderQuestion(queries.front());
  e.completion = RenderAnswerCompletion(problem, queries.front(), true, mix.style);
  if (ExampleBytes(e) > mix.max_bytes) return std::nullopt;
  for (size_t i = 1; i < queries.size(); ++i) {
    TrainingFollowup f{RenderQuestion(queries[i]),
                       RenderAnswerCompletion(problem, queries[i], true, mix.style)};
    if (ExampleBytes(e) + f.prompt.size() + f.completion.size() > mix.max_bytes) break;
    e.followups.push_back(std::move(f));
  }
  return e;
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
    case Format::kLookup:
      return "lookup";
    case Format::kArithmetic:
      return "arithmetic";
  }
  return "?";
}

std::string TraceStyleName(const TraceStyle& style) {
  std::string out;
  auto add = [&out](bool set, const char* name) {
    if (!set) return;
    if (!out.empty()) out += ',';
    out += name;
  };
  add(style.value_lines, "value_lines");
  add(style.reversed_results, "reversed_results");
  add(style.notes_every_fact, "notes_every_fact");
  add(style.hypothetical_relations, "hypothetical_relations");
  add(style.short_from_notes, "short_from_notes");
  add(style.short_named_operands, "short_named_operands");
  add(style.short_factors, "short_factors");
  add(style.short_paths, "short_paths");
  add(style.compact_paths, "compact_paths");
  add(style.notes_factors, "notes_factors");
  add(style.factor_block, "factor_block");
  add(style.notes_sweeps, "notes_sweeps");
  add(style.sweep_lookups, "sweep_lookups");
  add(style.reversed_changes, "reversed_changes");
  return out;
}

Result<TraceStyle> ParseTraceStyle(std::string_view name) {
  TraceStyle style;
  while (!name.empty()) {
    const size_t comma = name.find(',');
    const std::string_view flag = name.substr(0, comma);
    if (flag == "value_lines") {
      style.value_lines = true;
    } else if (flag == "reversed_results") {
      style.reversed_results = true;
    } else if (flag == "notes_every_fact") {
      style.notes_every_fact = true;
    } else if (flag == "hypothetical_relations") {
      style.hypothetical_relations = true;
    } else if (flag == "short_from_notes") {
      style.short_from_notes = true;
    } else if (flag == "short_named_operands") {
      style.short_named_operands = true;
    } else if (flag == "short_factors") {
      style.short_factors = true;
    } else if (flag == "short_paths") {
      style.short_paths = true;
    } else if (flag == "compact_paths") {
      style.compact_paths = true;
    } else if (flag == "notes_factors") {
      style.notes_factors = true;
    } else if (flag == "factor_block") {
      style.factor_block = true;
    } else if (flag == "notes_sweeps") {
      style.notes_sweeps = true;
    } else if (flag == "sweep_lookups") {
      style.sweep_lookups = true;
    } else if (flag == "reversed_changes") {
      style.reversed_changes = true;
    } else if (!flag.empty()) {
      return Status::InvalidArgument("unknown trace style '" + std::string(flag) + "'");
    }
    name = comma == std::string_view::npos ? std::string_view() : name.substr(comma + 1);
  }
  return style;
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
  query->steps = Trace(g, *query, false, {}).computations();
  query->steps_with_notes = Trace(g, *query, true, {}).computations();
  return Status::Ok();
}

std::string RenderContext(const Problem& p) {
  // The facts in the same form as the reasoning's lookups ("C=B*2."), so a
  // lookup is a verbatim copy of the sentence that starts with the name.
  std::string out;
  for (const Fact& f : p.facts) {
    if (!out.empty()) out += ' ';
    out += p.names[f.target] + "=";
    if (f.op == Op::kBase) {
      out += Num(f.operand);
    } else {
      out += p.names[f.source] + OpChar(f.op) + Num(f.operand);
    }
    out += ".";
  }
  return out;
}

// TraceStyle::notes_sweeps: the facts in context order, again and again
// until none waits; returns the derived quantities in the order computed.
std::vector<int> Sweep(const Graph& g, const std::vector<Fact>& facts, const TraceStyle& style,
                       std::vector<std::string>* steps) {
  std::vector<bool> known(g.def.size(), false);
  auto has_value = [&](int q) { return g.IsBase(q) || known[q]; };
  std::vector<int> computed;
  for (bool first = true, waiting = true; waiting; first = false) {
    if (!first) steps->push_back("|");
    waiting = false;
    for (const Fact& f : facts) {
      const int q = f.target;
      if (has_value(q)) {
        steps->push_back(ValueStep(g, q));
        continue;
      }
      if (style.sweep_lookups) {
        steps->push_back(LookStep(g, q));
        steps->push_back(has_value(f.source) ? ValueStep(g, f.source) : LookStep(g, f.source));
      }
      if (has_value(f.source)) {
        steps->push_back(FactStep(g, q, false, g.value[f.source], g.value[q], style));
        if (style.value_lines) steps->push_back(ValueStep(g, q));
        if (style.notes_factors && !style.factor_block) steps->push_back(FactorLine(g, q));
        known[q] = true;
        computed.push_back(q);
      } else {
        if (!style.sweep_lookups)
          steps->push_back(g.Name(q) + "=" + g.Name(f.source) + OpChar(f.op) + Num(f.operand) + "?.");
        waiting = true;
      }
    }
  }
  return computed;
}

std::string RenderNotes(const Problem& problem, const NotesOptions& options) {
  Graph g(problem);
  if (!g.ok) return "";
  // The context's relations in its order, each resolved unless an earlier
  // walk already computed it: every derived quantity computed exactly once,
  // after what it reads.
  std::vector<std::string> steps;
  std::vector<int> computed;
  if (options.style.notes_sweeps) {
    computed = Sweep(g, problem.facts, options.style, &steps);
  } else {
    Tracer t(g, std::vector<bool>(g.def.size(), false), options.style);
    if (options.style.notes_factors && !options.style.factor_block) t.StateFactors();
    for (const Fact& f : problem.facts)
      if (options.style.notes_every_fact || (f.op != Op::kBase && !t.Known(f.target))) t.Resolve(f.target);
    steps = t.lines();
    computed = t.computed();
  }
  // In the order the values were computed: a sequence the model has just
  // written, each quantity after the one it reads.
  if (options.style.notes_factors && options.style.factor_block)
    for (int q : computed) steps.push_back(FactorLine(g, q));
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
      step = CombinationStep(g, a, '+', b, options.style);
    } else {
      if (g.value[a] == g.value[b]) continue;
      if (g.value[a] < g.value[b]) std::swap(a, b);
      step = CombinationStep(g, a, '-', b, options.style);
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

std::string RenderReasoning(const Problem& problem, const Query& query, bool with_notes,
                            const TraceStyle& style) {
  Graph g(problem);
  if (!g.ok) return "";
  return Join(Trace(g, query, with_notes, style).lines());
}

std::string RenderAnswerCompletion(const Problem& problem, const Query& query, bool with_notes,
                                   const TraceStyle& style) {
  return RenderReasoning(problem, query, with_notes, style) + kAnswerMarker + Num(query.answer) + kStop;
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
    o.style = mix.style;
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

  const size_t group = static_cast<size_t>(std::max(mix.queries_per_example, 1));
  for (size_t first = 0; first < problem.queries.size(); first += group) {
    const size_t last = std::min(problem.queries.size(), first + group);
    std::vector<std::string> notes;
    if (rng.Chance(mix.notes_rate)) {
      notes.push_back(notes_sample());
      if (rng.Chance(mix.two_notes_rate)) notes.push_back(notes_sample());
    }
    // Each query's part: "Q: ..." [+ given reasoning + marker] -> completion.
    struct Part {
      const Query* q;
      Format format;
      uint64_t cut_draw;
    };
    std::vector<Part> parts;
    for (size_t i = first; i < last; ++i) {
      const double u = static_cast<double>(rng.Next() >> 11) * 0x1.0p-53;
      const Format format = u < mix.direct_rate                     ? Format::kDirect
                            : u < mix.direct_rate + mix.forced_rate ? Format::kForced
                                                                    : Format::kReasoned;
      parts.push_back({&problem.queries[i], format, rng.Next()});
    }
    auto render = [&](const Part& part, bool with_notes, std::string* prompt, std::string* completion,
                      Format* format) {
      const Query& q = *part.q;
      const std::string reasoning = RenderReasoning(problem, q, with_notes, mix.style);
      *format = part.format == Format::kForced && reasoning.empty() ? Format::kDirect : part.format;
      *prompt = RenderQuestion(q);
      switch (*format) {
        case Format::kReasoned:
          *completion = reasoning + kAnswerMarker + Num(q.answer) + kStop;
          break;
        case Format::kDirect:
          *prompt += kAnswerMarker;
          *completion = Num(q.answer) + kStop;
          break;
        case Format::kForced: {
          const size_t cut = part.cut_draw % reasoning.size();  // 0 .. size-1 bytes of reasoning kept
          *prompt += reasoning.substr(0, cut) + kAnswerMarker;
          *completion = Num(q.answer) + kStop;
          break;
        }
        case Format::kSleep:
        case Format::kLookup:
        case Format::kArithmetic:
          break;
      }
    };
    // Drop notes samples, then trailing queries (keep_notes: all but one notes sample, then trailing
    // queries, then the last sample), until the example fits.
    for (size_t n_parts = parts.size(); n_parts > 0;) {
      const bool with_notes = !notes.empty();
      TrainingExample e;
      const Query& q = *parts[0].q;
      e.notes_samples = static_cast<int>(notes.size());
      e.kind = q.kind;
      e.answer = q.answer;
      e.steps = with_notes ? q.steps_with_notes : q.steps;
      std::string question;
      render(parts[0], with_notes, &question, &e.completion, &e.format);
      e.prompt = RenderAnswerPrefix(problem, std::span<const std::string>(notes)) + question;
      for (size_t i = 1; i < n_parts; ++i) {
        TrainingFollowup f;
        Format unused;
        render(parts[i], with_notes, &f.prompt, &f.completion, &unused);
        e.followups.push_back(std::move(f));
      }
      if (ExampleBytes(e) <= mix.max_bytes) {
        out.push_back(std::move(e));
        break;
      }
      if (notes.size() > 1 || (!notes.empty() && !(mix.keep_notes && n_parts > 1))) {
        notes.pop_back();
      } else {
        --n_parts;  // 0: too long even alone, dropped
      }
    }
  }

  // A stream of its own, so that lookup_rate = 0 leaves every other draw as it was.
  Rng drill_rng(rng.Next() ^ 0x4c4f4f4b55505321ULL);
  if (mix.lookup_rate > 0 && drill_rng.Chance(mix.lookup_rate)) {
    TrainingExample e;
    e.format = Format::kLookup;
    e.prompt = RenderContext(problem) + "\n" + kLookupMarker;
    std::vector<const Fact*> order;
    for (const Fact& f : problem.facts) order.push_back(&f);
    std::vector<TrainingFollowup> lookups;
    for (int round = 0; round < std::max(mix.lookup_rounds, 1); ++round) {
      for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[drill_rng.Below(i)]);
      for (const Fact* f : order) {
        TrainingFollowup l;
        l.prompt = " " + problem.names[f->target] + "=";
        l.completion =
            (f->op == Op::kBase ? "" : problem.names[f->source] + OpChar(f->op)) + Num(f->operand) + ".";
        lookups.push_back(std::move(l));
      }
    }
    lookups.back().completion += kStop;
    e.prompt += lookups.front().prompt;
    e.completion = lookups.front().completion;
    e.followups.assign(lookups.begin() + 1, lookups.end());
    e.steps = static_cast<int>(lookups.size());
    if (ExampleBytes(e) <= mix.max_bytes) out.push_back(std::move(e));
  }

  // Also a stream of its own, drawn after everything above.
  Rng calc_rng(rng.Next() ^ 0x43414c4344524c4cULL);
  if (mix.arithmetic_rate > 0 && calc_rng.Chance(mix.arithmetic_rate)) {
    out.push_back(RenderArithmeticDrill(calc_rng, std::max(mix.arithmetic_items, 1)));
    if (ExampleBytes(out.back()) > mix.max_bytes) out.pop_back();
  }

  // Its own stream too, so that hypothetical_drill_rate = 0 changes nothing above.
  Rng hyp_rng(rng.Next() ^ 0x4859504f44524c4cULL);
  if (mix.hypothetical_drill_rate > 0 && hyp_rng.Chance(mix.hypothetical_drill_rate)) {
    if (auto drill = RenderHypotheticalDrill(problem, hyp_rng, mix)) out.push_back(std::move(*drill));
  }
  return out;
}

}  // namespace sleeptime::lang
