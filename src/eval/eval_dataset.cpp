// Eval datasets: the synthetic suite and the paper's JSONL formats.
#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>

#include "sleeptime/eval_runner.h"
#include "sleeptime/reasoning_language.h"

namespace sleeptime::eval {
namespace {

using nlohmann::json;

std::string Trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

std::string JsonText(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_number_integer()) return std::to_string(j.get<int64_t>());
  if (j.is_number()) return j.dump();
  return "";
}

bool IsAbbreviation(const std::string& text, size_t dot) {
  static const char* kAbbrev[] = {"Mr", "Mrs", "Ms", "Dr", "St", "Jr", "Sr", "vs", "etc", "e.g", "i.e", "No"};
  for (const char* a : kAbbrev) {
    const size_t n = std::char_traits<char>::length(a);
    if (dot >= n && text.compare(dot - n, n, a) == 0 &&
        (dot == n || !std::isalpha(static_cast<unsigned char>(text[dot - n - 1]))))
      return true;
  }
  return false;
}

}  // namespace

std::vector<EvalItem> SyntheticDataset(int problems, uint64_t first_index) {
  std::vector<EvalItem> out;
  for (int i = 0; i < problems; ++i) {
    const uint64_t seed = lang::SplitSeed(lang::Split::kHeldOut, first_index + static_cast<uint64_t>(i));
    const lang::Problem p = lang::GenerateProblem(seed);
    EvalItem item;
    item.id = "synthetic-" + std::to_string(first_index + static_cast<uint64_t>(i));
    item.context = lang::RenderContext(p);
    for (const lang::Query& q : p.queries)
      item.queries.push_back({q.text, std::to_string(q.answer), lang::QueryKindName(q.kind), q.steps});
    out.push_back(std::move(item));
  }
  return out;
}

std::pair<std::string, std::string> SplitContextQuery(const std::string& text) {
  const std::string t = Trim(text);
  // The last sentence end before the final one.
  size_t cut = std::string::npos;
  for (size_t i = 0; i + 1 < t.size(); ++i) {
    const char c = t[i];
    if ((c != '.' && c != '!' && c != '?') || !std::isspace(static_cast<unsigned char>(t[i + 1]))) continue;
    if (c == '.' && i > 0 && std::isdigit(static_cast<unsigned char>(t[i - 1])) && i + 2 < t.size() &&
        std::isdigit(static_cast<unsigned char>(t[i + 2])))
      continue;  // "$0. 75" cannot happen, but "3. 5" style lists are not sentence ends either
    if (c == '.' && IsAbbreviation(t, i)) continue;
    cut = i + 1;
  }
  if (cut == std::string::npos) return {"", t};
  return {Trim(t.substr(0, cut)), Trim(t.substr(cut))};
}

std::string GoldOf(const std::string& answer) {
  const size_t p = answer.rfind("####");
  return Trim(p == std::string::npos ? answer : answer.substr(p + 4));
}

Result<std::vector<EvalItem>> LoadDataset(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot read dataset '" + path + "'");
  std::vector<EvalItem> out;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (Trim(line).empty()) continue;
    json j = json::parse(line, nullptr, false);
    const std::string where = path + ":" + std::to_string(lineno);
    if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument(where + ": not a JSON object");
    EvalItem item;
    item.id = j.contains("id") ? JsonText(j["id"]) : "item-" + std::to_string(lineno);
    if (item.id.empty()) item.id = "item-" + std::to_string(lineno);
    auto str = [&](const char* k) { return j.contains(k) ? JsonText(j[k]) : std::string(); };
    if (j.contains("stateful_gsm_symbolic_context")) {
      item.context = str("stateful_gsm_symbolic_context");
      item.queries.push_back({str("stateful_gsm_symbolic_question"), GoldOf(str("answer")), "", 0});
    } else if (j.contains("stateful_aime_context")) {
      item.context = str("stateful_aime_context");
      item.queries.push_back({str("stateful_aime_question"), GoldOf(str("answer")), "", 0});
    } else if (j.contains("queries") && j["queries"].is_array()) {  // Multi-Query
      item.context = str("context");
      for (const json& q : j["queries"]) {
        if (!q.is_object()) return Status::InvalidArgument(where + ": each query must be an object");
        item.queries.push_back({q.contains("question") ? JsonText(q["question"]) : "",
                                GoldOf(q.contains("answer") ? JsonText(q["answer"]) : ""), "", 0});
      }
    } else if (j.contains("question") && j.contains("answer")) {  // plain GSM-Symbolic
      auto [context, query] = SplitContextQuery(str("question"));
      item.context = context;
      item.queries.push_back({query, GoldOf(str("answer")), "", 0});
    } else {
      return Status::InvalidArgument(where +
                                     ": unknown format (expected stateful_gsm_symbolic_*, stateful_aime_*, "
                                     "{context, queries} or {question, answer})");
    }
    if (item.context.empty()) return Status::InvalidArgument(where + ": empty context");
    for (const EvalQuery& q : item.queries)
      if (q.text.empty() || q.gold.empty())
        return Status::InvalidArgument(where + ": a query or gold is empty");
    out.push_back(std::move(item));
  }
  if (out.empty()) return Status::InvalidArgument("dataset '" + path + "' has no items");
  return out;
}

std::string ExtractAnswer(const std::string& generated) {
  if (auto v = lang::ParseAnswer(generated)) return std::to_string(*v);
  // The last number (decimals and thousands separators kept).
  std::string last;
  for (size_t i = 0; i < generated.size();) {
    if (std::isdigit(static_cast<unsigned char>(generated[i]))) {
      size_t j = i;
      while (j < generated.size() &&
             (std::isdigit(static_cast<unsigned char>(generated[j])) ||
              ((generated[j] == '.' || generated[j] == ',') && j + 1 < generated.size() &&
               std::isdigit(static_cast<unsigned char>(generated[j + 1])))))
        ++j;
      last = generated.substr(i, j - i);
      if (i > 0 && generated[i - 1] == '-') last = "-" + last;
      i = j;
    } else {
      ++i;
    }
  }
  return last;
}

bool AnswersMatch(const std::string& answer, const std::string& gold) {
  auto number = [](std::string s, double* out) {
    s = Trim(s);
    std::string clean;
    for (char c : s)
      if (c != ',' && c != '$') clean += c;
    if (clean.empty()) return false;
    char* end = nullptr;
    *out = std::strtod(clean.c_str(), &end);
    return end && *end == '\0';
  };
  double a = 0, g = 0;
  if (number(answer, &a) && number(gold, &g)) return std::fabs(a - g) < 1e-6 * std::max(1.0, std::fabs(g));
  return !Trim(answer).empty() && Trim(answer) == Trim(gold);
}

}  // namespace sleeptime::eval
