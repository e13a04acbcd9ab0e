// sleeptime stats [<id>]
#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "app.h"

namespace sleeptime::cli {
namespace {

nlohmann::json ToJson(const ContextStats& s) {
  nlohmann::json curve = nlohmann::json::array();
  for (const auto& p : s.cost_curve) {
    curve.push_back({{"queries", p.queries},
                     {"per_query_with_sleep", p.per_query_with_sleep},
                     {"per_query_baseline", p.per_query_baseline}});
  }
  return {{"context_id", s.context_id},
          {"version", s.version},
          {"has_learned_context", s.has_learned_context},
          {"sleep_tokens", s.sleep_tokens},
          {"queries_with_sleep", s.queries_with_sleep},
          {"queries_baseline", s.queries_baseline},
          {"mean_test_tokens_with_sleep", s.mean_test_tokens_with_sleep},
          {"mean_test_tokens_baseline", s.mean_test_tokens_baseline},
          {"mean_latency_ms_with_sleep", s.mean_latency_ms_with_sleep},
          {"mean_latency_ms_baseline", s.mean_latency_ms_baseline},
          {"test_token_weight", s.test_token_weight},
          {"cost_curve", curve}};
}

std::string Bar(double value, double max, int width) {
  int n = max > 0 ? static_cast<int>(value / max * width + 0.5) : 0;
  return std::string(static_cast<size_t>(std::clamp(n, 0, width)), '#');
}

void PrintHuman(const ContextStats& s) {
  fmt::print("context {} (version {})\n", s.context_id, s.version);
  fmt::print("  learned context: {}\n", s.has_learned_context
                                            ? fmt::format("yes, {} sleep tokens", s.sleep_tokens)
                                            : "none for this version");
  fmt::print("  queries from c':  {:>4}   mean test tokens {:>8.1f}   mean latency {:>8.1f} ms\n",
             s.queries_with_sleep, s.mean_test_tokens_with_sleep, s.mean_latency_ms_with_sleep);
  fmt::print("  baseline queries: {:>4}   mean test tokens {:>8.1f}   mean latency {:>8.1f} ms\n",
             s.queries_baseline, s.mean_test_tokens_baseline, s.mean_latency_ms_baseline);
  bool any = std::any_of(s.cost_curve.begin(), s.cost_curve.end(), [](const CostPoint& p) {
    return p.per_query_with_sleep > 0 || p.per_query_baseline > 0;
  });
  if (!any) {
    fmt::print(
        "  (no cost curve yet: sleep on the context and ask questions, with and without --no-sleep)\n");
    return;
  }
  double max = 0;
  for (const auto& p : s.cost_curve) max = std::max({max, p.per_query_with_sleep, p.per_query_baseline});
  fmt::print("  cost per query = sleep tokens / N + {} x test tokens   (S = with sleep, B = baseline)\n",
             s.test_token_weight);
  for (const auto& p : s.cost_curve) {
    fmt::print("  N={:<4} S {:>9.1f} {}\n", p.queries, p.per_query_with_sleep,
               Bar(p.per_query_with_sleep, max, 40));
    if (p.per_query_baseline > 0) {
      fmt::print("         B {:>9.1f} {}\n", p.per_query_baseline, Bar(p.per_query_baseline, max, 40));
    }
  }
}

}  // namespace

void AddStatsCommand(CLI::App& cli, App& app) {
  auto* stats = cli.add_subcommand("stats", "tokens spent and amortized cost per query, per context");
  auto id = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  stats->add_option("id", *id, "context id (default: all)");
  stats->add_flag("--json", *json, "print JSON");
  stats->callback([&app, id, json] {
    app.run = [&app, id, json]() -> int {
      auto store = app.store();
      if (!store.ok()) return Fail(store.status());
      std::vector<std::string> ids;
      if (!id->empty()) {
        ids.push_back(*id);
      } else {
        auto all = (*store)->ListContexts();
        if (!all.ok()) return Fail(all.status());
        for (const auto& c : *all) ids.push_back(c.id);
      }
      if (!id->empty()) {
        // Fail on an unknown id before loading a model.
        auto c = (*store)->GetContext(*id);
        if (!c.ok()) return Fail(c.status());
      }
      auto engine = app.engine();
      if (!engine.ok()) return Fail(engine.status());
      nlohmann::json out = nlohmann::json::array();
      for (const auto& cid : ids) {
        auto s = (*engine)->Stats(cid);
        if (!s.ok()) return Fail(s.status());
        if (*json) {
          out.push_back(ToJson(*s));
        } else {
          PrintHuman(*s);
        }
      }
      if (*json) fmt::print("{}\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
      return 0;
    };
  });
}

}  // namespace sleeptime::cli
