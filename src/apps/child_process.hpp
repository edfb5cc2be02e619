// A child process (fork + exec) whose stdout is read line by line: how `crossgpu demo` starts
// its node processes and learns their ports. The destructor stops it (SIGTERM, then SIGKILL).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace crossgpu::apps {

class ChildProcess {
 public:
  // args[0] is the program's path. Throws Errc::io when it cannot be started.
  explicit ChildProcess(std::vector<std::string> args);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The next stdout line containing `needle`; Errc::timeout after `timeout`, Errc::io when the
  // process ends first (its output so far in the message).
  std::string wait_for_line(const std::string& needle, std::chrono::milliseconds timeout);
  // SIGTERM, then SIGKILL after `grace`; returns the exit status (128 + signal when killed).
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(5));
  pid_t pid() const noexcept { return pid_; }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string buffered_;  // read but not yet returned
  std::string seen_;      // everything read, for error messages
};

}  // namespace crossgpu::apps
