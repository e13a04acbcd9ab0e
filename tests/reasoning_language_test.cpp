// Tests of the demo model's reasoning language. The rendered text is checked
// against an evaluator of this file that reads the context and the question
// back from the text, so neither a generator nor a rendering bug can hide
// behind the library's own evaluator.
#include "sleeptime/reasoning_language.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <numeric>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "sleeptime/prompts.h"

using namespace sleeptime::lang;

namespace {

// ---- An evaluator of the rendered text, independent of the library ----
struct TextFact {
  std::string source;  // empty: base
  char op = '=';
  int64_t k = 0;
};

struct TextProblem {
  std::map<std::string, TextFact> facts;
  std::vector<std::string> order;  // context order
  std::string unit;

  int64_t Value(const std::string& name, const std::string& changed = "", int64_t changed_value = 0,
                int depth = 0) const {
    if (depth > 64) return -1000000;  // cycle
    if (!changed.empty() && name == changed) return changed_value;
    auto it = facts.find(name);
    if (it == facts.end()) return -1000000;
    const TextFact& f = it->second;
    if (f.op == '=') return f.k;
    const int64_t s = Value(f.source, changed, changed_value, depth + 1);
    return f.op == '+' ? s + f.k : f.op == '-' ? s - f.k : s * f.k;
  }
};

std::vector<std::string> SplitSentences(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '.' && (i + 1 == text.size() || text[i + 1] == ' ')) {
      out.push_back(text.substr(start, i - start));
      start = i + 2;
    }
  }
  return out;
}

TextProblem ParseContext(const std::string& context) {
  static const std::regex base(R"(^([A-Z][a-z]*)=(\d+)$)");
  static const std::regex relation(R"(^([A-Z][a-z]*)=([A-Z][a-z]*)([-+*])(\d+)$)");
  TextProblem tp;
  for (const std::string& s : SplitSentences(context)) {
    std::smatch m;
    TextFact f;
    std::string name;
    if (std::regex_match(s, m, base)) {
      name = m[1];
      f.k = std::stoll(m[2]);
    } else if (std::regex_match(s, m, relation)) {
      name = m[1];
      f.source = m[2];
      f.op = m[3].str()[0];
      f.k = std::stoll(m[4]);
      if (f.op == '*') {
        EXPECT_TRUE(f.k == 2 || f.k == 3) << s;
      }
    } else {
      ADD_FAILURE() << "unparsable sentence '" << s << "' in: " << context;
      continue;
    }
    EXPECT_EQ(tp.facts.count(name), 0u) << name << " defined twice: " << context;
    tp.facts[name] = f;
    tp.order.push_back(name);
  }
  return tp;
}

// The answer to a rendered question, from the text alone.
struct TextQuery {
  QueryKind kind = QueryKind::kValue;
  std::string a, b;
  char op = '+';
  int64_t amount = 0;
};

TextQuery ParseQuestion(const std::string& q) {
  static const std::regex value(R"(^How many does ([A-Z][a-z]*) have\?$)");
  static const std::regex sum(R"(^How many do ([A-Z][a-z]*) and ([A-Z][a-z]*) have together\?$)");
  static const std::regex diff(R"(^How many more does ([A-Z][a-z]*) have than ([A-Z][a-z]*)\?$)");
  static const std::regex hyp(
      R"(^If ([A-Z][a-z]*) had (\d+) (more|fewer), how many would ([A-Z][a-z]*) have\?$)");
  std::smatch m;
  TextQuery t;
  if (std::regex_match(q, m, value)) {
    t.a = m[1];
  } else if (std::regex_match(q, m, sum)) {
    t = {QueryKind::kCombination, m[1], m[2], '+', 0};
  } else if (std::regex_match(q, m, diff)) {
    t = {QueryKind::kCombination, m[1], m[2], '-', 0};
  } else if (std::regex_match(q, m, hyp)) {
    t = {QueryKind::kHypothetical, m[4], m[1], m[3] == "more" ? '+' : '-', std::stoll(m[2])};
  } else {
    ADD_FAILURE() << "unparsable question: " << q;
  }
  return t;
}

int64_t TextAnswer(const TextProblem& tp, const TextQuery& t) {
  switch (t.kind) {
    case QueryKind::kValue:
      return tp.Value(t.a);
    case QueryKind::kCombination:
      return t.op == '+' ? tp.Value(t.a) + tp.Value(t.b) : tp.Value(t.a) - tp.Value(t.b);
    case QueryKind::kHypothetical: {
      const int64_t z = tp.Value(t.b) + (t.op == '+' ? t.amount : -t.amount);
      return tp.Value(t.a, t.b, z);
    }
  }
  return -1;
}

// Steps " X=...=v." of a reasoning or notes string.
std::vector<std::string> SplitSteps(const std::string& text) {
  std::vector<std::string> out;
  if (text.empty()) return out;
  EXPECT_EQ(text[0], ' ') << text;
  size_t start = 1;
  for (size_t i = 1; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == ' ') {
      out.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

int64_t Arith(int64_t a, char op, int64_t b) {
  return op == '+' ? a + b : op == '-' ? a - b : a * b;
}

// Checks one step against the text evaluator: the arithmetic, that its
// operands are the right values and that the label's value is right.
// `changed`/`changed_value` describe the hypothetical world for primed names.
// Returns the names the step reads (primed for the hypothetical world) and
// the name it defines (empty for a combination).
enum class StepKind { kLook, kValue, kCompute };
struct StepUse {
  StepKind kind = StepKind::kCompute;
  std::vector<std::string> reads;
  std::string defines;
};
StepUse CheckStep(const TextProblem& tp, const std::string& step, const std::string& changed,
                  int64_t changed_value, const std::string& where) {
  StepUse use;
  static const std::regex fact(
      R"(^([A-Z][a-z]*)('?)=([A-Z][a-z]*)('?)([-+*])(\d+)=(\d+)([-+*])(\d+)=(\d+)\.$)");
  static const std::regex comb(R"(^([A-Z][a-z]*)([-+])([A-Z][a-z]*)=(\d+)([-+])(\d+)=(\d+)\.$)");
  static const std::regex look(R"(^([A-Z][a-z]*)=([A-Z][a-z]*)([-+*])(\d+)\.$)");
  static const std::regex read(R"(^([A-Z][a-z]*)=(\d+)\.$)");
  auto value = [&](const std::string& name, bool prime) {
    return prime ? tp.Value(name, changed, changed_value) : tp.Value(name);
  };
  std::smatch m;
  if (std::regex_match(step, m, fact)) {
    const std::string x = m[1], src = m[3];
    const bool x_prime = m[2] == "'", src_prime = m[4] == "'";
    const int64_t a = std::stoll(m[7]), k = std::stoll(m[9]), v = std::stoll(m[10]);
    EXPECT_EQ(m[5], m[8]) << where;
    EXPECT_EQ(m[6], m[9]) << where;
    EXPECT_EQ(Arith(a, m[8].str()[0], k), v) << "arithmetic: " << where;
    EXPECT_EQ(a, value(src, src_prime)) << "operand: " << where;
    EXPECT_EQ(v, value(x, x_prime)) << "value: " << where;
    if (x_prime && x == src) {  // the change itself: "Bob'=Bob+3=..."
      EXPECT_FALSE(src_prime) << where;
    } else {  // a relation of the context, copied faithfully
      if (!tp.facts.count(x)) {
        ADD_FAILURE() << "unknown quantity: " << where;
        return use;
      }
      const TextFact& f = tp.facts.at(x);
      EXPECT_EQ(f.source, src) << where;
      EXPECT_EQ(f.op, m[5].str()[0]) << where;
      EXPECT_EQ(f.k, std::stoll(m[6])) << where;
      EXPECT_EQ(x_prime, src_prime) << where;
    }
    EXPECT_GE(v, kMinValue) << where;
    EXPECT_LE(v, kMaxValue) << where;
    use.reads.push_back(src + m[4].str());
    use.defines = x + m[2].str();
  } else if (std::regex_match(step, m, comb)) {
    use.reads = {m[1], m[3]};
    EXPECT_EQ(m[2], m[5]) << where;
    const int64_t a = std::stoll(m[4]), b = std::stoll(m[6]), v = std::stoll(m[7]);
    EXPECT_EQ(a, tp.Value(m[1])) << where;
    EXPECT_EQ(b, tp.Value(m[3])) << where;
    EXPECT_EQ(Arith(a, m[2].str()[0], b), v) << where;
    EXPECT_GE(v, kMinValue) << where;
    EXPECT_LE(v, kMaxValue) << where;
  } else if (std::regex_match(step, m, look)) {  // "Cid=Bob*2.": the context's fact, copied
    use.kind = StepKind::kLook;
    if (!tp.facts.count(m[1])) {
      ADD_FAILURE() << "unknown quantity: " << where;
      return use;
    }
    const TextFact& f = tp.facts.at(m[1]);
    EXPECT_EQ(f.source, m[2].str()) << where;
    EXPECT_EQ(f.op, m[3].str()[0]) << where;
    EXPECT_EQ(f.k, std::stoll(m[4])) << where;
  } else if (std::regex_match(step, m, read)) {  // "Ann=12.": a value at hand
    use.kind = StepKind::kValue;
    use.reads = {m[1]};
    EXPECT_EQ(std::stoll(m[2]), tp.Value(m[1])) << where;
  } else {
    ADD_FAILURE() << "unparsable step '" << step << "' in " << where;
  }
  return use;
}

// Everything a problem renders, as one string.
std::string RenderAll(const Problem& p) {
  std::string out = RenderSleepPrompt(p) + RenderNotes(p) + "|" + RenderNotes(p, {2, 9, {}}) + "|";
  const std::string notes = RenderNotes(p);
  for (const Query& q : p.queries) {
    out += RenderAnswerPrompt(p, q) + RenderAnswerCompletion(p, q, false);
    out += RenderAnswerPrompt(p, q, &notes) + RenderAnswerCompletion(p, q, true);
    out += std::string(QueryKindName(q.kind)) + std::to_string(q.steps) + std::to_string(q.steps_with_notes);
  }
  for (const TrainingExample& e : RenderTrainingExamples(p, 77)) out += e.prompt + "|" + e.completion + "|";
  return out;
}

// Ann 12; Bob = Ann+5; Cid = Bob*2; Dee = Cid-3; Eve = Dee*3; Fay = Ann+1; Gus 40; in shuffled order.
Problem HandMade() {
  Problem p;
  p.unit = "apples";
  p.names = {"Ann", "Bob", "Cid", "Dee", "Eve", "Fay", "Gus"};
  p.facts = {{4, 3, Op::kMul, 3},    {1, 0, Op::kAdd, 5}, {0, -1, Op::kBase, 12}, {2, 1, Op::kMul, 2},
             {6, -1, Op::kBase, 40}, {3, 2, Op::kSub, 3}, {5, 0, Op::kAdd, 1}};
  return p;
}

Query MakeQuery(QueryKind kind, int asked, int other = -1, char op = '+', int64_t amount = 0) {
  Query q;
  q.kind = kind;
  q.asked = asked;
  q.other = other;
  q.op = op;
  q.amount = amount;
  return q;
}

constexpr int kManySeeds = 3000;

}  // namespace

TEST(LangRng, DeterministicAndPinned) {
  Rng a(42), b(42), c(43);
  std::vector<uint64_t> va, vb, vc;
  for (int i = 0; i < 100; ++i) {
    va.push_back(a.Next());
    vb.push_back(b.Next());
    vc.push_back(c.Next());
  }
  EXPECT_EQ(va, vb);
  EXPECT_NE(va, vc);
  Rng r(7);
  for (int i = 0; i < 10000; ++i) {
    const int64_t x = r.Range(-3, 5);
    ASSERT_GE(x, -3);
    ASSERT_LE(x, 5);
    ASSERT_LT(r.Below(7), 7u);
  }
  // Pinned: a change of the generator would silently change every data set
  // (and invalidate a trained model's held-out numbers).
  Rng pinned(1);
  EXPECT_EQ(pinned.Next(), 0x03ed8c971816ea21ULL) << std::hex << Rng(1).Next();
}

TEST(LangGenerate, SameSeedSameBytes) {
  for (uint64_t seed = 0; seed < 300; ++seed) {
    EXPECT_EQ(RenderAll(GenerateProblem(seed)), RenderAll(GenerateProblem(seed))) << seed;
  }
  const uint64_t held = SplitSeed(Split::kHeldOut, 5);
  EXPECT_EQ(RenderAll(GenerateProblem(held)), RenderAll(GenerateProblem(held)));
  EXPECT_NE(RenderContext(GenerateProblem(1)), RenderContext(GenerateProblem(2)));
  // Pinned output of seed 1 (see DeterministicAndPinned).
  EXPECT_EQ(RenderContext(GenerateProblem(1)), "J=40. V=J-13. P=L*2. U=20. L=V-19. S=U+9.");
}

TEST(LangSplit, SeedRangesAreDisjoint) {
  for (uint64_t i :
       {uint64_t{0}, uint64_t{1}, uint64_t{123456789}, kHeldOutBit - 1, kHeldOutBit, ~uint64_t{0}}) {
    const uint64_t t = SplitSeed(Split::kTrain, i), h = SplitSeed(Split::kHeldOut, i);
    EXPECT_EQ(SeedSplit(t), Split::kTrain) << i;
    EXPECT_EQ(SeedSplit(h), Split::kHeldOut) << i;
    EXPECT_NE(t, h);
  }
  EXPECT_STREQ(SplitName(Split::kTrain), "train");
  EXPECT_STREQ(SplitName(Split::kHeldOut), "heldout");
  // No held-out context appears among the training contexts.
  std::set<std::string> train;
  for (uint64_t i = 0; i < 20000; ++i)
    train.insert(RenderContext(GenerateProblem(SplitSeed(Split::kTrain, i))));
  int shared = 0;
  for (uint64_t i = 0; i < 20000; ++i)
    shared += train.count(RenderContext(GenerateProblem(SplitSeed(Split::kHeldOut, i))));
  EXPECT_EQ(shared, 0);
  EXPECT_GT(train.size(), 19990u);  // distinct problems
}

TEST(LangGenerate, ShapeAndRanges) {
  const GeneratorOptions o;
  for (uint64_t seed = 0; seed < kManySeeds; ++seed) {
    const Problem p = GenerateProblem(seed);
    ASSERT_GE(p.facts.size(), 3u);
    ASSERT_LE(p.facts.size(), 8u);
    ASSERT_EQ(p.names.size(), p.facts.size());
    ASSERT_EQ(p.queries.size(), 4u) << seed;
    auto values = Evaluate(p);
    ASSERT_TRUE(values.ok()) << values.status().ToString();
    for (int64_t v : *values) {
      EXPECT_GE(v, kMinValue);
      EXPECT_LE(v, kMaxValue);
    }
    // Depth <= 4; at least one derived quantity.
    EXPECT_GE(DerivedInDependencyOrder(p).size(), 2u);
    for (size_t q = 0; q < p.names.size(); ++q) {
      int depth = 0;
      for (int x = static_cast<int>(q);;) {
        auto it = std::find_if(p.facts.begin(), p.facts.end(), [&](const Fact& f) { return f.target == x; });
        ASSERT_NE(it, p.facts.end());
        if (it->op == Op::kBase) break;
        x = it->source;
        ++depth;
      }
      EXPECT_LE(depth, o.max_depth);
    }
    // Names are told apart by their first letter.
    std::set<char> initials;
    for (const auto& n : p.names) initials.insert(n[0]);
    EXPECT_EQ(initials.size(), p.names.size());
    for (size_t i = 0; i < p.queries.size(); ++i) {
      const Query& q = p.queries[i];
      auto a = EvaluateQuery(p, q);
      ASSERT_TRUE(a.ok()) << a.status().ToString();
      EXPECT_EQ(*a, q.answer) << "generator and evaluator disagree, seed " << seed;
      EXPECT_GE(q.answer, kMinValue);
      EXPECT_LE(q.answer, kMaxValue);
      for (size_t j = 0; j < i; ++j) EXPECT_NE(p.queries[j].text, q.text) << seed;
      Query copy = q;
      ASSERT_TRUE(CompleteQuery(p, &copy).ok());
      EXPECT_EQ(copy.text, q.text);
      EXPECT_EQ(copy.steps, q.steps);
      EXPECT_EQ(copy.steps_with_notes, q.steps_with_notes);
    }
  }
}

TEST(LangRender, EverythingMatchesTheTextEvaluator) {
  for (uint64_t seed = 0; seed < kManySeeds; ++seed) {
    const Problem p = GenerateProblem(seed);
    const std::string context = RenderContext(p);
    ASSERT_EQ(context.find('\n'), std::string::npos);
    const TextProblem tp = ParseContext(context);
    ASSERT_EQ(tp.facts.size(), p.facts.size()) << context;
    const auto values = *Evaluate(p);
    for (size_t i = 0; i < p.names.size(); ++i) EXPECT_EQ(tp.Value(p.names[i]), values[i]) << context;

    // Notes: every derived quantity computed once, after what it reads, right values.
    for (int anticipated : {0, 2}) {
      const std::string notes = RenderNotes(p, {anticipated, seed, {}});
      const std::string where = "notes of seed " + std::to_string(seed) + ": " + notes;
      EXPECT_EQ(notes.find('\n'), std::string::npos);
      std::set<std::string> known;
      for (const auto& [name, f] : tp.facts)
        if (f.op == '=') known.insert(name);
      int resolved = 0, combos = 0;
      for (const std::string& step : SplitSteps(notes)) {
        const StepUse use = CheckStep(tp, step, "", 0, where);
        for (const std::string& r : use.reads)
          EXPECT_TRUE(known.count(r)) << r << " not yet known: " << where;
        if (use.kind == StepKind::kCompute && !use.defines.empty()) {
          EXPECT_FALSE(known.count(use.defines)) << "computed twice: " << where;
          known.insert(use.defines);
          ++resolved;
        } else if (use.kind == StepKind::kCompute) {
          ++combos;
        }
        if (!(use.kind == StepKind::kCompute && use.defines.empty())) {
          EXPECT_EQ(combos, 0) << "anticipations come last: " << where;
        }
      }
      EXPECT_EQ(known.size(), tp.facts.size()) << notes;
      EXPECT_EQ(resolved, static_cast<int>(DerivedInDependencyOrder(p).size()));
      EXPECT_EQ(combos, anticipated) << notes;  // always possible: 2+ derived quantities
    }

    // Queries: question, reasoning and answer with and without notes.
    const std::string notes = RenderNotes(p);
    for (const Query& q : p.queries) {
      const TextQuery tq = ParseQuestion(q.text);
      EXPECT_EQ(tq.kind, q.kind) << q.text;
      const int64_t expected = TextAnswer(tp, tq);
      EXPECT_EQ(expected, q.answer) << context << " / " << q.text;
      const std::string changed = tq.kind == QueryKind::kHypothetical ? tq.b : "";
      const int64_t changed_value =
          changed.empty() ? 0 : tp.Value(changed) + (tq.op == '+' ? tq.amount : -tq.amount);
      for (bool with_notes : {false, true}) {
        const std::string completion = RenderAnswerCompletion(p, q, with_notes);
        const std::string where = context + " / " + q.text + " ->" + completion;
        ASSERT_EQ(completion.back(), '\n');
        EXPECT_EQ(std::count(completion.begin(), completion.end(), '\n'), 1) << where;
        const std::optional<int64_t> parsed = ParseAnswer(completion);
        ASSERT_TRUE(parsed.has_value()) << where;
        EXPECT_EQ(*parsed, expected) << where;
        const size_t marker = completion.rfind(kAnswerMarker);
        ASSERT_NE(marker, std::string::npos);
        EXPECT_EQ(completion.substr(marker), kAnswerMarker + std::to_string(expected) + "\n");
        const std::string reasoning = completion.substr(0, marker);
        EXPECT_EQ(reasoning, RenderReasoning(p, q, with_notes));
        const std::vector<std::string> steps = SplitSteps(reasoning);
        // Computations in dependency order: each reads a base value, a value
        // of the notes (when present) or one an earlier step computed.
        // Lookups ("Cid=Bob*2.") come before the computations that use them.
        std::set<std::string> available, looked_up;
        for (const auto& [name, f] : tp.facts)
          if (f.op == '=' || with_notes) available.insert(name);
        int computations = 0;
        for (const std::string& s : steps) {
          const StepUse use = CheckStep(tp, s, changed, changed_value, where);
          for (const std::string& r : use.reads)
            EXPECT_TRUE(available.count(r)) << r << " not yet known: " << where;
          if (use.kind == StepKind::kLook) looked_up.insert(s.substr(0, s.find('=')));
          if (use.kind != StepKind::kCompute) continue;
          ++computations;
          if (!use.defines.empty()) {
            available.insert(use.defines);
            const std::string plain = use.defines.substr(0, use.defines.find('\''));
            if (use.defines.back() != '\'' || plain != changed) {
              EXPECT_TRUE(looked_up.count(plain)) << plain << " computed before its lookup: " << where;
            }
          }
        }
        EXPECT_EQ(computations, with_notes ? q.steps_with_notes : q.steps) << where;
        if (!steps.empty()) {  // the last step computes the answer
          EXPECT_EQ(steps.back().substr(steps.back().rfind('=') + 1), std::to_string(expected) + ".")
              << where;
        }
        if (with_notes && q.kind == QueryKind::kValue) {  // read from the notes
          EXPECT_EQ(steps.size(), 1u) << where;
        }
      }
      // With notes the reasoning is never longer.
      EXPECT_LE(q.steps_with_notes, q.steps);
      EXPECT_LE(RenderReasoning(p, q, true).size(), RenderReasoning(p, q, false).size());
    }
  }
}

TEST(LangRender, PrefixSuffixAndEngineTemplates) {
  const Problem p = GenerateProblem(11);
  const std::string context = RenderContext(p);
  const std::string n1 = RenderNotes(p), n2 = RenderNotes(p, {2, 3, {}});
  const std::vector<std::string> both = {n1, n2};
  EXPECT_EQ(RenderSleepPrompt(p), context + "\nNOTES:");
  EXPECT_EQ(RenderAnswerPrefix(p), context + "\n");
  EXPECT_EQ(RenderAnswerPrefix(p, both), context + "\nNOTES:" + n1 + "\nNOTES:" + n2 + "\n");
  for (const Query& q : p.queries) {
    EXPECT_EQ(RenderQuestion(q), "Q: " + q.text);
    EXPECT_EQ(RenderAnswerPrompt(p, q), RenderAnswerPrefix(p) + RenderQuestion(q));
    EXPECT_EQ(RenderAnswerPrompt(p, q, &n1), RenderAnswerPrefix(p, std::span(&n1, 1)) + RenderQuestion(q));
    EXPECT_EQ(RenderAnswerPrompt(p, q, both), RenderAnswerPrefix(p, both) + RenderQuestion(q));
  }
  // The engine's templates give the same bytes.
  using sleeptime::RenderTemplate;
  EXPECT_EQ(RenderTemplate(kSleepTemplate, {{"context", context}}), RenderSleepPrompt(p));
  EXPECT_EQ(RenderTemplate(kAnswerPrefixTemplate, {{"context", context}}), RenderAnswerPrefix(p));
  EXPECT_EQ(RenderTemplate(kAnswerPrefixNotesTemplate,
                           {{"context", context}, {"notes", n1 + kNotesSeparator + n2}}),
            RenderAnswerPrefix(p, both));
  EXPECT_EQ(RenderTemplate(kQuestionTemplate, {{"query", p.queries[0].text}}), RenderQuestion(p.queries[0]));
  // Budget forcing at a step boundary gives the reasoned form's bytes.
  for (const Query& q : p.queries) {
    EXPECT_EQ(RenderReasoning(p, q, false) + kAnswerMarker + std::to_string(q.answer) + kStop,
              RenderAnswerCompletion(p, q, false));
  }
}

TEST(LangSteps, HandMadeProblem) {
  Problem p = HandMade();
  auto values = Evaluate(p);
  ASSERT_TRUE(values.ok()) << values.status().ToString();
  EXPECT_EQ(*values, (std::vector<int64_t>{12, 17, 34, 31, 93, 13, 40}));
  EXPECT_EQ(RenderContext(p), "Eve=Dee*3. Bob=Ann+5. Ann=12. Cid=Bob*2. Gus=40. Dee=Cid-3. Fay=Ann+1.");
  EXPECT_EQ(DerivedInDependencyOrder(p), (std::vector<int>{1, 2, 3, 4, 5}));
  EXPECT_EQ(RenderNotes(p),
            " Eve=Dee*3. Dee=Cid-3. Cid=Bob*2. Bob=Ann+5. Ann=12. Bob=Ann+5=12+5=17. Cid=Bob*2=17*2=34."
            " Dee=Cid-3=34-3=31. Eve=Dee*3=31*3=93. Fay=Ann+1. Ann=12. Fay=Ann+1=12+1=13.");

  struct Case {
    Query q;
    std::string text;
    int64_t answer;
    int steps, steps_with_notes;
    std::string reasoning, reasoning_with_notes;
  };
  const std::vector<Case> cases = {
      {MakeQuery(QueryKind::kValue, 1), "How many does Bob have?", 17, 1, 0,
       " Bob=Ann+5. Ann=12. Bob=Ann+5=12+5=17.", " Bob=17."},
      {MakeQuery(QueryKind::kValue, 4), "How many does Eve have?", 93, 4, 0,
       " Eve=Dee*3. Dee=Cid-3. Cid=Bob*2. Bob=Ann+5. Ann=12. Bob=Ann+5=12+5=17. Cid=Bob*2=17*2=34."
       " Dee=Cid-3=34-3=31. Eve=Dee*3=31*3=93.",
       " Eve=93."},
      {MakeQuery(QueryKind::kCombination, 1, 5, '+'), "How many do Bob and Fay have together?", 30, 3, 1,
       " Bob=Ann+5. Ann=12. Bob=Ann+5=12+5=17. Fay=Ann+1. Ann=12. Fay=Ann+1=12+1=13. Bob+Fay=17+13=30.",
       " Bob=17. Fay=13. Bob+Fay=17+13=30."},
      {MakeQuery(QueryKind::kCombination, 2, 1, '-'), "How many more does Cid have than Bob?", 17, 3, 1,
       " Cid=Bob*2. Bob=Ann+5. Ann=12. Bob=Ann+5=12+5=17. Cid=Bob*2=17*2=34. Bob=17. Cid-Bob=34-17=17.",
       " Cid=34. Bob=17. Cid-Bob=34-17=17."},
      {MakeQuery(QueryKind::kCombination, 6, 0, '-'), "How many more does Gus have than Ann?", 28, 1, 1,
       " Gus=40. Ann=12. Gus-Ann=40-12=28.", " Gus=40. Ann=12. Gus-Ann=40-12=28."},
      {MakeQuery(QueryKind::kHypothetical, 2, 0, '+', 3), "If Ann had 3 more, how many would Cid have?", 40,
       3, 3, " Cid=Bob*2. Bob=Ann+5. Ann=12. Ann'=Ann+3=12+3=15. Bob'=Ann'+5=15+5=20. Cid'=Bob'*2=20*2=40.",
       " Cid=Bob*2. Bob=Ann+5. Ann=12. Ann'=Ann+3=12+3=15. Bob'=Ann'+5=15+5=20. Cid'=Bob'*2=20*2=40."},
      {MakeQuery(QueryKind::kHypothetical, 4, 2, '-', 4), "If Cid had 4 fewer, how many would Eve have?", 81,
       5, 3,
       " Eve=Dee*3. Dee=Cid-3. Cid=Bob*2. Bob=Ann+5. Ann=12. Bob=Ann+5=12+5=17. Cid=Bob*2=17*2=34."
       " Cid'=Cid-4=34-4=30. Dee'=Cid'-3=30-3=27. Eve'=Dee'*3=27*3=81.",
       " Eve=Dee*3. Dee=Cid-3. Cid=34. Cid'=Cid-4=34-4=30. Dee'=Cid'-3=30-3=27. Eve'=Dee'*3=27*3=81."},
  };
  for (const Case& c : cases) {
    Query q = c.q;
    ASSERT_TRUE(CompleteQuery(p, &q).ok()) << c.text;
    EXPECT_EQ(q.text, c.text);
    EXPECT_EQ(q.answer, c.answer) << c.text;
    EXPECT_EQ(q.steps, c.steps) << c.text;
    EXPECT_EQ(q.steps_with_notes, c.steps_with_notes) << c.text;
    EXPECT_EQ(RenderReasoning(p, q, false), c.reasoning);
    EXPECT_EQ(RenderReasoning(p, q, true), c.reasoning_with_notes);
    EXPECT_EQ(RenderAnswerCompletion(p, q, false),
              c.reasoning + " answer: " + std::to_string(c.answer) + "\n");
  }

  // Invalid queries and problems are refused.
  Query bad = MakeQuery(QueryKind::kHypothetical, 5, 1, '+', 2);  // Bob is no ancestor of Fay
  EXPECT_FALSE(CompleteQuery(p, &bad).ok());
  bad = MakeQuery(QueryKind::kValue, 0);  // a base quantity
  EXPECT_FALSE(CompleteQuery(p, &bad).ok());
  bad = MakeQuery(QueryKind::kCombination, 1, 2, '-');  // negative
  EXPECT_FALSE(EvaluateQuery(p, bad).ok());
  bad = MakeQuery(QueryKind::kHypothetical, 2, 0, '-', 12);  // Ann would have 0
  EXPECT_FALSE(EvaluateQuery(p, bad).ok());
  Problem cyclic = p;
  cyclic.facts[2] = {0, 4, Op::kAdd, 1};  // Ann = Eve + 1
  EXPECT_FALSE(Evaluate(cyclic).ok());
  Problem twice = p;
  twice.facts.push_back({1, -1, Op::kBase, 3});
  EXPECT_FALSE(Evaluate(twice).ok());
  Problem big = p;
  big.facts[2].operand = 400;  // Eve = ((400+5)*2-3)*3 > 999
  EXPECT_EQ(Evaluate(big).status().code(), sleeptime::StatusCode::kOutOfRange);
}

TEST(LangGenerate, QueryKindsAndStepsAreSpread) {
  std::map<QueryKind, int> kinds;
  std::map<QueryKind, std::map<int, int>> steps;
  int total = 0;
  for (uint64_t seed = 0; seed < kManySeeds; ++seed) {
    for (const Query& q : GenerateProblem(seed).queries) {
      ++kinds[q.kind];
      ++steps[q.kind][q.steps];
      ++total;
    }
  }
  for (QueryKind k : {QueryKind::kValue, QueryKind::kCombination, QueryKind::kHypothetical}) {
    const double f = static_cast<double>(kinds[k]) / total;
    EXPECT_GT(f, 0.2) << QueryKindName(k);
    EXPECT_LT(f, 0.5) << QueryKindName(k);
    std::printf("%-12s %5.1f%% of queries; steps:", QueryKindName(k), 100.0 * f);
    for (const auto& [s, n] : steps[k]) std::printf(" %d:%.1f%%", s, 100.0 * n / kinds[k]);
    std::printf("\n");
  }
  // Value queries need 1..4 steps, each depth well represented.
  for (int s = 1; s <= 4; ++s) EXPECT_GT(steps[QueryKind::kValue][s], kinds[QueryKind::kValue] / 10) << s;
  EXPECT_EQ(steps[QueryKind::kValue].count(0), 0u);
  EXPECT_EQ(steps[QueryKind::kValue].count(5), 0u);
  EXPECT_GT(steps[QueryKind::kHypothetical][5], 0);
}

TEST(LangGenerate, OptionsAreHonoured) {
  GeneratorOptions o;
  o.min_facts = o.max_facts = 5;
  o.queries_per_problem = 7;
  o.weight_value = 0;
  o.weight_combination = 0;
  o.max_depth = 2;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    const Problem p = GenerateProblem(seed, o);
    EXPECT_EQ(p.facts.size(), 5u);
    EXPECT_EQ(p.queries.size(), 7u);
    for (const Query& q : p.queries) {
      EXPECT_EQ(q.kind, QueryKind::kHypothetical);
      EXPECT_LE(q.steps, 3);
    }
  }
}

TEST(LangParse, TrickyStrings) {
  EXPECT_EQ(ParseAnswer(" Bob=Ann+5=12+5=17. answer: 17\n"), 17);
  EXPECT_EQ(ParseAnswer("answer: 45.0"), 45);
  EXPECT_EQ(ParseAnswer("answer: 45.00\n"), 45);
  EXPECT_EQ(ParseAnswer("answer: 45."), 45);
  EXPECT_EQ(ParseAnswer("The answer is 45. Done"), 45);
  EXPECT_EQ(ParseAnswer("Answer: $1,234"), 1234);
  EXPECT_EQ(ParseAnswer("ANSWER:7"), 7);
  EXPECT_EQ(ParseAnswer("answer: 007"), 7);
  EXPECT_EQ(ParseAnswer("answer: -3"), -3);
  EXPECT_EQ(ParseAnswer("answer: 12 apples"), 12);
  EXPECT_EQ(ParseAnswer("answer: 1,2"), 1);  // not a thousands separator
  EXPECT_EQ(ParseAnswer("answer: 34\nQ: How many does Bob have? answer: 9\n"), 34);  // the first one
  EXPECT_EQ(ParseAnswer(" Bob=12+ answer: 34\n"), 34);                               // forced mid-step
  EXPECT_EQ(ParseAnswer("answer: ?? answer: 5"), 5);  // a marker without a number is skipped
  EXPECT_EQ(ParseAnswer("the answered question. answer: 8"), 8);
  EXPECT_FALSE(ParseAnswer("answer: 4.5").has_value());
  EXPECT_FALSE(ParseAnswer("answer: 45.01").has_value());
  EXPECT_FALSE(ParseAnswer("Bob=17. 17").has_value());  // no marker
  EXPECT_FALSE(ParseAnswer("answer: ").has_value());
  EXPECT_FALSE(ParseAnswer("").has_value());
  EXPECT_FALSE(ParseAnswer("answer: 99999999999999999999999").has_value());
  EXPECT_FALSE(ParseAnswer("answers: 5").has_value());
}

TEST(LangNotes, LookupsAreCheckedAgainstTheContextsFacts) {
  // Every lookup the rendered reasoning writes copies a fact.
  int written = 0;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    const Problem g = GenerateProblem(seed);
    for (const Query& q : g.queries) {
      const LookupScore s = ScoreLookups(g, RenderReasoning(g, q, false));
      EXPECT_EQ(s.correct, s.written) << RenderReasoning(g, q, false);
      written += s.written;
    }
  }
  EXPECT_GT(written, 100);
  const Problem p = HandMade();  // Eve=Dee*3. Bob=Ann+5. Ann=12. Cid=Bob*2. Gus=40. Dee=Cid-3. Fay=Ann+1.
  const LookupScore all = ScoreLookups(p, RenderNotes(p));
  EXPECT_EQ(all.written, 5);  // Eve, Dee, Cid, Bob, Fay; the computing steps are not lookups
  EXPECT_EQ(all.correct, 5);
  EXPECT_EQ(all.defined, 5);
  EXPECT_EQ(all.source_right + all.op_right + all.operand_right, 15);
  EXPECT_EQ(all.other_fact, 0);
  // Wrong source, operator or constant, another fact's right side (Bob's, for
  // Cid), a name the context does not define; a computed step and a value
  // read are not lookups.
  const LookupScore mixed = ScoreLookups(
      p, " Cid=Cid*2. Cid=Bob*3. Dee=Cid-3. Bob=Ann+4. Bob=Ann+5=12+5=17. Ann=12. Zed=Ann+1. Cid=Ann+5.");
  EXPECT_EQ(mixed.written, 6);
  EXPECT_EQ(mixed.correct, 1);
  EXPECT_EQ(mixed.defined, 5);  // not Zed
  EXPECT_EQ(mixed.source_right, 3);
  EXPECT_EQ(mixed.op_right, 4);
  EXPECT_EQ(mixed.operand_right, 2);
  EXPECT_EQ(mixed.other_fact, 1);
  LookupScore sum = all;
  sum += mixed;
  EXPECT_EQ(sum.written, 11);
  EXPECT_EQ(sum.other_fact, 1);
}

TEST(LangNotes, AccuracyOfRenderedAndCorruptedNotes) {
  const Problem p = HandMade();  // five derived quantities
  const std::string notes = RenderNotes(p);
  EXPECT_DOUBLE_EQ(NotesAccuracy(p, notes), 1.0);
  EXPECT_DOUBLE_EQ(NotesAccuracy(p, RenderNotes(p, {3, 1, {}})), 1.0);
  EXPECT_DOUBLE_EQ(NotesAccuracy(p, "NOTES:" + notes + "\nNOTES:" + notes + "\n"), 1.0);

  std::string wrong = notes;
  wrong.replace(wrong.find("=34."), 4, "=35.");  // Cid
  NotesScore s = ScoreNotes(p, wrong);
  EXPECT_EQ(s.derived, 5);
  EXPECT_EQ(s.stated, 5);
  EXPECT_EQ(s.correct, 4);
  EXPECT_DOUBLE_EQ(s.accuracy(), 0.8);

  std::string missing = notes.substr(0, notes.find(" Dee=Cid-3="));  // Dee, Eve and Fay not computed
  s = ScoreNotes(p, missing);
  EXPECT_EQ(s.stated, 2);
  EXPECT_DOUBLE_EQ(s.accuracy(), 0.4);

  EXPECT_DOUBLE_EQ(NotesAccuracy(p, ""), 0.0);
  EXPECT_DOUBLE_EQ(NotesAccuracy(p, "nothing useful here"), 0.0);
  // Spaced or short forms count; hypothetical and combination statements do not.
  EXPECT_DOUBLE_EQ(NotesAccuracy(p, "Bob = 17. Cid = Bob * 2 = 34.\nDee=31; Eve=93. Fay=13."), 1.0);
  EXPECT_DOUBLE_EQ(NotesAccuracy(p, " Bob'=Bob+1=17+1=18. Ann+Bob=12+17=29. Cid'=36."), 0.0);
  // The first statement of a quantity counts.
  EXPECT_DOUBLE_EQ(NotesAccuracy(p, " Bob=18. Bob=17. Cid=34. Dee=31. Eve=93. Fay=13."), 0.8);
  // Every generated problem's notes score 1; one corrupted digit lowers it.
  for (uint64_t seed = 0; seed < 500; ++seed) {
    const Problem g = GenerateProblem(seed);
    const std::string n = RenderNotes(g, {2, seed, {}});
    ASSERT_DOUBLE_EQ(NotesAccuracy(g, n), 1.0) << n;
    std::string c = n;
    size_t start = 0, dot = 0;
    for (;;) {  // the first computation "X=...=v." (lookups state no value)
      dot = c.find('.', start);
      ASSERT_NE(dot, std::string::npos) << n;
      const std::string step = c.substr(start, dot - start);
      if (std::count(step.begin(), step.end(), '=') >= 2) break;
      start = dot + 1;
    }
    char& last_digit = c[dot - 1];
    last_digit = last_digit == '9' ? '0' : static_cast<char>(last_digit + 1);
    ASSERT_LT(NotesAccuracy(g, c), 1.0) << c;
  }
}

TEST(LangTraining, ExamplesAreWellFormedAndWithinBudget) {
  const MixOptions mix;
  std::map<std::string, std::vector<size_t>> lengths;
  std::map<Format, int> formats;
  int answer_examples = 0, with_notes = 0, two_notes = 0;
  for (uint64_t seed = 0; seed < kManySeeds; ++seed) {
    const Problem p = GenerateProblem(seed);
    const std::string context = RenderContext(p);
    const std::vector<TrainingExample> examples = RenderTrainingExamples(p, seed);
    EXPECT_GE(examples.size(), p.queries.size());
    for (const TrainingExample& e : examples) {
      const std::string where = FormatName(e.format) + std::string(": ") + e.prompt + "|" + e.completion;
      ++formats[e.format];
      const size_t len = e.prompt.size() + e.completion.size();
      EXPECT_LE(len, mix.max_bytes) << where;
      std::string key = std::string(FormatName(e.format)) + (e.notes_samples ? "+notes" : "");
      lengths[key].push_back(len);
      lengths["all"].push_back(len);
      EXPECT_EQ(e.prompt.rfind(context + "\n", 0), 0u) << where;  // the context comes first
      ASSERT_FALSE(e.completion.empty());
      EXPECT_EQ(e.completion.back(), '\n') << where;
      EXPECT_EQ(std::count(e.completion.begin(), e.completion.end(), '\n'), 1) << where;
      for (char ch : e.prompt + e.completion) EXPECT_TRUE(ch == '\n' || (ch >= 32 && ch < 127)) << where;
      if (e.format == Format::kSleep) {
        EXPECT_FALSE(e.kind.has_value());
        EXPECT_EQ(e.prompt, RenderSleepPrompt(p));
        EXPECT_DOUBLE_EQ(NotesAccuracy(p, e.completion), 1.0) << where;
        continue;
      }
      ++answer_examples;
      with_notes += e.notes_samples > 0;
      two_notes += e.notes_samples > 1;
      ASSERT_TRUE(e.kind.has_value());
      EXPECT_EQ(std::count(e.prompt.begin(), e.prompt.end(), '\n'), 1 + e.notes_samples) << where;
      // What the engine would parse: the text after the question suffix.
      const size_t q = e.prompt.rfind("\nQ: ");
      ASSERT_NE(q, std::string::npos);
      const size_t mark = e.prompt.find('?', q);
      ASSERT_NE(mark, std::string::npos);
      const std::string generated = e.prompt.substr(mark + 1) + e.completion;
      EXPECT_EQ(ParseAnswer(generated), e.answer) << where;
      if (e.format == Format::kReasoned) {
        EXPECT_EQ(e.completion.find(kAnswerMarker) + std::string(kAnswerMarker).size() +
                      std::to_string(e.answer).size() + 1,
                  e.completion.size())
            << where;
      } else {
        EXPECT_EQ(e.completion, std::to_string(e.answer) + "\n") << where;
        EXPECT_TRUE(e.prompt.ends_with(kAnswerMarker)) << where;
      }
      if (e.format == Format::kDirect) {
        EXPECT_TRUE(e.prompt.ends_with("?" + std::string(kAnswerMarker))) << where;
      }
    }
  }
  // The mix is roughly as asked.
  const double n = answer_examples;
  EXPECT_NEAR(with_notes / n, mix.notes_rate, 0.05);
  EXPECT_GT(two_notes, 0);
  EXPECT_NEAR(formats[Format::kDirect] / n, mix.direct_rate, 0.04);  // value+notes forced turn direct
  EXPECT_NEAR(formats[Format::kForced] / n, mix.forced_rate, 0.05);
  EXPECT_NEAR(formats[Format::kSleep] / static_cast<double>(kManySeeds), mix.sleep_rate, 0.05);

  std::printf("example length in bytes (prompt + completion), %d problems, default mix:\n", kManySeeds);
  for (auto& [name, v] : lengths) {
    std::sort(v.begin(), v.end());
    const double mean = std::accumulate(v.begin(), v.end(), 0.0) / v.size();
    std::printf("  %-15s n=%6zu min %3zu p10 %3zu p50 %3zu p90 %3zu p99 %3zu max %3zu mean %.0f\n",
                name.c_str(), v.size(), v.front(), v[v.size() / 10], v[v.size() / 2], v[v.size() * 9 / 10],
                v[v.size() * 99 / 100], v.back(), mean);
  }
}

TEST(LangTraining, Deterministic) {
  for (uint64_t seed = 0; seed < 200; ++seed) {
    const Problem p = GenerateProblem(seed);
    const auto a = RenderTrainingExamples(p, 5), b = RenderTrainingExamples(p, 5);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].prompt, b[i].prompt);
      EXPECT_EQ(a[i].completion, b[i].completion);
      EXPECT_EQ(a[i].format, b[i].format);
    }
  }
}

TEST(LangTraining, MultiQueryExamplesShareOnePrefix) {
  MixOptions mix;
  mix.queries_per_example = 4;
  int followups = 0, answer_queries = 0, total_queries = 0;
  for (uint64_t seed = 0; seed < 500; ++seed) {
    const Problem p = GenerateProblem(seed);
    total_queries += static_cast<int>(p.queries.size());
    for (const TrainingExample& e : RenderTrainingExamples(p, seed, mix)) {
      std::string all = e.prompt + e.completion;
      for (const TrainingFollowup& f : e.followups) all += f.prompt + f.completion;
      EXPECT_LE(all.size(), mix.max_bytes);
      if (e.format == Format::kSleep) {
        EXPECT_TRUE(e.followups.empty());
        continue;
      }
      answer_queries += 1 + static_cast<int>(e.followups.size());
      followups += static_cast<int>(e.followups.size());
      // Every query is answered on its own line, after the same prefix.
      EXPECT_EQ(std::count(all.begin(), all.end(), '\n'),
                1 + e.notes_samples + 1 + static_cast<int>(e.followups.size()));
      for (const TrainingFollowup& f : e.followups) {
        EXPECT_TRUE(f.prompt.starts_with(kQuestionMarker)) << f.prompt;
        EXPECT_TRUE(f.completion.ends_with(kStop)) << f.completion;
        const Query* match = nullptr;
        for (const Query& q : p.queries)
          if (f.prompt.starts_with(RenderQuestion(q))) match = &q;
        ASSERT_NE(match, nullptr) << f.prompt;
        const std::string generated = f.prompt.substr(RenderQuestion(*match).size()) + f.completion;
        EXPECT_EQ(ParseAnswer(generated), match->answer) << generated;
      }
    }
  }
  EXPECT_GT(followups, answer_queries / 2);           // most queries ride along another's prefix
  EXPECT_GT(answer_queries, total_queries * 9 / 10);  // few dropped for length
}

// keep_notes: an answer example too long for max_bytes gives up trailing
// queries before its notes, so large problems keep theirs; the queries it
// keeps are the group's first ones, answered as without keep_notes.
TEST(LangTraining, KeepNotesDropsTrailingQueriesFirst) {
  MixOptions mix{.sleep_rate = 0.0,
                 .notes_rate = 1.0,
                 .two_notes_rate = 0.0,
                 .direct_rate = 0.0,
                 .forced_rate = 0.0,
                 .max_bytes = 511,
                 .queries_per_example = 4,
                 .style = TraceStyle{.value_lines = true,
                                     .reversed_results = true,
                                     .notes_every_fact = true,
                                     .short_from_notes = true,
                                     .short_named_operands = true,
                                     .short_paths = true,
                                     .compact_paths = true}};
  MixOptions keep = mix;
  keep.keep_notes = true;
  GeneratorOptions large;
  large.min_facts = large.max_facts = 8;
  int without_notes = 0, kept_without_notes = 0, examples = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    const Problem p = GenerateProblem(seed, large);
    const auto plain = RenderTrainingExamples(p, seed, mix);
    const auto kept = RenderTrainingExamples(p, seed, keep);
    for (const TrainingExample& e : plain) without_notes += e.notes_samples == 0;
    for (const TrainingExample& e : kept) {
      ++examples;
      std::string all = e.prompt + e.completion;
      for (const TrainingFollowup& f : e.followups) all += f.prompt + f.completion;
      EXPECT_LE(all.size(), keep.max_bytes);
      if (e.notes_samples == 0) {
        ++kept_without_notes;
        continue;
      }
      // The first query is one of the problem's, answered from the notes.
      const Query* q = nullptr;
      for (const Query& candidate : p.queries)
        if (e.prompt.ends_with(RenderQuestion(candidate))) q = &candidate;
      ASSERT_NE(q, nullptr) << e.prompt;
      EXPECT_EQ(e.completion, RenderAnswerCompletion(p, *q, true, keep.style));
    }
  }
  EXPECT_GT(without_notes, examples / 2);  // the default drops most large problems' notes
  EXPECT_EQ(kept_without_notes, 0);
}

// Renders problem `seed` with and without drills: exactly one drill of
// `format` is appended, and every other example is drawn as without it.
void RenderDrill(uint64_t seed, const MixOptions& plain, const MixOptions& drills, Format format, Problem* p,
                 TrainingExample* drill) {
  *p = GenerateProblem(seed);
  const auto with = RenderTrainingExamples(*p, seed, drills);
  const auto without = RenderTrainingExamples(*p, seed, plain);
  ASSERT_EQ(with.size(), without.size() + 1);
  for (size_t i = 0; i < without.size(); ++i) {
    EXPECT_EQ(with[i].prompt, without[i].prompt);
    EXPECT_EQ(with[i].completion, without[i].completion);
  }
  *drill = with.back();
  ASSERT_EQ(drill->format, format);
}

TEST(LangTraining, LookupDrillsCopyEachFactOfTheContext) {
  MixOptions plain;
  plain.queries_per_example = 4;
  MixOptions drills = plain;
  drills.lookup_rate = 1.0;
  drills.lookup_rounds = 2;
  int drills_seen = 0;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    Problem p;
    TrainingExample e;
    ASSERT_NO_FATAL_FAILURE(RenderDrill(seed, plain, drills, Format::kLookup, &p, &e));
    ++drills_seen;
    const std::string head = RenderContext(p) + "\n" + kLookupMarker;
    ASSERT_TRUE(e.prompt.starts_with(head)) << e.prompt;
    std::vector<std::pair<std::string, std::string>> lookups = {{e.prompt.substr(head.size()), e.completion}};
    for (const TrainingFollowup& f : e.followups) lookups.emplace_back(f.prompt, f.completion);
    ASSERT_EQ(lookups.size(), 2 * p.facts.size());
    EXPECT_EQ(e.steps, static_cast<int>(lookups.size()));
    std::map<std::string, int> times;
    for (size_t i = 0; i < lookups.size(); ++i) {
      auto [prompt, completion] = lookups[i];
      if (i + 1 == lookups.size()) {
        ASSERT_TRUE(completion.ends_with(kStop));
        completion.pop_back();
      }
      ASSERT_TRUE(prompt.starts_with(" ") && prompt.ends_with("=")) << prompt;
      const std::string name = prompt.substr(1, prompt.size() - 2);
      ++times[name];
      // The fact that defines `name`, from the structured facts (not the rendering).
      const Fact* def = nullptr;
      for (const Fact& f : p.facts)
        if (p.names[f.target] == name) def = &f;
      ASSERT_NE(def, nullptr) << name;
      const std::string want = def->op == Op::kBase ? std::to_string(def->operand) + "."
                                                    : p.names[def->source] + static_cast<char>(def->op) +
                                                          std::to_string(def->operand) + ".";
      EXPECT_EQ(completion, want) << name;
    }
    EXPECT_EQ(times.size(), p.facts.size());
    for (const auto& [name, n] : times) EXPECT_EQ(n, 2) << name;
  }
  EXPECT_EQ(drills_seen, 300);
  EXPECT_STREQ(FormatName(Format::kLookup), "lookup");
}

TEST(LangTraining, HypotheticalDrillsAnswerFromNotesEveryPairInRandomOrder) {
  MixOptions plain;
  plain.queries_per_example = 4;
  plain.lookup_rate = 0.5;
  plain.style.value_lines = plain.style.reversed_results = plain.style.notes_every_fact = true;
  plain.style.short_from_notes = plain.style.short_named_operands = true;
  plain.style.short_paths = plain.style.compact_paths = true;
  MixOptions drills = plain;
  drills.hypothetical_drill_rate = 1.0;
  int queries = 0, hard_queries = 0, first_hard = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    Problem p;
    TrainingExample e;
    ASSERT_NO_FATAL_FAILURE(RenderDrill(seed, plain, drills, Format::kReasoned, &p, &e));
    EXPECT_EQ(e.notes_samples, 1);
    EXPECT_EQ(e.kind, QueryKind::kHypothetical);
    const std::string head = RenderContext(p) + "\n" + kNotesMarker;
    ASSERT_TRUE(e.prompt.starts_with(head)) << e.prompt;
    const size_t question_at = e.prompt.find(std::string("\n") + kQuestionMarker);
    ASSERT_NE(question_at, std::string::npos);
    EXPECT_EQ(e.prompt.find('\n', head.size()), question_at);  // one notes line
    std::vector<std::pair<std::string, std::string>> parts = {
        {e.prompt.substr(question_at + 1), e.completion}};
    for (const TrainingFollowup& f : e.followups) parts.emplace_back(f.prompt, f.completion);
    for (const auto& [prompt, completion] : parts) {
      // "Q: If Z had N more, how many would Y have?", checked against the structured facts.
      char changed[8] = {}, asked[8] = {}, more[8] = {};
      long long amount = 0;
      ASSERT_EQ(std::sscanf(prompt.c_str(), "Q: If %7s had %lld %7[a-z], how many would %7s have?", changed,
                            &amount, more, asked),
                4)
          << prompt;
      Query q;
      q.kind = QueryKind::kHypothetical;
      q.op = std::string(more) == "more" ? '+' : '-';
      q.amount = amount;
      for (size_t i = 0; i < p.names.size(); ++i) {
        if (p.names[i] == changed) q.other = static_cast<int>(i);
        if (p.names[i] == asked) q.asked = static_cast<int>(i);
      }
      auto want = EvaluateQuery(p, q);
      ASSERT_TRUE(want.ok()) << prompt;
      EXPECT_EQ(ParseAnswer(completion), *want) << prompt << completion;
      ASSERT_TRUE(CompleteQuery(p, &q).ok());
      EXPECT_EQ(completion, RenderAnswerCompletion(p, q, true, plain.style));
      // Relations from asked up to the changed quantity, and whether one multiplies.
      int relations = 0;
      bool mul = false;
      for (int y = q.asked; y != q.other; ++relations) {
        const Fact* def = nullptr;
        for (const Fact& f : p.facts)
          if (f.target == y) def = &f;
        ASSERT_TRUE(def != nullptr && def->op != Op::kBase) << prompt;  // changed is a proper ancestor
        mul = mul || def->op == Op::kMul;
        y = def->source;
      }
      ++queries;
      hard_queries += relations >= 2 && mul;
      first_hard += relations >= 2 && mul && prompt == parts.front().first;
    }
    size_t bytes = e.prompt.size() + e.completion.size();
    for (const TrainingFollowup& f : e.followups) bytes += f.prompt.size() + f.completion.size();
    EXPECT_LE(bytes, drills.max_bytes);
  }
  EXPECT_GT(queries, 200 * 4);  // several per drill
  // Paths of two or more relations with a "*k" come in their share, not first.
  EXPECT_GT(hard_queries, queries / 10);
  EXPECT_LT(first_hard, 200 / 2);
}

TEST(LangTraining, ArithmeticDrillsComputeRightAndLeaveOtherDrawsAlone) {
  MixOptions plain;
  plain.queries_per_example = 4;
  plain.lookup_rate = 0.5;
  MixOptions drills = plain;
  drills.arithmetic_rate = 1.0;
  drills.arithmetic_items = 12;
  std::map<char, int> ops;
  int two_digit = 0, items = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    Problem p;
    TrainingExample e;
    ASSERT_NO_FATAL_FAILURE(RenderDrill(seed, plain, drills, Format::kArithmetic, &p, &e));
    ASSERT_TRUE(e.prompt.starts_with(kArithmeticMarker)) << e.prompt;
    std::vector<std::pair<std::string, std::string>> calcs = {
        {e.prompt.substr(std::string(kArithmeticMarker).size()), e.completion}};
    for (const TrainingFollowup& f : e.followups) calcs.emplace_back(f.prompt, f.completion);
    ASSERT_EQ(calcs.size(), 12u);
    EXPECT_EQ(e.steps, 12);
    for (size_t i = 0; i < calcs.size(); ++i) {
      auto [prompt, completion] = calcs[i];
      if (i + 1 == calcs.size()) {
        ASSERT_TRUE(completion.ends_with(kStop));
        completion.pop_back();
      }
      // " a+b=" -> "r." with r the true result, every number in the language's range.
      long long a = 0, b = 0, r = 0;
      char op = 0, eq = 0, dot = 0;
      ASSERT_EQ(std::sscanf(prompt.c_str(), " %lld%c%lld%c", &a, &op, &b, &eq), 4) << prompt;
      ASSERT_EQ(eq, '=');
      ASSERT_EQ(std::sscanf(completion.c_str(), "%lld%c", &r, &dot), 2) << completion;
      ASSERT_EQ(dot, '.');
      EXPECT_EQ(prompt, " " + std::to_string(a) + op + std::to_string(b) + "=");
      EXPECT_EQ(r, op == '+' ? a + b : op == '-' ? a - b : a * b) << prompt << completion;
      for (long long v : {a, b, r}) {
        EXPECT_GE(v, kMinValue);
        EXPECT_LE(v, kMaxValue);
      }
      ++ops[op];
      ++items;
      two_digit += a >= 10 && a < 100;
    }
  }
  EXPECT_EQ(ops.size(), 3u);
  for (const auto& [op, n] : ops) EXPECT_GT(n, items / 5) << op;
  EXPECT_GT(two_digit, items / 5);  // traces' values are often small
  EXPECT_STREQ(FormatName(Format::kArithmetic), "arithmetic");
}

TEST(LangNotes, ComputationsAreCheckedByArithmeticAlone) {
  const ComputationScore s = ScoreComputations(
      " C=B*2. B=A+5. A=12. B=A+5=12+5=17. C=B*2=17*2=35. D-C=40-35=6. Y'=Y-15=6-15=2. answer: 35");
  EXPECT_EQ(s.written[0], 1);
  EXPECT_EQ(s.correct[0], 1);  // 12+5=17
  EXPECT_EQ(s.written[2], 1);
  EXPECT_EQ(s.correct[2], 0);  // 17*2=35
  EXPECT_EQ(s.written[1], 2);
  EXPECT_EQ(s.correct[1], 0);  // 40-35=6, 6-15=2
  EXPECT_EQ(s.all_written(), 4);
  EXPECT_EQ(s.all_correct(), 1);
  // Lookups, values, a computation without its result or its '.' are not computations.
  const ComputationScore none = ScoreComputations("A=12. C=B*2. =12+5. =1+2=3 =4+4=8.");
  EXPECT_EQ(none.all_written(), 1);  // =4+4=8.
  EXPECT_EQ(none.all_correct(), 1);
  // The language's own traces compute right, every one.
  ComputationScore traces;
  for (uint64_t seed = 0; seed < 100; ++seed) {
    const Problem p = GenerateProblem(seed);
    for (const Query& q : p.queries) traces += ScoreComputations(RenderReasoning(p, q, false));
    traces += ScoreComputations(RenderNotes(p));
  }
  EXPECT_GT(traces.all_written(), 500);
  for (int i = 0; i < 3; ++i) {
    EXPECT_GT(traces.written[i], 0) << kComputationOperators[i];
    EXPECT_EQ(traces.correct[i], traces.written[i]) << kComputationOperators[i];
  }
}

TEST(LangNotes, AnticipatedAnswersAreReadFromTheNotes) {
  const std::string notes = " Bob=Ann+5=12+5=17. Cid=Bob*2=17*2=34. Bob+Cid=17+34=51. Cid-Bob=34-17=17.";
  EXPECT_EQ(AnticipatedAnswer("How many do Bob and Cid have together?", notes), 51);
  EXPECT_EQ(AnticipatedAnswer("How many do Cid and Bob have together?", notes), 51);  // sums commute
  EXPECT_EQ(AnticipatedAnswer("How many more does Cid have than Bob?", notes), 17);
  EXPECT_FALSE(AnticipatedAnswer("How many more does Bob have than Cid?", notes).has_value());
  EXPECT_FALSE(AnticipatedAnswer("How many do Ann and Cid have together?", notes).has_value());
  EXPECT_FALSE(AnticipatedAnswer("How many does Cid have?", notes).has_value());
  EXPECT_FALSE(AnticipatedAnswer("If Ann had 3 more, how many would Cid have?", notes).has_value());
  // Every anticipation the generator renders is found with the right value.
  int found = 0;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    const Problem p = GenerateProblem(seed);
    const std::string n = RenderNotes(p, {2, seed, {}});
    for (const Query& q : p.queries) {
      auto v = AnticipatedAnswer(q.text, n);
      if (!v) continue;
      ++found;
      EXPECT_EQ(*v, q.answer) << q.text << " |" << n;
    }
  }
  EXPECT_GT(found, 10);
}

// The number that follows the latest "X=" (X a whole name) in `text`, if a
// number follows it; "X=" inside "X'=" or "YX=" does not count.
std::optional<int64_t> ValueAfterLatest(const std::string& text, const std::string& name) {
  for (size_t pos = text.rfind(name + "="); pos != std::string::npos;
       pos = pos == 0 ? std::string::npos : text.rfind(name + "=", pos - 1)) {
    if (pos > 0 && std::isalpha(static_cast<unsigned char>(text[pos - 1]))) continue;
    const size_t at = pos + name.size() + 1;
    if (at >= text.size() || !std::isdigit(static_cast<unsigned char>(text[at]))) return std::nullopt;
    return std::stoll(text.substr(at));
  }
  return std::nullopt;
}

// Operand reads a trace makes by name: "Cid=Bob*2=17*2=34." reads Bob (17), a
// sum "Bob+Cid=17+34=51." reads both. Counts those whose value is the number
// right after the latest "Name=" of everything written before (the prompt
// included); `reads` counts them all.
int ReadsRightAfterLatestName(const std::string& prompt, const std::string& reasoning, int* reads) {
  static const std::regex kCompute(R"( ([A-Z])=([A-Z])[-+*]\d+=(\d+)[-+*]\d+=\d+\.)");
  static const std::regex kCombine(R"( ([A-Z])([-+])([A-Z]) ?=(\d+)[-+](\d+)=-?\d+\.)");
  int right = 0;
  auto check = [&](const std::string& before, const std::string& name, const std::string& value) {
    ++*reads;
    if (ValueAfterLatest(before, name) == std::stoll(value)) ++right;
  };
  for (auto it = std::sregex_iterator(reasoning.begin(), reasoning.end(), kCompute);
       it != std::sregex_iterator(); ++it)
    check(prompt + reasoning.substr(0, it->position()), (*it)[2], (*it)[3]);
  for (auto it = std::sregex_iterator(reasoning.begin(), reasoning.end(), kCombine);
       it != std::sregex_iterator(); ++it) {
    const std::string before = prompt + reasoning.substr(0, it->position());
    check(before, (*it)[1], (*it)[4]);
    check(before, (*it)[3], (*it)[5]);
  }
  return right;
}

TEST(LangValueLines, EveryValueReadFollowsTheLatestStatementOfItsName) {
  int reads = 0, right = 0, reads_plain = 0, right_plain = 0, restated = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    const Problem p = GenerateProblem(seed);
    NotesOptions o{2, seed, {.value_lines = true}};
    const std::string notes = RenderNotes(p, o);
    EXPECT_DOUBLE_EQ(NotesAccuracy(p, notes), 1.0) << notes;
    // Each computed value is restated right after its computation.
    static const std::regex kRestated(R"( ([A-Z])=[A-Z][-+*]\d+=\d+[-+*]\d+=(\d+)\. \1=\2\.)");
    restated += static_cast<int>(
        std::distance(std::sregex_iterator(notes.begin(), notes.end(), kRestated), std::sregex_iterator()));
    for (const Query& q : p.queries) {
      for (bool with_notes : {false, true}) {
        const std::string prompt = with_notes ? RenderAnswerPrompt(p, q, &notes) : RenderAnswerPrompt(p, q);
        const std::string completion = RenderAnswerCompletion(p, q, with_notes, {.value_lines = true});
        EXPECT_EQ(ParseAnswer(completion), q.answer) << completion;
        if (auto anticipated = AnticipatedAnswer(q.text, notes)) {
          EXPECT_EQ(*anticipated, q.answer) << notes;
        }
        const std::string reasoning = RenderReasoning(p, q, with_notes, {.value_lines = true});
        EXPECT_EQ(ScoreComputations(reasoning).all_written(), ScoreComputations(reasoning).all_correct());
        right += ReadsRightAfterLatestName(prompt, reasoning, &reads);
        const std::string plain_notes = RenderNotes(p, {2, seed, {}});
        right_plain += ReadsRightAfterLatestName(
            with_notes ? RenderAnswerPrompt(p, q, &plain_notes) : RenderAnswerPrompt(p, q),
            RenderReasoning(p, q, with_notes), &reads_plain);
      }
    }
  }
  EXPECT_GT(restated, 300);
  EXPECT_GT(reads, 1000);
  EXPECT_EQ(right, reads) << "with value lines every read copies what follows the latest statement";
  // Without them, reads of a value computed earlier (a sum's first operand)
  // have to reach the end of a computation line.
  EXPECT_EQ(reads_plain, reads);
  EXPECT_LT(right_plain, reads_plain * 9 / 10) << right_plain << " of " << reads_plain;
}

TEST(LangReversedResults, EveryResultIsWrittenLastDigitFirstThenForward) {
  const TraceStyle style{.value_lines = true, .reversed_results = true};
  static const std::regex kResult(R"(=(\d+)[-+*](\d+)=~(\d+)=(\d+)\.)");
  int results = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    const Problem p = GenerateProblem(seed);
    const std::string notes = RenderNotes(p, {2, seed, style});
    EXPECT_DOUBLE_EQ(NotesAccuracy(p, notes), 1.0) << notes;
    std::string traces = notes;
    for (const Query& q : p.queries) {
      if (auto anticipated = AnticipatedAnswer(q.text, notes)) {
        EXPECT_EQ(*anticipated, q.answer) << notes;
      }
      for (bool with_notes : {false, true}) {
        const std::string completion = RenderAnswerCompletion(p, q, with_notes, style);
        EXPECT_EQ(ParseAnswer(completion), q.answer) << completion;
        const std::string reasoning = RenderReasoning(p, q, with_notes, style);
        // The same computations as the plain trace, each with a reversed result.
        const ComputationScore s = ScoreComputations(reasoning);
        EXPECT_EQ(s.all_written(), ScoreComputations(RenderReasoning(p, q, with_notes)).all_written());
        EXPECT_EQ(s.all_written(), s.all_correct()) << reasoning;
        traces += reasoning;
      }
    }
    for (auto it = std::sregex_iterator(traces.begin(), traces.end(), kResult); it != std::sregex_iterator();
         ++it, ++results) {
      std::string forward = (*it)[3];
      std::reverse(forward.begin(), forward.end());
      EXPECT_EQ(forward, (*it)[4]) << it->str();
    }
    EXPECT_EQ(static_cast<int>(std::count(traces.begin(), traces.end(), '~')),
              ScoreComputations(traces).all_written());
  }
  EXPECT_GT(results, 2000);
}

TEST(LangReversedResults, ComputationsAreScoredByTheirForwardValue) {
  EXPECT_EQ(ScoreComputations(" B=A+5=12+5=~71=17.").all_correct(), 1);
  const ComputationScore wrong = ScoreComputations(" B=A+5=12+5=~71=18. C=B*2=17*2=~43=34.");
  EXPECT_EQ(wrong.all_written(), 2);
  EXPECT_EQ(wrong.all_correct(), 1);
  // A reversed result without its forward value is not a computation.
  EXPECT_EQ(ScoreComputations(" B=A+5=12+5=~71. B=17.").all_written(), 0);
  EXPECT_EQ(ScoreComputations(" B=A+5=12+5=~71").all_written(), 0);
}

TEST(LangReversedResults, TraceStyleNamesRoundTrip) {
  for (int bits = 0; bits < 16384; ++bits) {
    const TraceStyle style{.value_lines = (bits & 1) != 0,
                           .reversed_results = (bits & 2) != 0,
                           .notes_every_fact = (bits & 4) != 0,
                           .hypothetical_relations = (bits & 8) != 0,
                           .short_from_notes = (bits & 16) != 0,
                           .short_named_operands = (bits & 32) != 0,
                           .short_factors = (bits & 64) != 0,
                           .short_paths = (bits & 128) != 0,
                           .compact_paths = (bits & 256) != 0,
                           .notes_factors = (bits & 512) != 0,
                           .factor_block = (bits & 1024) != 0,
                           .notes_sweeps = (bits & 2048) != 0,
                           .sweep_lookups = (bits & 4096) != 0,
                           .reversed_changes = (bits & 8192) != 0};
    auto parsed = ParseTraceStyle(TraceStyleName(style));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed->value_lines, style.value_lines);
    EXPECT_EQ(parsed->reversed_results, style.reversed_results);
    EXPECT_EQ(parsed->notes_every_fact, style.notes_every_fact);
    EXPECT_EQ(parsed->hypothetical_relations, style.hypothetical_relations);
    EXPECT_EQ(parsed->short_from_notes, style.short_from_notes);
    EXPECT_EQ(parsed->short_named_operands, style.short_named_operands);
    EXPECT_EQ(parsed->short_factors, style.short_factors);
    EXPECT_EQ(parsed->short_paths, style.short_paths);
    EXPECT_EQ(parsed->compact_paths, style.compact_paths);
    EXPECT_EQ(parsed->notes_factors, style.notes_factors);
    EXPECT_EQ(parsed->factor_block, style.factor_block);
    EXPECT_EQ(parsed->notes_sweeps, style.notes_sweeps);
    EXPECT_EQ(parsed->sweep_lookups, style.sweep_lookups);
    EXPECT_EQ(parsed->reversed_changes, style.reversed_changes);
  }
  EXPECT_EQ(TraceStyleName({}), "");
  EXPECT_EQ(TraceStyleName({.value_lines = true, .reversed_results = true}), "value_lines,reversed_results");
  EXPECT_FALSE(ParseTraceStyle("value_lines,digits_in_roman").ok());
}

// Every fact gets an entry in context order: each base value is stated, the
// notes end with the context's last fact, and the plain notes' statements
// all appear, in the same order.
TEST(LangNotesEveryFact, EveryFactHasAnEntryInContextOrder) {
  int missing_in_plain = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    const Problem p = GenerateProblem(seed);
    const TraceStyle style{.value_lines = true, .notes_every_fact = true};
    const std::string notes = RenderNotes(p, {0, seed, style});
    const std::string plain = RenderNotes(p, {0, seed, {.value_lines = true}});
    EXPECT_DOUBLE_EQ(NotesAccuracy(p, notes), 1.0) << notes;
    for (const Fact& f : p.facts) {
      if (f.op != Op::kBase) continue;
      const std::string line = " " + p.names[f.target] + "=" + std::to_string(f.operand) + ".";
      EXPECT_NE(notes.find(line), std::string::npos) << line << " in" << notes;
      missing_in_plain += plain.find(line) == std::string::npos;
    }
    const Fact& last = p.facts.back();
    const std::string tail = " " + p.names[last.target] + "=" +
                             std::to_string((*Evaluate(p))[static_cast<size_t>(last.target)]) + ".";
    EXPECT_TRUE(notes.ends_with(tail)) << tail << " ends" << notes;
    size_t at = 0;
    for (size_t from = 0; from < plain.size();) {
      const size_t end = plain.find('.', from + 1);
      const std::string statement = plain.substr(from, end + 1 - from);
      at = notes.find(statement, at);
      ASSERT_NE(at, std::string::npos) << statement << " of" << plain << " not in order in" << notes;
      at += statement.size();
      from = end + 1;
    }
  }
  EXPECT_GT(missing_in_plain, 30);
}

// Sweeps: each sweep has one entry per fact, in context order (its value,
// its computation from a source with a value, or a wait); a sweep waits
// exactly when another follows; every computation reads a value stated
// before it (or a base), and the notes state every derived quantity right.
// With sweep_lookups a relation's entry starts with the relation and its
// source's latest statement: its value, or (a wait) its own relation.
class LangNotesSweeps : public ::testing::TestWithParam<bool> {};

TEST_P(LangNotesSweeps, EveryFactInContextOrderUntilNoneWaits) {
  static const std::regex kWait(R"(^([A-Z])=([A-Z])[-+*]\d+\?\.$)");
  static const std::regex kValue(R"(^([A-Z])=(\d+)\.$)");
  static const std::regex kLookup(R"(^([A-Z])=([A-Z])[-+*]\d+\.$)");
  static const std::regex kComputation(R"(^([A-Z])=([A-Z])[-+*]\d+=(\d+)[-+*]\d+=~\d+=(\d+)\.$)");
  const bool lookups = GetParam();
  const TraceStyle style{
      .value_lines = true, .reversed_results = true, .notes_sweeps = true, .sweep_lookups = lookups};
  int several_sweeps = 0;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    const Problem p = GenerateProblem(seed);
    const std::vector<int64_t> values = *Evaluate(p);
    const std::string notes = RenderNotes(p, {0, seed, style});
    EXPECT_DOUBLE_EQ(NotesAccuracy(p, notes), 1.0) << notes;
    std::vector<std::vector<std::string>> sweeps(1);
    for (size_t from = 1; from < notes.size();) {
      size_t end = notes.find(' ', from);
      if (end == std::string::npos) end = notes.size();
      const std::string statement = notes.substr(from, end - from);
      if (statement == "|") {
        sweeps.emplace_back();
      } else {
        sweeps.back().push_back(statement);
      }
      from = end + 1;
    }
    several_sweeps += sweeps.size() > 1;
    std::map<std::string, int64_t> stated;  // values the notes gave so far
    std::map<std::string, const Fact*> relation;
    for (const Fact& f : p.facts) {
      if (f.op == Op::kBase) stated[p.names[f.target]] = f.operand;
      relation[p.names[f.target]] = &f;
    }
    auto lookup_of = [&](const std::string& name) {
      const Fact& f = *relation.at(name);
      return name + "=" + p.names[f.source] + static_cast<char>(f.op) + std::to_string(f.operand) + ".";
    };
    for (size_t s = 0; s < sweeps.size(); ++s) {
      bool waited = false;
      size_t i = 0;
      for (const Fact& f : p.facts) {
        ASSERT_LT(i, sweeps[s].size()) << notes;
        const std::string& name = p.names[f.target];
        const std::string& source = f.source >= 0 ? p.names[f.source] : "";
        std::string entry = sweeps[s][i++];
        std::smatch m;
        if (lookups && std::regex_match(entry, m, kLookup)) {
          EXPECT_EQ(entry, lookup_of(name)) << notes;
          ASSERT_LT(i, sweeps[s].size()) << notes;
          const std::string read = sweeps[s][i++];
          if (!stated.count(source)) {
            EXPECT_EQ(read, lookup_of(source)) << "a wait restates the source's relation in" << notes;
            waited = true;
            continue;
          }
          EXPECT_EQ(read, source + "=" + std::to_string(stated[source]) + ".") << notes;
          ASSERT_LT(i, sweeps[s].size()) << notes;
          entry = sweeps[s][i++];
          ASSERT_TRUE(std::regex_match(entry, m, kComputation)) << entry << " in" << notes;
        }
        if (!lookups && std::regex_match(entry, m, kWait)) {
          EXPECT_EQ(m[1], name) << notes;
          EXPECT_FALSE(stated.count(m[2])) << entry << " waits for a stated value in" << notes;
          waited = true;
        } else if (std::regex_match(entry, m, kComputation)) {
          EXPECT_EQ(m[1], name) << notes;
          ASSERT_TRUE(stated.count(m[2])) << entry << " reads an unstated value in" << notes;
          EXPECT_EQ(std::stoll(m[3]), stated[m[2]]);
          EXPECT_EQ(std::stoll(m[4]), values[static_cast<size_t>(f.target)]);
          ASSERT_LT(i, sweeps[s].size());
          EXPECT_EQ(sweeps[s][i++], name + "=" + m[4].str() + ".") << "the value line";
          stated[name] = std::stoll(m[4]);
        } else {
          ASSERT_TRUE(std::regex_match(entry, m, kValue)) << entry << " in" << notes;
          EXPECT_EQ(m[1], name) << notes;
          EXPECT_EQ(std::stoll(m[2]), values[static_cast<size_t>(f.target)]);
          EXPECT_TRUE(stated.count(name)) << entry << " states a value not yet computed in" << notes;
        }
      }
      EXPECT_EQ(i, sweeps[s].size()) << notes;
      EXPECT_EQ(waited, s + 1 < sweeps.size()) << notes;
    }
  }
  EXPECT_GT(several_sweeps, 100);
}

INSTANTIATE_TEST_SUITE_P(WaitOrLookup, LangNotesSweeps, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? std::string("SourceLookups") : std::string("Waits");
                         });

namespace {

// Every hypothetical step writes the context's relation exactly as a lookup
// does ("R=D+6" or, for the change, "D-15"), then a prime; the answer and the
// computations are those of the primed form.
TEST(LangHypotheticalRelations, StepsCopyTheRelationThenAPrime) {
  const TraceStyle style{.value_lines = true,
                         .reversed_results = true,
                         .notes_every_fact = true,
                         .hypothetical_relations = true};
  TraceStyle primed = style;
  primed.hypothetical_relations = false;
  static const std::regex kStep(R"( ([A-Z])=([A-Z])([-+*]\d+)'=(\d+)[-+*])");
  static const std::regex kChange(R"( ([A-Z])([-+])(\d+)'=(\d+)[-+])");
  int steps = 0, changes = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    const Problem p = GenerateProblem(seed);
    const std::vector<int64_t> values = *Evaluate(p);
    for (const Query& q : p.queries) {
      for (bool with_notes : {false, true}) {
        const std::string reasoning = RenderReasoning(p, q, with_notes, style);
        const std::string old_form = RenderReasoning(p, q, with_notes, primed);
        EXPECT_EQ(ParseAnswer(RenderAnswerCompletion(p, q, with_notes, style)), q.answer) << reasoning;
        const ComputationScore s = ScoreComputations(reasoning);
        EXPECT_EQ(s.all_written(), ScoreComputations(old_form).all_written());
        EXPECT_EQ(s.all_written(), s.all_correct()) << reasoning;
        if (q.kind != QueryKind::kHypothetical) {
          EXPECT_EQ(reasoning, old_form);
          continue;
        }
        // No primed names: one prime per hypothetical step, each after a relation.
        EXPECT_FALSE(std::regex_search(reasoning, std::regex("[A-Z]'"))) << reasoning;
        size_t old_steps = 0;
        for (size_t at = old_form.find("'="); at != std::string::npos; at = old_form.find("'=", at + 1))
          ++old_steps;
        EXPECT_EQ(static_cast<size_t>(std::count(reasoning.begin(), reasoning.end(), '\'')), old_steps);
        for (auto it = std::sregex_iterator(reasoning.begin(), reasoning.end(), kStep);
             it != std::sregex_iterator(); ++it, ++steps) {
          const std::string relation = (*it)[2].str() + (*it)[3].str();
          std::string lookup = " ";  // built by appends: GCC 12 misreports a chain of + here (-Wrestrict)
          lookup.append((*it)[1].str()).append("=").append(relation).append(".");
          EXPECT_NE(reasoning.find(lookup), std::string::npos)
              << "the step's relation is the lookup's: " << reasoning;
        }
        for (auto it = std::sregex_iterator(reasoning.begin(), reasoning.end(), kChange);
             it != std::sregex_iterator(); ++it, ++changes) {
          EXPECT_EQ((*it)[1].str(), p.names[q.other]);
          EXPECT_EQ(std::stoll((*it)[4].str()), values[static_cast<size_t>(q.other)]);
        }
      }
    }
  }
  EXPECT_GT(steps, 200);
  EXPECT_GT(changes, 100);
}

}  // namespace

namespace {

// The shipped model's style up to its hypotheticals: value lines, reversed
// results, notes for every fact, and short, named sums from notes.
TraceStyle ShortTracesFromNotes() {
  return {.value_lines = true,
          .reversed_results = true,
          .notes_every_fact = true,
          .short_from_notes = true,
          .short_named_operands = true};
}

// Tokens of `text` in the demo vocabulary with name and op tokens: "R=" and
// "D*" are one token each, every other byte (the space included) one.
int DemoTokens(std::string_view text) {
  int n = 0;
  for (size_t i = 0; i < text.size(); ++i, ++n) {
    const bool letter = text[i] >= 'A' && text[i] <= 'Z';
    if (letter && i + 1 < text.size() && std::string_view("=+-*").find(text[i + 1]) != std::string_view::npos)
      ++i;
  }
  return n;
}

}  // namespace

// From notes, sums and hypotheticals are one step whose reversed digits are
// the answer: checked against the independent evaluator (the hypothetical's
// change is the asked quantity's value in the changed world minus its value,
// whatever the factors), and short enough for a fifth of run 17's reasoned
// average (94.8 tokens: 18, of which 4 are kept for "999" and the end).
// With short_named_operands a sum writes "G=26+T=15~14": the same reads and
// result, each value after its name token; with short_factors a hypothetical
// writes "R=32-2:30~2": the product of the factors on the path, then the
// same change, the asked amount times it (a few take 15 or 16 tokens); with
// short_paths "R=32-C*2T+:30~2": each relation from R up to the changed
// quantity as its op token, a "*k" with its k, then the same change; with
// compact_paths "R=122V+T*2+6~821": the path without a last relation that
// adds or subtracts, the sign between it and the change; with notes_factors
// "T=239R*6+42~182", the factor the notes state; with reversed_changes too
// "T=239R*6+24~182", the change digits last-first.
enum class ShortForm {
  kOpTokenOperands,
  kNamedOperands,
  kNamedOperandsAndFactors,
  kNamedOperandsAndPaths,
  kNamedOperandsAndCompactPaths,
  kNamedOperandsAndNotesFactors,
  kNamedOperandsAndNotesFactorsReversedChanges
};
class LangShortFromNotes : public testing::TestWithParam<ShortForm> {};

TEST_P(LangShortFromNotes, OneStepFromTheNotesValuesFitsAFifthOfTheBudget) {
  const bool named = GetParam() != ShortForm::kOpTokenOperands;
  const bool factors = GetParam() == ShortForm::kNamedOperandsAndFactors;
  const bool compact = GetParam() == ShortForm::kNamedOperandsAndCompactPaths;
  const bool paths = GetParam() == ShortForm::kNamedOperandsAndPaths || compact;
  const bool reversed_changes = GetParam() == ShortForm::kNamedOperandsAndNotesFactorsReversedChanges;
  const bool notes_factors = GetParam() == ShortForm::kNamedOperandsAndNotesFactors || reversed_changes;
  TraceStyle style = ShortTracesFromNotes();
  style.reversed_changes = reversed_changes;
  style.short_named_operands = named;
  style.short_factors = factors;
  style.short_paths = paths;
  style.compact_paths = compact;
  style.notes_factors = notes_factors;
  TraceStyle long_style = style;
  long_style.short_from_notes = false;
  long_style.short_named_operands = false;
  long_style.short_factors = false;
  long_style.short_paths = false;
  long_style.compact_paths = false;
  long_style.notes_factors = false;
  long_style.reversed_changes = false;
  static const std::regex kNotesFactorHypothetical(R"( ([A-Z])=(\d+)([A-Z])\*(\d+)([-+])(\d+)~(\d+))");
  static const std::regex kPlainCombination(R"( ([A-Z])([-+])([A-Z]):(\d+)([-+])(\d+)~(\d+))");
  static const std::regex kNamedCombination(R"( ([A-Z])=(\d+)([-+])([A-Z])=(\d+)~(\d+))");
  static const std::regex kHypothetical(R"( ([A-Z])=(\d+)([-+])(\d+)~(\d+))");
  static const std::regex kFactorHypothetical(R"( ([A-Z])=(\d+)([-+])(\d+):(\d+)~(\d+))");
  static const std::regex kPathHypothetical(R"( ([A-Z])=(\d+)([-+])((?:[A-Z](?:[-+]|\*\d+))+):(\d+)~(\d+))");
  static const std::regex kCompactPathHypothetical(
      R"( ([A-Z])=(\d+)((?:[A-Z](?:[-+]|\*\d+))*)([-+])(\d+)~(\d+))");
  static const std::regex kHop(R"(([A-Z])([-+]|\*(\d+)))");
  int with_factor = 0;
  std::map<QueryKind, int> longest;
  int queries = 0, over = 0;
  for (uint64_t i = 0; i < 500; ++i) {
    const Problem p = GenerateProblem(SplitSeed(Split::kHeldOut, i));
    const std::vector<int64_t> values = *Evaluate(p);
    for (const Query& q : p.queries) {
      ++queries;
      const std::string reasoning = RenderReasoning(p, q, true, style);
      EXPECT_EQ(ParseAnswer(RenderAnswerCompletion(p, q, true, style)), q.answer);
      if (!notes_factors) {
        EXPECT_EQ(RenderReasoning(p, q, false, style), RenderReasoning(p, q, false, long_style));
      }
      longest[q.kind] = std::max(longest[q.kind], DemoTokens(reasoning));
      over += DemoTokens(reasoning) > 14;
      if (q.kind == QueryKind::kValue) {
        EXPECT_EQ(reasoning, RenderReasoning(p, q, true, long_style));
        continue;
      }
      const int64_t answer = *EvaluateQuery(p, q);
      std::smatch m;
      if (q.kind == QueryKind::kCombination && named) {
        ASSERT_TRUE(std::regex_match(reasoning, m, kNamedCombination)) << reasoning;
        EXPECT_EQ(m[1].str(), p.names[q.asked]);
        EXPECT_EQ(std::stoll(m[2].str()), values[q.asked]);
        EXPECT_EQ(m[3].str(), std::string(1, q.op));
        EXPECT_EQ(m[4].str(), p.names[q.other]);
        EXPECT_EQ(std::stoll(m[5].str()), values[q.other]);
      } else if (q.kind == QueryKind::kCombination) {
        ASSERT_TRUE(std::regex_match(reasoning, m, kPlainCombination)) << reasoning;
        EXPECT_EQ(m[1].str(), p.names[q.asked]);
        EXPECT_EQ(m[3].str(), p.names[q.other]);
        EXPECT_EQ(std::stoll(m[4].str()), values[q.asked]);
        EXPECT_EQ(std::stoll(m[6].str()), values[q.other]);
      } else if (notes_factors) {
        // The factor is the one the notes state for (asked, changed), and the product of the "*k"s on
        // the path from the facts.
        ASSERT_TRUE(std::regex_match(reasoning, m, kNotesFactorHypothetical)) << reasoning;
        EXPECT_EQ(m[1].str(), p.names[q.asked]);
        EXPECT_EQ(std::stoll(m[2].str()), values[q.asked]);
        EXPECT_EQ(m[3].str(), p.names[q.other]);
        int64_t factor = 1;
        for (int at = q.asked; at != q.other;) {
          const auto defines =
              std::find_if(p.facts.begin(), p.facts.end(), [&](const Fact& f) { return f.target == at; });
          ASSERT_NE(defines, p.facts.end());
          ASSERT_NE(defines->source, -1) << reasoning;
          if (defines->op == Op::kMul) factor *= defines->operand;
          at = defines->source;
        }
        EXPECT_EQ(std::stoll(m[4].str()), factor) << reasoning;
        const std::string notes = RenderNotes(p, {.style = style});
        const size_t line = notes.find(" " + p.names[q.asked] + ":");
        ASSERT_NE(line, std::string::npos) << notes;
        const std::string entries = notes.substr(line, notes.find('.', line) - line);
        EXPECT_NE(entries.find(m[3].str() + "*" + m[4].str()), std::string::npos) << entries;
        EXPECT_EQ(m[5].str(), answer > values[q.asked] ? "+" : "-") << reasoning;
        std::string change = m[6].str();
        if (reversed_changes) std::reverse(change.begin(), change.end());
        EXPECT_EQ(std::stoll(change), std::llabs(answer - values[q.asked])) << reasoning;
        EXPECT_EQ(std::stoll(change), q.amount * factor) << reasoning;
        with_factor += factor != 1;
      } else if (factors) {
        ASSERT_TRUE(std::regex_match(reasoning, m, kFactorHypothetical)) << reasoning;
        EXPECT_EQ(m[1].str(), p.names[q.asked]);
        EXPECT_EQ(std::stoll(m[2].str()), values[q.asked]);
        EXPECT_EQ(m[3].str(), answer > values[q.asked] ? "+" : "-") << reasoning;
        EXPECT_EQ(std::stoll(m[5].str()), std::llabs(answer - values[q.asked])) << reasoning;
        EXPECT_EQ(std::stoll(m[5].str()), q.amount * std::stoll(m[4].str())) << reasoning;
        with_factor += m[4].str() != "1";
      } else if (paths) {
        ASSERT_TRUE(std::regex_match(reasoning, m, compact ? kCompactPathHypothetical : kPathHypothetical))
            << reasoning;
        const int sign = compact ? 4 : 3, at_path = compact ? 3 : 4;
        EXPECT_EQ(m[1].str(), p.names[q.asked]);
        EXPECT_EQ(std::stoll(m[2].str()), values[q.asked]);
        EXPECT_EQ(m[sign].str(), answer > values[q.asked] ? "+" : "-") << reasoning;
        EXPECT_EQ(std::stoll(m[5].str()), std::llabs(answer - values[q.asked])) << reasoning;
        // Each hop is the relation that defines the quantity before it, ending at the changed one (compact:
        // or one relation short of it, when that last relation adds or subtracts).
        const std::string path = m[at_path].str();
        int at = q.asked;
        int64_t factor = 1;
        for (std::sregex_iterator hop(path.begin(), path.end(), kHop), end; hop != end; ++hop) {
          const auto defines =
              std::find_if(p.facts.begin(), p.facts.end(), [&](const Fact& f) { return f.target == at; });
          ASSERT_NE(defines, p.facts.end());
          ASSERT_NE(defines->source, -1) << reasoning;
          EXPECT_EQ((*hop)[1].str(), p.names[defines->source]) << reasoning;
          EXPECT_EQ((*hop)[3].matched, defines->op == Op::kMul) << reasoning;
          if ((*hop)[3].matched) {
            EXPECT_EQ(std::stoll((*hop)[3].str()), defines->operand) << reasoning;
            factor *= defines->operand;
          }
          at = defines->source;
        }
        if (compact && at != q.other) {
          const auto last =
              std::find_if(p.facts.begin(), p.facts.end(), [&](const Fact& f) { return f.target == at; });
          ASSERT_NE(last, p.facts.end());
          EXPECT_EQ(last->source, q.other) << reasoning;
          EXPECT_NE(last->op, Op::kMul) << reasoning;
          at = last->source;
        }
        EXPECT_EQ(at, q.other) << reasoning;
        EXPECT_EQ(std::stoll(m[5].str()), q.amount * factor) << reasoning;
        with_factor += factor != 1;
      } else {
        ASSERT_TRUE(std::regex_match(reasoning, m, kHypothetical)) << reasoning;
        EXPECT_EQ(m[1].str(), p.names[q.asked]);
        EXPECT_EQ(std::stoll(m[2].str()), values[q.asked]);
        EXPECT_EQ(std::stoll(m[4].str()), std::llabs(answer - values[q.asked])) << reasoning;
        EXPECT_EQ(m[3].str(), answer > values[q.asked] ? "+" : "-") << reasoning;
      }
      std::string digits = m[m.size() - 1].str();
      std::reverse(digits.begin(), digits.end());
      EXPECT_EQ(std::stoll(digits), answer) << reasoning;
    }
  }
  EXPECT_EQ(queries, 2000);
  EXPECT_LE(longest[QueryKind::kValue], 6);
  EXPECT_LE(longest[QueryKind::kCombination], 15);  // both operands and the sum of three digits
  // A path takes a token per relation: 198 of these 2,000 queries take more than 14 (run 26's budget is
  // 15), compact ones 80.
  EXPECT_LE(over, compact ? queries / 16 : paths ? queries / 8 : queries / 100);
  EXPECT_LE(longest[QueryKind::kHypothetical], paths ? 20 : factors || notes_factors ? 16 : 14);
  // About half the hypotheticals pass a "*k" (run 23's held-out set: 72 of 142).
  if (factors || paths || notes_factors) {
    EXPECT_GT(with_factor, 200);
  }
  std::printf(
      "longest reasoning from notes in tokens: value %d, combination %d, hypothetical %d; %d over 14\n",
      longest[QueryKind::kValue], longest[QueryKind::kCombination], longest[QueryKind::kHypothetical], over);
}

std::string ShortFormName(const testing::TestParamInfo<ShortForm>& info) {
  static constexpr const char* kNames[] = {"OpTokenOperands",
                                           "NamedOperands",
                                           "NamedOperandsAndFactors",
                                           "NamedOperandsAndPaths",
                                           "NamedOperandsAndCompactPaths",
                                           "NamedOperandsAndNotesFactors",
                                           "NamedOperandsAndNotesFactorsReversedChanges"};
  return kNames[static_cast<int>(info.param)];
}

INSTANTIATE_TEST_SUITE_P(Forms, LangShortFromNotes,
                         testing::Values(ShortForm::kOpTokenOperands, ShortForm::kNamedOperands,
                                         ShortForm::kNamedOperandsAndFactors,
                                         ShortForm::kNamedOperandsAndPaths,
                                         ShortForm::kNamedOperandsAndCompactPaths,
                                         ShortForm::kNamedOperandsAndNotesFactors,
                                         ShortForm::kNamedOperandsAndNotesFactorsReversedChanges),
                         ShortFormName);

// notes_factors: after each derived quantity's value (factor_block: after
// all the values, in the order they were computed) the notes state, nearest
// ancestor first, the change a unit change of each ancestor makes to it,
// checked against the independent evaluator (a hypothetical of one more, or
// one fewer); the values the notes score are untouched.
class LangNotesFactors : public testing::TestWithParam<bool> {};

TEST_P(LangNotesFactors, EachDerivedQuantityStatesItsFactorToEveryAncestor) {
  const bool block = GetParam();
  TraceStyle style = ShortTracesFromNotes();
  style.notes_factors = true;
  style.factor_block = block;
  TraceStyle plain = style;
  plain.notes_factors = plain.factor_block = false;
  static const std::regex kFactorLine(R"( ([A-Z]):(?:[A-Z]\*\d+)+\.)");
  static const std::regex kEntry(R"(([A-Z])\*(\d+))");
  int lines = 0, over_one = 0;
  for (uint64_t i = 0; i < 300; ++i) {
    const Problem p = GenerateProblem(SplitSeed(Split::kHeldOut, i));
    const std::vector<int64_t> values = *Evaluate(p);
    const std::string notes = RenderNotes(p, {.style = style});
    const std::string plain_notes = RenderNotes(p, {.style = plain});
    EXPECT_EQ(plain_notes.find(':'), std::string::npos);
    EXPECT_DOUBLE_EQ(NotesAccuracy(p, notes), 1.0) << notes;
    if (block) {
      // The values as without factors, then only factor lines, each quantity once, in the order its
      // computation ("X=Y*2=...") was written.
      ASSERT_EQ(notes.substr(0, plain_notes.size()), plain_notes);
      const std::string rest = notes.substr(plain_notes.size());
      EXPECT_EQ(std::regex_replace(rest, kFactorLine, ""), "") << rest;
      size_t previous = 0;
      for (std::sregex_iterator l(rest.begin(), rest.end(), kFactorLine), end; l != end; ++l) {
        const std::string name = (*l)[1].str();
        const auto q = std::find(p.names.begin(), p.names.end(), name) - p.names.begin();
        const auto defines =
            std::find_if(p.facts.begin(), p.facts.end(), [&](const Fact& f) { return f.target == q; });
        ASSERT_NE(defines, p.facts.end());
        const std::string computation = " " + name + "=" + p.names[defines->source] +
                                        static_cast<char>(defines->op) + std::to_string(defines->operand) +
                                        "=";
        const size_t computed_at = plain_notes.find(computation);
        ASSERT_NE(computed_at, std::string::npos) << computation;
        EXPECT_GT(computed_at, previous) << rest;
        previous = computed_at;
      }
    }
    for (int q : DerivedInDependencyOrder(p)) {
      const std::string& name = p.names[q];
      const std::string value_line = " " + name + "=" + std::to_string(values[q]) + ".";
      const std::string head = " " + name + ":";
      const size_t at = notes.find(head);
      ASSERT_NE(at, std::string::npos) << notes;
      EXPECT_EQ(notes.find(head, at + 1), std::string::npos) << "one factor line per quantity: " << notes;
      ASSERT_GE(at, value_line.size());
      if (!block) {
        EXPECT_EQ(notes.substr(at - value_line.size(), value_line.size()), value_line) << notes;
      }
      const std::string entries = notes.substr(at + head.size(), notes.find('.', at) - at - head.size());
      ++lines;
      int ancestor = q;
      for (std::sregex_iterator e(entries.begin(), entries.end(), kEntry), end; e != end; ++e) {
        const auto defines =
            std::find_if(p.facts.begin(), p.facts.end(), [&](const Fact& f) { return f.target == ancestor; });
        ASSERT_NE(defines, p.facts.end());
        ASSERT_NE(defines->source, -1) << entries;
        ancestor = defines->source;
        EXPECT_EQ((*e)[1].str(), p.names[ancestor]) << entries;
        Query change;
        change.kind = QueryKind::kHypothetical;
        change.asked = q;
        change.other = ancestor;
        change.amount = 1;
        auto changed = EvaluateQuery(p, change);
        if (!changed.ok()) {
          change.op = '-';
          changed = EvaluateQuery(p, change);
        }
        ASSERT_TRUE(changed.ok()) << changed.status().ToString();
        const int64_t factor = std::llabs(*changed - values[q]);
        EXPECT_EQ(std::stoll((*e)[2].str()), factor) << entries;
        over_one += factor > 1;
      }
      const auto root =
          std::find_if(p.facts.begin(), p.facts.end(), [&](const Fact& f) { return f.target == ancestor; });
      ASSERT_NE(root, p.facts.end());
      EXPECT_EQ(root->op, Op::kBase) << "the line ends at the base quantity: " << entries;
    }
  }
  EXPECT_GT(lines, 600);
  EXPECT_GT(over_one, 300);
}

INSTANTIATE_TEST_SUITE_P(Placement, LangNotesFactors, testing::Bool(),
                         [](const testing::TestParamInfo<bool>& info) {
                           return std::string(info.param ? "AfterTheValues" : "AfterEachValue");
                         });
