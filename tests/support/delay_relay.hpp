// A TCP relay that adds a fixed one-way delay in each direction, for tests and benchmarks of
// links slower than loopback (this kernel's `tc` has no netem). Every byte read from one side is
// written to the other `one_way` later, in order, so a round trip through the relay costs
// 2 * one_way more than the direct one; bandwidth is not limited. Each connection to the relay
// opens one to the target. Bytes pass untouched (TLS goes through end to end).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace crossgpu::testing {

class DelayRelay {
 public:
  // Listens on listen_host:listen_port (port 0: any free one) and forwards to
  // target_host:target_port. Errc::io when the address cannot be bound.
  DelayRelay(const std::string& listen_host, std::uint16_t listen_port, std::string target_host,
             std::uint16_t target_port, std::chrono::microseconds one_way);
  // Closes the listener and every relayed connection and joins their threads.
  ~DelayRelay();
  DelayRelay(const DelayRelay&) = delete;
  DelayRelay& operator=(const DelayRelay&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  std::uint64_t connections() const noexcept { return accepted_.load(); }

  struct Connection;

 private:
  void accept_loop();

  std::string target_host_;
  std::uint16_t target_port_;
  std::chrono::microseconds one_way_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> accepted_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::list<std::unique_ptr<Connection>> connections_;
};

}  // namespace crossgpu::testing
