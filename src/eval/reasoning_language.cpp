// The reasoning language: random numbers, seed splits, problem generation and
// the independent evaluator. Rendering lives in reasoning_language_render.cpp,
// reading model output in reasoning_language_parse.cpp.
#include "sleeptime/reasoning_language.h"

#include <algorithm>
#include <array>
#include <string>
#include <vector>

namespace sleeptime::lang {
namespace {

constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;

uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// One-letter names: the lookup key of a fact is then one token wide, which a
// tiny model learns as a plain induction copy; with three-byte names and
// English sentences two full training runs stayed at chance (models/README.md).
// No 'H', 'I', 'N' or 'Q': they start the fixed words "How", "If", "NOTES:"
// and "Q: ".
constexpr std::array<const char*, 22> kNames = {"A", "B", "C", "D", "E", "F", "G", "J", "K", "L", "M",
                                                "O", "P", "R", "S", "T", "U", "V", "W", "X", "Y", "Z"};
constexpr std::array<const char*, 10> kUnits = {"apples", "pens",   "cards",   "coins", "books",
                                                "shells", "stamps", "marbles", "beads", "cups"};

bool InRange(int64_t v) {
  return v >= kMinValue && v <= kMaxValue;
}

int64_t Apply(Op op, int64_t source_value, int64_t operand) {
  switch (op) {
    case Op::kAdd:
      return source_value + operand;
    case Op::kSub:
      return source_value - operand;
    case Op::kMul:
      return source_value * operand;
    case Op::kBase:
      return operand;
  }
  return 0;
}

GeneratorOptions Clamp(GeneratorOptions o) {
  o.min_facts = std::clamp(o.min_facts, 2, 20);
  o.max_facts = std::clamp(o.max_facts, o.min_facts, 20);
  o.max_depth = std::clamp(o.max_depth, 1, 8);
  o.queries_per_problem = std::clamp(o.queries_per_problem, 0, 64);
  o.max_base_value = std::clamp<int64_t>(o.max_base_value, 2, kMaxValue);
  o.max_constant = std::clamp<int64_t>(o.max_constant, 1, 200);
  o.max_mul_source = std::clamp<int64_t>(o.max_mul_source, 1, kMaxValue / 2);
  o.weight_value = std::max(o.weight_value, 0);
  o.weight_combination = std::max(o.weight_combination, 0);
  o.weight_hypothetical = std::max(o.weight_hypothetical, 0);
  if (o.weight_value + o.weight_combination + o.weight_hypothetical == 0) o.weight_value = 1;
  return o;
}

// The generator's own bookkeeping, in creation order (which is a dependency
// order). Evaluate() below does not use it.
struct Draft {
  std::vector<int> source;
  std::vector<Op> op;
  std::vector<int64_t> operand;
  std::vector<int64_t> value;
  std::vector<int> depth;
  int bases = 0;

  int size() const { return static_cast<int>(value.size()); }
  // Path from the base fact to q, both included.
  std::vector<int> Path(int q) const {
    std::vector<int> path;
    for (int x = q; x >= 0; x = source[x]) path.push_back(x);
    std::reverse(path.begin(), path.end());
    return path;
  }
};

// Value of `asked` when `changed` becomes new_value; nullopt if a value on the
// way leaves the range.
std::optional<int64_t> Propagate(const Draft& d, int changed, int64_t new_value, int asked) {
  if (!InRange(new_value)) return std::nullopt;
  std::vector<int> path = d.Path(asked);
  auto it = std::find(path.begin(), path.end(), changed);
  if (it == path.end()) return std::nullopt;
  int64_t v = new_value;
  for (++it; it != path.end(); ++it) {
    v = Apply(d.op[*it], v, d.operand[*it]);
    if (!InRange(v)) return std::nullopt;
  }
  return v;
}

bool SameQuery(const Query& a, const Query& b) {
  return a.kind == b.kind && a.asked == b.asked && a.other == b.other && a.op == b.op && a.amount == b.amount;
}

}  // namespace

// ---- Rng ----
Rng::Rng(uint64_t seed) : state_(Mix64(seed + kGolden) ^ 0x5ee9c0de5ee9c0deULL) {}

uint64_t Rng::Next() {
  state_ += kGolden;
  return Mix64(state_);
}

uint64_t Rng::Below(uint64_t n) {
  return n == 0 ? 0 : Next() % n;
}

int64_t Rng::Range(int64_t lo, int64_t hi) {
  if (hi <= lo) return lo;
  return lo + static_cast<int64_t>(Below(static_cast<uint64_t>(hi - lo) + 1));
}

bool Rng::Chance(double p) {
  // 53 random bits as a double in [0, 1): exact on every IEEE-754 platform.
  return static_cast<double>(Next() >> 11) * 0x1.0p-53 < p;
}

// ---- Seeds ----
uint64_t SplitSeed(Split split, uint64_t index) {
  return split == Split::kHeldOut ? (index | kHeldOutBit) : (index & ~kHeldOutBit);
}
Split SeedSplit(uint64_t seed) {
  return (seed & kHeldOutBit) ? Split::kHeldOut : Split::kTrain;
}
const char* SplitName(Split split) {
  return split == Split::kHeldOut ? "heldout" : "train";
}

// ---- Generation ----
Problem GenerateProblem(uint64_t seed, const GeneratorOptions& options) {
  const GeneratorOptions o = Clamp(options);
  Rng rng(seed);
  Problem p;
  p.seed = seed;
  p.unit = kUnits[rng.Below(kUnits.size())];

  const int n = static_cast<int>(rng.Range(o.min_facts, o.max_facts));
  {  // Names: a partial Fisher-Yates shuffle of the pool.
    std::array<int, kNames.size()> idx;
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int>(i);
    for (int i = 0; i < n; ++i) {
      size_t j = i + rng.Below(idx.size() - i);
      std::swap(idx[i], idx[j]);
      p.names.push_back(kNames[idx[i]]);
    }
  }

  Draft d;
  d.bases = 1 + ((n >= 5 && rng.Chance(0.4)) ? 1 : 0) + ((n >= 7 && rng.Chance(0.3)) ? 1 : 0);
  for (int i = 0; i < d.bases; ++i) {
    d.source.push_back(-1);
    d.op.push_back(Op::kBase);
    d.operand.push_back(rng.Range(2, o.max_base_value));
    d.value.push_back(d.operand.back());
    d.depth.push_back(0);
  }
  for (int i = d.bases; i < n; ++i) {
    // Source: mostly the previous quantity (long chains), else any shallow enough one.
    std::vector<int> eligible;
    for (int j = 0; j < i; ++j)
      if (d.depth[j] < o.max_depth) eligible.push_back(j);
    int src = eligible[rng.Below(eligible.size())];
    if (d.depth[i - 1] < o.max_depth && rng.Chance(0.65)) src = i - 1;
    const int64_t v = d.value[src];

    // Relation: weights 7 (+), 5 (-), 5 (*2), 3 (*3) among those that stay in range.
    struct Choice {
      Op op;
      int64_t factor;
      int weight;
    };
    std::vector<Choice> choices;
    if (v + 1 <= kMaxValue) choices.push_back({Op::kAdd, 0, 7});
    if (v - 1 >= kMinValue) choices.push_back({Op::kSub, 0, 5});
    if (v <= o.max_mul_source && v * 2 <= kMaxValue) choices.push_back({Op::kMul, 2, 5});
    if (v <= o.max_mul_source && v * 3 <= kMaxValue) choices.push_back({Op::kMul, 3, 3});
    int total = 0;
    for (const auto& c : choices) total += c.weight;
    int r = static_cast<int>(rng.Below(total));
    Choice pick = choices.back();
    for (const auto& c : choices) {
      if (r < c.weight) {
        pick = c;
        break;
      }
      r -= c.weight;
    }
    int64_t operand = pick.factor;
    if (pick.op == Op::kAdd) operand = rng.Range(1, std::min(o.max_constant, kMaxValue - v));
    if (pick.op == Op::kSub) operand = rng.Range(1, std::min(o.max_constant, v - kMinValue));
    d.source.push_back(src);
    d.op.push_back(pick.op);
    d.operand.push_back(operand);
    d.value.push_back(Apply(pick.op, v, operand));
    d.depth.push_back(d.depth[src] + 1);
  }

  for (int i = 0; i < n; ++i) p.facts.push_back(Fact{i, d.source[i], d.op[i], d.operand[i]});
  for (int i = n - 1; i > 0; --i) std::swap(p.facts[i], p.facts[rng.Below(i + 1)]);

  // Queries.
  const int wv = o.weight_value, wc = o.weight_combination, wh = o.weight_hypothetical;
  // Value and hypothetical queries ask deeper quantities more often (weight = depth).
  int depth_total = 0;
  for (int i = d.bases; i < n; ++i) depth_total += d.depth[i];
  auto pick_derived = [&]() {
    int r = static_cast<int>(rng.Below(depth_total));
    for (int i = d.bases; i < n; ++i) {
      if (r < d.depth[i]) return i;
      r -= d.depth[i];
    }
    return n - 1;
  };
  for (int qi = 0; qi < o.queries_per_problem; ++qi) {
    for (int attempt = 0; attempt < 200; ++attempt) {
      Query q;
      int64_t answer = 0;
      const int64_t r = static_cast<int64_t>(rng.Below(wv + wc + wh));
      if (r < wv) {
        q.kind = QueryKind::kValue;
        q.asked = pick_derived();
        answer = d.value[q.asked];
      } else if (r < wv + wc) {
        q.kind = QueryKind::kCombination;
        int a = static_cast<int>(rng.Below(n));
        int b = static_cast<int>(rng.Below(n));
        if (a == b || (a < d.bases && b < d.bases)) continue;
        if (rng.Chance(0.5)) {
          q.op = '+';
          q.asked = std::min(a, b);  // names in dependency order
          q.other = std::max(a, b);
          answer = d.value[a] + d.value[b];
        } else {
          if (d.value[a] == d.value[b]) continue;
          q.op = '-';
          q.asked = d.value[a] > d.value[b] ? a : b;
          q.other = d.value[a] > d.value[b] ? b : a;
          answer = d.value[q.asked] - d.value[q.other];
        }
        if (!InRange(answer)) continue;
      } else {
        q.kind = QueryKind::kHypothetical;
        q.asked = pick_derived();
        std::vector<int> path = d.Path(q.asked);
        q.other = path[rng.Below(path.size() - 1)];
        q.op = rng.Chance(0.5) ? '+' : '-';
        q.amount = rng.Range(1, o.max_constant);
        const int64_t changed = d.value[q.other] + (q.op == '+' ? q.amount : -q.amount);
        std::optional<int64_t> v = Propagate(d, q.other, changed, q.asked);
        if (!v) continue;
        answer = *v;
      }
      bool duplicate = false;
      for (const Query& prev : p.queries) duplicate = duplicate || SameQuery(prev, q);
      if (duplicate && attempt < 199) continue;
      if (!CompleteQuery(p, &q).ok()) continue;
      q.answer = answer;  // the generator's own value; tests compare it with EvaluateQuery
      p.queries.push_back(std::move(q));
      break;
    }
  }
  return p;
}

// ---- Independent evaluation ----
namespace {

// Values by fixpoint over the facts; `override_q` (if >= 0) is fixed to
// `override_value` and its own fact ignored.
Result<std::vector<int64_t>> Resolve(const Problem& problem, int override_q, int64_t override_value) {
  const int n = static_cast<int>(problem.names.size());
  std::vector<const Fact*> def(n, nullptr);
  for (const Fact& f : problem.facts) {
    if (f.target < 0 || f.target >= n) return Status::InvalidArgument("fact defines an unknown quantity");
    if (f.op != Op::kBase && (f.source < 0 || f.source >= n))
      return Status::InvalidArgument("relation to an unknown quantity");
    if (f.op == Op::kMul && f.operand != 2 && f.operand != 3)
      return Status::InvalidArgument("factor must be 2 or 3");
    if ((f.op == Op::kAdd || f.op == Op::kSub) && f.operand < 1)
      return Status::InvalidArgument("constant must be positive");
    if (def[f.target]) return Status::InvalidArgument(problem.names[f.target] + " is defined twice");
    def[f.target] = &f;
  }
  std::vector<std::optional<int64_t>> v(n);
  for (int i = 0; i < n; ++i)
    if (!def[i]) return Status::InvalidArgument(problem.names[i] + " is never defined");
  if (override_q >= 0) {
    if (override_q >= n) return Status::InvalidArgument("unknown quantity");
    v[override_q] = override_value;
  }
  for (bool progress = true; progress;) {
    progress = false;
    for (int i = 0; i < n; ++i) {
      if (v[i]) continue;
      const Fact& f = *def[i];
      if (f.op == Op::kBase) {
        v[i] = f.operand;
      } else if (v[f.source]) {
        v[i] = Apply(f.op, *v[f.source], f.operand);
      } else {
        continue;
      }
      progress = true;
    }
  }
  std::vector<int64_t> out(n);
  for (int i = 0; i < n; ++i) {
    if (!v[i]) return Status::InvalidArgument("cyclic definition of " + problem.names[i]);
    if (!InRange(*v[i])) return Status::OutOfRange(problem.names[i] + " = " + std::to_string(*v[i]));
    out[i] = *v[i];
  }
  return out;
}

}  // namespace

Result<std::vector<int64_t>> Evaluate(const Problem& problem) {
  return Resolve(problem, -1, 0);
}

Result<int64_t> EvaluateQuery(const Problem& problem, const Query& query) {
  ST_ASSIGN_OR_RETURN(std::vector<int64_t> v, Evaluate(problem));
  const int n = static_cast<int>(v.size());
  if (query.asked < 0 || query.asked >= n) return Status::InvalidArgument("query asks an unknown quantity");
  switch (query.kind) {
    case QueryKind::kValue:
      return v[query.asked];
    case QueryKind::kCombination: {
      if (query.other < 0 || query.other >= n || query.other == query.asked)
        return Status::InvalidArgument("bad second quantity");
      int64_t r = query.op == '+' ? v[query.asked] + v[query.other] : v[query.asked] - v[query.other];
      if (query.op != '+' && query.op != '-') return Status::InvalidArgument("bad combination");
      if (!InRange(r)) return Status::OutOfRange("combination = " + std::to_string(r));
      return r;
    }
    case QueryKind::kHypothetical: {
      if (query.other < 0 || query.other >= n || query.other == query.asked)
        return Status::InvalidArgument("bad changed quantity");
      if ((query.op != '+' && query.op != '-') || query.amount < 1)
        return Status::InvalidArgument("bad change");
      const int64_t changed = v[query.other] + (query.op == '+' ? query.amount : -query.amount);
      ST_ASSIGN_OR_RETURN(std::vector<int64_t> h, Resolve(problem, query.other, changed));
      if (h[query.asked] == v[query.asked])
        return Status::InvalidArgument("the change does not reach the asked quantity");
      return h[query.asked];
    }
  }
  return Status::InvalidArgument("bad query kind");
}

std::vector<int> DerivedInDependencyOrder(const Problem& problem) {
  // Kahn's algorithm, smallest index first: for generated problems this is
  // creation order.
  const int n = static_cast<int>(problem.names.size());
  std::vector<int> source(n, -2);  // -2 undefined, -1 base
  for (const Fact& f : problem.facts)
    if (f.target >= 0 && f.target < n) source[f.target] = f.op == Op::kBase ? -1 : f.source;
  std::vector<bool> done(n, false);
  for (int i = 0; i < n; ++i) done[i] = source[i] == -1;
  std::vector<int> order;
  for (bool progress = true; progress;) {
    progress = false;
    for (int i = 0; i < n; ++i) {
      if (done[i] || source[i] < 0 || source[i] >= n || !done[source[i]]) continue;
      done[i] = true;
      order.push_back(i);
      progress = true;
      break;
    }
  }
  return order;
}

}  // namespace sleeptime::lang
