// The pre-authentication budget of the gRPC port. gRPC 1.51 accepts every connection its
// listener sees and has no cap on connections; a flood of clients that never authenticate then
// takes one descriptor each (until gRPC's handshake deadline drops a trickled handshake, or for
// as long as a client that finished TLS without a certificate, as enrollment allows, stays),
// and under a common `ulimit -n 1024` that starves everything else the node must open.
//
// So the node accepts the gRPC port's connections itself and hands each one to gRPC (an
// external connection acceptor with the same TLS credentials: gRPC still runs the handshake,
// the mutual TLS and every call). The gate counts every connection it handed over as
// unauthenticated until one of two things: a call on it authenticates (the Authenticator tells
// the gate the call's peer address), or the connection is gone (gRPC closed it: its socket no
// longer appears among the process's descriptors). A new connection is closed at once while
// `max_pending` are unauthenticated, or `max_pending_per_source` from its source address. A
// member's channel authenticates with its first call and leaves the count at once.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "net/handshake_gate.hpp"

namespace crossgpu::net {

// What the gate did, for logs, metrics and tests.
struct GrpcGateCounts {
  std::uint64_t handed_over = 0;     // connections given to gRPC
  std::uint64_t authenticated = 0;   // of those, released by an authenticated call
  std::uint64_t gone = 0;            // of those, released because gRPC closed them unauthenticated
  std::uint64_t refused_source = 0;  // closed at once: the source had its share unauthenticated
  std::uint64_t refused_full = 0;    // closed at once: max_pending were unauthenticated
};

struct SocketPeerKey {
  std::string address;  // "host:port"
  std::string source;   // host
};

class GrpcAcceptGate {
 public:
  // Gets each admitted connection's descriptor (non-blocking, owned by the callee from then).
  using HandOver = std::function<void(int fd)>;
  using Clock = std::chrono::steady_clock;

  // Serves `listener` (a bound, listening socket; not owned) once started. Counted connections
  // are checked for being gone once every `limits.deadline`, and before a connection would be
  // refused (at most every 20 ms). `what` names the listener in logs.
  GrpcAcceptGate(int listener, HandshakeLimits limits, HandOver hand_over, std::string what);
  ~GrpcAcceptGate();
  GrpcAcceptGate(const GrpcAcceptGate&) = delete;
  GrpcAcceptGate& operator=(const GrpcAcceptGate&) = delete;

  // Errc::io when the accept loop cannot be set up.
  void start();
  // Stops accepting. Connections already handed over are gRPC's. Safe to call twice.
  void stop();
  GrpcGateCounts counts() const noexcept;
  // A call from `grpc_peer` (gRPC's peer string, "ipv4:1.2.3.4:5678") authenticated: its
  // connection leaves the unauthenticated count. Thread-safe; cheap when already released.
  void authenticated(const std::string& grpc_peer);

  // The admission rule alone (no sockets), for the gate's loop and for tests.
  class Ledger {
   public:
    explicit Ledger(HandshakeLimits limits) : limits_(limits) {}
    enum class Verdict { admit, refuse_source, refuse_full };
    // Whether a connection from `source` may be handed over; an admitted one is counted under
    // `peer` ("host:port") with its socket's inode (to notice when it is gone).
    Verdict admit(const std::string& peer, const std::string& source, ino_t socket, Clock::time_point now);
    // Releases `peer`'s connection; false when it was not counted.
    bool release(const std::string& peer);
    // Releases every connection whose socket is not in `open`.
    std::size_t release_gone(const std::set<ino_t>& open);
    std::size_t unauthenticated() const noexcept { return entries_.size(); }

   private:
    struct Entry {
      std::string source;
      ino_t socket = 0;
      Clock::time_point admitted;
    };
    void erase(std::map<std::string, Entry>::iterator it);
    HandshakeLimits limits_;
    std::map<std::string, Entry> entries_;  // by peer "host:port"
    std::map<std::string, std::size_t> per_source_;
  };

 private:
  void run();
  // Takes every queued connection; false when out of descriptors (the loop then waits).
  bool accept_all();
  // Releases the counted connections gRPC has closed.
  void sweep_gone();
  Ledger::Verdict admit(const SocketPeerKey& peer, ino_t socket);

  const int listener_;
  const HandOver hand_over_;
  const std::string what_;
  const std::chrono::milliseconds deadline_;
  std::mutex mutex_;  // guards ledger_ (gRPC threads release, the gate's thread admits)
  Ledger ledger_;
  Clock::time_point last_sweep_{};
  int wake_ = -1;  // eventfd: stop() wakes the loop
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  struct {
    std::atomic<std::uint64_t> handed_over{0}, authenticated{0}, gone{0}, refused_source{0},
        refused_full{0};
  } counts_;
};

// "ipv4:1.2.3.4:5678" -> "1.2.3.4:5678", "ipv6:%5B::1%5D:5678" -> "[::1]:5678" (describe_peer's
// form); other strings are returned as they are.
std::string peer_from_grpc(const std::string& grpc_peer);

}  // namespace crossgpu::net
