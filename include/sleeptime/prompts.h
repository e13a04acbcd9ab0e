// PromptTemplates: the text around c, c′ and q, as files a user can override.
//
// A template is plain text with {{name}} placeholders. The answer prompt is
// built as prefix + suffix so its prefix (context and learned context) can be
// kept as a KV state while the suffix (question, verbosity) changes per query.
// Defaults are compiled in; LoadPromptTemplates(dir) replaces any template for
// which dir/<name>.txt exists. Plain value type; thread-compatible.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "sleeptime/status.h"

namespace sleeptime {

struct PromptTemplates {
  std::string sleep;                    // {{context}} -> prompt that makes the model write c′
  std::string answer_prefix;            // {{context}}: prefix when answering from c alone
  std::string answer_prefix_notes;      // {{context}} {{notes}}: prefix when answering from c′
  std::string question;                 // {{query}} {{verbosity}}: the per-query suffix
  std::string verbosity[5];             // instruction for levels 0 (terse) .. 4 (re-check step by step)
  std::string force_answer;             // appended when the reasoning budget runs out
  std::vector<std::string> stop;        // end of an answer
  std::vector<std::string> sleep_stop;  // end of the notes

  // Names of the files LoadPromptTemplates reads, e.g. "sleep", "verbosity_2", "stop".
  static std::vector<std::string> FileNames();
};

PromptTemplates DefaultPromptTemplates();
// Defaults, overridden by the files present in `dir` (empty: defaults only).
Result<PromptTemplates> LoadPromptTemplates(const std::string& dir);
// Replaces each {{key}} with its value; unknown placeholders are left as is.
std::string RenderTemplate(const std::string& tmpl, const std::map<std::string, std::string>& values);
// Writes every template to `dir` as a starting point for overrides.
Status WritePromptTemplates(const PromptTemplates& t, const std::string& dir);

}  // namespace sleeptime
