// sleeptime eval-demo: the demo model's acceptance numbers (models/README.md).
#include <fmt/format.h>

#include <filesystem>
#include <fstream>

#include "app.h"
#include "progress.h"
#include "sleeptime/demo_eval.h"

namespace sleeptime::cli {

void AddEvalDemoCommand(CLI::App& cli, App& app) {
  auto* cmd = cli.add_subcommand("eval-demo",
                                 "score a model on held-out problems of the reasoning language in every mode "
                                 "(reasoned, direct, sleep notes, answers from notes)");
  auto opts = std::make_shared<DemoEvalOptions>();
  auto json_out = std::make_shared<std::string>();
  cmd->add_option("-n,--problems", opts->problems, "held-out problems (4 queries each)")
      ->capture_default_str();
  cmd->add_option("--first", opts->first_problem, "index of the first held-out problem")
      ->capture_default_str();
  cmd->add_option("--budget-fraction", opts->notes_budget_fraction,
                  "test budget from notes as a fraction of the reasoned mean")
      ->capture_default_str();
  cmd->add_option("--sleep-passes", opts->sleep_passes,
                  "notes candidates per context (sleep-time scaling): the greedy notes and k - 1 samples; "
                  "the one the others agree with most is kept")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  cmd->add_option("--sleep-temperature", opts->sleep_temperature,
                  "sampling temperature of the k - 1 sampled candidates")
      ->check(CLI::Range(0.01, 4.0))
      ->capture_default_str();
  cmd->add_option("--json", *json_out, "also write the report as JSON to this file");
  cmd->add_option("--samples", opts->samples_path,
                  "write every generation (mode, question, text, gold, parsed) to this JSONL file");
  cmd->callback([&app, opts, json_out] {
    app.run = [&app, opts, json_out]() -> int {
      auto backend = app.backend();
      if (!backend.ok()) return Fail(backend.status());
      DemoEvalOptions o = *opts;
      o.answer_reserve = app.opts.answer_reserve;
      std::shared_ptr<ProgressBar> bar;
      std::string phase;
      o.on_progress = [&](const std::string& p, int done, int total) {
        if (p != phase) {
          if (bar) bar->Finish();
          phase = p;
          bar = std::make_shared<ProgressBar>(p, total, "problems");
        }
        bar->Update(done);
      };
      auto report =
          RunDemoEval(*backend, (std::filesystem::path(app.opts.data_dir) / "eval-demo").string(), o);
      if (bar) bar->Finish();
      if (!report.ok()) return Fail(report.status());
      fmt::print("{}", report->ToMarkdown());
      if (!json_out->empty()) {
        std::ofstream out(*json_out);
        out << report->ToJson() << "\n";
        if (!out) return Fail(Status::IoError("cannot write " + *json_out));
      }
      return 0;
    };
  });
}

}  // namespace sleeptime::cli
