// A child process for the multi-process tests (nodes, clients in namespaces, `crossgpu status`):
// started with posix_spawn, its stdout (and optionally stderr) on a pipe read line by line, and
// signalled and reaped when destroyed, so a failing test never leaves a node running.
#pragma once

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace crossgpu::testing {

class ChildProcess {
 public:
  struct Options {
    bool capture_stderr = false;  // stderr joins stdout on the pipe
    bool search_path = false;     // args[0] is looked up in PATH (posix_spawnp)
    int stop_signal = SIGKILL;    // sent at destruction if the child still runs
  };

  explicit ChildProcess(std::vector<std::string> args) : ChildProcess(std::move(args), Options{}) {}
  ChildProcess(std::vector<std::string> args, Options options) : stop_signal_(options.stop_signal) {
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    if (options.capture_stderr) posix_spawn_file_actions_adddup2(&actions, out[1], 2);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    const int failed =
        options.search_path
            ? posix_spawnp(&pid_, argv[0], &actions, nullptr, argv.data(), environ)
            : posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    out_ = fdopen(out[0], "r");
    if (failed != 0) {
      pid_ = -1;
      throw std::runtime_error("cannot start " + args[0]);
    }
  }
  ~ChildProcess() {
    if (pid_ > 0) {
      kill(pid_, stop_signal_);
      waitpid(pid_, nullptr, 0);
    }
    if (out_) fclose(out_);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The next output line containing `needle`, or "" when the output ends first. Every line read
  // is appended to *seen when given.
  std::string wait_for(const std::string& needle, std::string* seen = nullptr) {
    char line[4096];
    while (out_ && fgets(line, sizeof(line), out_)) {
      if (seen) *seen += line;
      if (std::string(line).find(needle) != std::string::npos) return line;
    }
    return {};
  }
  // All output until the child closes it.
  std::string rest() {
    std::string all;
    char buffer[4096];
    while (std::size_t n = fread(buffer, 1, sizeof(buffer), out_)) all.append(buffer, n);
    return all;
  }
  void signal(int sig) const { kill(pid_, sig); }

  // Whether output is waiting to be read within `timeout_ms` (nothing is consumed). Only
  // meaningful before the first read, which may buffer what it does not return.
  bool output_ready(int timeout_ms) const {
    if (!out_) return false;
    pollfd p{fileno(out_), POLLIN, 0};
    return ::poll(&p, 1, timeout_ms) > 0;
  }
  // The exit code, or 128 + the signal that ended it.
  int wait_exit() {
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
  int stop_signal_;
};

// The number right after `marker` in `line` ("... (port 7450)" with marker "(port ").
inline int number_after(const std::string& line, const std::string& marker) {
  const auto at = line.find(marker);
  if (at == std::string::npos) throw std::runtime_error("no '" + marker + "' in: " + line);
  return std::atoi(line.c_str() + at + marker.size());
}

}  // namespace crossgpu::testing
