// The `sleeptime` executable end to end, as a user runs it.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "support/test_model.h"

namespace fs = std::filesystem;

namespace {

struct CliRun {
  int code = -1;
  std::string out;  // stdout and stderr together
};

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cli_ = SLEEPTIME_CLI_PATH;
    dir_ = MakeTempDir("cli");
  }
  void TearDown() override { fs::remove_all(dir_); }

  CliRun Sleeptime(const std::string& args, bool with_model = true) {
    std::string cmd =
        "env -u SLEEPTIME_MODEL -u SLEEPTIME_DATA_DIR " + cli_ + " --data-dir " + dir_ + "/data -t 1 -c 2048";
    if (with_model) cmd += " --model " + TinyModelPath();
    cmd += " " + args + " 2>&1";
    CliRun r;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return r;
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
    int status = pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
  }

  std::string cli_;
  std::string dir_;
};

TEST_F(CliTest, AddSleepAskStats) {
  auto add = Sleeptime("context add --id apples 'Ann has 12 apples. Bob has 5 more apples than Ann.'");
  ASSERT_EQ(add.code, 0) << add.out;
  EXPECT_NE(add.out.find("apples\tversion 1"), std::string::npos) << add.out;

  auto list = Sleeptime("context list");
  ASSERT_EQ(list.code, 0) << list.out;
  EXPECT_NE(list.out.find("apples"), std::string::npos);

  auto sleep = Sleeptime("sleep apples --budget 12 --json");
  ASSERT_EQ(sleep.code, 0) << sleep.out;
  auto json_start = sleep.out.find('{');
  ASSERT_NE(json_start, std::string::npos) << sleep.out;
  auto sj = nlohmann::json::parse(sleep.out.substr(json_start));
  EXPECT_GT(sj["sleep_completion_tokens"].get<int>(), 0);
  EXPECT_GT(sj["kv_tokens"].get<int>(), 0);

  // A new process: the KV state comes from disk.
  auto ask = Sleeptime("ask apples 'How many apples does Bob have?' --budget 8 --json");
  ASSERT_EQ(ask.code, 0) << ask.out;
  auto aj = nlohmann::json::parse(ask.out.substr(ask.out.find('{')));
  EXPECT_TRUE(aj["used_learned_context"].get<bool>());
  EXPECT_EQ(aj["prefix_source"], "disk");
  EXPECT_EQ(aj["cached_tokens"].get<int>(), sj["kv_tokens"].get<int>());
  EXPECT_LE(aj["completion_tokens"].get<int>(), 8);

  auto base = Sleeptime("ask apples 'How many apples does Bob have?' --budget 8 --no-sleep");
  ASSERT_EQ(base.code, 0) << base.out;
  EXPECT_NE(base.out.find("from raw context"), std::string::npos) << base.out;

  auto stats = Sleeptime("stats apples --json");
  ASSERT_EQ(stats.code, 0) << stats.out;
  auto st = nlohmann::json::parse(stats.out.substr(stats.out.find('[')));
  EXPECT_EQ(st[0]["queries_with_sleep"], 1);
  EXPECT_EQ(st[0]["queries_baseline"], 1);

  auto human = Sleeptime("stats");
  ASSERT_EQ(human.code, 0) << human.out;
  EXPECT_NE(human.out.find("N=10"), std::string::npos) << human.out;

  auto show = Sleeptime("context show apples", false);
  ASSERT_EQ(show.code, 0) << show.out;
  EXPECT_NE(show.out.find("learned context #"), std::string::npos);

  auto rm = Sleeptime("context rm apples", false);
  ASSERT_EQ(rm.code, 0) << rm.out;
  EXPECT_NE(Sleeptime("context show apples", false).code, 0);
}

TEST_F(CliTest, ContextFromFileAndStdinVersions) {
  std::string f = dir_ + "/ctx.txt";
  std::ofstream(f) << "Dee has 3 pears.";
  auto a = Sleeptime("context add --id pears --file " + f, false);
  ASSERT_EQ(a.code, 0) << a.out;
  auto b = Sleeptime("context add --id pears - < /dev/null", false);
  EXPECT_NE(b.code, 0);
  EXPECT_NE(b.out.find("empty"), std::string::npos) << b.out;
  std::ofstream(f) << "Dee has 4 pears.";
  auto c = Sleeptime("context add --id pears --file - < " + f, false);
  ASSERT_EQ(c.code, 0) << c.out;
  EXPECT_NE(c.out.find("version 2"), std::string::npos) << c.out;
}

TEST_F(CliTest, ClearOneLineErrors) {
  auto add = Sleeptime("context add --id c1 'Ann has 1 apple.'", false);
  ASSERT_EQ(add.code, 0);
  auto m = Sleeptime("--model " + dir_ + "/none.gguf ask c1 'q'", false);
  EXPECT_NE(m.code, 0);
  EXPECT_NE(m.out.find("error: model file not found: " + dir_ + "/none.gguf"), std::string::npos) << m.out;

  auto unknown = Sleeptime("ask nope 'q'");
  EXPECT_EQ(unknown.code, 3);
  EXPECT_NE(unknown.out.find("error: context 'nope' not found"), std::string::npos) << unknown.out;

  auto unreadable = Sleeptime("context add --file " + dir_ + "/missing.txt", false);
  EXPECT_NE(unreadable.code, 0);
  EXPECT_NE(unreadable.out.find("error: no such file: " + dir_ + "/missing.txt"), std::string::npos)
      << unreadable.out;

  auto a_dir = Sleeptime("context add --file " + dir_, false);
  EXPECT_NE(a_dir.code, 0);
  EXPECT_NE(a_dir.out.find("is a directory"), std::string::npos) << a_dir.out;

  std::string big;
  for (int i = 0; i < 300; ++i) big += "Ann has 12 apples. ";
  std::ofstream(dir_ + "/big.txt") << big;
  ASSERT_EQ(Sleeptime("context add --id big --file " + dir_ + "/big.txt", false).code, 0);
  auto too_long = Sleeptime("ask big 'How many?'");
  EXPECT_EQ(too_long.code, 2);
  EXPECT_NE(too_long.out.find("the model's window is 2048"), std::string::npos) << too_long.out;

  auto bad_verbosity = Sleeptime("ask c1 'q' --verbosity 9");
  EXPECT_NE(bad_verbosity.code, 0);

  auto no_model = Sleeptime("ask c1 'q'", false);
  EXPECT_EQ(no_model.code, 2);
  EXPECT_NE(no_model.out.find("error: no model given"), std::string::npos) << no_model.out;
}

TEST_F(CliTest, HelpOnEveryCommand) {
  for (const char* cmd : {"", "context", "context add", "context list", "context show", "context rm", "sleep",
                          "ask", "stats", "gen-model", "templates"}) {
    auto r = Sleeptime(std::string(cmd) + " --help", false);
    EXPECT_EQ(r.code, 0) << cmd << ": " << r.out;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << cmd;
  }
}

// The templates a GGUF carries reach a remote backend only through files:
// `templates --from-model` writes them, plain `templates` the defaults.
TEST_F(CliTest, TemplatesFromModel) {
  const std::string demo = std::string(SLEEPTIME_SOURCE_DIR) + "/models/sleeptime-demo.gguf";
  if (!fs::exists(demo)) GTEST_SKIP() << "no shipped demo model";
  auto read = [](const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  auto defaults = Sleeptime("templates " + dir_ + "/defaults", false);
  ASSERT_EQ(defaults.code, 0) << defaults.out;
  auto carried = Sleeptime("--model " + demo + " templates --from-model " + dir_ + "/demo", false);
  ASSERT_EQ(carried.code, 0) << carried.out;
  EXPECT_NE(carried.out.find(dir_ + "/demo/sleep.txt"), std::string::npos) << carried.out;
  // The demo model's sleep prompt ends with its notes marker; the default one does not.
  EXPECT_NE(read(dir_ + "/demo/sleep.txt").find("NOTES:"), std::string::npos);
  EXPECT_EQ(read(dir_ + "/defaults/sleep.txt").find("NOTES:"), std::string::npos);

  auto no_model = Sleeptime("templates --from-model " + dir_ + "/none", false);
  EXPECT_EQ(no_model.code, 2);
  EXPECT_NE(no_model.out.find("error: no model given"), std::string::npos) << no_model.out;
}

}  // namespace
