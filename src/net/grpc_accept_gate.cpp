#include "net/grpc_accept_gate.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.hpp"
#include "core/log.hpp"
#include "net/socket_peer.hpp"

namespace crossgpu::net {
namespace {

// The inodes of the sockets this process holds open (/proc/self/fd links "socket:[N]").
std::set<ino_t> open_socket_inodes() {
  std::set<ino_t> inodes;
  std::error_code error;
  for (std::filesystem::directory_iterator it("/proc/self/fd", error), end; !error && it != end;
       it.increment(error)) {
    struct stat info {};
    if (::stat(it->path().c_str(), &info) == 0 && S_ISSOCK(info.st_mode)) inodes.insert(info.st_ino);
  }
  return inodes;
}

}  // namespace

std::string peer_from_grpc(const std::string& grpc_peer) {
  std::string peer = grpc_peer;
  for (const char* scheme : {"ipv4:", "ipv6:"}) {
    if (peer.rfind(scheme, 0) == 0) peer = peer.substr(std::strlen(scheme));
  }
  for (const auto& [encoded, plain] : {std::pair{"%5B", "["}, std::pair{"%5D", "]"}}) {
    for (std::size_t at; (at = peer.find(encoded)) != std::string::npos;) peer.replace(at, 3, plain);
  }
  return peer;
}

GrpcAcceptGate::Ledger::Verdict GrpcAcceptGate::Ledger::admit(const std::string& peer,
                                                              const std::string& source,
                                                              ino_t socket, Clock::time_point now) {
  const auto found = per_source_.find(source);
  if (found != per_source_.end() && found->second >= limits_.max_pending_per_source) {
    return Verdict::refuse_source;
  }
  if (entries_.size() >= limits_.max_pending) return Verdict::refuse_full;
  // A port reused by a new connection: the old one's socket is gone.
  if (const auto old = entries_.find(peer); old != entries_.end()) erase(old);
  entries_.emplace(peer, Entry{source, socket, now});
  ++per_source_[source];
  return Verdict::admit;
}

bool GrpcAcceptGate::Ledger::release(const std::string& peer) {
  const auto found = entries_.find(peer);
  if (found == entries_.end()) return false;
  erase(found);
  return true;
}

std::size_t GrpcAcceptGate::Ledger::release_gone(const std::set<ino_t>& open) {
  std::size_t released = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    const auto next = std::next(it);
    if (!open.count(it->second.socket)) {
      erase(it);
      ++released;
    }
    it = next;
  }
  return released;
}

void GrpcAcceptGate::Ledger::erase(std::map<std::string, Entry>::iterator it) {
  const auto source = per_source_.find(it->second.source);
  if (--source->second == 0) per_source_.erase(source);
  entries_.erase(it);
}

GrpcAcceptGate::GrpcAcceptGate(int listener, HandshakeLimits limits, HandOver hand_over,
                               std::string what)
    : listener_(listener), hand_over_(std::move(hand_over)), what_(std::move(what)),
      deadline_(limits.deadline), ledger_(limits) {}

GrpcAcceptGate::~GrpcAcceptGate() { stop(); }

void GrpcAcceptGate::start() {
  wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_ < 0) fail(Errc::io, "{}: cannot set up the accept loop: {}", what_, std::strerror(errno));
  // Non-blocking: accept_all() takes every queued connection and stops at EAGAIN.
  ::fcntl(listener_, F_SETFL, ::fcntl(listener_, F_GETFL) | O_NONBLOCK);
  thread_ = std::thread([this] { run(); });
}

void GrpcAcceptGate::stop() {
  if (stopping_.exchange(true)) return;
  if (wake_ >= 0) {
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(wake_, &one, sizeof(one));
  }
  if (thread_.joinable()) thread_.join();
  if (wake_ >= 0) ::close(wake_);
  wake_ = -1;
}

GrpcGateCounts GrpcAcceptGate::counts() const noexcept {
  return {counts_.handed_over.load(), counts_.authenticated.load(), counts_.gone.load(),
          counts_.refused_source.load(), counts_.refused_full.load()};
}

void GrpcAcceptGate::authenticated(const std::string& grpc_peer) {
  const std::string peer = peer_from_grpc(grpc_peer);
  std::lock_guard lock(mutex_);
  if (ledger_.release(peer)) counts_.authenticated++;
}

void GrpcAcceptGate::run() {
  // Out of descriptors the listener stays readable; waiting a little instead of polling it
  // keeps the loop from spinning while gRPC's handshake deadline frees some. Counted
  // connections are checked once a deadline for being gone.
  int listener_timeout_ms = -1;
  auto next_sweep = Clock::now() + deadline_;
  while (!stopping_) {
    pollfd fds[2] = {{wake_, POLLIN, 0}, {listener_, POLLIN, 0}};
    const bool paused = listener_timeout_ms >= 0;
    const auto until_sweep =
        std::chrono::duration_cast<std::chrono::milliseconds>(next_sweep - Clock::now()).count();
    const int wait_ms = static_cast<int>(std::max<long long>(
        0, paused ? std::min<long long>(listener_timeout_ms, until_sweep) : until_sweep));
    const int n = ::poll(fds, paused ? 1 : 2, wait_ms);
    if (n < 0 && errno != EINTR) {
      log::error("{}: poll failed: {}", what_, std::strerror(errno));
      return;
    }
    if (stopping_) return;
    if (Clock::now() >= next_sweep) {
      sweep_gone();
      next_sweep = Clock::now() + deadline_;
    }
    if (paused || (fds[1].revents & POLLIN)) listener_timeout_ms = accept_all() ? -1 : 100;
  }
}

void GrpcAcceptGate::sweep_gone() {
  last_sweep_ = Clock::now();
  {
    std::lock_guard lock(mutex_);
    if (ledger_.unauthenticated() == 0) return;
  }
  const std::set<ino_t> open = open_socket_inodes();
  std::lock_guard lock(mutex_);
  counts_.gone += ledger_.release_gone(open);
}

GrpcAcceptGate::Ledger::Verdict GrpcAcceptGate::admit(const SocketPeerKey& peer, ino_t socket) {
  const auto try_admit = [&] {
    std::lock_guard lock(mutex_);
    return ledger_.admit(peer.address, peer.source, socket, Clock::now());
  };
  const Ledger::Verdict verdict = try_admit();
  // Before refusing, see whether gRPC closed some of the counted ones (a flood's failed
  // handshakes go fast); at most every 20 ms, so a flood does not make the gate scan per
  // connection.
  if (verdict == Ledger::Verdict::admit || Clock::now() - last_sweep_ < std::chrono::milliseconds(20)) {
    return verdict;
  }
  sweep_gone();
  return try_admit();
}

bool GrpcAcceptGate::accept_all() {
  while (!stopping_) {
    sockaddr_storage from{};
    socklen_t length = sizeof(from);
    const int fd = ::accept4(listener_, reinterpret_cast<sockaddr*>(&from), &length,
                             SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        log::warn("{}: cannot accept: {}; pausing the listener", what_, std::strerror(errno));
        return false;
      }
      return true;  // EAGAIN: the backlog is empty
    }
    const SocketPeer peer = describe_peer(from);
    struct stat info {};
    ::fstat(fd, &info);
    const Ledger::Verdict verdict = admit({peer.address, peer.source}, info.st_ino);
    if (verdict != Ledger::Verdict::admit) {
      const bool by_source = verdict == Ledger::Verdict::refuse_source;
      (by_source ? counts_.refused_source : counts_.refused_full)++;
      log::debug("{}: closed a connection from {}: too many unauthenticated connections{}",
                 what_, peer.address, by_source ? " from it" : "");
      ::close(fd);
      continue;
    }
    // gRPC's own accept path sets this; an external connection gets what its acceptor gives.
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    counts_.handed_over++;
    hand_over_(fd);
  }
  return true;
}

}  // namespace crossgpu::net
