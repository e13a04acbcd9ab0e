// The official `openai` npm client against the real `sleeptime serve`:
// starts the CLI on a free port with the tiny test model and an API key, then
// runs tests/openai_compat/compat.mjs (unchanged client code: chat
// completions plain and streamed, usage fields, a context made ready by the
// scheduler and answered from, typed errors) and expects it to pass.
// Skipped when node or the pinned client (scripts/setup.sh installs it) is
// missing.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "support/serve_process.h"
#include "support/test_model.h"

namespace {

namespace fs = std::filesystem;

const fs::path kCompatDir = fs::path(SLEEPTIME_SOURCE_DIR) / "tests" / "openai_compat";

// The first executable `name` on PATH, or "".
std::string FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (!path) return "";
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const fs::path p = fs::path(dir) / name;
    if (access(p.c_str(), X_OK) == 0) return p.string();
  }
  return "";
}

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct ShellRun {
  int code = -1;
  std::string out;
};

ShellRun Shell(const std::string& cmd) {
  ShellRun r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class OpenAICompatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    node_ = FindOnPath("node");
    if (node_.empty()) GTEST_SKIP() << "node is not on PATH: the openai npm compatibility test needs Node.js";
    if (!fs::exists(kCompatDir / "node_modules" / "openai" / "package.json"))
      GTEST_SKIP() << "the pinned openai npm package is not installed; run scripts/setup.sh "
                      "(or: npm ci --prefix tests/openai_compat)";
    dir_ = MakeTempDir("sleeptime-openai-compat-");
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  std::string node_, dir_;
};

TEST_F(OpenAICompatTest, OfficialClientPasses) {
  ASSERT_TRUE(fs::exists(TinyModelPath()));
  ServeProcess serve;
  // A small sleep budget: the tiny random model's notes never end on their own.
  const std::string err = serve.Start(
      SLEEPTIME_CLI_PATH,
      {"--model", TinyModelPath(), "--data-dir", dir_ + "/data", "-t", "1", "-c", "1024", "serve", "--host",
       "127.0.0.1", "--port", "0", "--api-key", "test-key", "--idle-seconds", "0.2", "--sleep-budget", "24"},
      dir_ + "/serve.log");
  ASSERT_EQ(err, "");
  ASSERT_GT(serve.port(), 0);

  const ShellRun run =
      Shell("timeout 600 " + Quote(node_) + " " + Quote((kCompatDir / "compat.mjs").string()) + " " +
            Quote(serve.base_url()) + " test-key");
  EXPECT_EQ(run.code, 0) << run.out << "\nserver log:\n" << serve.Log();
  EXPECT_NE(run.out.find("openai compat: all"), std::string::npos) << run.out;
  EXPECT_EQ(run.out.find("FAIL"), std::string::npos) << run.out;

  // The server is still healthy afterwards and shuts down cleanly.
  ASSERT_TRUE(serve.Signal(SIGTERM));
  EXPECT_EQ(serve.ExitCode(std::chrono::seconds(120)), 0) << serve.Log();
}

}  // namespace
