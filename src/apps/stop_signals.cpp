#include "apps/stop_signals.hpp"

#include <pthread.h>

namespace crossgpu::apps {

sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

const char* wait_for_stop_signal(const sigset_t& stop) {
  int signal = 0;
  sigwait(&stop, &signal);
  return signal == SIGINT ? "SIGINT" : "SIGTERM";
}

}  // namespace crossgpu::apps
