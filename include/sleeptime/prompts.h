// PromptTemplates: the text around c, c′ and q, as files a user can override.
//
// A template is plain text with {{name}} placeholders. The answer prompt is
// built as prefix + suffix so its prefix (context and learned context) can be
// kept as a KV state while the suffix (question, verbosity) changes per query.
// Defaults are compiled in. A model can carry its own in GGUF metadata keys
// "sleeptime.prompt.<name>" (the demo model does: it speaks a language of its
// own), and a directory given by the user overrides both: dir/<name>.txt.
// Plain value type; thread-compatible.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sleeptime/status.h"

namespace sleeptime {

struct PromptTemplates {
  std::string sleep;                    // {{context}} -> prompt that makes the model write c′
  std::string merge;                    // {{context}} {{candidates}} -> one c′ from k candidates
  std::string answer_prefix;            // {{context}}: prefix when answering from c alone
  std::string answer_prefix_notes;      // {{context}} {{notes}}: prefix when answering from c′
  std::string question;                 // {{query}} {{verbosity}}: the per-query suffix
  std::string verbosity[5];             // instruction for levels 0 (terse) .. 4 (re-check step by step)
  std::string force_answer;             // appended when the reasoning budget runs out
  std::string notes_separator;          // joins the notes of several sleep passes
  std::vector<std::string> stop;        // end of an answer
  std::vector<std::string> sleep_stop;  // end of the notes

  // Names of the files LoadPromptTemplates reads, e.g. "sleep", "verbosity_2", "stop".
  static std::vector<std::string> FileNames();
};

PromptTemplates DefaultPromptTemplates();
// Defaults, overridden by the files present in `dir` (empty: defaults only).
Result<PromptTemplates> LoadPromptTemplates(const std::string& dir);
// `base`, overridden by every template for which `lookup(name)` has a value
// (names as in FileNames(); stop lists one per line, "\n" for a newline).
PromptTemplates OverridePromptTemplates(
    PromptTemplates base, const std::function<std::optional<std::string>(const std::string&)>& lookup);
// Loads in the documented order: defaults, model metadata, then `dir`. A
// model that carries its own sleep prompt but no merge prompt merges by
// continuing its sleep prompt after the candidates (sleep + "{{candidates}}"
// + notes_separator): the instruction-style default would mean nothing to it.
Result<PromptTemplates> LoadPromptTemplates(
    const std::function<std::optional<std::string>(const std::string&)>& model_metadata,
    const std::string& dir);
inline constexpr char kModelPromptKeyPrefix[] = "sleeptime.prompt.";
// Every template as (kModelPromptKeyPrefix + name, value): what a model file
// stores so that LoadPromptTemplates finds them.
std::vector<std::pair<std::string, std::string>> PromptTemplateMetadata(const PromptTemplates& t);
// Replaces each {{key}} with its value; unknown placeholders are left as is.
std::string RenderTemplate(const std::string& tmpl, const std::map<std::string, std::string>& values);
// Writes every template to `dir` as a starting point for overrides.
Status WritePromptTemplates(const PromptTemplates& t, const std::string& dir);

}  // namespace sleeptime
