// sleeptime gen-model | templates
#include <fmt/format.h>

#include "app.h"
#include "sleeptime/random_model.h"

namespace sleeptime::cli {

void AddModelCommands(CLI::App& cli, App& app) {
  auto* gen =
      cli.add_subcommand("gen-model", "write a random-weight llama GGUF (tests, benchmarks, demo stand-in)");
  auto spec = std::make_shared<RandomModelSpec>();
  auto out = std::make_shared<std::string>();
  gen->add_option("-o,--out", *out, "output .gguf path")->required();
  gen->add_option("--n-embd", spec->n_embd, "embedding width")->capture_default_str();
  gen->add_option("--n-layer", spec->n_layer, "layers")->capture_default_str();
  gen->add_option("--n-head", spec->n_head, "attention heads")->capture_default_str();
  gen->add_option("--n-head-kv", spec->n_head_kv, "key/value heads")->capture_default_str();
  gen->add_option("--n-ff", spec->n_ff, "feed-forward width")->capture_default_str();
  gen->add_option("--n-ctx", spec->n_ctx_train, "training context length")->capture_default_str();
  gen->add_option("--seed", spec->seed, "weight seed")->capture_default_str();
  gen->add_flag("--f16", spec->f16, "store matrices as F16");
  gen->add_option("--vocab-from", spec->vocab_from, "copy the tokenizer of this GGUF (default: byte-level)");
  gen->callback([&app, spec, out] {
    app.run = [spec, out]() -> int {
      Status st = WriteRandomLlamaModel(*spec, *out);
      if (!st.ok()) return Fail(st);
      fmt::print("wrote {}\n", *out);
      return 0;
    };
  });

  auto* templates =
      cli.add_subcommand("templates", "write the default prompt templates to a directory to edit");
  auto dir = std::make_shared<std::string>();
  templates->add_option("dir", *dir, "directory to write (then pass --templates DIR)")->required();
  templates->callback([&app, dir] {
    app.run = [dir]() -> int {
      Status st = WritePromptTemplates(DefaultPromptTemplates(), *dir);
      if (!st.ok()) return Fail(st);
      for (const auto& name : PromptTemplates::FileNames()) fmt::print("{}/{}.txt\n", *dir, name);
      return 0;
    };
  });
}

}  // namespace sleeptime::cli
