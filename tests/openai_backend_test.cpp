// OpenAIBackend: the wire format on canned bytes, retries and error handling
// against a scripted HTTP responder on 127.0.0.1, and generation, streaming,
// caching and tokenization against a real llama-server (built from the same
// llama.cpp) serving the demo model, or the tiny test model without it.
#include "sleeptime/openai_backend.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "backend/openai_protocol.h"
#include "sleeptime/demo_eval.h"
#include "sleeptime/engine.h"
#include "sleeptime/reasoning_language.h"
#include "sleeptime/store.h"
#include "support/test_model.h"

namespace fs = std::filesystem;
using namespace sleeptime;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kServer = std::string(SLEEPTIME_SOURCE_DIR) + "/third_party/llama/bin/llama-server";
const std::string kDemoModel = std::string(SLEEPTIME_SOURCE_DIR) + "/models/sleeptime-demo.gguf";
constexpr int kServerCtx = 512;  // the demo model's training window (llama-server caps -c there)

// A port nothing listens on right now (the kernel's pick for an ephemeral bind).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

std::unique_ptr<OpenAIBackend> MakeBackend(OpenAIBackendOptions o) {
  auto b = OpenAIBackend::Create(o);
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  return b.ok() ? std::move(b).value() : nullptr;
}

// ---------------------------------------------------------------------------
// Wire format.

TEST(OpenAIProtocolTest, SseEventsSurviveAnyChunking) {
  const std::string stream =
      ": ping\r\n\r\ndata: {\"a\":1}\r\n\r\nevent: x\ndata: line1\ndata: line2\n\ndata: [DONE]\n\ndata: tail";
  for (size_t step : {1u, 2u, 3u, 7u, 1000u}) {
    std::vector<std::string> events;
    openai::SseParser p([&](const std::string& e) { events.push_back(e); });
    for (size_t i = 0; i < stream.size(); i += step) p.Feed(std::string_view(stream).substr(i, step));
    p.Finish();
    ASSERT_EQ(events.size(), 4u) << "step " << step;
    EXPECT_EQ(events[0], "{\"a\":1}");
    EXPECT_EQ(events[1], "line1\nline2");
    EXPECT_EQ(events[2], "[DONE]");
    EXPECT_EQ(events[3], "tail");
  }
}

TEST(OpenAIProtocolTest, UsageWithDetails) {
  auto u = openai::ParseUsage(json::parse(R"({"usage": {"prompt_tokens": 100, "completion_tokens": 20,
      "prompt_tokens_details": {"cached_tokens": 64}, "completion_tokens_details": {"reasoning_tokens": 12}}})"));
  EXPECT_TRUE(u.present);
  EXPECT_EQ(u.prompt_tokens, 100);
  EXPECT_EQ(u.completion_tokens, 20);
  EXPECT_TRUE(u.has_cached_tokens);
  EXPECT_EQ(u.cached_tokens, 64);
  EXPECT_EQ(u.reasoning_tokens, 12);
  auto bare =
      openai::ParseUsage(json::parse(R"({"usage": {"prompt_tokens": 3, "prompt_tokens_details": null}})"));
  EXPECT_TRUE(bare.present);
  EXPECT_FALSE(bare.has_cached_tokens);
  EXPECT_FALSE(openai::ParseUsage(json::parse(R"({"usage": null})")).present);
  EXPECT_FALSE(openai::ParseUsage(json::parse("[1, 2]")).present);
}

TEST(OpenAIProtocolTest, ErrorMessagesAndUrlRoots) {
  EXPECT_EQ(openai::ErrorMessage(R"({"error": {"message": "bad model", "type": "invalid"}})"), "bad model");
  EXPECT_EQ(openai::ErrorMessage(R"({"error": "plain"})"), "plain");
  EXPECT_EQ(openai::ErrorMessage("<html>oops</html>\n"), "<html>oops</html>");
  EXPECT_EQ(openai::ErrorMessage(""), "(empty body)");
  auto r = openai::SplitBaseUrl("https://api.example.com/v1/");
  EXPECT_EQ(r.api, "https://api.example.com/v1");
  EXPECT_EQ(r.server, "https://api.example.com");
  r = openai::SplitBaseUrl("http://127.0.0.1:8080");
  EXPECT_EQ(r.api, "http://127.0.0.1:8080/v1");
  EXPECT_EQ(r.server, "http://127.0.0.1:8080");
}

TEST(OpenAIProtocolTest, CreateChecksOptions) {
  OpenAIBackendOptions o;
  EXPECT_FALSE(OpenAIBackend::Create(o).ok());
  o.base_url = "ftp://x";
  EXPECT_FALSE(OpenAIBackend::Create(o).ok());
  o.base_url = "http://127.0.0.1:1";
  o.extra_body_json = "[1]";
  EXPECT_FALSE(OpenAIBackend::Create(o).ok());
  o.extra_body_json = R"({"top_k": 1})";
  o.model = "m";
  auto b = OpenAIBackend::Create(o);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ((*b)->ModelFingerprint(), "openai:http://127.0.0.1:1:m");
  EXPECT_FALSE((*b)->HasChatTemplate());
  EXPECT_EQ((*b)->RenderChat({{"user", "hi"}}).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE((*b)->ModelMetadata("general.name").has_value());
  EXPECT_EQ((*b)->NextTokenLogits({"", "x"}, false).status().code(), StatusCode::kFailedPrecondition);
}

TEST(OpenAIProtocolTest, ChatRenderingSplitsAtTheLastMessage) {
  OpenAIBackendOptions o;
  o.base_url = "http://127.0.0.1:1";
  o.use_completions_endpoint = false;
  auto b = MakeBackend(o);
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(b->HasChatTemplate());
  auto p = b->RenderChat({{"system", "ctx"}, {"user", "q"}});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->prefix, "ctx");
  EXPECT_EQ(p->suffix, "q");
  p = b->RenderChat({{"system", "ctx"}, {"user", "a"}, {"assistant", "b"}, {"user", "q"}});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->prefix, "ctx\nuser: a\nassistant: b");
  EXPECT_EQ(p->suffix, "q");
}

// ---------------------------------------------------------------------------
// A scripted HTTP/1.1 responder: answers the n-th request with script[n] (the
// last entry repeats) and records every request. One connection at a time.

struct Reply {
  int code = 200;
  std::string body;
  std::string content_type = "application/json";
};

class ScriptedServer {
 public:
  explicit ScriptedServer(std::vector<Reply> script) : script_(std::move(script)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    listen(fd_, 16);
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~ScriptedServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return static_cast<int>(Requests().size()); }
  std::vector<std::string> Requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  void Loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      std::string req = ReadRequest(c);
      size_t n;
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.push_back(req);
        n = requests_.size() - 1;
      }
      const Reply& r = script_[std::min(n, script_.size() - 1)];
      std::string head = "HTTP/1.1 " + std::to_string(r.code) + " X\r\nContent-Type: " + r.content_type +
                         "\r\nContent-Length: " + std::to_string(r.body.size()) +
                         "\r\nConnection: close\r\n\r\n";
      std::string out = head + r.body;
      for (size_t sent = 0; sent < out.size();) {
        ssize_t k = send(c, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
        if (k <= 0) break;
        sent += static_cast<size_t>(k);
      }
      close(c);
    }
  }
  // Request line, headers and Content-Length bytes of body.
  static std::string ReadRequest(int c) {
    std::string data;
    char buf[4096];
    size_t want = std::string::npos;
    while (data.size() < want) {
      ssize_t k = recv(c, buf, sizeof(buf), 0);
      if (k <= 0) break;
      data.append(buf, static_cast<size_t>(k));
      size_t end = data.find("\r\n\r\n");
      if (want == std::string::npos && end != std::string::npos) {
        size_t cl = data.find("Content-Length: ");
        size_t body_len = cl != std::string::npos && cl < end ? std::stoul(data.substr(cl + 16)) : 0;
        want = end + 4 + body_len;
      }
    }
    return data;
  }

  std::vector<Reply> script_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<std::string> requests_;
};

const char* kCanned = R"({"choices": [{"text": " forty-two", "index": 0, "finish_reason": "stop"}],
  "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10,
            "prompt_tokens_details": {"cached_tokens": 5},
            "completion_tokens_details": {"reasoning_tokens": 1}}})";

OpenAIBackendOptions FastRetries(const std::string& url, int retries) {
  OpenAIBackendOptions o;
  o.base_url = url;
  o.model = "canned";
  o.api_key = "sk-test";
  o.context_window = 2048;
  o.max_retries = retries;
  o.retry_backoff_ms = 5;
  o.timeout_ms = 5000;
  o.connect_timeout_ms = 1000;
  return o;
}

TEST(OpenAIBackendRetryTest, RetriesOn503And429ThenSucceeds) {
  ScriptedServer server({{503, R"({"error": {"message": "loading"}})"}, {429, "slow down"}, {200, kCanned}});
  auto b = MakeBackend(FastRetries(server.url(), 3));
  ASSERT_NE(b, nullptr);
  GenerateOptions g;
  g.max_tokens = 8;
  g.stop = {"\n", "###"};
  g.seed = 9;
  auto r = b->Generate({"The answer", " is"}, g);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(server.requests(), 3);
  EXPECT_EQ(r->text, " forty-two");
  EXPECT_EQ(r->finish, FinishReason::kStop);
  EXPECT_EQ(r->usage.prompt_tokens, 7);
  EXPECT_EQ(r->usage.completion_tokens, 3);
  EXPECT_EQ(r->usage.cached_tokens, 5);
  EXPECT_EQ(r->usage.reasoning_tokens, 1);
  EXPECT_EQ(r->prefix_source, PrefixSource::kResident);

  // What went over the wire.
  std::string req = server.Requests().back();
  EXPECT_NE(req.find("POST /v1/completions "), std::string::npos) << req;
  EXPECT_NE(req.find("Authorization: Bearer sk-test"), std::string::npos);
  json body = json::parse(req.substr(req.find("\r\n\r\n") + 4));
  EXPECT_EQ(body["prompt"], "The answer is");
  EXPECT_EQ(body["model"], "canned");
  EXPECT_EQ(body["max_tokens"], 8);
  EXPECT_EQ(body["seed"], 9);
  EXPECT_EQ(body["stream"], false);
  EXPECT_EQ(body["stop"], json({"\n", "###"}));
}

TEST(OpenAIBackendRetryTest, GivesUpAfterTheConfiguredRetries) {
  ScriptedServer server({{503, R"({"error": {"message": "overloaded"}})"}});
  auto b = MakeBackend(FastRetries(server.url(), 2));
  ASSERT_NE(b, nullptr);
  auto r = b->Generate({"", "x"}, GenerateOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(server.requests(), 3);
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("HTTP 503: overloaded"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(server.url() + "/v1/completions"), std::string::npos);
}

TEST(OpenAIBackendRetryTest, OtherClientErrorsAreNotRetried) {
  ScriptedServer server({{400, R"({"error": {"message": "model 'canned' does not exist"}})"}});
  auto b = MakeBackend(FastRetries(server.url(), 3));
  ASSERT_NE(b, nullptr);
  auto r = b->Generate({"", "x"}, GenerateOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(server.requests(), 1);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("HTTP 400: model 'canned' does not exist"), std::string::npos)
      << r.status().message();
}

TEST(OpenAIBackendRetryTest, ConnectionRefusedFailsFastAfterRetries) {
  auto b = MakeBackend(FastRetries("http://127.0.0.1:" + std::to_string(FreePort()), 2));
  ASSERT_NE(b, nullptr);
  auto t0 = Clock::now();
  auto r = b->Generate({"", "x"}, GenerateOptions{});
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("3 attempts"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("/v1/completions"), std::string::npos) << r.status().message();
  EXPECT_LT(s, 5.0);
}

// A server that ignores "stop" and streams in pieces that split stop strings
// and SSE lines: the client cuts the text itself and names the stop string.
TEST(OpenAIBackendRetryTest, StreamsAndAppliesStopStringsItself) {
  std::string sse;
  for (const char* piece : {"Step one", ". ST", "OP never", " streamed"}) {
    json chunk = {{"choices", {{{"text", piece}, {"index", 0}, {"finish_reason", nullptr}}}}};
    sse += "data: " + chunk.dump() + "\r\n\r\n";
  }
  sse += "data: [DONE]\n\n";
  ScriptedServer server({{200, sse, "text/event-stream"}});
  auto b = MakeBackend(FastRetries(server.url(), 0));
  ASSERT_NE(b, nullptr);
  GenerateOptions g;
  g.stop = {"a", "b", "c", "d", ". STOP"};  // the fifth is never sent to the server
  std::string streamed;
  g.on_text = [&](std::string_view s) { streamed += s; };
  auto r = b->Generate({"", "go"}, g);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->text, "Step one");
  EXPECT_EQ(streamed, r->text);
  EXPECT_EQ(r->finish, FinishReason::kStop);
  EXPECT_EQ(r->stop_matched, ". STOP");
  json body = json::parse(server.Requests()[0].substr(server.Requests()[0].find("\r\n\r\n") + 4));
  EXPECT_EQ(body["stop"].size(), 4u);
  EXPECT_EQ(body["stream_options"]["include_usage"], true);
}

// A server cuts the stop string off; which one it was is known only where
// the server names it (vLLM's "stop_reason") or only one was sent.
TEST(OpenAIBackendRetryTest, NamesTheStopTheServerApplied) {
  auto reply = [](const std::string& extra) {
    return R"({"choices": [{"text": "B=17.", "index": 0, "finish_reason": "stop")" + extra +
           R"(}], "usage": {"prompt_tokens": 2, "completion_tokens": 5, "total_tokens": 7}})";
  };
  std::string filtered = reply("");
  filtered.replace(filtered.find("\"stop\""), 6, "\"content_filter\"");
  ScriptedServer server({{200, reply(R"(, "stop_reason": " answer:")")},
                         {200, reply("")},
                         {200, reply(R"(, "stop_reason": 13)")},
                         {200, filtered}});
  auto b = MakeBackend(FastRetries(server.url(), 0));
  ASSERT_NE(b, nullptr);
  GenerateOptions two;
  two.stop = {"\n", " answer:"};
  auto named = b->Generate({"", "go"}, two);
  ASSERT_TRUE(named.ok()) << named.status().ToString();
  EXPECT_EQ(named->finish, FinishReason::kStop);
  EXPECT_EQ(named->stop_matched, " answer:");
  GenerateOptions one;
  one.stop = {" answer:"};
  auto only = b->Generate({"", "go"}, one);
  ASSERT_TRUE(only.ok()) << only.status().ToString();
  EXPECT_EQ(only->stop_matched, " answer:");
  auto unnamed = b->Generate({"", "go"}, two);  // a stop token's id names no string
  ASSERT_TRUE(unnamed.ok()) << unnamed.status().ToString();
  EXPECT_EQ(unnamed->finish, FinishReason::kStop);
  EXPECT_EQ(unnamed->stop_matched, "");
  auto ended = b->Generate({"", "go"}, two);  // the server ended it, no stop string did
  ASSERT_TRUE(ended.ok()) << ended.status().ToString();
  EXPECT_EQ(ended->finish, FinishReason::kEndOfText);
}

TEST(OpenAIBackendRetryTest, WithoutTokenizeEndpointCountsAreEstimated) {
  ScriptedServer server({{404, R"({"error": {"message": "File Not Found"}})"}});
  auto b = MakeBackend(FastRetries(server.url(), 3));
  ASSERT_NE(b, nullptr);
  auto t = b->Tokenize("hello", true);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(t.status().message().find("/tokenize"), std::string::npos) << t.status().message();
  auto n = b->CountTokens({"12345", "6789"});  // 9 bytes
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 3);
  EXPECT_EQ(server.requests(), 1);  // asked once, then remembered
  EXPECT_EQ(b->Detokenize({1, 2}), "");
  EXPECT_EQ(b->ContextWindow(), 2048);
}

// ---------------------------------------------------------------------------
// A real llama-server, started once for the suite.

class OpenAIBackendLlamaServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kServer)) return;
    model_ = fs::exists(kDemoModel) ? kDemoModel : TinyModelPath();
    log_dir_ = MakeTempDir("openai-backend-test");
    port_ = FreePort();
    pid_ = fork();
    if (pid_ == 0) {
      int log = open((log_dir_ + "/server.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(log, 1);
      dup2(log, 2);
      std::string p = std::to_string(port_), c = std::to_string(kServerCtx);
      // One slot, so a repeated prefix always finds the slot that cached it.
      execl(kServer.c_str(), "llama-server", "-m", model_.c_str(), "--host", "127.0.0.1", "--port", p.c_str(),
            "-c", c.c_str(), "-t", "1", "-np", "1", "--no-ui", static_cast<char*>(nullptr));
      _exit(127);
    }
    OpenAIBackendOptions o;
    o.base_url = "http://127.0.0.1:" + std::to_string(port_);
    o.max_retries = 0;
    auto probe = OpenAIBackend::Create(o);
    for (int i = 0; i < 300 && !ready_; ++i) {
      // /tokenize answers only once the model is loaded (503 before).
      ready_ = probe.ok() && (*probe)->Tokenize("x", false).ok();
      if (!ready_) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  static void TearDownTestSuite() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    if (!log_dir_.empty()) fs::remove_all(log_dir_, ec);
  }
  void SetUp() override {
    if (!fs::exists(kServer)) GTEST_SKIP() << "no " << kServer;
    ASSERT_TRUE(ready_) << "llama-server did not come up; log:\n" << ServerLog();
    OpenAIBackendOptions o;
    o.base_url = url() + "/v1";
    o.timeout_ms = 60000;
    backend_ = MakeBackend(o);
    ASSERT_NE(backend_, nullptr);
  }
  static std::string url() { return "http://127.0.0.1:" + std::to_string(port_); }
  static std::string ServerLog() {
    std::ifstream in(log_dir_ + "/server.log");
    std::stringstream s;
    s << in.rdbuf();
    std::string all = s.str();
    return all.size() > 4000 ? all.substr(all.size() - 4000) : all;
  }
  // A problem of the demo model's language: the model writes reasoning steps.
  static Prompt ProblemPrompt(uint64_t index) {
    auto p = lang::GenerateProblem(lang::SplitSeed(lang::Split::kHeldOut, index));
    return {lang::RenderAnswerPrefix(p), lang::RenderQuestion(p.queries[0])};
  }

  static inline std::string model_;
  static inline std::string log_dir_;
  static inline int port_ = 0;
  static inline pid_t pid_ = -1;
  static inline bool ready_ = false;
  std::unique_ptr<OpenAIBackend> backend_;
};

TEST_F(OpenAIBackendLlamaServerTest, GreedyCompletionIsRepeatable) {
  GenerateOptions g;
  g.max_tokens = 40;
  auto a = backend_->Generate(ProblemPrompt(1), g);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_FALSE(a->text.empty());
  EXPECT_GT(a->usage.prompt_tokens, 0);
  EXPECT_GT(a->usage.completion_tokens, 0);
  EXPECT_LE(a->usage.completion_tokens, 40);
  EXPECT_GT(a->timings.total_ms, 0);
  auto b = backend_->Generate(ProblemPrompt(1), g);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(a->text, b->text);
  EXPECT_EQ(a->usage.completion_tokens, b->usage.completion_tokens);
}

TEST_F(OpenAIBackendLlamaServerTest, StreamedPiecesMakeTheSameText) {
  GenerateOptions g;
  g.max_tokens = 40;
  auto plain = backend_->Generate(ProblemPrompt(2), g);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  std::vector<std::string> pieces;
  int tokens = 0;
  g.on_text = [&](std::string_view s) { pieces.emplace_back(s); };
  g.on_token = [&](int n) { tokens = n; };
  auto streamed = backend_->Generate(ProblemPrompt(2), g);
  ASSERT_TRUE(streamed.ok()) << streamed.status().ToString();
  std::string joined;
  for (const auto& p : pieces) joined += p;
  EXPECT_EQ(joined, streamed->text);
  EXPECT_EQ(streamed->text, plain->text);
  EXPECT_GT(pieces.size(), 1u);
  EXPECT_GT(tokens, 0);
  EXPECT_EQ(streamed->usage.completion_tokens, plain->usage.completion_tokens);  // the usage chunk
  EXPECT_EQ(streamed->finish, plain->finish);
  EXPECT_LE(streamed->timings.ttft_ms, streamed->timings.total_ms);
}

TEST_F(OpenAIBackendLlamaServerTest, StopStringsAndMaxTokens) {
  GenerateOptions g;
  g.max_tokens = 60;
  auto full = backend_->Generate(ProblemPrompt(3), g);
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  ASSERT_GE(full->text.size(), 8u) << full->text;
  // A stop string from the middle of what the model writes anyway.
  std::string stop = full->text.substr(full->text.size() / 2, 3);
  std::string want = full->text.substr(0, full->text.find(stop));
  g.stop = {stop};
  for (bool stream : {false, true}) {
    std::string streamed;
    g.on_text =
        stream ? std::function<void(std::string_view)>([&](std::string_view s) { streamed += s; }) : nullptr;
    auto cut = backend_->Generate(ProblemPrompt(3), g);
    ASSERT_TRUE(cut.ok()) << cut.status().ToString();
    EXPECT_EQ(cut->text, want) << "stop '" << stop << "', stream " << stream;
    EXPECT_EQ(cut->finish, FinishReason::kStop);
    if (stream) {
      EXPECT_EQ(streamed, want);
    }
  }

  GenerateOptions few;
  few.max_tokens = 3;
  auto r = backend_->Generate(ProblemPrompt(3), few);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_LE(r->usage.completion_tokens, 3);
  if (r->usage.completion_tokens == 3) {
    EXPECT_EQ(r->finish, FinishReason::kLength);
  }
  EXPECT_TRUE(full->text.starts_with(r->text)) << r->text;
}

TEST_F(OpenAIBackendLlamaServerTest, RepeatedPrefixIsServedFromTheServersCache) {
  Prompt p = ProblemPrompt(4);
  auto saved = backend_->SavePrefix(p.prefix);
  ASSERT_TRUE(saved.ok()) << saved.status().ToString();
  EXPECT_GT(saved->n_tokens, 0);
  EXPECT_FALSE(saved->key.empty());
  GenerateOptions g;
  g.max_tokens = 4;
  auto r = backend_->Generate(p, g);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // This llama-server reports prompt_tokens_details.cached_tokens.
  EXPECT_GT(r->usage.cached_tokens, saved->n_tokens / 2) << "prefix " << saved->n_tokens << " tokens";
  EXPECT_LT(r->usage.cached_tokens, r->usage.prompt_tokens);
  EXPECT_EQ(r->prefix_source, PrefixSource::kResident);
}

TEST_F(OpenAIBackendLlamaServerTest, ShouldContinueCancels) {
  GenerateOptions g;
  g.max_tokens = 40;
  auto full = backend_->Generate(ProblemPrompt(5), g);
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  // Stop once three tokens have arrived.
  int seen = 0;
  g.on_token = [&](int n) { seen = n; };
  g.should_continue = [&] { return seen < 3; };
  auto r = backend_->Generate(ProblemPrompt(5), g);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->finish, FinishReason::kCancelled);
  EXPECT_EQ(r->usage.completion_tokens, 3);  // counted from the chunks: no usage chunk came
  EXPECT_GT(r->usage.prompt_tokens, 0);
  EXPECT_FALSE(r->text.empty());
  EXPECT_TRUE(full->text.starts_with(r->text)) << r->text << " vs " << full->text;

  g.should_continue = [] { return false; };
  auto none = backend_->Generate(ProblemPrompt(5), g);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(none->finish, FinishReason::kCancelled);
  EXPECT_EQ(none->text, "");

  // The server is still usable afterwards.
  GenerateOptions plain;
  plain.max_tokens = 4;
  EXPECT_TRUE(backend_->Generate(ProblemPrompt(5), plain).ok());
}

TEST_F(OpenAIBackendLlamaServerTest, ClientErrorCarriesTheServersMessage) {
  // A prompt longer than the server's window.
  std::string big;
  while (big.size() < 8 * kServerCtx) big += "Ann has 12 apples. ";
  auto r = backend_->Generate({big, "How many?"}, GenerateOptions{});
  ASSERT_FALSE(r.ok());
  const std::string m = r.status().message();
  EXPECT_NE(m.find("HTTP 400"), std::string::npos) << m;
  EXPECT_NE(m.find(url() + "/v1/completions"), std::string::npos) << m;
  EXPECT_NE(m.find("context"), std::string::npos) << m;   // the server's own words
  EXPECT_EQ(m.find("attempts"), std::string::npos) << m;  // not retried
}

TEST_F(OpenAIBackendLlamaServerTest, TokenizesLikeTheInProcessBackend) {
  auto local = OpenTestBackend(model_, "", 512);
  ASSERT_NE(local, nullptr);
  Prompt p = ProblemPrompt(6);
  for (bool bos : {true, false}) {
    auto remote = backend_->Tokenize(p.prefix, bos);
    ASSERT_TRUE(remote.ok()) << remote.status().ToString();
    auto mine = local->Tokenize(p.prefix, bos);
    ASSERT_TRUE(mine.ok());
    EXPECT_EQ(*remote, *mine) << "bos " << bos;
  }
  auto n = backend_->CountTokens(p);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, *local->CountTokens(p));
  auto tokens = backend_->Tokenize(p.suffix, false);
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ(backend_->Detokenize(*tokens), local->Detokenize(*tokens));
  EXPECT_EQ(backend_->ContextWindow(), kServerCtx);  // from /props
}

// One backend shared by threads: each call has its own connection (the
// server's single slot serializes them).
TEST_F(OpenAIBackendLlamaServerTest, ConcurrentCallsAgree) {
  GenerateOptions g;
  g.max_tokens = 8;
  auto want = backend_->Generate(ProblemPrompt(7), g);
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  std::vector<std::string> texts(4);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < texts.size(); ++i) {
    threads.emplace_back([&, i] {
      GenerateOptions mine = g;
      if (i % 2) mine.on_text = [](std::string_view) {};
      auto r = backend_->Generate(ProblemPrompt(7), mine);
      texts[i] = r.ok() ? r->text : "error: " + r.status().ToString();
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& t : texts) EXPECT_EQ(t, want->text);
}

// Sleep-time scaling over a remote server: the k candidates go out as
// concurrent requests, and a merge is one more request that reads them.
TEST_F(OpenAIBackendLlamaServerTest, EngineWritesCandidatesAsConcurrentRequestsAndMerges) {
  const std::string dir = MakeTempDir("openai-engine");
  auto store = Store::Open(dir + "/db.sqlite");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  Engine engine(backend_.get(), store->get(), lang::DemoPromptTemplates());
  const auto problem = lang::GenerateProblem(lang::SplitSeed(lang::Split::kHeldOut, 3));
  ASSERT_TRUE((*store)->PutContext("c", lang::RenderContext(problem)).ok());
  SleepOptions so;
  so.budget = 24;
  so.passes = 2;
  auto concatenated = engine.Sleep("c", so);
  ASSERT_TRUE(concatenated.ok()) << concatenated.status().ToString();
  EXPECT_EQ(concatenated->parallel, 2);  // min(k, the backend's max_parallel)
  EXPECT_NE(concatenated->learned.text.find(lang::kNotesSeparator), std::string::npos)
      << concatenated->learned.text;
  so.combine = CombineMode::kMerge;
  auto merged = engine.Sleep("c", so);
  ASSERT_TRUE(merged.ok()) << merged.status().ToString();
  EXPECT_TRUE(merged->merged);
  EXPECT_EQ(merged->learned.text.find(lang::kNotesSeparator), std::string::npos) << merged->learned.text;
  EXPECT_GT(merged->completion_tokens, 0);
  store->reset();
  fs::remove_all(dir);
}

// llama-server cuts the demo model's own " answer:" off without naming it;
// the engine still writes the answer (it once returned the reasoning alone).
TEST_F(OpenAIBackendLlamaServerTest, EngineAnswersAfterTheModelsOwnMarker) {
  if (model_ != kDemoModel) GTEST_SKIP() << "needs the trained demo model";
  const std::string dir = MakeTempDir("openai-marker");
  auto store = Store::Open(dir + "/db.sqlite");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  Engine engine(backend_.get(), store->get(), lang::DemoPromptTemplates());
  int answered = 0, asked = 0;
  for (uint64_t i = 0; i < 4; ++i) {
    const auto problem = lang::GenerateProblem(lang::SplitSeed(lang::Split::kHeldOut, i));
    const std::string id = "p" + std::to_string(i);
    ASSERT_TRUE((*store)->PutContext(id, lang::RenderContext(problem)).ok());
    for (const auto& q : problem.queries) {
      if (q.kind != lang::QueryKind::kValue || q.steps > 2) continue;
      AskOptions ao;
      ao.budget = 200;
      ao.use_learned = false;
      auto r = engine.Ask(id, q.text, ao);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ++asked;
      if (!r->forced && r->answer.find(lang::kAnswerMarker) != std::string::npos &&
          lang::ParseAnswer(r->answer))
        ++answered;
    }
  }
  ASSERT_GT(asked, 0);
  // The trained model ends every short trace with its own marker.
  EXPECT_EQ(answered, asked);
  store->reset();
  fs::remove_all(dir);
}

TEST_F(OpenAIBackendLlamaServerTest, ChatEndpoint) {
  OpenAIBackendOptions o;
  o.base_url = url();
  o.use_completions_endpoint = false;
  o.timeout_ms = 60000;
  auto chat = MakeBackend(o);
  ASSERT_NE(chat, nullptr);
  auto prompt =
      chat->RenderChat({{"system", "Ann has 12 apples."}, {"user", "How many apples does Ann have?"}});
  ASSERT_TRUE(prompt.ok());
  GenerateOptions g;
  g.max_tokens = 8;
  for (bool stream : {false, true}) {
    std::string streamed;
    g.on_text =
        stream ? std::function<void(std::string_view)>([&](std::string_view s) { streamed += s; }) : nullptr;
    auto r = chat->Generate(*prompt, g);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_GT(r->usage.prompt_tokens, 0);
    EXPECT_GT(r->usage.completion_tokens, 0);
    EXPECT_LE(r->usage.completion_tokens, 8);
    if (stream) {
      EXPECT_EQ(streamed, r->text);
    }
  }
}

}  // namespace
