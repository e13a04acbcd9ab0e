// sleeptime train-demo: trains the demo model (sleeptime/trainer.h).
#include <fmt/format.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "app.h"
#include "progress.h"
#include "sleeptime/trainer.h"

namespace sleeptime::cli {
namespace {

volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) {
  g_stop = 1;
}

struct TrainOptions {
  TrainerConfig config;
  std::string out = "models/sleeptime-demo.gguf";
  std::string checkpoint_dir;
  std::string init_from;  // a checkpoint folder whose weights a fresh run starts from
  int64_t tokens = 0;
  double minutes = 0;
  double checkpoint_minutes = 5;
  double eval_minutes = 10;
  double snapshot_minutes = 15;
  int eval_problems = 50;
  bool f16 = false;
  int log_steps = 0;
};

using Clock = std::chrono::steady_clock;
double Minutes(Clock::duration d) {
  return std::chrono::duration<double>(d).count() / 60.0;
}

std::string UtcNow() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

class JsonLog {
 public:
  explicit JsonLog(const std::string& path) : f_(std::fopen(path.c_str(), "a")) {}
  ~JsonLog() {
    if (f_) std::fclose(f_);
  }
  void Write(nlohmann::json j) {
    j["time"] = UtcNow();
    const std::string line = j.dump() + "\n";
    if (f_) {
      std::fputs(line.c_str(), f_);
      std::fflush(f_);
    }
  }

 private:
  FILE* f_;
};

nlohmann::json EvalJson(const HeldOutEvalReport& r) {
  nlohmann::json by_steps = nlohmann::json::object();
  for (size_t s = 0; s < r.reasoned_total.size(); ++s) {
    if (r.reasoned_total[s] == 0) continue;
    by_steps[std::to_string(s)] = {{"n", r.reasoned_total[s]},
                                   {"acc", double(r.reasoned_correct[s]) / r.reasoned_total[s]}};
  }
  const int n = r.reasoned_all_total();
  return {{"reasoned_acc", n ? double(r.reasoned_all_correct()) / n : 0.0},
          {"reasoned_n", n},
          {"reasoned_by_steps", by_steps},
          {"direct_acc", r.direct_total ? double(r.direct_correct) / r.direct_total : 0.0},
          {"direct_n", r.direct_total},
          {"lookup_acc", r.lookups.written ? double(r.lookups.correct) / r.lookups.written : 0.0},
          {"lookups_n", r.lookups.written},
          {"computation_acc", r.computations.all_written()
                                  ? double(r.computations.all_correct()) / r.computations.all_written()
                                  : 0.0},
          {"computations_n", r.computations.all_written()},
          {"generated_tokens", r.generated_tokens},
          {"seconds", r.seconds}};
}

std::string EvalText(const HeldOutEvalReport& r) {
  std::string s = fmt::format("reasoned {}/{}", r.reasoned_all_correct(), r.reasoned_all_total());
  for (size_t k = 0; k < r.reasoned_total.size(); ++k) {
    if (r.reasoned_total[k] == 0) continue;
    s += fmt::format(" [{} steps {:.0f}%]", k, 100.0 * r.reasoned_correct[k] / r.reasoned_total[k]);
  }
  s += fmt::format(" direct {}/{} lookups {}/{} computations {}/{} ({:.1f}s)", r.direct_correct,
                   r.direct_total, r.lookups.correct, r.lookups.written, r.computations.all_correct(),
                   r.computations.all_written(), r.seconds);
  return s;
}

int RunTrain(const TrainOptions& o) {
  std::string dir = o.checkpoint_dir;
  if (dir.empty()) dir = fmt::format("/tmp/sleeptime-train/demo-seed{}", o.config.seed);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Fail(Status::IoError("cannot create '" + dir + "': " + ec.message()));
  JsonLog log(dir + "/log.jsonl");

  std::unique_ptr<Trainer> trainer;
  if (Trainer::HasCheckpoint(dir)) {
    auto r = Trainer::Resume(dir, o.config.threads, o.config.matmul_grads);
    if (!r.ok()) return Fail(r.status());
    trainer = std::move(r).value();
    fmt::print("resumed from {} at step {}/{} ({} tokens seen)\n", dir, trainer->step(),
               trainer->config().total_steps, trainer->tokens_seen());
  } else {
    TrainerConfig config = o.config;
    const int64_t step_tokens = int64_t{config.batch_seqs} * config.n_ctx;
    if (o.tokens > 0) {
      config.total_steps = std::max<int64_t>(1, (o.tokens + step_tokens - 1) / step_tokens);
    } else if (o.minutes > 0) {
      // Time a few steps of a throwaway trainer, then fix the schedule.
      auto probe = Trainer::Create(config);
      if (!probe.ok()) return Fail(probe.status());
      const auto t0 = Clock::now();
      for (int i = 0; i < 4; ++i) {
        auto s = (*probe)->Step();
        if (!s.ok()) return Fail(s.status());
      }
      const double per_step = std::chrono::duration<double>(Clock::now() - t0).count() / 4;
      config.total_steps = std::max<int64_t>(1, static_cast<int64_t>(o.minutes * 60 / per_step));
      fmt::print("{:.2f} s/step: {} steps fit in {} minutes\n", per_step, config.total_steps, o.minutes);
    } else {
      return Fail(Status::InvalidArgument("give --tokens or --minutes"));
    }
    auto r = Trainer::Create(config);
    if (!r.ok()) return Fail(r.status());
    trainer = std::move(r).value();
    if (!o.init_from.empty()) {
      auto source = Trainer::Resume(o.init_from, config.threads, config.matmul_grads);
      if (!source.ok()) return Fail(source.status());
      Status copied = trainer->CopyWeightsFrom(**source);
      if (!copied.ok()) return Fail(copied);
      fmt::print("weights from {} (step {})\n", o.init_from, (*source)->step());
      log.Write({{"event", "init_from"}, {"dir", o.init_from}, {"source_step", (*source)->step()}});
    }
  }
  const TrainerConfig& c = trainer->config();
  const nlohmann::json shape = {{"n_embd", c.n_embd},
                                {"n_layer", c.n_layer},
                                {"n_head", c.n_head},
                                {"n_ff", c.n_ff},
                                {"n_ctx", c.n_ctx},
                                {"batch_seqs", c.batch_seqs},
                                {"pack_window", c.pack_window},
                                {"total_steps", c.total_steps},
                                {"lr", c.lr},
                                {"seed", c.seed},
                                {"threads", c.threads},
                                {"sleep_rate", c.mix.sleep_rate},
                                {"notes_rate", c.mix.notes_rate},
                                {"lookup_rate", c.mix.lookup_rate},
                                {"params", trainer->parameter_count()}};
  fmt::print("model: {} parameters, n_embd {} n_layer {} n_head {} n_ff {} n_ctx {}; batch {}x{}; {} steps\n",
             trainer->parameter_count(), c.n_embd, c.n_layer, c.n_head, c.n_ff, c.n_ctx, c.batch_seqs,
             c.n_ctx, c.total_steps);
  log.Write({{"event", "start"}, {"step", trainer->step()}, {"config", shape}});
  std::fflush(stdout);

  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);

  auto evaluate = [&](const std::string& path, const char* what) {
    HeldOutEvalOptions eo;
    eo.problems = o.eval_problems;
    eo.threads = 1;
    eo.generator = c.generator;
    auto r = EvaluateHeldOut(path, eo);
    if (!r.ok()) {
      fmt::print("eval failed: {}\n", r.status().message());
      return;
    }
    fmt::print("[step {}] heldout ({}): {}\n", trainer->step(), what, EvalText(*r));
    nlohmann::json j = EvalJson(*r);
    j["event"] = "eval";
    j["what"] = what;
    j["step"] = trainer->step();
    j["tokens_seen"] = trainer->tokens_seen();
    log.Write(j);
    std::fflush(stdout);
  };

  ProgressBar bar("train", static_cast<double>(c.total_steps), "steps");
  const auto start = Clock::now();
  auto last_ckpt = start, last_eval = start, last_snapshot = start, last_line = start;
  const int64_t start_step = trainer->step();
  const int64_t start_tokens = trainer->tokens_seen();
  double loss_sum = 0;
  int loss_n = 0;
  const std::string snapshot = dir + "/snapshot.gguf";
  while (trainer->step() < c.total_steps && !g_stop) {
    auto s = trainer->Step();
    if (!s.ok()) return Fail(s.status());
    loss_sum += s->loss;
    ++loss_n;
    bar.Update(static_cast<double>(trainer->step()));
    const auto now = Clock::now();
    if ((o.log_steps > 0 ? trainer->step() % o.log_steps == 0 : Minutes(now - last_line) >= 0.5) ||
        trainer->step() == c.total_steps) {
      const double elapsed = std::chrono::duration<double>(now - start).count();
      const double tps = (trainer->tokens_seen() - start_tokens) / std::max(elapsed, 1e-9);
      const double eta_min = (c.total_steps - trainer->step()) * elapsed /
                             std::max<int64_t>(1, trainer->step() - start_step) / 60.0;
      fmt::print("[step {}/{}] loss {:.4f} lr {:.2e} tokens {} ({:.0f} tok/s) eta {:.1f} min\n",
                 trainer->step(), c.total_steps, loss_sum / loss_n, s->lr, trainer->tokens_seen(), tps,
                 eta_min);
      log.Write({{"event", "loss"},
                 {"step", trainer->step()},
                 {"loss", loss_sum / loss_n},
                 {"lr", s->lr},
                 {"tokens_seen", trainer->tokens_seen()},
                 {"loss_tokens_seen", trainer->loss_tokens_seen()},
                 {"tokens_per_s", tps}});
      std::fflush(stdout);
      loss_sum = 0;
      loss_n = 0;
      last_line = now;
    }
    if (Minutes(now - last_ckpt) >= o.checkpoint_minutes) {
      Status st = trainer->SaveCheckpoint(dir);
      if (!st.ok()) return Fail(st);
      log.Write({{"event", "checkpoint"}, {"step", trainer->step()}});
      last_ckpt = now;
    }
    const bool want_eval = Minutes(now - last_eval) >= o.eval_minutes;
    const bool want_snapshot = Minutes(now - last_snapshot) >= o.snapshot_minutes;
    if (want_eval || want_snapshot) {
      Status st = trainer->ExportGguf(snapshot, o.f16);
      if (!st.ok()) return Fail(st);
      if (want_snapshot) {
        log.Write({{"event", "snapshot"}, {"step", trainer->step()}, {"path", snapshot}});
        last_snapshot = now;
      }
      if (want_eval) {
        evaluate(snapshot, "snapshot");
        last_eval = Clock::now();
      }
    }
  }
  bar.Finish();
  Status st = trainer->SaveCheckpoint(dir);
  if (!st.ok()) return Fail(st);
  if (g_stop) {
    fmt::print("interrupted at step {}: checkpoint in {}; run the same command to resume\n", trainer->step(),
               dir);
    log.Write({{"event", "interrupted"}, {"step", trainer->step()}});
    return 130;
  }
  if (!o.out.empty()) {
    const auto parent = std::filesystem::path(o.out).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    st = trainer->ExportGguf(o.out, o.f16);
    if (!st.ok()) return Fail(st);
    fmt::print("wrote {}\n", o.out);
    log.Write({{"event", "export"}, {"step", trainer->step()}, {"path", o.out}});
    evaluate(o.out, "final");
  }
  return 0;
}

}  // namespace

void AddTrainCommands(CLI::App& cli, App& app) {
  auto* cmd =
      cli.add_subcommand("train-demo", "train the demo model on the reasoning language (CPU, resumable)");
  auto o = std::make_shared<TrainOptions>();
  auto& c = o->config;
  cmd->add_option("--seed", c.seed, "weights and data seed")->capture_default_str();
  cmd->add_option("-o,--out", o->out, "exported GGUF")->capture_default_str();
  cmd->add_option("--checkpoint-dir", o->checkpoint_dir,
                  "checkpoints, snapshot.gguf and log.jsonl (default /tmp/sleeptime-train/demo-seed<seed>); "
                  "resumes when it holds a checkpoint");
  cmd->add_option(
      "--init-from", o->init_from,
      "start a new run from the weights of the checkpoint in this folder (same architecture; fresh "
      "optimizer, schedule and data): fine-tuning");
  cmd->add_option("--tokens", o->tokens, "token budget (batch capacity: steps = tokens / (batch * n_ctx))");
  cmd->add_option("--minutes", o->minutes, "time budget (steps fixed from the measured speed)");
  cmd->add_option("--threads", c.threads, "CPU threads")->capture_default_str();
  cmd->add_option("--n-embd", c.n_embd, "embedding width")->capture_default_str();
  cmd->add_option("--n-layer", c.n_layer, "layers")->capture_default_str();
  cmd->add_option("--n-head", c.n_head, "attention heads")->capture_default_str();
  cmd->add_option("--n-ff", c.n_ff, "feed-forward width")->capture_default_str();
  cmd->add_option("--n-ctx", c.n_ctx, "training sequence length")->capture_default_str();
  cmd->add_option("--batch", c.batch_seqs, "sequences per step")->capture_default_str();
  cmd->add_flag("--name-tokens", c.name_tokens,
                "vocabulary with one token per definition start \"A=\"..\"Z=\" (286 tokens, not 260)");
  cmd->add_flag("--op-tokens", c.op_tokens,
                "with --name-tokens, one token per relation start \"A+\"..\"Z*\" too (364 tokens)");
  cmd->add_flag("--factor-op-tokens", c.factor_op_tokens,
                "with --op-tokens, each op token's embedding and output vector is its letter's plus its "
                "operator's plus a learned rest");
  cmd->add_option("--queries-per-example", c.mix.queries_per_example,
                  "queries answered after one context in a training example")
      ->capture_default_str();
  cmd->add_option("--curriculum-problems", c.curriculum_problems,
                  "first problems drawn small (--curriculum-facts, --curriculum-depth)")
      ->capture_default_str();
  cmd->add_option("--curriculum-facts", c.curriculum_max_facts, "facts per problem in the curriculum")
      ->capture_default_str();
  cmd->add_option("--curriculum-depth", c.curriculum_max_depth, "dependency depth in the curriculum")
      ->capture_default_str();
  cmd->add_option("--sleep-rate", c.mix.sleep_rate,
                  "chance that a problem also yields a sleep example (context -> notes)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--notes-rate", c.mix.notes_rate,
                  "answer examples whose prompt holds notes (the rest reason from the raw context)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--lookup-rate", c.mix.lookup_rate,
                  "chance that a problem also yields a lookup drill (context, then \"C=\" -> \"B*2.\")")
      ->capture_default_str();
  cmd->add_option("--curriculum-lookup-rate", c.curriculum_lookup_rate,
                  "lookup drills in the curriculum (negative: --lookup-rate)")
      ->capture_default_str();
  cmd->add_option("--arithmetic-rate", c.mix.arithmetic_rate,
                  "chance that a problem also yields an arithmetic drill (\"CALC: 168+7=\" -> \"175.\")")
      ->capture_default_str();
  cmd->add_option("--hypothetical-drill-rate", c.mix.hypothetical_drill_rate,
                  "chance that a problem also yields a hypothetical drill (notes, then only hypotheticals "
                  "answered from them, the longest paths with a *k first)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_flag("--keep-notes", c.mix.keep_notes,
                "an answer example too long for the window drops trailing queries before its notes, so "
                "large problems are answered from notes too (default: the notes go first)");
  cmd->add_option("--arithmetic-items", c.mix.arithmetic_items, "computations per arithmetic drill")
      ->capture_default_str();
  cmd->add_flag("--value-lines", c.mix.style.value_lines,
                "reasoning and notes restate each computed value (\" C=B*2=17*2=34. C=34.\"), so that a "
                "later step reads it right after the name");
  cmd->add_flag("--reversed-results", c.mix.style.reversed_results,
                "each computed result is written digits last-first, then forward (\"12+5=~71=17.\"): the "
                "order in which carries flow");
  cmd->add_flag("--notes-every-fact", c.mix.style.notes_every_fact,
                "notes give every fact an entry in context order (a base or known quantity its value), so "
                "the next entry always follows the last one's fact");
  cmd->add_flag("--hypothetical-relations", c.mix.style.hypothetical_relations,
                "hypothetical steps write the relation as every other step, then a prime "
                "(\"R=D+6'=11+6=17.\" for \"R'=D'+6=11+6=17.\")");
  cmd->add_flag("--short-from-notes", c.mix.style.short_from_notes,
                "with notes, a sum or hypothetical is one step from the notes' values, result reversed "
                "(\"G+T:26+15~14\", \"R=32-30~2\"): short enough for a 1/5 test budget");
  cmd->add_flag("--short-named-operands", c.mix.style.short_named_operands,
                "with --short-from-notes, a sum or difference names each operand with its name token "
                "(\"G=26+T=15~14\")");
  cmd->add_flag("--short-factors", c.mix.style.short_factors,
                "with --short-from-notes, a hypothetical writes the factor on the path, then the change "
                "(\"R=32-2:30~2\" for \"R=32-30~2\")");
  cmd->add_flag("--short-paths", c.mix.style.short_paths,
                "with --short-from-notes, a hypothetical writes the path up to the changed quantity, one op "
                "token per relation and each *k with its k, then the change (\"R=32-C*2T+:30~2\")");
  cmd->add_flag("--compact-paths", c.mix.style.compact_paths,
                "with --short-paths, the path leaves out a last relation that adds or subtracts and the sign "
                "separates it from the change (\"R=122V+T*2+6~821\")");
  cmd->add_flag("--notes-factors", c.mix.style.notes_factors,
                "with --short-from-notes, notes state each derived quantity's factor to every ancestor "
                "(\"T:A*1D*3R*6.\") and a hypothetical reads it there (\"T=239R*6+42~182\")");
  cmd->add_flag("--factor-block", c.mix.style.factor_block,
                "with --notes-factors, the factor lines come together after the values, in dependency order");
  cmd->add_flag("--notes-sweeps", c.mix.style.notes_sweeps,
                "notes sweep the facts in context order until all are known: each fact's value, its "
                "computation once its source is known, else a wait (\"D=L*2?.\"); \" |\" starts a sweep");
  cmd->add_flag("--reversed-changes", c.mix.style.reversed_changes,
                "with --short-from-notes, a hypothetical writes its change digits last-first "
                "(\"T=239R*6+24~182\" for a change of 42)");
  cmd->add_flag(
      "--sweep-lookups", c.mix.style.sweep_lookups,
      "with --notes-sweeps, a relation's entry writes the relation, then its source's latest "
      "statement (a value, or its relation: a wait), then the computation (\"D=L*2. L=13. D=L*2=...\")");
  cmd->add_option("--pack-window", c.pack_window,
                  "examples waiting to be packed; each row takes the longest that fits (1: stream order)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--lr", c.lr, "peak learning rate")->capture_default_str();
  cmd->add_option("--warmup", c.warmup_steps, "warmup steps")->capture_default_str();
  cmd->add_option("--checkpoint-minutes", o->checkpoint_minutes, "minutes between checkpoints")
      ->capture_default_str();
  cmd->add_option("--eval-minutes", o->eval_minutes, "minutes between held-out evaluations")
      ->capture_default_str();
  cmd->add_option("--snapshot-minutes", o->snapshot_minutes, "minutes between snapshot.gguf exports")
      ->capture_default_str();
  cmd->add_option("--eval-problems", o->eval_problems, "held-out problems per evaluation")
      ->capture_default_str();
  cmd->add_flag("--f16", o->f16, "export matrices as F16");
  cmd->add_option("--log-steps", o->log_steps, "log the loss every N steps (default: every 30 s)");
  cmd->add_flag("!--autodiff-outprod", c.matmul_grads,
                "keep ggml autodiff's OUT_PROD for matrix-product gradients (slower; for checking)");
  cmd->callback([&app, o] { app.run = [o]() -> int { return RunTrain(*o); }; });
}

}  // namespace sleeptime::cli
