// Runs a command-line program as a user would, for the tests of the `crossgpu` command: shell
// words in, exit code, stdout and stderr (kept apart) out.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace crossgpu::testing {

struct CliOutcome {
  int exit_code = -1;  // -1 when the program could not run or was killed by a signal
  std::string out;
  std::string err;
};

// `program` followed by `args` (shell words, so quoting works as in a terminal).
inline CliOutcome run_cli(const std::string& program, const std::string& args) {
  static std::atomic<int> calls{0};
  const std::filesystem::path err_path = std::filesystem::temp_directory_path() /
      ("crossgpu-cli-" + std::to_string(::getpid()) + "-" + std::to_string(calls++) + ".stderr");
  const std::string command = program + " " + args + " 2>" + err_path.string();
  CliOutcome outcome;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return outcome;
  char chunk[4096];
  for (std::size_t n; (n = std::fread(chunk, 1, sizeof(chunk), pipe)) > 0;) outcome.out.append(chunk, n);
  const int status = ::pclose(pipe);
  outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::stringstream err;
  err << std::ifstream(err_path).rdbuf();
  outcome.err = err.str();
  std::filesystem::remove(err_path);
  return outcome;
}

}  // namespace crossgpu::testing
