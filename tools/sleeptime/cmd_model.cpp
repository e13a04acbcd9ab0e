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

  auto* templates = cli.add_subcommand(
      "templates", "write the prompt templates to a directory to edit (then pass --templates DIR)");
  auto dir = std::make_shared<std::string>();
  auto from_model = std::make_shared<bool>(false);
  templates->add_option("dir", *dir, "directory to write")->required();
  // A remote backend cannot read the templates a GGUF carries: this is how
  // they reach `--backend openai --templates DIR`.
  templates->add_flag("--from-model", *from_model,
                      "write the templates the --model file carries (with any --templates overrides) "
                      "instead of the defaults");
  templates->callback([&app, dir, from_model] {
    app.run = [&app, dir, from_model]() -> int {
      PromptTemplates t = DefaultPromptTemplates();
      if (*from_model) {
        auto loaded = app.templates();
        if (!loaded.ok()) return Fail(loaded.status());
        t = std::move(loaded).value();
      }
      Status st = WritePromptTemplates(t, *dir);
      if (!st.ok()) return Fail(st);
      for (const auto& name : PromptTemplates::FileNames()) fmt::print("{}/{}.txt\n", *dir, name);
      return 0;
    };
  });
}

}  // namespace sleeptime::cli
