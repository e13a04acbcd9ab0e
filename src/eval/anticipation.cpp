// Anticipation: answering a query from c′ alone when sleep time already
// asked and answered it.
#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "sleeptime/eval_runner.h"
#include "sleeptime/reasoning_language.h"

namespace sleeptime::eval {
namespace {

// Lower-case words and numbers; punctuation and the words that phrase a
// question the same way in many wordings carry no meaning for the match.
std::vector<std::string> Words(const std::string& text) {
  static const std::set<std::string> kFiller = {"a",   "an",  "the", "of",   "is",   "are", "does",
                                                "do",  "did", "to",  "in",   "on",   "at",  "for",
                                                "and", "be",  "by",  "with", "will", "was", "were"};
  std::vector<std::string> out;
  std::string w;
  auto flush = [&] {
    if (!w.empty() && !kFiller.count(w)) out.push_back(w);
    w.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool decimal_point = c == '.' && !w.empty() && std::isdigit(static_cast<unsigned char>(w.back())) &&
                               i + 1 < text.size() && std::isdigit(static_cast<unsigned char>(text[i + 1]));
    if (std::isalnum(static_cast<unsigned char>(c)) || decimal_point) {
      w += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (c != ',' || w.empty() || !std::isdigit(static_cast<unsigned char>(w.back()))) {
      flush();  // a comma inside a number ("1,234") is dropped, not a break
    }
  }
  flush();
  return out;
}

bool IsNumber(const std::string& w) {
  return !w.empty() && std::isdigit(static_cast<unsigned char>(w[0]));
}

// The same question: the same numbers, and nearly the same words (Jaccard
// over word sets at least 0.8), so "How many apples does Ann have left?"
// matches "How many apples will Ann have left?" but not a question about Bob.
bool SameQuestion(const std::string& a, const std::string& b) {
  const std::vector<std::string> wa = Words(a), wb = Words(b);
  std::multiset<std::string> na, nb;
  for (const auto& w : wa)
    if (IsNumber(w)) na.insert(w);
  for (const auto& w : wb)
    if (IsNumber(w)) nb.insert(w);
  if (na != nb) return false;
  const std::set<std::string> sa(wa.begin(), wa.end()), sb(wb.begin(), wb.end());
  if (sa.empty() || sb.empty()) return false;
  size_t common = 0;
  for (const auto& w : sa) common += sb.count(w);
  const size_t all = sa.size() + sb.size() - common;
  return static_cast<double>(common) >= 0.8 * static_cast<double>(all);
}

std::string Trimmed(std::string s) {
  const auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

// Strips list markers and emphasis: "- **Q:** ..." -> "Q: ...".
std::string Unmarked(std::string line) {
  line = Trimmed(line);
  while (!line.empty() && (line[0] == '-' || line[0] == '*' || line[0] == '#' || line[0] == '>' ||
                           std::isdigit(static_cast<unsigned char>(line[0])) || line[0] == '.' ||
                           line[0] == ')' || line[0] == ' '))
    line.erase(0, 1);
  std::string out;
  for (char c : line)
    if (c != '*') out += c;
  return out;
}

// "Q: text" / "Question: text" -> text; the label is case-insensitive.
bool Labelled(const std::string& line, std::initializer_list<const char*> labels, std::string* rest) {
  for (const char* label : labels) {
    const size_t n = std::char_traits<char>::length(label);
    if (line.size() < n) continue;
    bool same = true;
    for (size_t i = 0; i < n && same; ++i)
      same = std::tolower(static_cast<unsigned char>(line[i])) == label[i];
    if (same) {
      *rest = Trimmed(line.substr(n));
      return true;
    }
  }
  return false;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> AnticipatedPairs(const std::string& notes) {
  std::vector<std::pair<std::string, std::string>> pairs;
  std::istringstream in(notes);
  std::string question;  // waiting for its answer
  for (std::string raw; std::getline(in, raw);) {
    const std::string line = Unmarked(raw);
    std::string rest;
    if (Labelled(line, {"q:", "question:"}, &rest)) {
      question = rest;
      // "Q: ... A: ..." on one line.
      for (const char* marker : {" A:", " Answer:", " a:", " answer:"}) {
        const size_t at = question.find(marker);
        if (at != std::string::npos) {
          pairs.emplace_back(Trimmed(question.substr(0, at)),
                             Trimmed(question.substr(at + std::char_traits<char>::length(marker))));
          question.clear();
          break;
        }
      }
    } else if (!question.empty() && Labelled(line, {"a:", "answer:"}, &rest)) {
      pairs.emplace_back(question, rest);
      question.clear();
    }
  }
  return pairs;
}

std::optional<std::string> AnticipatedAnswer(const std::string& question, const std::string& notes) {
  if (auto v = lang::AnticipatedAnswer(question, notes)) return std::to_string(*v);
  for (const auto& [q, a] : AnticipatedPairs(notes)) {
    if (!SameQuestion(question, q)) continue;
    std::string answer = ExtractAnswer(a);
    if (!answer.empty()) return answer;
  }
  return std::nullopt;
}

}  // namespace sleeptime::eval
