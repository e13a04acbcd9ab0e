// What writing k sleep candidates at the same time buys: the wall time of
// one Sleep with k candidates written one after another (--parallel 1)
// against all k at once on k slots, same seeds, same model, same process.
// The two c′ are checked to be identical (candidate i samples with seed
// i + 1 wherever it runs). The ratio depends on the cores: each slot decodes
// on --threads threads.
//
//   sleep_parallel_bench [--model PATH] [--k K] [--threads N] [--budget B] [--reps R] [--out FILE.json]
// Without --model it writes a random-weight model (n_embd 512, 8 layers).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench_model.h"
#include "sleeptime/engine.h"
#include "sleeptime/llama_backend.h"
#include "sleeptime/prompts.h"
#include "sleeptime/random_model.h"

namespace fs = std::filesystem;
using namespace sleeptime;
using Clock = std::chrono::steady_clock;

namespace {

int Fail(const Status& st) {
  fmt::print(stderr, "error: {}\n", st.ToString());
  return 1;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, out;
  int k = 2, threads = 1, budget = 96, reps = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--model") model = argv[i + 1];
    if (a == "--k") k = std::atoi(argv[i + 1]);
    if (a == "--threads") threads = std::atoi(argv[i + 1]);
    if (a == "--budget") budget = std::atoi(argv[i + 1]);
    if (a == "--reps") reps = std::atoi(argv[i + 1]);
    if (a == "--out") out = argv[i + 1];
  }
  if (k < 2 || threads < 1 || budget < 1 || reps < 1) return Fail(Status::InvalidArgument("bad arguments"));
  const std::string dir = bench::ScratchDir("sleeptime-parallel-bench");
  auto resolved = bench::ModelOrBenchModel(model, dir, 1024);
  if (!resolved.ok()) return Fail(resolved.status());
  model = *resolved;
  const LlamaBackendOptions bo = bench::BenchBackendOptions(model, 1024, threads, k);
  auto backend = LlamaBackend::Open(bo);
  if (!backend.ok()) return Fail(backend.status());
  auto store = Store::Open(dir + "/db");
  if (!store.ok()) return Fail(store.status());
  Engine engine(backend->get(), store->get(), DefaultPromptTemplates());
  if (auto c = (*store)->PutContext(
          "doc", "Ann has 12 apples. Bob has 5 more than Ann. Cid has twice as many as Bob.");
      !c.ok())
    return Fail(c.status());

  // Same seeds, so both settings generate the same tokens (checked below).
  std::vector<double> sequential_ms, parallel_ms;
  std::string sequential_text, parallel_text;
  int64_t tokens = 0;
  for (int rep = 0; rep < reps; ++rep) {
    for (int parallel : {1, k}) {
      SleepOptions so;
      so.budget = budget;
      so.passes = k;
      so.parallel = parallel;
      const auto t0 = Clock::now();
      auto r = engine.Sleep("doc", so);
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      if (!r.ok()) return Fail(r.status());
      (parallel == 1 ? sequential_ms : parallel_ms).push_back(ms);
      (parallel == 1 ? sequential_text : parallel_text) = r->learned.text;
      tokens = r->completion_tokens;
    }
  }
  const double seq = Median(sequential_ms), par = Median(parallel_ms);
  const bool same = sequential_text == parallel_text;
  fmt::print(
      "k = {} candidates of up to {} tokens ({} generated), {} thread(s) per slot, {} cores, median of {}\n",
      k, budget, tokens, threads, std::thread::hardware_concurrency(), reps);
  fmt::print("  one at a time: {:8.0f} ms\n  all at once:   {:8.0f} ms   ({:.2f}x faster)\n", seq, par,
             par > 0 ? seq / par : 0.0);
  fmt::print("  same c': {}\n", same ? "yes" : "NO");
  if (!out.empty()) {
    std::ofstream f(out);
    f << nlohmann::json{{"k", k},
                        {"budget", budget},
                        {"completion_tokens", tokens},
                        {"threads_per_slot", threads},
                        {"cores", std::thread::hardware_concurrency()},
                        {"sequential_ms", sequential_ms},
                        {"parallel_ms", parallel_ms},
                        {"speedup", par > 0 ? seq / par : 0.0},
                        {"same_learned_context", same}}
             .dump(2);
  }
  fs::remove_all(dir);
  return same ? 0 : 1;
}
