#include "sleeptime/prompts.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace sleeptime {
namespace {

// The wording follows the paper's prompts: sleep time asks for derived
// quantities and anticipated questions (in the "Q:"/"A:" form that the
// eval's anticipation matcher reads); verbosity 0 asks the model to trust
// the notes and answer in one sentence, 4 to re-check step by step.
constexpr const char* kSleep =
    "You will be asked questions about the context below later, but not yet. Think about it now:\n"
    "work out every quantity and fact that can be derived from it, show each calculation once, and\n"
    "list likely questions with their answers, each as a line \"Q: <question>\" and a line\n"
    "\"A: <answer>\". Write concise notes that make later questions quick.\n\n"
    "Context:\n{{context}}\n\nNotes:\n";
// Merging k candidates (sleep-time scaling): one rewrite that keeps what they
// agree on and settles what they do not, rather than k-fold repetition.
constexpr const char* kMerge =
    "Below are a context and several sets of notes written about it independently. Merge them into\n"
    "one set of notes: keep every result they agree on, settle each disagreement by working it out\n"
    "again from the context, and drop repetition. Write only the merged notes.\n\n"
    "Context:\n{{context}}\n\nNotes written independently:\n{{candidates}}\n\nMerged notes:\n";
constexpr const char* kAnswerPrefix = "Context:\n{{context}}\n\n";
constexpr const char* kAnswerPrefixNotes =
    "Context:\n{{context}}\n\nNotes (worked out earlier):\n{{notes}}\n\n";
constexpr const char* kQuestion = "Question: {{query}}\n{{verbosity}}\nAnswer:";
constexpr const char* kVerbosity[5] = {
    "Use the notes; do not recompute. Answer in one sentence: \"The answer is ...\".",
    "Answer with at most one sentence of explanation, then \"The answer is ...\".",
    "Answer with at most two sentences of explanation, then \"The answer is ...\".",
    "Reason briefly step by step, then end with \"The answer is ...\".",
    "Reason step by step and re-check every step before you finish with \"The answer is ...\".",
};
constexpr const char* kForceAnswer = "\nThe answer is";

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    // Escapes let a stop string hold a newline.
    std::string s;
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == 'n') {
        s += '\n';
        ++i;
      } else {
        s += line[i];
      }
    }
    if (!s.empty()) out.push_back(s);
  }
  return out;
}

std::string EscapeLines(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    for (char c : item) out += (c == '\n') ? std::string("\\n") : std::string(1, c);
    out += '\n';
  }
  return out;
}

// Every template with its file name, for loading and writing alike.
std::vector<std::pair<std::string, std::string*>> TextFields(PromptTemplates& t) {
  std::vector<std::pair<std::string, std::string*>> f = {
      {"sleep", &t.sleep},
      {"merge", &t.merge},
      {"answer_prefix", &t.answer_prefix},
      {"answer_prefix_notes", &t.answer_prefix_notes},
      {"question", &t.question},
      {"force_answer", &t.force_answer},
      {"notes_separator", &t.notes_separator},
  };
  for (int i = 0; i < 5; ++i) f.push_back({"verbosity_" + std::to_string(i), &t.verbosity[i]});
  return f;
}

}  // namespace

std::vector<std::string> PromptTemplates::FileNames() {
  PromptTemplates t;
  std::vector<std::string> names;
  for (auto& [name, field] : TextFields(t)) names.push_back(name);
  names.push_back("stop");
  names.push_back("sleep_stop");
  return names;
}

PromptTemplates DefaultPromptTemplates() {
  PromptTemplates t;
  t.sleep = kSleep;
  t.merge = kMerge;
  t.answer_prefix = kAnswerPrefix;
  t.answer_prefix_notes = kAnswerPrefixNotes;
  t.question = kQuestion;
  for (int i = 0; i < 5; ++i) t.verbosity[i] = kVerbosity[i];
  t.force_answer = kForceAnswer;
  t.notes_separator = "\n";
  t.stop = {"\nQuestion:", "\nContext:"};
  t.sleep_stop = {"\nQuestion:", "\nContext:"};
  return t;
}

PromptTemplates OverridePromptTemplates(
    PromptTemplates t, const std::function<std::optional<std::string>(const std::string&)>& lookup) {
  for (auto& [name, field] : TextFields(t)) {
    if (auto v = lookup(name)) *field = *v;
  }
  if (auto v = lookup("stop")) t.stop = Lines(*v);
  if (auto v = lookup("sleep_stop")) t.sleep_stop = Lines(*v);
  return t;
}

Result<PromptTemplates> LoadPromptTemplates(const std::string& dir) {
  return LoadPromptTemplates([](const std::string&) { return std::optional<std::string>(); }, dir);
}

Result<PromptTemplates> LoadPromptTemplates(
    const std::function<std::optional<std::string>(const std::string&)>& model_metadata,
    const std::string& dir) {
  PromptTemplates t = OverridePromptTemplates(DefaultPromptTemplates(), model_metadata);
  if (model_metadata("sleep") && !model_metadata("merge"))
    t.merge = t.sleep + "{{candidates}}" + t.notes_separator;
  if (dir.empty()) return t;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::NotFound("template directory not found: " + dir);
  Status error;
  t = OverridePromptTemplates(std::move(t), [&](const std::string& name) -> std::optional<std::string> {
    fs::path p = fs::path(dir) / (name + ".txt");
    if (!fs::exists(p, ec)) return std::nullopt;
    std::ifstream in(p, std::ios::binary);
    if (!in) {
      error = Status::IoError("cannot read template " + p.string());
      return std::nullopt;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  });
  if (!error.ok()) return error;
  return t;
}

std::string RenderTemplate(const std::string& tmpl, const std::map<std::string, std::string>& values) {
  std::string out;
  out.reserve(tmpl.size());
  size_t i = 0;
  while (i < tmpl.size()) {
    size_t open = tmpl.find("{{", i);
    if (open == std::string::npos) break;
    size_t close = tmpl.find("}}", open + 2);
    if (close == std::string::npos) break;
    out.append(tmpl, i, open - i);
    auto it = values.find(tmpl.substr(open + 2, close - open - 2));
    if (it != values.end()) {
      out += it->second;
    } else {
      out.append(tmpl, open, close + 2 - open);
    }
    i = close + 2;
  }
  out.append(tmpl, i, std::string::npos);
  return out;
}

std::vector<std::pair<std::string, std::string>> PromptTemplateMetadata(const PromptTemplates& templates) {
  PromptTemplates t = templates;
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& [name, field] : TextFields(t)) out.push_back({kModelPromptKeyPrefix + name, *field});
  out.push_back({std::string(kModelPromptKeyPrefix) + "stop", EscapeLines(t.stop)});
  out.push_back({std::string(kModelPromptKeyPrefix) + "sleep_stop", EscapeLines(t.sleep_stop)});
  return out;
}

Status WritePromptTemplates(const PromptTemplates& templates, const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IoError("cannot create " + dir + ": " + ec.message());
  PromptTemplates t = templates;
  auto fields = TextFields(t);
  fields.push_back({"stop", nullptr});
  fields.push_back({"sleep_stop", nullptr});
  for (auto& [name, field] : fields) {
    fs::path p = fs::path(dir) / (name + ".txt");
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    if (name == "stop") {
      out << EscapeLines(t.stop);
    } else if (name == "sleep_stop") {
      out << EscapeLines(t.sleep_stop);
    } else {
      out << *field;
    }
    if (!out) return Status::IoError("cannot write " + p.string());
  }
  return Status::Ok();
}

}  // namespace sleeptime
