// What a live request pays while sleep work runs: the latency and time to
// first token of a query answered (a) on an idle server, (b) while a sleep
// job runs under the SleepScheduler, which yields between decode steps, and
// (c) while the same sleep work runs without yielding (the ablation).
// Ratios are taken within one run; absolute numbers depend on the machine.
//
//   serve_latency_bench [--model PATH] [--threads N] [--reps R] [--batch N] [--out FILE.json]
// Without --model it writes a random-weight model (n_embd 512, 8 layers) so
// that a decode step costs what a small real model's does.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench_model.h"
#include "sleeptime/engine.h"
#include "sleeptime/llama_backend.h"
#include "sleeptime/prompts.h"
#include "sleeptime/random_model.h"
#include "sleeptime/sleep_jobs.h"
#include "sleeptime/sleep_scheduler.h"

namespace fs = std::filesystem;
using namespace sleeptime;
using Clock = std::chrono::steady_clock;

namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct Sample {
  std::vector<double> latency_ms, ttft_ms;
};

int Fail(const Status& st) {
  fmt::print(stderr, "error: {}\n", st.ToString());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, out;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int reps = 8;
  int n_batch = 512;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--model") model = argv[i + 1];
    if (a == "--threads") threads = std::atoi(argv[i + 1]);
    if (a == "--reps") reps = std::atoi(argv[i + 1]);
    if (a == "--out") out = argv[i + 1];
    if (a == "--batch") n_batch = std::atoi(argv[i + 1]);
  }
  const std::string dir = bench::ScratchDir("sleeptime-serve-bench");
  auto resolved = bench::ModelOrBenchModel(model, dir, 2048);
  if (!resolved.ok()) return Fail(resolved.status());
  model = *resolved;
  LlamaBackendOptions bo = bench::BenchBackendOptions(model, 2048, threads, /*slots=*/3);
  // A live request waits at most one batch of a sleep job's prefill.
  bo.n_batch = n_batch;
  auto backend = LlamaBackend::Open(bo);
  if (!backend.ok()) return Fail(backend.status());
  auto store = Store::Open(dir + "/db");
  auto queue = SleepJobQueue::Open(dir + "/db");
  if (!store.ok() || !queue.ok()) return Fail(Status::IoError("cannot open the store"));
  Engine engine(backend->get(), store->get(), DefaultPromptTemplates());
  std::string doc;
  for (int i = 0; i < 40; ++i) doc += fmt::format("Item {} costs {} coins. ", i, (i * 37) % 90 + 3);
  if (auto c = (*store)->PutContext("live", doc); !c.ok()) return Fail(c.status());
  if (auto c = (*store)->PutContext("background", doc + " More notes."); !c.ok()) return Fail(c.status());

  auto ask = [&](Sample* s) -> Status {
    AskOptions ao;
    ao.budget = 16;
    ao.use_learned = false;
    const auto t0 = Clock::now();
    ST_ASSIGN_OR_RETURN(AskResult a, engine.Ask("live", "What does item 7 cost?", ao));
    s->latency_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    s->ttft_ms.push_back(a.ttft_ms);
    return Status::Ok();
  };
  Sample idle, yielding, contending;
  // Warm-up: the live prefix is resident afterwards in every condition.
  Sample warm;
  if (Status st = ask(&warm); !st.ok()) return Fail(st);

  for (int r = 0; r < reps; ++r)
    if (Status st = ask(&idle); !st.ok()) return Fail(st);

  // (b) A scheduler's sleep job, preempted by each live request.
  {
    SchedulerOptions so;
    so.idle_seconds = 0;
    so.sleep_budget = 0;  // automatic: what fits the window, at most 512 tokens
    so.max_sleep_tokens = 1 << 30;
    so.sleep_when_idle = false;
    SleepScheduler sched(&engine, store->get(), queue->get(), so);
    if (Status st = sched.Start(); !st.ok()) return Fail(st);
    for (int r = 0; r < reps; ++r) {
      if (!sched.sleeping()) {
        auto job = sched.Trigger("background", "manual");
        if (!job.ok()) return Fail(job.status());
        for (int i = 0; i < 2000 && !sched.sleeping(); ++i)
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the job is mid-decode
      SleepScheduler::LiveRequest live(&sched);
      if (Status st = ask(&yielding); !st.ok()) return Fail(st);
    }
    sched.Stop();
  }
  // (c) The same sleep work with nothing yielding.
  {
    std::atomic<bool> stop{false};
    std::thread sleeper([&] {
      while (!stop) {
        SleepOptions so;
        so.budget = 0;
        so.should_continue = [&] { return !stop.load(); };
        (void)engine.Sleep("background", so);
      }
    });
    for (int r = 0; r < reps; ++r) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (Status st = ask(&contending); !st.ok()) {
        stop = true;
        sleeper.join();
        return Fail(st);
      }
    }
    stop = true;
    sleeper.join();
  }

  const double li = Median(idle.latency_ms), ly = Median(yielding.latency_ms),
               lc = Median(contending.latency_ms);
  const double ti = Median(idle.ttft_ms), ty = Median(yielding.ttft_ms), tc = Median(contending.ttft_ms);
  fmt::print("model {} | threads {} | batch {} | {} reps, medians\n", (*backend)->ModelDescription(), threads,
             n_batch, reps);
  fmt::print("| live request | latency ms | TTFT ms | latency vs idle |\n|---|---|---|---|\n");
  fmt::print("| idle server | {:.1f} | {:.1f} | 1.00x |\n", li, ti);
  fmt::print("| sleep job running, yields (scheduler) | {:.1f} | {:.1f} | {:.2f}x |\n", ly, ty, ly / li);
  fmt::print("| sleep work running, no yielding | {:.1f} | {:.1f} | {:.2f}x |\n", lc, tc, lc / li);
  if (!out.empty()) {
    nlohmann::json j = {{"model", (*backend)->ModelDescription()},
                        {"threads", threads},
                        {"reps", reps},
                        {"idle", {{"latency_ms", li}, {"ttft_ms", ti}}},
                        {"yielding", {{"latency_ms", ly}, {"ttft_ms", ty}}},
                        {"no_yield", {{"latency_ms", lc}, {"ttft_ms", tc}}}};
    std::ofstream(out) << j.dump(2) << "\n";
  }
  backend->reset();
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
