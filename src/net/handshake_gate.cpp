#include "net/handshake_gate.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "core/error.hpp"
#include "core/log.hpp"
#include "net/socket_peer.hpp"

namespace crossgpu::net {
namespace {

std::uint32_t events_for(TlsSocket::HandshakeWait wait) {
  return wait == TlsSocket::HandshakeWait::writable ? EPOLLOUT : EPOLLIN;
}

}  // namespace

HandshakeGate::HandshakeGate(const TlsContext& context, int listener, HandshakeLimits limits,
                             Admit admit, std::string what)
    : context_(context), listener_(listener), limits_(limits), admit_(std::move(admit)),
      what_(std::move(what)) {}

HandshakeGate::~HandshakeGate() { stop(); }

void HandshakeGate::start() {
  epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (epoll_ < 0 || wake_ < 0) {
    fail(Errc::io, "{}: cannot set up the handshake loop: {}", what_, std::strerror(errno));
  }
  epoll_event wake{};
  wake.events = EPOLLIN;
  wake.data.fd = wake_;
  ::epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_, &wake);
  // Non-blocking: accept_all() takes every queued connection and stops at EAGAIN.
  ::fcntl(listener_, F_SETFL, ::fcntl(listener_, F_GETFL) | O_NONBLOCK);
  epoll_event listen{};
  listen.events = EPOLLIN;
  listen.data.fd = listener_;
  ::epoll_ctl(epoll_, EPOLL_CTL_ADD, listener_, &listen);
  listener_watched_ = true;
  thread_ = std::thread([this] { run(); });
}

void HandshakeGate::stop() {
  if (stopping_.exchange(true)) return;
  if (wake_ >= 0) {
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(wake_, &one, sizeof(one));
  }
  if (thread_.joinable()) thread_.join();
  pending_.clear();  // closes every socket still in its handshake
  if (epoll_ >= 0) ::close(epoll_);
  if (wake_ >= 0) ::close(wake_);
  epoll_ = wake_ = -1;
}

HandshakeCounts HandshakeGate::counts() const noexcept {
  return {counts_.admitted.load(), counts_.expired.load(), counts_.failed.load(),
          counts_.refused_source.load(), counts_.refused_full.load()};
}

void HandshakeGate::run() {
  constexpr int kMaxEvents = 64;
  epoll_event events[kMaxEvents];
  while (!stopping_) {
    const int timeout_ms = expire();
    const int n = ::epoll_wait(epoll_, events, kMaxEvents, timeout_ms);
    if (n < 0 && errno != EINTR) {
      log::error("{}: epoll_wait failed: {}", what_, std::strerror(errno));
      return;
    }
    for (int i = 0; i < n && !stopping_; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listener_) {
        accept_all();
      } else if (fd != wake_) {
        advance(fd);
      }
    }
  }
}

void HandshakeGate::accept_all() {
  while (!stopping_) {
    sockaddr_storage from{};
    socklen_t length = sizeof(from);
    const int fd = ::accept4(listener_, reinterpret_cast<sockaddr*>(&from), &length,
                             SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        log::warn("{}: cannot accept: {}; pausing the listener", what_, std::strerror(errno));
        pause_listener();
      }
      return;  // EAGAIN: the backlog is empty
    }
    const SocketPeer peer = describe_peer(from);
    accept_one(fd, peer.address, peer.source);
  }
}

void HandshakeGate::accept_one(int fd, const std::string& peer, const std::string& source) {
  std::size_t& from_source = per_source_[source];
  if (from_source >= limits_.max_pending_per_source || pending_.size() >= limits_.max_pending) {
    const bool by_source = from_source >= limits_.max_pending_per_source;
    if (from_source == 0) per_source_.erase(source);
    (by_source ? counts_.refused_source : counts_.refused_full)++;
    log::debug("{}: closed a connection from {}: {} handshakes pending{}", what_, peer,
               by_source ? from_source : pending_.size(), by_source ? " from it" : "");
    ::close(fd);
    return;
  }
  std::unique_ptr<TlsSocket> socket;
  try {
    socket = TlsSocket::begin_accept(context_, fd, peer);
  } catch (const Error& e) {
    log::warn("{}: {}", what_, e.what());
    return;
  }
  ++from_source;
  pending_[fd] = {std::move(socket), std::chrono::steady_clock::now() + limits_.deadline, source};
  watch(fd, TlsSocket::HandshakeWait::readable, true);
}

void HandshakeGate::advance(int fd) {
  const auto it = pending_.find(fd);
  if (it == pending_.end()) return;
  try {
    const TlsSocket::HandshakeWait wait = it->second.socket->step_accept();
    if (wait != TlsSocket::HandshakeWait::done) {
      watch(fd, wait, false);
      return;
    }
  } catch (const Error& e) {
    counts_.failed++;
    // Before authentication anyone can cause these: debug, so that a flood cannot flood the log.
    log::debug("{}: refused a connection from {}: {}", what_, it->second.socket->peer_address(),
               e.what());
    drop(fd);
    return;
  }
  std::unique_ptr<TlsSocket> socket = std::move(it->second.socket);
  drop(fd);  // the descriptor now belongs to `socket` alone
  counts_.admitted++;
  admit_(std::move(socket));
}

void HandshakeGate::drop(int fd) {
  const auto it = pending_.find(fd);
  if (it == pending_.end()) return;
  ::epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
  const auto source = per_source_.find(it->second.source);
  if (source != per_source_.end() && --source->second == 0) per_source_.erase(source);
  pending_.erase(it);  // closes the socket unless advance() took it
}

int HandshakeGate::expire() {
  const auto now = std::chrono::steady_clock::now();
  if (!listener_watched_ && now >= listener_paused_until_) {
    epoll_event listen{};
    listen.events = EPOLLIN;
    listen.data.fd = listener_;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, listener_, &listen);
    listener_watched_ = true;
  }
  auto next = now + std::chrono::seconds(1);
  if (!listener_watched_) next = std::min(next, listener_paused_until_);
  std::vector<int> expired;
  for (const auto& [fd, pending] : pending_) {
    if (pending.deadline <= now) {
      expired.push_back(fd);
    } else {
      next = std::min(next, pending.deadline);
    }
  }
  for (const int fd : expired) {
    counts_.expired++;
    log::debug("{}: dropped {}: no handshake within {} ms", what_,
               pending_[fd].socket->peer_address(), limits_.deadline.count());
    drop(fd);
  }
  const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - now);
  return static_cast<int>(std::max<std::int64_t>(1, wait.count()));
}

void HandshakeGate::watch(int fd, TlsSocket::HandshakeWait wait, bool added) {
  epoll_event event{};
  event.events = events_for(wait);
  event.data.fd = fd;
  ::epoll_ctl(epoll_, added ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &event);
}

void HandshakeGate::pause_listener() {
  // Out of descriptors: the listener stays readable, so watching it would spin. Pending
  // handshakes still finish or expire meanwhile, which frees descriptors.
  ::epoll_ctl(epoll_, EPOLL_CTL_DEL, listener_, nullptr);
  listener_watched_ = false;
  listener_paused_until_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
}

}  // namespace crossgpu::net
