// sleeptime serve over real HTTP on 127.0.0.1 (libcurl client), with the tiny
// random test model: the OpenAI chat-completions shape (plain and streamed),
// contexts becoming ready after idle time and then used with their KV state,
// implicit contexts, errors for bad input, tenants, and the scheduler's
// preemption, guards and stale-result handling.
#include "sleeptime/server.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "sleeptime/prompts.h"
#include "support/http_client.h"
#include "support/test_model.h"

namespace sleeptime {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const char kDoc[] =
    "Ann has 12 apples. Cid has twice as many as Bob. Bob has 5 more than Ann. Dee has 3 fewer than Cid.";

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir("sleeptime-server-test-"); }
  void TearDown() override {
    if (server_) server_->Stop();
    server_.reset();
    engine_.reset();
    queue_.reset();
    store_.reset();
    backend_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void StartServer(ServerOptions o = {}, int n_ctx = 1024) {
    backend_ = OpenTestBackend(TinyModelPath(), dir_ + "/kv", n_ctx, /*n_slots=*/3);
    ASSERT_NE(backend_, nullptr);
    auto store = Store::Open(dir_ + "/sleeptime.db");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    auto queue = SleepJobQueue::Open(dir_ + "/sleeptime.db");
    ASSERT_TRUE(queue.ok()) << queue.status().ToString();
    queue_ = std::move(queue).value();
    engine_ = std::make_unique<Engine>(backend_.get(), store_.get(), DefaultPromptTemplates());
    o.port = 0;
    if (o.scheduler.sleep_budget == 0) o.scheduler.sleep_budget = 24;
    if (o.scheduler.idle_seconds == 2.0) o.scheduler.idle_seconds = 0.1;
    auto s = Server::Create(backend_.get(), store_.get(), queue_.get(), engine_.get(), o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    ASSERT_TRUE(server_->Start().ok());
    base_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }

  HttpResponse Post(const std::string& path, const json& body, const std::vector<std::string>& headers = {}) {
    return HttpRequest("POST", base_ + path, body.dump(), headers);
  }
  HttpResponse Get(const std::string& path, const std::vector<std::string>& headers = {}) {
    return HttpRequest("GET", base_ + path, "", headers);
  }
  // Polls /learned until `status` (or a terminal one), returns the last JSON.
  json WaitLearned(const std::string& id, const std::string& status, int timeout_ms = 30000,
                   const std::vector<std::string>& headers = {}) {
    json j;
    for (int waited = 0; waited < timeout_ms; waited += 20) {
      auto r = Get("/v1/contexts/" + id + "/learned", headers);
      j = json::parse(r.body, nullptr, false);
      if (!j.is_discarded() && j.value("status", "") == status) return j;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return j;
  }
  static json Chat(const std::string& context_id, bool stream = false) {
    json body = {{"model", "any"},
                 {"messages", {{{"role", "user"}, {"content", "How many does Dee have?"}}}}};
    body["sleeptime"] = {{"context_id", context_id}, {"budget", 12}};
    if (stream) {
      body["stream"] = true;
      body["stream_options"] = {{"include_usage", true}};
    }
    return body;
  }
  static void ExpectApiError(const HttpResponse& r, long status, const std::string& fragment) {
    EXPECT_EQ(r.status, status) << r.body;
    json j = json::parse(r.body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << r.body;
    ASSERT_TRUE(j.contains("error")) << r.body;
    EXPECT_TRUE(j["error"].contains("type"));
    EXPECT_NE(j["error"]["message"].get<std::string>().find(fragment), std::string::npos) << r.body;
  }

  std::string dir_, base_;
  std::unique_ptr<LlamaBackend> backend_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<SleepJobQueue> queue_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Server> server_;
};

TEST_F(ServerTest, ContextBecomesReadyAfterIdleAndAnswersUseItsKvState) {
  StartServer();
  auto created = Post("/v1/contexts", {{"id", "orchard"}, {"text", kDoc}});
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(json::parse(created.body)["version"], 1);
  json learned = WaitLearned("orchard", "ready");
  ASSERT_EQ(learned["status"], "ready") << learned.dump();
  EXPECT_EQ(learned["learned"]["version"], 1);
  EXPECT_GT(learned["learned"]["sleep_tokens"].get<int>(), 0);
  EXPECT_EQ(learned["job"]["trigger"], "created");

  auto r = Post("/v1/chat/completions", Chat("orchard"));
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_TRUE(j["choices"][0]["message"]["content"].is_string());
  const json& u = j["usage"];
  EXPECT_GT(u["prompt_tokens"].get<int>(), 0);
  EXPECT_GT(u["completion_tokens"].get<int>(), 0);
  EXPECT_LE(u["completion_tokens"].get<int>(), 12);  // the budget
  EXPECT_EQ(u["total_tokens"], u["prompt_tokens"].get<int>() + u["completion_tokens"].get<int>());
  // The prefix (context + c′) came from the KV state saved at sleep time.
  EXPECT_GT(u["prompt_tokens_details"]["cached_tokens"].get<int>(), 0);
  EXPECT_LT(u["prompt_tokens_details"]["cached_tokens"].get<int>(), u["prompt_tokens"].get<int>());
  EXPECT_EQ(u["sleeptime"]["used_learned_context"], true);
  EXPECT_EQ(u["sleeptime"]["learned_version"], 1);
  EXPECT_NE(u["sleeptime"]["kv_state"], "prefilled");
  EXPECT_NE(u["sleeptime"]["kv_state"], "none");
  EXPECT_GT(u["sleeptime"]["amortized_sleep_tokens"].get<double>(), 0);

  // The baseline (no c′) on request.
  json base = Chat("orchard");
  base["sleeptime"]["use_learned"] = false;
  auto b = Post("/v1/chat/completions", base);
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(json::parse(b.body)["usage"]["sleeptime"]["used_learned_context"], false);

  // Updating the context bumps its version; the old c′ is not served as current.
  auto updated = Post("/v1/contexts", {{"id", "orchard"}, {"text", std::string(kDoc) + " Eve has 4 pears."}});
  ASSERT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(json::parse(updated.body)["version"], 2);
  learned = WaitLearned("orchard", "ready");
  EXPECT_EQ(learned["learned"]["version"], 2) << learned.dump();

  auto metrics = Get("/metrics");
  ASSERT_EQ(metrics.status, 200);
  for (const char* name :
       {"sleeptime_sleep_queue_depth", "sleeptime_sleep_tokens_total", "sleeptime_test_tokens_total",
        "sleeptime_ttft_milliseconds_bucket", "sleeptime_kv_hit_ratio"})
    EXPECT_NE(metrics.body.find(name), std::string::npos) << name;
  auto stats = Get("/v1/stats");
  ASSERT_EQ(stats.status, 200);
  EXPECT_EQ(json::parse(stats.body)["completions"], 2);
  EXPECT_EQ(Get("/health").status, 200);
}

TEST_F(ServerTest, StreamingGivesTheSameAnswerAsNonStreaming) {
  StartServer();
  ASSERT_EQ(Post("/v1/contexts", {{"id", "orchard"}, {"text", kDoc}}).status, 201);
  ASSERT_EQ(WaitLearned("orchard", "ready")["status"], "ready");
  auto plain = Post("/v1/chat/completions", Chat("orchard"));
  ASSERT_EQ(plain.status, 200) << plain.body;
  const std::string expected = json::parse(plain.body)["choices"][0]["message"]["content"];

  int pieces = 0;
  auto streamed = HttpRequest("POST", base_ + "/v1/chat/completions", Chat("orchard", true).dump(), {},
                              [&](const std::string&) { ++pieces; });
  ASSERT_EQ(streamed.status, 200) << streamed.body;
  const auto events = SseData(streamed.body);
  ASSERT_GE(events.size(), 4u) << streamed.body;
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  json usage;
  std::string finish;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    json e = json::parse(events[i]);
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    if (e.contains("usage")) {
      usage = e["usage"];
      EXPECT_TRUE(e["choices"].empty());
      continue;
    }
    const json& c = e["choices"][0];
    if (c["delta"].contains("content")) text += c["delta"]["content"].get<std::string>();
    if (!c["finish_reason"].is_null()) finish = c["finish_reason"];
  }
  EXPECT_EQ(text, expected);
  EXPECT_EQ(finish, "stop");
  ASSERT_TRUE(usage.is_object()) << streamed.body;
  EXPECT_EQ(usage["sleeptime"]["used_learned_context"], true);
  EXPECT_EQ(usage["completion_tokens"], json::parse(plain.body)["usage"]["completion_tokens"]);
  EXPECT_GE(pieces, 1);
}

TEST_F(ServerTest, LongSystemMessageBecomesAContextTransparently) {
  ServerOptions o;
  o.implicit_context_min_tokens = 32;
  StartServer(o);
  json body = {
      {"model", "any"},
      {"max_tokens", 8},
      {"messages", {{{"role", "system"}, {"content", kDoc}}, {{"role", "user"}, {"content", "Dee?"}}}}};
  auto first = Post("/v1/chat/completions", body);
  ASSERT_EQ(first.status, 200) << first.body;
  json u1 = json::parse(first.body)["usage"];
  ASSERT_TRUE(u1.contains("sleeptime")) << first.body;
  const std::string id = u1["sleeptime"]["context_id"];
  EXPECT_EQ(id.rfind("sys-", 0), 0u) << id;
  ASSERT_EQ(WaitLearned(id, "ready")["status"], "ready");
  auto second = Post("/v1/chat/completions", body);  // the same document, resent unchanged
  ASSERT_EQ(second.status, 200) << second.body;
  json u2 = json::parse(second.body)["usage"];
  EXPECT_EQ(u2["sleeptime"]["context_id"], id);
  EXPECT_EQ(u2["sleeptime"]["used_learned_context"], true);
  EXPECT_GT(u2["prompt_tokens_details"]["cached_tokens"].get<int>(), 0);
  auto list = json::parse(Get("/v1/contexts").body);
  ASSERT_EQ(list["data"].size(), 1u);
  // A short system message is just chat: no context.
  json chat = {
      {"max_tokens", 4},
      {"messages", {{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "Hi"}}}}};
  auto plain = Post("/v1/chat/completions", chat);
  ASSERT_EQ(plain.status, 200) << plain.body;
  EXPECT_FALSE(json::parse(plain.body)["usage"].contains("sleeptime"));
  EXPECT_LE(json::parse(plain.body)["usage"]["completion_tokens"].get<int>(), 4);
}

TEST_F(ServerTest, BadInputGetsOpenAIErrorObjects) {
  ServerOptions o;
  o.max_body_bytes = 64 * 1024;
  StartServer(o, /*n_ctx=*/256);
  ExpectApiError(HttpRequest("POST", base_ + "/v1/chat/completions", "{not json"), 400, "not valid JSON");
  ExpectApiError(Post("/v1/chat/completions", json::object()), 400, "'messages' is required");
  ExpectApiError(Post("/v1/chat/completions", {{"messages", json::array()}}), 400, "must not be empty");
  ExpectApiError(Post("/v1/chat/completions", {{"messages", {{{"role", "wizard"}, {"content", "x"}}}}}), 400,
                 "role");
  ExpectApiError(Post("/v1/chat/completions",
                      {{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"max_tokens", -3}}),
                 400, "max_tokens");
  ExpectApiError(Post("/v1/chat/completions", Chat("nope")), 404, "context 'nope' not found");
  ExpectApiError(Get("/v1/contexts/nope"), 404, "not found");
  ExpectApiError(Get("/v1/contexts/nope/learned"), 404, "not found");
  ExpectApiError(Post("/v1/contexts/nope/sleep", json::object()), 404, "not found");
  ExpectApiError(HttpRequest("DELETE", base_ + "/v1/contexts/nope"), 404, "not found");
  ExpectApiError(Post("/v1/contexts", {{"id", "x"}}), 400, "'text'");
  ExpectApiError(Post("/v1/contexts", {{"id", "bad id!"}, {"text", "t"}}), 400, "may contain only");
  // Over the model's window: 413 with both numbers.
  std::string big;
  while (big.size() < 600) big += "Ann has 12 apples. ";
  auto too_long = Post("/v1/contexts", {{"id", "big"}, {"text", big}});
  ExpectApiError(too_long, 413, "context window is 256");
  // Over the body limit.
  ExpectApiError(Post("/v1/contexts", {{"id", "huge"}, {"text", std::string(100 * 1024, 'a')}}), 413,
                 "too large");
  ExpectApiError(Get("/v1/nothing-here"), 404, "no route");
  EXPECT_EQ(Get("/health").status, 200);  // still serving
}

TEST_F(ServerTest, TenantsSeeOnlyTheirOwnContexts) {
  ServerOptions o;
  o.api_keys = {{"key-a", "alice"}, {"key-b", "bob"}};
  StartServer(o);
  const std::vector<std::string> alice = {"Authorization: Bearer key-a"},
                                 bob = {"Authorization: Bearer key-b"};
  ExpectApiError(Post("/v1/contexts", {{"id", "doc"}, {"text", kDoc}}), 401, "API key");
  ExpectApiError(Post("/v1/contexts", {{"id", "doc"}, {"text", kDoc}}, {"Authorization: Bearer wrong"}), 401,
                 "API key");
  EXPECT_EQ(Get("/health").status, 200);  // operators' endpoints need no key
  ASSERT_EQ(Post("/v1/contexts", {{"id", "doc"}, {"text", kDoc}}, alice).status, 201);
  ExpectApiError(Get("/v1/contexts/doc", bob), 404, "not found");
  ExpectApiError(Post("/v1/chat/completions", Chat("doc"), bob), 404, "not found");
  EXPECT_TRUE(json::parse(Get("/v1/contexts", bob).body)["data"].empty());
  auto mine = json::parse(Get("/v1/contexts", alice).body)["data"];
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0]["id"], "doc");
  // Bob's own "doc" is another context.
  ASSERT_EQ(Post("/v1/contexts", {{"id", "doc"}, {"text", "Bob has 3 pears. Cid has 2 more than Bob."}}, bob)
                .status,
            201);
  EXPECT_EQ(json::parse(Get("/v1/contexts/doc", alice).body)["text"], kDoc);
  ASSERT_EQ(HttpRequest("DELETE", base_ + "/v1/contexts/doc", "", bob).status, 200);
  EXPECT_EQ(Get("/v1/contexts/doc", alice).status, 200);
}

// ---- The scheduler, driven directly ----

class SchedulerTest : public ServerTest {
 protected:
  void Open() {
    backend_ = OpenTestBackend(TinyModelPath(), dir_ + "/kv", 1024, 3);
    ASSERT_NE(backend_, nullptr);
    store_ = std::move(Store::Open(dir_ + "/sleeptime.db")).value();
    queue_ = std::move(SleepJobQueue::Open(dir_ + "/sleeptime.db")).value();
    engine_ = std::make_unique<Engine>(backend_.get(), store_.get(), DefaultPromptTemplates());
  }
  // Starts `s`, runs one manual job for `id` to the end and returns it (the
  // scheduler keeps running).
  SleepJob RunManualJob(SleepScheduler& s, const std::string& id) {
    EXPECT_TRUE(s.Start().ok());
    EXPECT_TRUE(s.Trigger(id, "manual").ok());
    EXPECT_TRUE(s.WaitIdle(std::chrono::seconds(60)));
    auto job = queue_->Latest(id);
    EXPECT_TRUE(job.ok() && *job);
    return job.ok() && *job ? **job : SleepJob{};
  }
  SchedulerOptions Quick() {
    SchedulerOptions o;
    o.idle_seconds = 0.05;
    o.sleep_budget = 200;
    o.sleep_when_idle = false;
    return o;
  }
};

TEST_F(SchedulerTest, LiveRequestsPreemptASleepJob) {
  Open();
  ASSERT_TRUE(store_->PutContext("c", kDoc).ok());
  SleepScheduler s(engine_.get(), store_.get(), queue_.get(), Quick());
  ASSERT_TRUE(s.Start().ok());
  ASSERT_TRUE(s.Trigger("c", "manual").ok());
  for (int i = 0; i < 500 && !s.sleeping(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_TRUE(s.sleeping());
  {
    SleepScheduler::LiveRequest live(&s);  // a live request arrives: the job pauses between decode steps
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_GE(s.yields(), 1);
    auto job = queue_->Latest("c");
    ASSERT_TRUE(job.ok() && *job);
    EXPECT_EQ((*job)->state, SleepJobState::kRunning);  // paused, not abandoned
  }
  ASSERT_TRUE(s.WaitIdle(std::chrono::seconds(60)));
  EXPECT_GT(s.yielded_ms(), 0);  // paused while the live request ran (how long depends on the machine)
  auto job = queue_->Latest("c");
  EXPECT_EQ((*job)->state, SleepJobState::kDone) << (*job)->reason;
  auto lc = store_->CurrentLearnedContext("c", backend_->ModelFingerprint());
  ASSERT_TRUE(lc.ok() && *lc);
  s.Stop();
}

// A job writing two candidates holds two of the three slots, also while it
// yields. Four concurrent live requests must still all be answered: they
// share the one free slot instead of waiting for the job's slots while the
// job waits for them.
TEST_F(SchedulerTest, ParallelCandidatesNeverStarveLiveRequestsOfSlots) {
  Open();
  ASSERT_TRUE(store_->PutContext("c", kDoc).ok());
  SchedulerOptions o = Quick();
  o.sleep_passes = 2;
  o.sleep_parallel = 2;
  o.model_slots = 3;
  SleepScheduler s(engine_.get(), store_.get(), queue_.get(), o);
  ASSERT_TRUE(s.Start().ok());
  ASSERT_TRUE(s.Trigger("c", "manual").ok());
  for (int i = 0; i < 500 && !s.sleeping(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_TRUE(s.sleeping());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the candidates take their slots
  std::vector<std::future<bool>> answers;
  for (int i = 0; i < 4; ++i) {
    answers.push_back(std::async(std::launch::async, [&, i] {
      SleepScheduler::LiveRequest live(&s);
      AskOptions ao;
      ao.budget = 4;
      ao.use_learned = false;
      return engine_->Ask("c", "How many pears? " + std::to_string(i), ao).ok();
    }));
  }
  for (auto& a : answers) {
    if (a.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
      ADD_FAILURE() << "a live request is stuck waiting for a slot";
      s.Stop();  // cancels the job, which frees its slots and the stuck requests
      break;
    }
  }
  for (auto& a : answers) EXPECT_TRUE(a.get());
  ASSERT_TRUE(s.WaitIdle(std::chrono::seconds(60)));
  auto job = queue_->Latest("c");
  ASSERT_TRUE(job.ok() && *job);
  EXPECT_EQ((*job)->state, SleepJobState::kDone) << (*job)->reason;
  s.Stop();
}

TEST_F(SchedulerTest, IdleTriggerSleepsOnContextsWithoutALearnedContext) {
  Open();
  // Written straight to the store: no trigger queued a job for it.
  ASSERT_TRUE(store_->PutContext("quiet", kDoc).ok());
  SchedulerOptions o = Quick();
  o.sleep_when_idle = true;
  o.sleep_budget = 16;
  SleepScheduler s(engine_.get(), store_.get(), queue_.get(), o);
  ASSERT_TRUE(s.Start().ok());
  std::optional<SleepJob> job;
  for (int i = 0; i < 3000; ++i) {
    auto latest = queue_->Latest("quiet");
    ASSERT_TRUE(latest.ok());
    if (*latest && (*latest)->state == SleepJobState::kDone) {
      job = *latest;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(job.has_value()) << "the idle trigger never ran a job";
  EXPECT_EQ(job->trigger, "idle");
  EXPECT_TRUE((*store_->CurrentLearnedContext("quiet", backend_->ModelFingerprint())).has_value());
  // Once per version: no second idle job for the same version.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ((*queue_->Latest("quiet"))->id, job->id);
  s.Stop();
}

TEST_F(SchedulerTest, GuardsEndARunawayJobAsFailedWithTheReason) {
  Open();
  ASSERT_TRUE(store_->PutContext("c", kDoc).ok());
  SchedulerOptions o = Quick();
  o.max_sleep_tokens = 10;
  SleepScheduler s(engine_.get(), store_.get(), queue_.get(), o);
  const SleepJob job = RunManualJob(s, "c");
  EXPECT_EQ(job.state, SleepJobState::kFailed);
  EXPECT_NE(job.reason.find("max sleep tokens"), std::string::npos) << job.reason;
  EXPECT_LE(job.sleep_tokens, 10);
  // Not retried in a loop: the queue stays empty.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(queue_->CountByState()->at(SleepJobState::kQueued), 0);
  EXPECT_FALSE((*store_->CurrentLearnedContext("c", backend_->ModelFingerprint())).has_value());
  s.Stop();
}

TEST_F(SchedulerTest, RefinementThatDoesNotConvergeHitsTheRewriteGuard) {
  Open();
  // Without the guard the rounds run and their rewrite is stored. Find a
  // context on which the random model's rewrites do not converge; they are
  // greedy, so the guarded job below meets the same rewrites.
  SleepOptions so;
  so.budget = 12;
  so.refine_rounds = 2;
  std::string id;
  int64_t unguarded_id = 0;
  for (int i = 0; i < 8 && id.empty(); ++i) {
    const std::string cid =
        std::string("c").append(std::to_string(i));  // GCC 12 misreports "c" + (-Wrestrict)
    ASSERT_TRUE(
        store_->PutContext(cid, std::string(kDoc) + " Eve has " + std::to_string(i + 2) + " pears.").ok());
    auto refined = engine_->Sleep(cid, so);
    ASSERT_TRUE(refined.ok()) << refined.status().ToString();
    EXPECT_GE(refined->refine_rounds_run, 1);
    EXPECT_LE(refined->refine_rounds_run, 2);
    if (refined->refine_rounds_run < 2) {
      EXPECT_TRUE(refined->converged);  // stopped early only because a round reproduced its input
    }
    if (!refined->converged) {
      id = cid;
      unguarded_id = refined->learned.id;
    }
  }
  ASSERT_FALSE(id.empty()) << "the random model's notes converged on every context tried";
  // With the guard the same job fails and stores nothing.
  SchedulerOptions o = Quick();
  o.sleep_budget = 12;
  o.max_rewrite_rounds = 2;
  SleepScheduler s(engine_.get(), store_.get(), queue_.get(), o);
  const SleepJob job = RunManualJob(s, id);
  EXPECT_EQ(job.state, SleepJobState::kFailed);
  EXPECT_NE(job.reason.find("max rewrite rounds (2)"), std::string::npos) << job.reason;
  auto lc = store_->CurrentLearnedContext(id, backend_->ModelFingerprint());
  ASSERT_TRUE(lc.ok() && *lc);
  EXPECT_EQ((*lc)->id, unguarded_id);  // still the unguarded c′
  s.Stop();
}

TEST_F(SchedulerTest, ContextChangedDuringSleepGivesAStaleResultAndANewJob) {
  Open();
  ASSERT_TRUE(store_->PutContext("c", kDoc).ok());
  SleepScheduler s(engine_.get(), store_.get(), queue_.get(), Quick());
  ASSERT_TRUE(s.Start().ok());
  auto first = s.Trigger("c", "created");
  ASSERT_TRUE(first.ok());
  for (int i = 0; i < 500 && !s.sleeping(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_TRUE(s.sleeping());
  {
    SleepScheduler::LiveRequest live(&s);  // hold the job while the context changes under it
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(store_->PutContext("c", std::string(kDoc) + " Eve has 4 pears.").ok());
  }
  ASSERT_TRUE(s.WaitIdle(std::chrono::seconds(60)));
  auto old_job = queue_->Get(first->id);
  ASSERT_TRUE(old_job.ok());
  EXPECT_EQ(old_job->state, SleepJobState::kStale);
  EXPECT_FALSE(old_job->result.empty());  // kept for the record, never served
  auto latest = queue_->Latest("c");
  EXPECT_EQ((*latest)->state, SleepJobState::kDone);
  EXPECT_EQ((*latest)->context_version, 2);
  auto lc = store_->CurrentLearnedContext("c", backend_->ModelFingerprint());
  ASSERT_TRUE(lc.ok() && *lc);
  EXPECT_EQ((*lc)->context_version, 2);
  s.Stop();
}

TEST_F(SchedulerTest, InterruptedJobsReturnToTheQueue) {
  Open();
  ASSERT_TRUE(store_->PutContext("c", kDoc).ok());
  // A job left running by a process that died.
  ASSERT_TRUE(queue_->Enqueue("c", "created").ok());
  auto claimed = queue_->Claim();
  ASSERT_TRUE(claimed.ok() && *claimed);
  EXPECT_EQ((*claimed)->attempts, 1);
  SleepScheduler s(engine_.get(), store_.get(), queue_.get(), Quick());
  ASSERT_TRUE(s.Start().ok());  // re-queues it, then runs it
  ASSERT_TRUE(s.WaitIdle(std::chrono::seconds(60)));
  auto job = queue_->Get((*claimed)->id);
  EXPECT_EQ(job->state, SleepJobState::kDone);
  EXPECT_EQ(job->attempts, 2);
  s.Stop();
}

TEST_F(SchedulerTest, QueueDedupesAndANewerVersionSupersedes) {
  Open();
  ASSERT_TRUE(store_->PutContext("c", "one").ok());
  auto a = queue_->Enqueue("c", "created");
  ASSERT_TRUE(store_->PutContext("c", "two").ok());
  auto b = queue_->Enqueue("c", "changed");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->id, b->id);  // one queued job per context
  EXPECT_EQ(b->context_version, 2);
  EXPECT_EQ(queue_->CountByState()->at(SleepJobState::kQueued), 1);
  EXPECT_EQ(queue_->Enqueue("missing", "manual").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(store_->RemoveContext("c").ok());  // its jobs go with it
  EXPECT_EQ(queue_->CountByState()->at(SleepJobState::kQueued), 0);
}

}  // namespace
}  // namespace sleeptime
