#include "support/delay_relay.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <vector>

#include "core/error.hpp"

namespace crossgpu::testing {
namespace {

sockaddr_in address_of(const std::string& host, std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    fail(Errc::invalid_argument, "delay relay: '{}' is not an IPv4 address", host);
  }
  return addr;
}

void no_delay(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

bool send_all(int fd, const std::byte* data, std::size_t bytes) {
  while (bytes > 0) {
    const ssize_t n = ::send(fd, data, bytes, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    bytes -= static_cast<std::size_t>(n);
  }
  return true;
}

// One direction of a connection: a reader stamps each chunk with the time it may leave, a
// writer sends it then. An empty chunk marks the end of the stream.
class Pump {
 public:
  Pump(int from, int to, std::chrono::microseconds delay) : from_(from), to_(to), delay_(delay) {
    reader_ = std::thread([this] { read_loop(); });
    writer_ = std::thread([this] { write_loop(); });
  }
  ~Pump() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    ready_.notify_all();
    reader_.join();
    writer_.join();
  }

 private:
  using Clock = std::chrono::steady_clock;
  struct Chunk {
    Clock::time_point due;
    std::vector<std::byte> bytes;
  };
  void read_loop() {
    std::vector<std::byte> buffer(64 << 10);
    for (;;) {
      const ssize_t n = ::recv(from_, buffer.data(), buffer.size(), 0);
      Chunk chunk{Clock::now() + delay_, {}};
      if (n > 0) chunk.bytes.assign(buffer.begin(), buffer.begin() + n);
      {
        std::lock_guard lock(mutex_);
        queue_.push_back(std::move(chunk));
      }
      ready_.notify_all();
      if (n <= 0) return;
    }
  }
  void write_loop() {
    for (;;) {
      Chunk chunk;
      {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;
        chunk = std::move(queue_.front());
        queue_.pop_front();
      }
      std::this_thread::sleep_until(chunk.due);
      if (chunk.bytes.empty() || !send_all(to_, chunk.bytes.data(), chunk.bytes.size())) {
        ::shutdown(to_, SHUT_WR);  // pass the end (or the failure) on
        return;
      }
    }
  }

  int from_, to_;
  std::chrono::microseconds delay_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Chunk> queue_;
  bool stopping_ = false;
  std::thread reader_, writer_;
};

}  // namespace

struct DelayRelay::Connection {
  Connection(int client, int target, std::chrono::microseconds delay)
      : client_fd(client), target_fd(target), up(client, target, delay), down(target, client, delay) {}
  ~Connection() = default;
  // Unblocks both pumps' reads; their destructors then join.
  void shut() const {
    ::shutdown(client_fd, SHUT_RDWR);
    ::shutdown(target_fd, SHUT_RDWR);
  }
  struct Fd {
    int fd;
    explicit Fd(int f) : fd(f) {}
    ~Fd() { ::close(fd); }
  };
  int client_fd, target_fd;
  Fd client_owner{client_fd}, target_owner{target_fd};  // closed after the pumps are joined
  Pump up, down;
};

DelayRelay::DelayRelay(const std::string& listen_host, std::uint16_t listen_port, std::string target_host,
                       std::uint16_t target_port, std::chrono::microseconds one_way)
    : target_host_(std::move(target_host)), target_port_(target_port), one_way_(one_way) {
  sockaddr_in addr = address_of(listen_host, listen_port);
  listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  socklen_t len = sizeof(addr);
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(listener_, 64) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int error = errno;
    ::close(listener_);
    fail(Errc::io, "delay relay: cannot listen on {}:{}: {}", listen_host, listen_port, std::strerror(error));
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

DelayRelay::~DelayRelay() {
  stopping_ = true;
  ::shutdown(listener_, SHUT_RDWR);
  acceptor_.join();
  ::close(listener_);
  std::lock_guard lock(mutex_);
  for (const auto& connection : connections_) connection->shut();
  connections_.clear();
}

void DelayRelay::accept_loop() {
  for (;;) {
    const int client = ::accept(listener_, nullptr, nullptr);
    if (client < 0) {
      if (stopping_ || errno == EINVAL || errno == EBADF) return;
      continue;
    }
    sockaddr_in target_addr = address_of(target_host_, target_port_);
    const int target = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(target, reinterpret_cast<sockaddr*>(&target_addr), sizeof(target_addr)) != 0) {
      ::close(target);
      ::close(client);
      continue;
    }
    no_delay(client);
    no_delay(target);
    ++accepted_;
    std::lock_guard lock(mutex_);
    if (stopping_) {
      ::close(target);
      ::close(client);
      return;
    }
    connections_.push_back(std::make_unique<Connection>(client, target, one_way_));
  }
}

}  // namespace crossgpu::testing
