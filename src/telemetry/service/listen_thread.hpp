// A bound httplib server's accept loop on a thread of its own, returned once the loop runs:
// httplib's stop() does nothing until listen() has set is_running, so a server stopped right
// after it started would otherwise leave its thread in accept() forever (and its join hanging).
#pragma once

#include <httplib.h>

#include <chrono>
#include <thread>

namespace crossgpu::telemetry {

inline std::thread listen_in_background(httplib::Server& server) {
  std::thread thread([&server] { server.listen_after_bind(); });
  for (int i = 0; i < 5000 && !server.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return thread;
}

}  // namespace crossgpu::telemetry
