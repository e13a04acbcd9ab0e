// `sleeptime serve` as a process, through the real CLI: what signals do to it.
// SIGTERM lets a streaming completion in flight finish (ending with
// "data: [DONE]") and exits 0; kill -9 or SIGTERM while a sleep job runs
// leaves the job to be re-queued by the next process on the same data dir,
// which completes it (attempt 2), with the store intact.
#include "support/serve_process.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/http_client.h"
#include "support/test_model.h"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

const char kDoc[] =
    "Ann has 12 apples. Cid has twice as many as Bob. Bob has 5 more than Ann. Dee has 3 fewer than Cid.";

class ServeProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(TinyModelPath()));
    dir_ = MakeTempDir("sleeptime-serve-process-");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // The CLI's arguments: the tiny model with a 4096-token window (room for long
  // generations), one thread, and this test's data dir.
  std::vector<std::string> Args(const std::vector<std::string>& serve_args) const {
    std::vector<std::string> a = {
        "--model", TinyModelPath(), "--data-dir", dir_ + "/data", "-t",     "1", "-c",
        "4096",    "serve",         "--host",     "127.0.0.1",    "--port", "0"};
    a.insert(a.end(), serve_args.begin(), serve_args.end());
    return a;
  }

  static json Get(const ServeProcess& s, const std::string& path) {
    auto r = HttpRequest("GET", s.base_url() + path);
    json j = json::parse(r.body, nullptr, false);
    return r.status == 200 && !j.is_discarded() ? j : json{{"http_status", r.status}, {"body", r.body}};
  }

  // Polls /learned until its status is `status`; returns the last answer.
  static json WaitLearned(const ServeProcess& s, const std::string& id, const std::string& status,
                          seconds timeout) {
    json j;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      j = Get(s, "/v1/contexts/" + id + "/learned");
      if (j.value("status", "") == status) return j;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return j;
  }

  // Starts a server whose sleep jobs run long (the tiny random model's notes
  // never end on their own, so a job runs its whole budget), posts a context
  // and returns once its job is running (status "sleeping"), with the job.
  json StartSleeping(ServeProcess& serve) {
    const std::string err = serve.Start(SLEEPTIME_CLI_PATH, SleepArgs(), dir_ + "/serve1.log");
    EXPECT_EQ(err, "");
    if (!err.empty()) return json();
    auto created = HttpRequest("POST", serve.base_url() + "/v1/contexts",
                               json{{"id", "orchard"}, {"text", kDoc}}.dump());
    EXPECT_EQ(created.status, 201) << created.body;
    json sleeping = WaitLearned(serve, "orchard", "sleeping", seconds(120));
    EXPECT_EQ(sleeping.value("status", ""), "sleeping") << sleeping.dump() << "\n" << serve.Log();
    return sleeping;
  }
  std::vector<std::string> SleepArgs() const {
    return Args({"--idle-seconds", "0.2", "--sleep-budget", "3000", "--max-sleep-tokens", "4096"});
  }

  // After the first process ended mid-job: a new one on the same data dir
  // finds the context, re-queues the same job and completes it.
  void ExpectJobResumedAfterRestart(const json& sleeping) {
    ServeProcess again;
    ASSERT_EQ(again.Start(SLEEPTIME_CLI_PATH, SleepArgs(), dir_ + "/serve2.log"), "");

    // The store is intact: the context and its text are there.
    json list = Get(again, "/v1/contexts");
    ASSERT_TRUE(list.contains("data")) << list.dump();
    ASSERT_EQ(list["data"].size(), 1u) << list.dump();
    EXPECT_EQ(list["data"][0]["id"], "orchard");
    EXPECT_EQ(list["data"][0]["version"], 1);
    EXPECT_EQ(Get(again, "/v1/contexts/orchard").value("text", ""), kDoc);

    json ready = WaitLearned(again, "orchard", "ready", seconds(300));
    ASSERT_EQ(ready.value("status", ""), "ready") << ready.dump() << "\n" << again.Log();
    // The same job, claimed a second time, finished.
    EXPECT_EQ(ready["job"]["id"], sleeping["job"]["id"]) << ready.dump();
    EXPECT_EQ(ready["job"]["attempts"], 2) << ready.dump();
    EXPECT_EQ(ready["job"]["state"], "done") << ready.dump();
    EXPECT_EQ(ready["job"]["trigger"], "created") << ready.dump();
    ASSERT_TRUE(ready["learned"].is_object()) << ready.dump();
    EXPECT_EQ(ready["learned"]["version"], 1);
    EXPECT_GT(ready["learned"]["sleep_tokens"].get<int>(), 0) << ready.dump();

    // And it answers from it.
    json chat = {{"messages", {{{"role", "user"}, {"content", "How many does Dee have?"}}}},
                 {"sleeptime", {{"context_id", "orchard"}, {"budget", 8}}}};
    auto answer = HttpRequest("POST", again.base_url() + "/v1/chat/completions", chat.dump());
    ASSERT_EQ(answer.status, 200) << answer.body;
    EXPECT_EQ(json::parse(answer.body)["usage"]["sleeptime"]["used_learned_context"], true) << answer.body;

    ASSERT_TRUE(again.Signal(SIGTERM));
    EXPECT_EQ(again.ExitCode(seconds(120)), 0) << again.Log();
  }

  std::string dir_;
};

TEST_F(ServeProcessTest, SigtermLetsAStreamInFlightFinish) {
  ServeProcess serve;
  // No sleep work: only the live request runs.
  ASSERT_EQ(serve.Start(SLEEPTIME_CLI_PATH,
                        Args({"--idle-seconds", "600", "--sleep-when-idle", "false", "--sleep-every", "0"}),
                        dir_ + "/serve.log"),
            "");
  const std::string base = serve.base_url();
  // Long enough to be in flight for seconds after the signal.
  json body = {{"messages", {{{"role", "user"}, {"content", "Tell me a long story."}}}},
               {"max_tokens", 3000},
               {"stream", true},
               {"stream_options", {{"include_usage", true}}}};
  std::atomic<bool> signalled{false};
  bool signal_sent = false;
  size_t received = 0, received_at_signal = 0;
  auto on_data = [&](const std::string& piece) {
    received += piece.size();
    // After a few content events: SIGTERM while the generation runs.
    if (!signalled && received > 2000) {
      signalled = true;
      received_at_signal = received;
      signal_sent = serve.Signal(SIGTERM);
    }
  };
  auto r = HttpRequest("POST", base + "/v1/chat/completions", body.dump(), {}, on_data, 600);
  ASSERT_TRUE(signal_sent) << "SIGTERM was not delivered during the stream\n" << serve.Log();
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 2000);
  // Data kept coming after the signal: the request was in flight, and finished.
  EXPECT_GT(r.body.size(), received_at_signal);
  auto events = SseData(r.body);
  ASSERT_GE(events.size(), 3u) << r.body.substr(0, 2000);
  EXPECT_EQ(events.back(), "[DONE]");
  json usage_chunk = json::parse(events[events.size() - 2], nullptr, false);
  ASSERT_FALSE(usage_chunk.is_discarded()) << events[events.size() - 2];
  ASSERT_TRUE(usage_chunk.contains("usage")) << usage_chunk.dump();
  EXPECT_EQ(usage_chunk["usage"]["completion_tokens"], 3000) << usage_chunk.dump();
  json finish = json::parse(events[events.size() - 3], nullptr, false);
  ASSERT_FALSE(finish.is_discarded());
  EXPECT_EQ(finish["choices"][0]["finish_reason"], "length") << finish.dump();

  EXPECT_EQ(serve.ExitCode(seconds(120)), 0) << serve.Log();
  EXPECT_NE(serve.Log().find("shutting down"), std::string::npos) << serve.Log();
  // Gone: nothing listens any more.
  EXPECT_EQ(HttpRequest("GET", base + "/health", "", {}, nullptr, 10).status, 0);
}

TEST_F(ServeProcessTest, KillDuringSleepJobResumesAfterRestart) {
  json sleeping;
  {
    ServeProcess serve;
    sleeping = StartSleeping(serve);
    ASSERT_EQ(sleeping.value("status", ""), "sleeping");
    ASSERT_EQ(sleeping["job"]["attempts"], 1) << sleeping.dump();
    ASSERT_TRUE(serve.Signal(SIGKILL));
    ASSERT_EQ(serve.ExitCode(seconds(60)), 128 + SIGKILL);
  }
  ExpectJobResumedAfterRestart(sleeping);
}

TEST_F(ServeProcessTest, SigtermDuringSleepJobRequeuesItAndExitsZero) {
  json sleeping;
  {
    ServeProcess serve;
    sleeping = StartSleeping(serve);
    ASSERT_EQ(sleeping.value("status", ""), "sleeping");
    ASSERT_TRUE(serve.Signal(SIGTERM));
    // The job yields at its next decode step; the process does not wait for the budget.
    ASSERT_EQ(serve.ExitCode(seconds(120)), 0) << serve.Log();
  }
  ExpectJobResumedAfterRestart(sleeping);
}

}  // namespace
