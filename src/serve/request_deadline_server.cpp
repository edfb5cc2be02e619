#include "serve/request_deadline_server.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "serve/tls_connection.hpp"

namespace crossgpu::serve {
namespace {

using Clock = std::chrono::steady_clock;

// Waits until `sock` is ready for `events` or `until` passes; false on timeout or error.
bool ready_by(socket_t sock, short events, Clock::time_point until) {
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0) return false;
    pollfd fd{sock, events, 0};
    const int n = ::poll(&fd, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (n > 0) return (fd.revents & (events | POLLHUP | POLLERR)) != 0;
    if (n < 0 && errno != EINTR) return false;
  }
}

void endpoint_of(socket_t sock, bool peer, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  const int rc = peer ? ::getpeername(sock, reinterpret_cast<sockaddr*>(&addr), &len)
                      : ::getsockname(sock, reinterpret_cast<sockaddr*>(&addr), &len);
  std::array<char, NI_MAXHOST> host{};
  std::array<char, NI_MAXSERV> service{};
  ip.clear();
  port = 0;
  if (rc == 0 && ::getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host.data(), host.size(), service.data(),
                               service.size(), NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
    ip = host.data();
    port = std::atoi(service.data());
  }
}

// One request and its answer on a connection (plain, or through `tls`): reads wait at most until
// the request's deadline, each write at most the write timeout. Reads are buffered (httplib reads
// request lines a byte at a time).
class RequestStream final : public httplib::Stream {
 public:
  RequestStream(socket_t sock, TlsConnection* tls, Clock::time_point deadline, std::chrono::milliseconds write)
      : sock_(sock), tls_(tls), deadline_(deadline), write_(write) {}

  bool expired() const { return Clock::now() >= deadline_; }

  bool is_readable() const override {
    return begin_ < end_ || (tls_ != nullptr && tls_->pending()) || ready_by(sock_, POLLIN, deadline_);
  }
  bool is_writable() const override { return ready_by(sock_, POLLOUT, Clock::now() + write_); }

  ssize_t read(char* ptr, size_t size) override {
    if (begin_ == end_) {
      const ssize_t n = receive();
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
    if (tls_ != nullptr) return tls_->write(ptr, size, Clock::now() + write_);
    if (!is_writable()) return -1;
    ssize_t n;
    do {
      n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override { endpoint_of(sock_, true, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { endpoint_of(sock_, false, ip, port); }
  socket_t socket() const override { return sock_; }

 private:
  ssize_t receive() {
    if (tls_ != nullptr) return tls_->read(buffer_.data(), buffer_.size(), deadline_);
    if (!ready_by(sock_, POLLIN, deadline_)) return -1;
    ssize_t n;
    do {
      n = ::recv(sock_, buffer_.data(), buffer_.size(), 0);
    } while (n < 0 && errno == EINTR);
    return n;
  }

  socket_t sock_;
  TlsConnection* tls_;
  Clock::time_point deadline_;
  std::chrono::milliseconds write_;
  std::array<char, 4096> buffer_{};
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace

RequestDeadlineServer::RequestDeadlineServer(RequestDeadlines deadlines, std::size_t threads,
                                             std::shared_ptr<const TlsContext> tls)
    : deadlines_(deadlines), tls_(std::move(tls)) {
  const std::size_t n = std::max<std::size_t>(1, threads);
  new_task_queue = [n] { return new httplib::ThreadPool(n); };
}

bool RequestDeadlineServer::process_and_close_socket(socket_t sock) {
  if (tls_ == nullptr) {
    serve_requests(sock, nullptr);
  } else if (auto tls = TlsConnection::accept(*tls_, sock, Clock::now() + deadlines_.request)) {
    serve_requests(sock, tls.get());
  } else {
    ++handshake_failures_;
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return true;
}

void RequestDeadlineServer::serve_requests(socket_t sock, TlsConnection* tls) {
  const std::size_t total = std::max<std::size_t>(1, deadlines_.max_requests);
  for (std::size_t left = total; left > 0; --left) {
    // The first request's deadline runs from the moment a thread takes the connection.
    const auto waiting_from = Clock::now();
    const bool buffered = tls != nullptr && tls->pending();
    if (left != total && !buffered && !ready_by(sock, POLLIN, waiting_from + deadlines_.idle)) break;
    RequestStream stream(sock, tls, Clock::now() + deadlines_.request, deadlines_.write);
    bool closed = false;
    const bool answered = process_request(stream, left == 1, closed, [](httplib::Request&) {});
    if (!answered || closed) {
      if (!answered && stream.expired()) ++deadline_drops_;
      break;
    }
  }
}

}  // namespace crossgpu::serve
