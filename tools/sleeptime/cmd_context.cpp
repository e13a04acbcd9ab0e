// sleeptime context add|list|show|rm
#include <fmt/format.h>

#include <ctime>

#include "app.h"
#include "sleeptime/hash.h"

namespace sleeptime::cli {
namespace {

std::string FormatTime(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M", std::localtime(&t));
  return buf;
}

}  // namespace

void AddContextCommands(CLI::App& cli, App& app) {
  auto* ctx = cli.add_subcommand("context", "add, list, show or remove contexts");
  ctx->require_subcommand(1);

  auto* add =
      ctx->add_subcommand("add", "add a context, or a new version of one (text, --file, or - for stdin)");
  auto id = std::make_shared<std::string>();
  auto text = std::make_shared<std::string>();
  auto file = std::make_shared<std::string>();
  add->add_option("--id", *id, "context id (default: derived from the text's hash)");
  add->add_option("text", *text, "the context text");
  add->add_option("-f,--file", *file, "read the context from a file ('-' for stdin)");
  add->callback([&app, id, text, file] {
    app.run = [&app, id, text, file]() -> int {
      std::string body = *text;
      if (!file->empty()) {
        if (!text->empty()) return Fail(Status::InvalidArgument("give the text or --file, not both"));
        auto r = ReadInput(*file);
        if (!r.ok()) return Fail(r.status());
        body = *r;
      } else if (body == "-") {
        auto r = ReadInput("-");
        if (!r.ok()) return Fail(r.status());
        body = *r;
      }
      if (body.find_first_not_of(" \t\r\n") == std::string::npos) {
        return Fail(Status::InvalidArgument("the context is empty"));
      }
      auto store = app.store();
      if (!store.ok()) return Fail(store.status());
      std::string cid = id->empty() ? "c-" + Sha256Hex(body).substr(0, 10) : *id;
      auto c = (*store)->PutContext(cid, body);
      if (!c.ok()) return Fail(c.status());
      fmt::print("{}\tversion {}\t{} chars\n", c->id, c->version, c->text.size());
      return 0;
    };
  });

  auto* list = ctx->add_subcommand("list", "list contexts");
  list->callback([&app] {
    app.run = [&app]() -> int {
      auto store = app.store();
      if (!store.ok()) return Fail(store.status());
      auto all = (*store)->ListContexts();
      if (!all.ok()) return Fail(all.status());
      if (all->empty()) {
        fmt::print("no contexts (add one with: sleeptime context add --file FILE)\n");
        return 0;
      }
      fmt::print("{:<24} {:>7} {:>8} {:>8} {:>8}  {}\n", "ID", "VERSION", "CHARS", "SLEPT", "QUERIES",
                 "UPDATED");
      for (const auto& c : *all) {
        auto learned = (*store)->LearnedContexts(c.id);
        auto queries = (*store)->Queries(c.id);
        bool slept = false;
        if (learned.ok()) {
          for (const auto& l : *learned) slept |= l.context_version == c.version;
        }
        fmt::print("{:<24} {:>7} {:>8} {:>8} {:>8}  {}\n", c.id, c.version, c.text.size(),
                   slept ? "yes" : "no", queries.ok() ? queries->size() : 0, FormatTime(c.updated_at));
      }
      return 0;
    };
  });

  auto* show = ctx->add_subcommand("show", "show a context and what was learned from it");
  auto show_id = std::make_shared<std::string>();
  show->add_option("id", *show_id, "context id")->required();
  show->callback([&app, show_id] {
    app.run = [&app, show_id]() -> int {
      auto store = app.store();
      if (!store.ok()) return Fail(store.status());
      auto c = (*store)->GetContext(*show_id);
      if (!c.ok()) return Fail(c.status());
      fmt::print("id: {}\nversion: {}\nsha256: {}\nupdated: {}\n\n{}\n", c->id, c->version, c->content_hash,
                 FormatTime(c->updated_at), c->text);
      auto learned = (*store)->LearnedContexts(c->id);
      if (!learned.ok()) return Fail(learned.status());
      for (const auto& l : *learned) {
        bool current = l.context_version == c->version;
        fmt::print("\n--- learned context #{} (from version {}{}; {} sleep tokens; model {}) ---\n{}\n", l.id,
                   l.context_version, current ? ", current" : ", STALE: the context changed since",
                   l.sleep_completion_tokens, l.model.substr(0, 12), l.text);
      }
      return 0;
    };
  });

  auto* rm = ctx->add_subcommand("rm", "remove a context with its learned contexts and query log");
  auto rm_id = std::make_shared<std::string>();
  rm->add_option("id", *rm_id, "context id")->required();
  rm->callback([&app, rm_id] {
    app.run = [&app, rm_id]() -> int {
      auto store = app.store();
      if (!store.ok()) return Fail(store.status());
      Status st = (*store)->RemoveContext(*rm_id);
      if (!st.ok()) return Fail(st);
      fmt::print("removed {}\n", *rm_id);
      return 0;
    };
  });
}

}  // namespace sleeptime::cli
