// Long-running commands (node, serve) stop on SIGINT or SIGTERM: the signals are blocked in every
// thread (threads started later inherit the mask), and the main thread waits for one.
#pragma once

#include <signal.h>

namespace crossgpu::apps {

// Call before starting any thread.
sigset_t block_stop_signals();

// Waits for SIGINT or SIGTERM; returns its name.
const char* wait_for_stop_signal(const sigset_t& stop);

}  // namespace crossgpu::apps
