// `sleeptime serve` as a child process, for tests that need the real CLI
// (signals, kill -9 and restart, other clients). Header-only.
//
// Start() runs SLEEPTIME_CLI_PATH with the given arguments (add "--port 0"
// to get a free port), its stdout and stderr going to a log file, and waits
// until it prints "listening on http://HOST:PORT". The destructor kills the
// process (SIGKILL) if it is still running.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

class ServeProcess {
 public:
  ServeProcess() = default;
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;
  ~ServeProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  // Starts `cli args...`, logging to `log_path`; returns "" once it listens,
  // else what went wrong (with the log).
  std::string Start(const std::string& cli, const std::vector<std::string>& args, const std::string& log_path,
                    std::chrono::seconds timeout = std::chrono::seconds(120)) {
    log_path_ = log_path;
    // Everything the child needs is prepared here: after fork() it only calls
    // open, dup2 and execve (the parent has other threads).
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) {
      const std::string kv = *e;
      // Settings the test does not choose must not leak in from the environment.
      bool drop = false;
      for (const char* v : {"SLEEPTIME_MODEL=", "SLEEPTIME_DATA_DIR=", "SLEEPTIME_HOST=", "SLEEPTIME_PORT=",
                            "SLEEPTIME_API_KEYS="})
        drop = drop || kv.rfind(v, 0) == 0;
      if (!drop) env_strings.push_back(kv);
    }
    std::vector<char*> envp;
    for (std::string& kv : env_strings) envp.push_back(kv.data());
    envp.push_back(nullptr);
    std::vector<std::string> arg_strings = {cli};
    arg_strings.insert(arg_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : arg_strings) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ < 0) return "fork failed";
    if (pid_ == 0) {
      const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (log >= 0) {
        dup2(log, 1);
        dup2(log, 2);
      }
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    const std::regex listening(R"(listening on http://([^ :]+):(\d+))");
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      std::smatch m;
      const std::string log = Log();
      if (std::regex_search(log, m, listening)) {
        port_ = std::stoi(m[2].str());
        base_url_ = "http://127.0.0.1:" + m[2].str();
        return "";
      }
      if (auto code = ExitCode(std::chrono::milliseconds(0)); code.has_value())
        return "sleeptime serve exited (" + std::to_string(*code) + ") before listening; log:\n" + log;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return "sleeptime serve did not print 'listening on' in time; log:\n" + Log();
  }

  // Sends `sig` to the process; false when it is not running.
  bool Signal(int sig) { return pid_ > 0 && kill(pid_, sig) == 0; }

  // Waits up to `timeout` for the process to end: its exit status (128 + the
  // signal when a signal ended it), or nullopt while it still runs.
  std::optional<int> ExitCode(std::chrono::milliseconds timeout) {
    if (exit_code_) return exit_code_;
    if (pid_ <= 0) return std::nullopt;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      int status = 0;
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        pid_ = -1;
        return exit_code_;
      }
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  std::string Log() const {
    std::ifstream in(log_path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  int port() const { return port_; }
  const std::string& base_url() const { return base_url_; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::optional<int> exit_code_;
  std::string base_url_;
  std::string log_path_;
};
