// The eval's datasets and runner (see sleeptime/eval.h for the records and
// the report).
//
// Datasets: the synthetic stateful-arithmetic suite (the demo language's
// held-out problems, several labelled queries per context), and JSONL files
// in the formats of the paper's releases: Stateful GSM-Symbolic
// (stateful_gsm_symbolic_context / _question / answer with the gold after
// "#### "), plain GSM-Symbolic ({question, answer}: the last sentence is the
// query), Stateful AIME (stateful_aime_context / _question / answer) and
// Multi-Query ({context, queries: [{question, answer}]}).
//
// RunEval answers every query under every condition through the real
// Engine (store, KV states, budget forcing) and appends one record per
// answer to a JSONL file; with resume, items already complete there are
// skipped. Not thread-safe; one run per backend at a time.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sleeptime/backend.h"
#include "sleeptime/engine.h"
#include "sleeptime/eval.h"
#include "sleeptime/prompts.h"

namespace sleeptime::eval {

// `problems` held-out problems of the demo language from `first_index`.
std::vector<EvalItem> SyntheticDataset(int problems, uint64_t first_index = 0);
// A JSONL file in one of the formats above (detected per line).
Result<std::vector<EvalItem>> LoadDataset(const std::string& path);
// A problem statement split into (context, final-sentence query). Sentence
// ends are '.', '!' or '?' followed by a space, except in decimals ("$0.75")
// and common abbreviations ("Mr.", "e.g."); the query keeps its ending,
// with or without "?".
std::pair<std::string, std::string> SplitContextQuery(const std::string& text);
// The gold of a GSM answer: the text after "#### ", else the whole answer.
std::string GoldOf(const std::string& answer);
// The model's answer, read from generated text: the number after an answer
// marker, else the last number; "" when there is none.
std::string ExtractAnswer(const std::string& generated);
// Anticipation: the question/answer pairs c′ wrote ("Q: ..." then "A: ...",
// or both on one line; "Question:"/"Answer:", list markers and emphasis
// allowed), in order.
std::vector<std::pair<std::string, std::string>> AnticipatedPairs(const std::string& notes);
// The answer c′ already gives to `question`, read with no test-time tokens:
// the demo language's "B+C=17+34=51." statements, or an anticipated pair
// whose question is the same one — the same numbers and at least 80% of the
// same words (Jaccard over lower-cased words, filler words such as "the",
// "does", "will" ignored) — and whose answer holds a number.
std::optional<std::string> AnticipatedAnswer(const std::string& question, const std::string& notes);
// Numeric when both are numbers ("45.0" == "45", "1,234" == "1234"), else
// exact after trimming.
bool AnswersMatch(const std::string& answer, const std::string& gold);

struct RunOptions {
  std::vector<int> budgets = {8, 16, 32, 64, 128};
  std::vector<int> sleep_passes = {1, 2, 3};        // k; empty: no sleep condition
  CombineMode combine = CombineMode::kConcatenate;  // how k > 1 candidates become c′
  int passk = 0;                                    // > 0: pass@k baseline with this many samples
  float passk_temperature = 0.7f;
  std::vector<int> verbosities = {0};  // each a separate setting of every condition
  int sleep_budget = 0;                // tokens per sleep pass (0: the engine's automatic budget)
  int answer_reserve = 0;              // EngineOptions::answer_reserve (0: the model's, else the default)
  bool predictability = true;          // score log P(q | c) where the backend can
  // Sleep condition: a query that c′ anticipated (AnticipatedAnswer) is
  // answered from c′ with zero test-time tokens and marked `anticipated`.
  bool anticipation = true;
  std::string work_dir;                                  // scratch store for the run
  std::string records_path;                              // items.jsonl, appended
  bool resume = false;                                   // skip items complete in records_path
  std::function<void(int done, int total)> on_progress;  // items
  const std::atomic<bool>* cancel = nullptr;             // checked between queries
};

// Runs and returns every record in records_path afterwards (old and new).
Result<std::vector<ItemRecord>> RunEval(Backend* backend, const PromptTemplates& templates,
                                        const std::vector<EvalItem>& items, const RunOptions& options);
// Every record of a JSONL file (a truncated last line is ignored).
Result<std::vector<ItemRecord>> ReadRecords(const std::string& path);

}  // namespace sleeptime::eval
