// The pre-authentication budget of a TLS listener. Until a peer has finished the TLS handshake
// with a certificate the cluster CA signed, all it may hold is one descriptor and a few KiB in one
// event loop, for at most `deadline` in all (not per read: a client that trickles its
// ClientHello a byte at a time is dropped when the deadline passes), and only while fewer than
// `max_pending` handshakes run (`max_pending_per_source` per source address). One thread runs
// every pending handshake (epoll), so a flood of unauthenticated connections costs no threads.
// Connections past a cap are accepted and closed at once: left in the kernel's backlog they would
// hold up the members queued behind them.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "net/tls_socket.hpp"

namespace crossgpu::net {

struct HandshakeLimits {
  std::chrono::milliseconds deadline{5000};  // for the whole handshake
  std::size_t max_pending = 128;             // unauthenticated connections at once
  std::size_t max_pending_per_source = 16;   // of those, from one source address
};

// What the gate did, for logs, metrics and tests.
struct HandshakeCounts {
  std::uint64_t admitted = 0;         // handshakes that completed
  std::uint64_t expired = 0;          // dropped at the deadline
  std::uint64_t failed = 0;           // broken or refused handshakes (garbage, no certificate)
  std::uint64_t refused_source = 0;   // closed at once: the source had its share pending
  std::uint64_t refused_full = 0;     // closed at once: max_pending were pending
};

class HandshakeGate {
 public:
  // Gets each socket whose handshake completed, on the gate's thread: it must not block.
  using Admit = std::function<void(std::unique_ptr<TlsSocket>)>;

  // Serves `listener` (a bound, listening socket; not owned) once started. `what` names the
  // listener in logs.
  HandshakeGate(const TlsContext& context, int listener, HandshakeLimits limits, Admit admit,
                std::string what);
  ~HandshakeGate();
  HandshakeGate(const HandshakeGate&) = delete;
  HandshakeGate& operator=(const HandshakeGate&) = delete;

  // Errc::io when the event loop cannot be set up.
  void start();
  // Stops accepting and drops every pending handshake. Safe to call twice.
  void stop();
  HandshakeCounts counts() const noexcept;
  const HandshakeLimits& limits() const noexcept { return limits_; }

 private:
  struct Pending {
    std::unique_ptr<TlsSocket> socket;
    std::chrono::steady_clock::time_point deadline;
    std::string source;
  };
  void run();
  void accept_all();
  void accept_one(int fd, const std::string& peer, const std::string& source);
  void advance(int fd);
  void drop(int fd);
  // Drops the handshakes whose deadline passed; returns the milliseconds until the next one.
  int expire();
  void watch(int fd, TlsSocket::HandshakeWait wait, bool added);
  void pause_listener();

  const TlsContext& context_;
  const int listener_;
  const HandshakeLimits limits_;
  const Admit admit_;
  const std::string what_;
  int epoll_ = -1;
  int wake_ = -1;  // eventfd: stop() wakes the loop
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  // Owned by the gate's thread.
  std::map<int, Pending> pending_;
  std::map<std::string, std::size_t> per_source_;
  std::chrono::steady_clock::time_point listener_paused_until_{};
  bool listener_watched_ = false;
  struct {
    std::atomic<std::uint64_t> admitted{0}, expired{0}, failed{0}, refused_source{0},
        refused_full{0};
  } counts_;
};

}  // namespace crossgpu::net
