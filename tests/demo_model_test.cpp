// The shipped demo model (models/sleeptime-demo.gguf): all three formats
// through the in-process backend, its KV state, and llama-server over HTTP.
// Skipped while the model is not in the tree.
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "sleeptime/demo_eval.h"
#include "sleeptime/engine.h"
#include "sleeptime/llama_backend.h"
#include "sleeptime/reasoning_language.h"
#include "support/test_model.h"

namespace fs = std::filesystem;
using namespace sleeptime;

namespace {

// SLEEPTIME_DEMO_MODEL points the suite at another file (a training snapshot).
const std::string kModel = std::getenv("SLEEPTIME_DEMO_MODEL")
                               ? std::getenv("SLEEPTIME_DEMO_MODEL")
                               : std::string(SLEEPTIME_SOURCE_DIR) + "/models/sleeptime-demo.gguf";
const std::string kServer = std::string(SLEEPTIME_SOURCE_DIR) + "/third_party/llama/bin/llama-server";

class DemoModelTest : public ScratchBackendTest {
 protected:
  void SetUp() override {
    if (!fs::exists(kModel)) GTEST_SKIP() << kModel << " not shipped yet";
    dir_ = MakeTempDir("demo-model");
    backend_ = OpenTestBackend(kModel, dir_ + "/kv", 512);
    ASSERT_NE(backend_, nullptr);
  }
};

TEST_F(DemoModelTest, CarriesItsPromptTemplates) {
  auto t = LoadPromptTemplates(
      [&](const std::string& n) { return backend_->ModelMetadata(kModelPromptKeyPrefix + n); }, "");
  ASSERT_TRUE(t.ok());
  PromptTemplates want = lang::DemoPromptTemplates();
  EXPECT_EQ(t->sleep, want.sleep);
  EXPECT_EQ(t->merge, want.merge);  // derived from its sleep prompt when the file has none
  EXPECT_EQ(t->question, want.question);
  EXPECT_EQ(t->force_answer, want.force_answer);
  EXPECT_EQ(t->stop, want.stop);
}

// The formats, not the accuracy (models/README.md has the measured numbers):
// a random-weight model writes no parsable answer and states no quantity, so
// these fail for it.
TEST_F(DemoModelTest, AllThreeFormatsOnHeldOutProblems) {
  DemoEvalOptions o;
  o.problems = 8;
  o.first_problem = 5000;
  auto r = RunDemoEval(backend_.get(), dir_, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GE(r->reasoned.at(0).well_formed_rate(), 0.9) << r->ToMarkdown();
  EXPECT_GE(r->direct.at(0).well_formed_rate(), 0.9) << r->ToMarkdown();
  EXPECT_GE(r->notes.at(0).well_formed_rate(), 0.9) << r->ToMarkdown();
  EXPECT_GT(r->notes_stated, 0) << r->ToMarkdown();  // names the context's quantities
  // Answering from notes costs fewer test-time tokens than reasoning from the raw context.
  EXPECT_LT(r->notes.at(0).mean_tokens(), r->reasoned.at(0).mean_tokens());
}

TEST_F(DemoModelTest, KvStateRestoresToTheSameLogits) {
  auto p = lang::GenerateProblem(lang::SplitSeed(lang::Split::kHeldOut, 7));
  Prompt prompt{lang::RenderAnswerPrefix(p), lang::RenderQuestion(p.queries[0])};
  auto cold = backend_->NextTokenLogits(prompt, false);
  ASSERT_TRUE(cold.ok());
  ASSERT_TRUE(backend_->SavePrefix(prompt.prefix).ok());
  backend_->EvictResidentPrefixes();
  backend_->kv_cache().DropMemoryTier();
  auto restored = backend_->NextTokenLogits(prompt, true);
  ASSERT_TRUE(restored.ok());
  EXPECT_EQ(restored->prefix_source, PrefixSource::kDisk);
  float diff = 0;
  for (size_t i = 0; i < cold->values.size(); ++i)
    diff = std::max(diff, std::fabs(cold->values[i] - restored->values[i]));
  EXPECT_LT(diff, 1e-2f);
}

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// HTTP through libcurl; returns the status code (0 when nothing answered).
long Http(const std::string& url, const std::string* body, std::string* response) {
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, response);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
  struct curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  if (body) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  }
  long code = 0;
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return code;
}

TEST_F(DemoModelTest, LoadsInLlamaServer) {
  if (!fs::exists(kServer)) GTEST_SKIP() << "no " << kServer;
  int port = 18000 + static_cast<int>(getpid() % 2000);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::string p = std::to_string(port);
    execl(kServer.c_str(), "llama-server", "-m", kModel.c_str(), "--host", "127.0.0.1", "--port", p.c_str(),
          "-c", "512", "-t", "1", "-np", "1", "--no-ui", static_cast<char*>(nullptr));
    _exit(127);
  }
  std::string base = "http://127.0.0.1:" + std::to_string(port);
  bool ready = false;
  for (int i = 0; i < 100 && !ready; ++i) {
    std::string r;
    ready = Http(base + "/health", nullptr, &r) == 200;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto p = lang::GenerateProblem(lang::SplitSeed(lang::Split::kHeldOut, 11));
  const auto& q = p.queries[0];
  nlohmann::json req = {
      {"prompt", lang::RenderAnswerPrompt(p, q)}, {"n_predict", 200}, {"temperature", 0}, {"stop", {"\n"}}};
  std::string body = req.dump(), response;
  long code = ready ? Http(base + "/completion", &body, &response) : 0;
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  ASSERT_TRUE(ready) << "llama-server did not come up";
  ASSERT_EQ(code, 200) << response;
  auto j = nlohmann::json::parse(response);
  std::string content = j["content"];
  // Same greedy decode as the in-process backend.
  GenerateOptions g;
  g.max_tokens = 200;
  g.stop = {"\n"};
  auto local = backend_->Generate({lang::RenderAnswerPrefix(p), lang::RenderQuestion(q)}, g);
  ASSERT_TRUE(local.ok());
  EXPECT_TRUE(lang::ParseAnswer(content).has_value()) << content;
  EXPECT_EQ(lang::ParseAnswer(content), lang::ParseAnswer(local->text)) << content << " vs " << local->text;
}

}  // namespace
