#include "telemetry/service/bounded_http.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace crossgpu::telemetry {
namespace {

using Clock = std::chrono::steady_clock;

// Waits until `sock` is ready for `events` or `deadline` passes; false on timeout or error.
bool wait_until(socket_t sock, short events, Clock::time_point deadline) {
  for (;;) {
    // Rounded up: a wait never ends before the deadline, so a stream that gave up is expired().
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd fd{sock, events, 0};
    const int n = ::poll(&fd, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (n > 0) return (fd.revents & (events | POLLHUP | POLLERR)) != 0;
    if (n < 0 && errno != EINTR) return false;
  }
}

void address_of(socket_t sock, bool peer, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  const int rc = peer ? ::getpeername(sock, reinterpret_cast<sockaddr*>(&addr), &len)
                      : ::getsockname(sock, reinterpret_cast<sockaddr*>(&addr), &len);
  std::array<char, NI_MAXHOST> host{};
  std::array<char, NI_MAXSERV> service{};
  if (rc != 0 || ::getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host.data(), host.size(),
                               service.data(), service.size(),
                               NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    ip.clear();
    port = 0;
    return;
  }
  ip = host.data();
  port = std::atoi(service.data());
}

// One exchange on a connection: every read and write waits at most until the exchange's
// deadline, so the whole request and its answer are bounded, not each read. Reads are buffered:
// httplib reads request lines a byte at a time.
class DeadlineStream final : public httplib::Stream {
 public:
  DeadlineStream(socket_t sock, Clock::time_point deadline) : sock_(sock), deadline_(deadline) {}

  bool expired() const { return Clock::now() >= deadline_; }

  bool is_readable() const override {
    return begin_ < end_ || wait_until(sock_, POLLIN, deadline_);
  }
  bool is_writable() const override { return wait_until(sock_, POLLOUT, deadline_); }

  ssize_t read(char* ptr, size_t size) override {
    if (begin_ == end_) {
      if (!wait_until(sock_, POLLIN, deadline_)) return -1;
      ssize_t n;
      do {
        n = ::recv(sock_, buffer_.data(), buffer_.size(), 0);
      } while (n < 0 && errno == EINTR);
      if (n <= 0) return n;
      begin_ = 0;
      end_ = static_cast<std::size_t>(n);
    }
    const std::size_t taken = std::min(size, end_ - begin_);
    std::memcpy(ptr, buffer_.data() + begin_, taken);
    begin_ += taken;
    return static_cast<ssize_t>(taken);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!wait_until(sock_, POLLOUT, deadline_)) return -1;
    ssize_t n;
    do {
      n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    address_of(sock_, true, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    address_of(sock_, false, ip, port);
  }
  socket_t socket() const override { return sock_; }

 private:
  socket_t sock_;
  Clock::time_point deadline_;
  std::array<char, 4096> buffer_{};
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace

BoundedHttpServer::BoundedHttpServer(HttpLimits limits) : limits_(limits) {
  const std::size_t threads = std::max<std::size_t>(1, limits_.threads);
  new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
}

HttpCounts BoundedHttpServer::counts() const {
  std::lock_guard lock(mutex_);
  return counts_;
}

void BoundedHttpServer::widen_backlog() {
  const socket_t sock = svr_sock_;
  if (sock != INVALID_SOCKET) ::listen(sock, SOMAXCONN);
}

void BoundedHttpServer::close_connections() {
  std::lock_guard lock(mutex_);
  closing_ = true;
  for (const socket_t sock : open_) ::shutdown(sock, SHUT_RDWR);
}

bool BoundedHttpServer::enter(const std::string& address, socket_t sock) {
  std::lock_guard lock(mutex_);
  std::size_t& mine = per_address_[address];
  if (closing_ || mine >= limits_.per_address) {
    if (mine == 0) per_address_.erase(address);
    ++counts_.refused_per_address;
    return false;
  }
  ++mine;
  open_.insert(sock);
  ++counts_.connections;
  return true;
}

void BoundedHttpServer::leave(const std::string& address, socket_t sock) {
  std::lock_guard lock(mutex_);
  // Removed before the descriptor is closed: close_connections() never touches a reused number.
  open_.erase(sock);
  if (const auto it = per_address_.find(address); it != per_address_.end() && --it->second == 0) {
    per_address_.erase(it);
  }
}

bool BoundedHttpServer::process_and_close_socket(socket_t sock) {
  std::string address;
  int port = 0;
  address_of(sock, true, address, port);
  if (enter(address, sock)) {
    serve(sock);
    leave(address, sock);
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return true;
}

void BoundedHttpServer::serve(socket_t sock) {
  const std::size_t total = std::max<std::size_t>(1, limits_.max_requests);
  for (std::size_t left = total; left > 0; --left) {
    const bool first = left == total;
    // The first request's deadline runs from the moment the connection is taken into service.
    const auto started = Clock::now();
    if (!first && !wait_until(sock, POLLIN, started + limits_.idle)) return;
    DeadlineStream stream(sock, started + limits_.deadline);
    bool closed = false;
    const bool answered = process_request(stream, left == 1, closed, [](httplib::Request&) {});
    if (!answered || closed) {
      if (!answered && stream.expired()) {
        std::lock_guard lock(mutex_);
        ++counts_.deadline_drops;
      }
      return;
    }
  }
}

}  // namespace crossgpu::telemetry
