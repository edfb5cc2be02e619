#include "apps/child_process.hpp"

#include <poll.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "core/error.hpp"

namespace crossgpu::apps {

ChildProcess::ChildProcess(std::vector<std::string> args) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) fail(Errc::io, "cannot create a pipe for {}", args.at(0));
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) {
    ::close(out[0]);
    ::close(out[1]);
    fail(Errc::io, "cannot start {}: fork failed", args[0]);
  }
  if (pid_ == 0) {
    // Only async-signal-safe calls here (the parent has threads). The child dies with its
    // parent: a crashed or killed demo leaves no node behind.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(out[1], 1);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  out_fd_ = out[0];
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) stop(std::chrono::seconds(3));
  if (out_fd_ >= 0) ::close(out_fd_);
}

std::string ChildProcess::wait_for_line(const std::string& needle, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    for (std::size_t end; (end = buffered_.find('\n')) != std::string::npos;) {
      std::string line = buffered_.substr(0, end);
      buffered_.erase(0, end + 1);
      if (line.find(needle) != std::string::npos) return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) fail(Errc::timeout, "process {} did not print '{}' in time; its output: {}", pid_, needle, seen_);
    pollfd p{out_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char chunk[4096];
    const ssize_t n = ::read(out_fd_, chunk, sizeof(chunk));
    if (n <= 0) fail(Errc::io, "process {} ended before printing '{}'; its output: {}", pid_, needle, seen_);
    buffered_.append(chunk, static_cast<std::size_t>(n));
    seen_.append(chunk, static_cast<std::size_t>(n));
  }
}

int ChildProcess::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return 0;
  ::kill(pid_, SIGTERM);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace crossgpu::apps
