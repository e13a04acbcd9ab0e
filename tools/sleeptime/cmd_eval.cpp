// sleeptime eval: the paper's experiments on a dataset (sleeptime/eval.h).
#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <sstream>

#include "app.h"
#include "progress.h"
#include "sleeptime/eval.h"
#include "sleeptime/eval_runner.h"

namespace sleeptime::cli {
namespace {

std::atomic<bool> g_cancel{false};
void OnInterrupt(int) {
  g_cancel = true;
}

struct EvalCliOptions {
  std::string dataset = "synthetic";
  int problems = 20;
  uint64_t first = 0;
  std::vector<int> budgets = {8, 16, 32, 64, 128};
  std::vector<int> passes = {1, 2, 3};
  int passk = 0;
  int sleep_budget = 0;
  std::vector<int> verbosities = {0};
  std::string combine = "concat";
  std::string out = "sleeptime-eval";
  bool resume = false;
  bool no_predictability = false;
  bool no_anticipation = false;
  std::string command;
};

}  // namespace

void AddEvalCommand(CLI::App& cli, App& app, int argc, char** argv) {
  auto* cmd =
      cli.add_subcommand("eval", "run the paper's experiments (baseline vs sleep-time compute) and report");
  auto o = std::make_shared<EvalCliOptions>();
  for (int i = 0; i < argc; ++i) o->command += (i ? " " : "") + std::string(argv[i]);
  cmd->add_option(
         "--dataset", o->dataset,
         "'synthetic' (the demo language, held-out) or a JSONL file: Stateful GSM-Symbolic, GSM-Symbolic, "
         "Stateful AIME or Multi-Query")
      ->capture_default_str();
  cmd->add_option("-n,--problems", o->problems, "synthetic problems (4 queries each)")->capture_default_str();
  cmd->add_option("--first", o->first, "first synthetic held-out problem")->capture_default_str();
  cmd->add_option("--budgets", o->budgets, "test-time token budgets (budget forcing)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--k", o->passes, "sleep passes k to compare (c′ from k independent passes)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--passk", o->passk, "also a pass@k baseline with this many samples (0: off)")
      ->capture_default_str();
  cmd->add_option("--sleep-budget", o->sleep_budget, "tokens per sleep pass (0: automatic)")
      ->capture_default_str();
  cmd->add_option("--verbosity", o->verbosities,
                  "prompt verbosities 0-4 to compare, e.g. 0,2,4 (the paper's sequential scaling)")
      ->delimiter(',')
      ->check(CLI::Range(0, 4))
      ->capture_default_str();
  cmd->add_option("--combine", o->combine, "how k > 1 sleep candidates become c′: concat, merge or consensus")
      ->check(CLI::IsMember({"concat", "merge", "consensus"}))
      ->capture_default_str();
  cmd->add_option("-o,--out", o->out,
                  "output directory (items.jsonl, results.json, summary.md, plots, report.html)")
      ->capture_default_str();
  cmd->add_flag("--resume", o->resume, "continue from OUT/items.jsonl");
  cmd->add_flag("--no-predictability", o->no_predictability, "skip scoring log P(q | c)");
  cmd->add_flag("--no-anticipation", o->no_anticipation,
                "always ask, even when c′ anticipated the question with its answer");
  cmd->callback([&app, o] {
    app.run = [&app, o]() -> int {
      std::vector<eval::EvalItem> items;
      if (o->dataset == "synthetic") {
        items = eval::SyntheticDataset(o->problems, o->first);
      } else {
        auto loaded = eval::LoadDataset(o->dataset);
        if (!loaded.ok()) return Fail(loaded.status());
        items = std::move(loaded).value();
      }
      auto backend = app.backend();
      if (!backend.ok()) return Fail(backend.status());
      auto templates = app.templates();
      if (!templates.ok()) return Fail(templates.status());
      std::error_code ec;
      std::filesystem::create_directories(o->out, ec);
      if (ec) return Fail(Status::IoError("cannot create " + o->out + ": " + ec.message()));

      eval::RunOptions ro;
      ro.budgets = o->budgets;
      ro.sleep_passes = o->passes;
      ro.passk = o->passk;
      ro.sleep_budget = o->sleep_budget;
      ro.answer_reserve = app.opts.answer_reserve;
      ro.verbosities = o->verbosities;
      ro.combine = *ParseCombineMode(o->combine);
      ro.predictability = !o->no_predictability;
      ro.anticipation = !o->no_anticipation;
      ro.work_dir = (std::filesystem::path(o->out) / "work").string();
      ro.records_path = (std::filesystem::path(o->out) / "items.jsonl").string();
      ro.resume = o->resume;
      ro.cancel = &g_cancel;
      ProgressBar bar("eval", static_cast<double>(items.size()), "contexts");
      ro.on_progress = [&bar](int done, int) { bar.Update(done); };
      std::signal(SIGINT, OnInterrupt);
      auto records = eval::RunEval(*backend, *templates, items, ro);
      bar.Finish();
      std::signal(SIGINT, SIG_DFL);
      if (!records.ok()) return Fail(records.status());
      if (g_cancel)
        std::fprintf(stderr,
                     "interrupted: the report covers the contexts finished so far; --resume continues\n");

      eval::ReportOptions rep;
      rep.model = (*backend)->ModelDescription();
      rep.dataset = o->dataset == "synthetic" ? fmt::format("synthetic ({} held-out problems)", items.size())
                                              : o->dataset;
      rep.command = o->command;
      rep.test_token_weight = app.opts.test_token_weight;
      if (Status st = eval::WriteReport(*records, rep, o->out); !st.ok()) return Fail(st);
      std::printf("%s\n", eval::FindingsTable(eval::ComputeFindings(*records, rep)).c_str());
      std::printf("report: %s\n", (std::filesystem::path(o->out) / "report.html").string().c_str());
      return g_cancel ? 130 : 0;
    };
  });
}

}  // namespace sleeptime::cli
