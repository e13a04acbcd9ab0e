// Reading model output in the reasoning language: the answer after the
// marker, and how many derived quantities a set of notes gets right.
#include <algorithm>
#include <optional>
#include <string>
#include <string_view>

#include "sleeptime/reasoning_language.h"

namespace sleeptime::lang {
namespace {

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}
bool IsAlpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
char Lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

enum class NumberKind { kNone, kInteger, kNotInteger };

// An integer starting at `pos`: optional '$' and '-', digits with optional
// thousands separators (",ddd"), then an optional fraction that must be all
// zeros ("45.0"); a '.' not followed by a digit ends a sentence.
NumberKind ReadNumber(std::string_view s, size_t pos, int64_t* out) {
  auto at = [&](size_t i) { return i < s.size() ? s[i] : '\0'; };
  bool negative = false;
  if (at(pos) == '$') ++pos;
  if (at(pos) == '-') {
    negative = true;
    ++pos;
  }
  if (at(pos) == '$') ++pos;
  if (!IsDigit(at(pos))) return NumberKind::kNone;
  int64_t v = 0;
  int digits = 0;
  while (pos < s.size()) {
    const char c = s[pos];
    if (IsDigit(c)) {
      if (++digits > 18) return NumberKind::kNotInteger;  // would overflow
      v = v * 10 + (c - '0');
      ++pos;
    } else if (c == ',' && IsDigit(at(pos + 1)) && IsDigit(at(pos + 2)) && IsDigit(at(pos + 3)) &&
               !IsDigit(at(pos + 4))) {
      ++pos;
    } else {
      break;
    }
  }
  if (at(pos) == '.' && IsDigit(at(pos + 1))) {
    size_t q = pos + 1;
    while (at(q) == '0') ++q;
    if (IsDigit(at(q))) return NumberKind::kNotInteger;
  }
  *out = negative ? -v : v;
  return NumberKind::kInteger;
}

// Start of a statement "X=..." for quantity `name` at `pos`?
bool StatementStart(std::string_view s, size_t pos, std::string_view name, size_t* after_equals) {
  if (s.substr(pos, name.size()) != name) return false;
  if (pos > 0) {
    const char prev = s[pos - 1];
    if (!(IsSpace(prev) || prev == '.' || prev == ':' || prev == ';' || prev == ',')) return false;
  }
  size_t i = pos + name.size();
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  if (i >= s.size() || s[i] != '=') return false;
  *after_equals = i + 1;
  return true;
}

}  // namespace

std::optional<int64_t> ParseAnswer(std::string_view g) {
  static constexpr std::string_view kWord = "answer";
  for (size_t i = 0; i + kWord.size() <= g.size(); ++i) {
    bool match = true;
    for (size_t k = 0; k < kWord.size() && match; ++k) match = Lower(g[i + k]) == kWord[k];
    if (!match) continue;
    size_t p = i + kWord.size();
    if (p < g.size() && IsAlpha(g[p])) continue;  // "answered", "answers"
    while (p < g.size() && (g[p] == ' ' || g[p] == '\t')) ++p;
    if (p < g.size() && g[p] == ':') {
      ++p;
    } else if (p + 1 < g.size() && Lower(g[p]) == 'i' && Lower(g[p + 1]) == 's' &&
               (p + 2 >= g.size() || !IsAlpha(g[p + 2]))) {
      p += 2;
      if (p < g.size() && g[p] == ':') ++p;
    } else {
      continue;
    }
    while (p < g.size() && (g[p] == ' ' || g[p] == '\t')) ++p;
    int64_t v = 0;
    switch (ReadNumber(g, p, &v)) {
      case NumberKind::kInteger:
        return v;
      case NumberKind::kNotInteger:
        return std::nullopt;
      case NumberKind::kNone:
        break;  // a marker without a number: look further
    }
  }
  return std::nullopt;
}

NotesScore ScoreNotes(const Problem& problem, std::string_view notes) {
  NotesScore score;
  auto values = Evaluate(problem);
  const std::vector<int> derived = DerivedInDependencyOrder(problem);
  score.derived = static_cast<int>(derived.size());
  if (!values.ok()) return score;
  for (int q : derived) {
    const std::string& name = problem.names[q];
    for (size_t pos = notes.find(name); pos != std::string_view::npos; pos = notes.find(name, pos + 1)) {
      size_t p = 0;
      if (!StatementStart(notes, pos, name, &p)) continue;
      // The statement ends at a '.' not followed by a digit, a newline or ';'.
      size_t end = p;
      while (end < notes.size() && notes[end] != '\n' && notes[end] != ';' &&
             !(notes[end] == '.' && (end + 1 >= notes.size() || !IsDigit(notes[end + 1]))))
        ++end;
      // A lookup ("Cid=Bob*2.") states the definition, not a value.
      size_t first = p;
      while (first < end && notes[first] == ' ') ++first;
      if (first < end && IsAlpha(notes[first]) &&
          notes.substr(first, end - first).find('=') == std::string_view::npos)
        continue;
      // Its last number.
      std::optional<int64_t> last;
      for (size_t i = p; i < end;) {
        if (IsDigit(notes[i]) && (i == p || !IsDigit(notes[i - 1]))) {
          int64_t v = 0;
          size_t j = i;
          while (j < end && IsDigit(notes[j]) && j - i < 18) v = v * 10 + (notes[j++] - '0');
          last = v;
          i = j;
        } else {
          ++i;
        }
      }
      if (!last) continue;
      ++score.stated;
      if (*last == (*values)[q]) ++score.correct;
      break;  // the first statement of each quantity counts
    }
  }
  return score;
}

ComputationScore ScoreComputations(std::string_view text) {
  ComputationScore score;
  // Reads up to 9 digits at `i`; false when there are none.
  auto number = [&text](size_t& i, int64_t* v) {
    const size_t from = i;
    *v = 0;
    while (i < text.size() && IsDigit(text[i]) && i - from < 9) *v = *v * 10 + (text[i++] - '0');
    return i > from;
  };
  for (size_t at = text.find('='); at != std::string_view::npos; at = text.find('=', at + 1)) {
    size_t i = at + 1;
    int64_t a = 0, b = 0, r = 0;
    if (!number(i, &a) || i >= text.size()) continue;
    const char op = text[i++];
    const int index = op == '+' ? 0 : op == '-' ? 1 : op == '*' ? 2 : -1;
    if (index < 0 || !number(i, &b) || i >= text.size() || text[i++] != '=') continue;
    // Reversed results: "=~71=17." (the forward value is what later steps read).
    int64_t reversed = 0;
    if (i < text.size() && text[i] == '~' &&
        !(++i, number(i, &reversed) && i < text.size() && text[i++] == '='))
      continue;
    if (!number(i, &r)) continue;
    if (i >= text.size() || text[i] != '.') continue;
    ++score.written[index];
    score.correct[index] += (index == 0 ? a + b : index == 1 ? a - b : a * b) == r;
  }
  return score;
}

LookupScore ScoreLookups(const Problem& problem, std::string_view text) {
  LookupScore score;
  size_t start = 0;
  while (start < text.size()) {
    // A statement ends at '.' followed by a space, a newline or the end.
    size_t end = start;
    while (end < text.size() && !(text[end] == '.' && (end + 1 == text.size() || IsSpace(text[end + 1]))))
      ++end;
    std::string_view s = text.substr(start, end - start);
    start = end + 1;
    while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
    // X=Y op k: one '=', a name on each side, an operator, digits.
    const size_t eq = s.find('=');
    if (eq == std::string_view::npos || s.find('=', eq + 1) != std::string_view::npos) continue;
    const std::string_view target = s.substr(0, eq), rhs = s.substr(eq + 1);
    size_t i = 0;
    while (i < rhs.size() && IsAlpha(rhs[i])) ++i;
    if (target.empty() || i == 0 || i + 1 >= rhs.size()) continue;
    const std::string_view source = rhs.substr(0, i);
    const char op = rhs[i];
    if (op != '+' && op != '-' && op != '*') continue;
    int64_t k = 0;
    size_t j = i + 1;
    for (; j < rhs.size() && IsDigit(rhs[j]) && j < i + 10; ++j) k = k * 10 + (rhs[j] - '0');
    if (j == i + 1 || j != rhs.size()) continue;
    if (!std::all_of(target.begin(), target.end(), IsAlpha)) continue;
    ++score.written;
    for (const Fact& f : problem.facts) {
      if (f.source < 0 || problem.names[f.target] != target) continue;
      const bool source_right = problem.names[f.source] == source, op_right = static_cast<char>(f.op) == op,
                 operand_right = f.operand == k;
      ++score.defined;
      score.source_right += source_right, score.op_right += op_right, score.operand_right += operand_right;
      score.correct += source_right && op_right && operand_right;
      if (!(source_right && op_right && operand_right)) {
        score.other_fact += std::any_of(problem.facts.begin(), problem.facts.end(), [&](const Fact& o) {
          return o.source >= 0 && problem.names[o.source] == source && static_cast<char>(o.op) == op &&
                 o.operand == k;
        });
      }
      break;
    }
  }
  return score;
}

std::optional<int64_t> AnticipatedAnswer(std::string_view question, std::string_view notes) {
  // The two names of a combination question, and its operation.
  auto between = [&](std::string_view pre, std::string_view mid, std::string_view post, std::string* a,
                     std::string* b) {
    if (question.substr(0, pre.size()) != pre) return false;
    const size_t m = question.find(mid, pre.size());
    if (m == std::string_view::npos || !question.ends_with(post)) return false;
    *a = std::string(question.substr(pre.size(), m - pre.size()));
    *b = std::string(question.substr(m + mid.size(), question.size() - post.size() - m - mid.size()));
    return !a->empty() && !b->empty();
  };
  std::string a, b;
  std::vector<std::string> labels;
  if (between("How many do ", " and ", " have together?", &a, &b)) {
    labels = {a + "+" + b, b + "+" + a};
  } else if (between("How many more does ", " have than ", "?", &a, &b)) {
    labels = {a + "-" + b};
  } else {
    return std::nullopt;
  }
  for (const std::string& label : labels) {
    for (size_t pos = notes.find(label); pos != std::string_view::npos; pos = notes.find(label, pos + 1)) {
      size_t p = 0;
      if (!StatementStart(notes, pos, label, &p)) continue;
      size_t end = p;
      while (end < notes.size() && notes[end] != '\n' &&
             !(notes[end] == '.' && (end + 1 >= notes.size() || !IsDigit(notes[end + 1]))))
        ++end;
      // The statement's last number is its result.
      size_t d = end;
      while (d > p && !IsDigit(notes[d - 1])) --d;
      size_t s0 = d;
      while (s0 > p && IsDigit(notes[s0 - 1])) --s0;
      if (s0 == d || d - s0 > 18) continue;
      int64_t v = 0;
      for (size_t i = s0; i < d; ++i) v = v * 10 + (notes[i] - '0');
      return v;
    }
  }
  return std::nullopt;
}

double NotesAccuracy(const Problem& problem, std::string_view notes) {
  return ScoreNotes(problem, notes).accuracy();
}

}  // namespace sleeptime::lang
