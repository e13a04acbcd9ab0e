// Time to first token for a query on a long context: cold prefill vs a KV
// state restored from memory, from disk, or still resident in the slot.
// Ratios are taken within one run; the machine is noisy, absolute numbers less so.
//
//   ttft_bench [--context-tokens N] [--reps R] [--model PATH]... [--out FILE.json]
// Without --model it generates two random-weight models: the test-sized one and
// one of realistic shape (~260 M parameters, 32 k vocabulary when llama.cpp's
// llama-spm vocabulary is available).
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "sleeptime/llama_backend.h"
#include "sleeptime/random_model.h"

namespace fs = std::filesystem;
using namespace sleeptime;

namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// A long context in the language of the demo: many small facts.
std::string MakeContext(LlamaBackend& backend, int target_tokens) {
  const char* names[] = {"Ann", "Bob", "Cid", "Dee", "Eve", "Fay", "Gus", "Hal", "Ivy", "Jon"};
  const char* things[] = {"apples", "pears", "plums", "coins", "books", "cards"};
  std::string text;
  for (int i = 0;; ++i) {
    text += fmt::format("{} has {} {}. ", names[i % 10], (i * 37) % 90 + 3, things[(i / 10) % 6]);
    if (i % 8 == 7) {
      auto n = backend.Tokenize(text, true);
      if (n.ok() && static_cast<int>(n->size()) >= target_tokens) break;
    }
  }
  return text + "\n";
}

struct Row {
  std::string model;
  std::string description;
  int64_t prefix_tokens = 0;
  int64_t suffix_tokens = 0;
  int64_t state_bytes = 0;
  double save_ms = 0;
  double cold_ms = 0, memory_ms = 0, disk_ms = 0, resident_ms = 0;
};

Result<Row> Measure(const std::string& model_path, int context_tokens, int reps, const std::string& kv_dir) {
  LlamaBackendOptions o;
  o.model_path = model_path;
  o.n_ctx = context_tokens + 256;
  o.n_batch = 512;
  o.n_threads = static_cast<int>(std::thread::hardware_concurrency());
  o.kv_cache.dir = kv_dir;
  o.kv_cache.memory_cap_bytes = 4LL << 30;
  fs::remove_all(kv_dir);
  ST_ASSIGN_OR_RETURN(auto backend, LlamaBackend::Open(o));
  Prompt prompt{MakeContext(*backend, context_tokens), "Question: how many plums does Eve have?\nAnswer:"};
  Row row;
  row.model = fs::path(model_path).filename().string();
  row.description = backend->ModelDescription();
  row.prefix_tokens = static_cast<int64_t>(backend->Tokenize(prompt.prefix, true)->size());
  row.suffix_tokens = static_cast<int64_t>(backend->Tokenize(prompt.suffix, false)->size());
  // Warm-up: first decode allocates compute buffers.
  ST_RETURN_IF_ERROR(backend->NextTokenLogits(prompt, false).status());
  ST_ASSIGN_OR_RETURN(auto saved, backend->SavePrefix(prompt.prefix));
  row.state_bytes = saved.state_bytes;
  row.save_ms = saved.prefill_ms;

  std::vector<double> cold, memory, disk, resident;
  for (int r = 0; r < reps; ++r) {
    backend->EvictResidentPrefixes();
    ST_ASSIGN_OR_RETURN(auto c, backend->NextTokenLogits(prompt, false));
    cold.push_back(c.timings.ttft_ms);

    backend->EvictResidentPrefixes();
    ST_ASSIGN_OR_RETURN(auto m, backend->NextTokenLogits(prompt, true));
    if (m.prefix_source != PrefixSource::kMemory) return Status::Internal("expected a restore from memory");
    memory.push_back(m.timings.ttft_ms);

    ST_ASSIGN_OR_RETURN(auto res, backend->NextTokenLogits(prompt, true));
    if (res.prefix_source != PrefixSource::kResident) return Status::Internal("expected a resident prefix");
    resident.push_back(res.timings.ttft_ms);

    backend->EvictResidentPrefixes();
    backend->kv_cache().DropMemoryTier();
    ST_ASSIGN_OR_RETURN(auto d, backend->NextTokenLogits(prompt, true));
    if (d.prefix_source != PrefixSource::kDisk) return Status::Internal("expected a restore from disk");
    disk.push_back(d.timings.ttft_ms);
    fmt::print(
        stderr, "  {} rep {}/{}: cold {:.1f} ms, memory {:.1f} ms, disk {:.1f} ms, resident {:.1f} ms\n",
        row.model, r + 1, reps, c.timings.ttft_ms, m.timings.ttft_ms, d.timings.ttft_ms, res.timings.ttft_ms);
  }
  row.cold_ms = Median(cold);
  row.memory_ms = Median(memory);
  row.disk_ms = Median(disk);
  row.resident_ms = Median(resident);
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  int context_tokens = 2000;
  int reps = 5;
  std::vector<std::string> models;
  std::string out_dir = "bench/out";
  std::string out_json;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--context-tokens")
      context_tokens = std::stoi(next());
    else if (a == "--reps")
      reps = std::stoi(next());
    else if (a == "--model")
      models.push_back(next());
    else if (a == "--out-dir")
      out_dir = next();
    else if (a == "--out")
      out_json = next();
    else {
      fmt::print(stderr,
                 "usage: ttft_bench [--context-tokens N] [--reps R] [--model PATH]... [--out-dir DIR] [--out "
                 "FILE]\n");
      return 2;
    }
  }
  fs::create_directories(out_dir);
  if (models.empty()) {
    RandomModelSpec tiny;  // the test model's shape
    tiny.n_embd = 64;
    tiny.n_layer = 2;
    tiny.n_head = 4;
    tiny.n_ff = 128;
    tiny.seed = 7;
    RandomModelSpec big;  // realistic shape: ~TinyLlama width, 16 layers
    big.n_embd = 1024;
    big.n_layer = 16;
    big.n_head = 16;
    big.n_head_kv = 4;
    big.n_ff = 2816;
    big.f16 = true;
    big.init_scale = 0.5f;
    big.name = "sleeptime-random-260m";
    const char* spm = "third_party/llama.cpp/models/ggml-vocab-llama-spm.gguf";
    if (fs::exists(spm)) big.vocab_from = spm;
    for (auto& [name, spec] : {std::pair{"bench-tiny.gguf", tiny}, std::pair{"bench-260m.gguf", big}}) {
      std::string path = out_dir + "/" + name;
      if (!fs::exists(path)) {
        fmt::print(stderr, "writing {} ...\n", path);
        Status st = WriteRandomLlamaModel(spec, path);
        if (!st.ok()) {
          fmt::print(stderr, "error: {}\n", st.message());
          return 1;
        }
      }
      models.push_back(path);
    }
  }
  nlohmann::json results = nlohmann::json::array();
  fmt::print(
      "| model | params | prefix tok | state | cold prefill | restore (memory) | restore (disk) | resident | "
      "cold / memory | cold / disk |\n|---|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& m : models) {
    auto row = Measure(m, context_tokens, reps, out_dir + "/kv");
    if (!row.ok()) {
      fmt::print(stderr, "error: {}: {}\n", m, row.status().message());
      return 1;
    }
    const Row& r = *row;
    fmt::print(
        "| {} | {} | {} | {:.1f} MiB ({:.1f} KiB/token) | {:.1f} ms | {:.2f} ms | {:.2f} ms | {:.2f} ms | "
        "{:.0f}x | {:.0f}x |\n",
        r.model, r.description, r.prefix_tokens, static_cast<double>(r.state_bytes) / (1 << 20),
        static_cast<double>(r.state_bytes) / 1024.0 / static_cast<double>(r.prefix_tokens), r.cold_ms,
        r.memory_ms, r.disk_ms, r.resident_ms, r.cold_ms / r.memory_ms, r.cold_ms / r.disk_ms);
    results.push_back({{"model", r.model},
                       {"description", r.description},
                       {"prefix_tokens", r.prefix_tokens},
                       {"suffix_tokens", r.suffix_tokens},
                       {"state_bytes", r.state_bytes},
                       {"cold_ms", r.cold_ms},
                       {"memory_ms", r.memory_ms},
                       {"disk_ms", r.disk_ms},
                       {"resident_ms", r.resident_ms},
                       {"reps", reps}});
  }
  if (!out_json.empty()) std::ofstream(out_json) << results.dump(2) << "\n";
  return 0;
}
