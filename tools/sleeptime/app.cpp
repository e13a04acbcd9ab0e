#include "app.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "progress.h"
#include "sleeptime/openai_backend.h"

namespace fs = std::filesystem;

namespace sleeptime::cli {

int Fail(const Status& status) {
  std::fprintf(stderr, "error: %s\n", status.message().c_str());
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
      return 2;
    case StatusCode::kNotFound:
      return 3;
    default:
      return 1;
  }
}

Result<std::string> ReadInput(const std::string& path) {
  std::ostringstream ss;
  if (path == "-") {
    ss << std::cin.rdbuf();
    return ss.str();
  }
  std::error_code ec;
  if (!fs::exists(path, ec)) return Status::NotFound("no such file: " + path);
  if (fs::is_directory(path, ec)) return Status::InvalidArgument(path + " is a directory, not a text file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError("cannot read " + path);
  ss << in.rdbuf();
  if (in.bad()) return Status::IoError("cannot read " + path);
  return ss.str();
}

Result<Store*> App::store() {
  if (!store_) {
    std::error_code ec;
    fs::create_directories(opts.data_dir, ec);
    if (ec) return Status::IoError("cannot create data directory " + opts.data_dir + ": " + ec.message());
    ST_ASSIGN_OR_RETURN(store_, Store::Open((fs::path(opts.data_dir) / "sleeptime.db").string()));
  }
  return store_.get();
}

Result<Backend*> App::backend() {
  if (!backend_ && opts.backend == "openai") {
    OpenAIBackendOptions oo;
    oo.base_url = opts.base_url;
    oo.model = opts.api_model;
    oo.context_window = opts.openai_ctx;
    oo.use_completions_endpoint = !opts.openai_chat;
    oo.max_parallel = std::max(1, opts.slots);
    if (oo.base_url.empty()) return Status::InvalidArgument("--backend openai needs --base-url URL");
    ST_ASSIGN_OR_RETURN(backend_, OpenAIBackend::Create(oo));
  } else if (!backend_ && opts.backend != "llama") {
    return Status::InvalidArgument("unknown --backend '" + opts.backend + "' (llama or openai)");
  }
  if (!backend_) {
    if (opts.model.empty()) {
      return Status::InvalidArgument("no model given: pass --model PATH or set SLEEPTIME_MODEL");
    }
    LlamaBackendOptions bo;
    bo.model_path = opts.model;
    bo.n_ctx = opts.ctx_size;
    bo.n_threads = opts.threads;
    bo.n_slots = opts.slots;
    bo.n_batch = opts.batch;
    bo.verbose = opts.verbose;
    bo.kv_cache.dir = (fs::path(opts.data_dir) / "kv").string();
    bo.kv_cache.disk_cap_bytes = opts.kv_cache_mb << 20;
    auto bar = std::make_shared<ProgressBar>("loading " + fs::path(opts.model).filename().string(), 1.0, "",
                                             /*quiet_when_quick=*/true);
    bo.on_load_progress = [bar](float p) { bar->Update(p); };
    auto b = LlamaBackend::Open(bo);
    bar->Finish();
    if (!b.ok()) return b.status();
    backend_ = std::move(b).value();
  }
  return backend_.get();
}

Result<PromptTemplates> App::templates() {
  ST_ASSIGN_OR_RETURN(Backend * b, backend());
  auto from_model = [b](const std::string& name) { return b->ModelMetadata(kModelPromptKeyPrefix + name); };
  return LoadPromptTemplates(from_model, opts.templates_dir);
}

Result<Engine*> App::engine() {
  if (!engine_) {
    ST_ASSIGN_OR_RETURN(Store * s, store());
    ST_ASSIGN_OR_RETURN(Backend * b, backend());
    ST_ASSIGN_OR_RETURN(PromptTemplates t, templates());
    EngineOptions eo;
    eo.test_token_weight = opts.test_token_weight;
    eo.answer_reserve = opts.answer_reserve;
    engine_ = std::make_unique<Engine>(b, s, std::move(t), eo);
  }
  return engine_.get();
}

}  // namespace sleeptime::cli
