// The delaying relay that benchmarks and tests put between nodes: bytes pass intact and in
// order, each direction adds its one-way delay (a round trip costs twice that more), the end of a
// stream passes on, and destroying the relay closes what it relays.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

#include "support/delay_relay.hpp"
#include "support/test_support.hpp"

namespace crossgpu::testing {
namespace {

using Clock = std::chrono::steady_clock;

// An echo server on loopback for one connection.
class Echo {
 public:
  Echo() {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&addr), len), 0);
    EXPECT_EQ(::listen(listener_, 1), 0);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      const int fd = ::accept(listener_, nullptr, nullptr);
      std::vector<char> buffer(1 << 16);
      for (;;) {
        const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
        if (n <= 0) break;
        ::send(fd, buffer.data(), static_cast<std::size_t>(n), MSG_NOSIGNAL);
      }
      ::close(fd);
    });
  }
  ~Echo() {
    thread_.join();
    ::close(listener_);
  }
  std::uint16_t port() const { return port_; }

 private:
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

int connect_to(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  return fd;
}

bool receive_exactly(int fd, std::vector<std::byte>& out) {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::recv(fd, out.data() + done, out.size() - done, 0);
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

TEST(DelayRelay, BytesPassIntactAndARoundTripCostsTwiceTheDelay) {
  Echo echo;
  constexpr auto one_way = std::chrono::milliseconds(15);
  DelayRelay relay("127.0.0.1", 0, "127.0.0.1", echo.port(), one_way);
  const int fd = connect_to(relay.port());
  // A small message: one round trip through the relay.
  std::vector<std::byte> ping(8, std::byte{7}), pong(8);
  const auto start = Clock::now();
  ASSERT_EQ(::send(fd, ping.data(), ping.size(), MSG_NOSIGNAL), 8);
  ASSERT_TRUE(receive_exactly(fd, pong));
  const auto elapsed = Clock::now() - start;
  EXPECT_EQ(pong, ping);
  EXPECT_GE(elapsed, 2 * one_way);
  EXPECT_LT(elapsed, 2 * one_way + std::chrono::milliseconds(25)) << "the relay adds more than its delay";
  // A large payload, random bytes: intact and in order (the echo returns it while we send).
  const auto data = random_bytes(3 << 20, 9);
  std::thread sender([&] {
    std::size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return;
      done += static_cast<std::size_t>(n);
    }
  });
  std::vector<std::byte> back(data.size());
  ASSERT_TRUE(receive_exactly(fd, back));
  sender.join();
  EXPECT_TRUE(back == data);
  EXPECT_EQ(relay.connections(), 1u);
  // The end of the stream passes through: the echo sees it and closes, and so do we.
  ::shutdown(fd, SHUT_WR);
  std::byte byte;
  EXPECT_EQ(::recv(fd, &byte, 1, 0), 0);
  ::close(fd);
}

TEST(DelayRelay, RefusesAnAddressItCannotBind) {
  EXPECT_TRUE(throws_errc([] { DelayRelay("not-an-address", 0, "127.0.0.1", 1, std::chrono::microseconds(0)); },
                          Errc::invalid_argument, "IPv4"));
  DelayRelay first("127.0.0.1", 0, "127.0.0.1", 1, std::chrono::microseconds(0));
  EXPECT_TRUE(throws_errc([&] { DelayRelay("127.0.0.1", first.port(), "127.0.0.1", 1, std::chrono::microseconds(0)); },
                          Errc::io, "cannot listen"));
}

TEST(DelayRelay, ClosingTheRelayEndsItsConnections) {
  Echo echo;
  auto relay = std::make_unique<DelayRelay>("127.0.0.1", 0, "127.0.0.1", echo.port(), std::chrono::milliseconds(1));
  const int fd = connect_to(relay->port());
  std::vector<std::byte> ping(4, std::byte{1}), pong(4);
  ASSERT_EQ(::send(fd, ping.data(), ping.size(), MSG_NOSIGNAL), 4);
  ASSERT_TRUE(receive_exactly(fd, pong));
  relay.reset();
  std::byte byte;
  EXPECT_LE(::recv(fd, &byte, 1, 0), 0) << "a relayed connection outlived its relay";
  ::close(fd);
}

}  // namespace
}  // namespace crossgpu::testing
