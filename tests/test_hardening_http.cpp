// The telemetry HTTP endpoint has no authentication: `crossgpu node --http` binds loopback
// addresses only, and refuses anything else before it starts unless --http-allow-remote says so.
// Every connection has a budget (telemetry/service/bounded_http.hpp): a request trickled a byte
// at a time is dropped at the deadline for the whole exchange, and hundreds of half-open
// connections from one address hold only that address's share of the threads while a request
// from another address is answered at once.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "hardening_sockets.hpp"
#include "support/test_support.hpp"
#include "telemetry/service/http_exporter.hpp"
#include "test_cluster_fixture.hpp"

namespace crossgpu::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// True when the server ends the connection within `wait` (whatever it sent before).
bool ended_within(int fd, std::chrono::milliseconds wait) {
  const auto until = Clock::now() + wait;
  char buffer[512];
  while (Clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (::poll(&p, 1, static_cast<int>(std::max<long long>(1, left.count()))) <= 0) continue;
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN)) return true;
  }
  return false;
}

// GET /metrics from 127.0.0.1: the status, and how long it took.
std::pair<int, Clock::duration> get_metrics(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(10, 0);
  client.set_read_timeout(10, 0);
  const auto begin = Clock::now();
  const auto result = client.Get("/metrics");
  return {result ? result->status : -1, Clock::now() - begin};
}

TEST(HttpExposure, OnlyLoopbackWithoutAnExplicitYes) {
  for (const char* host : {"127.0.0.1", "127.3.2.1", "::1", "localhost"}) {
    EXPECT_TRUE(telemetry::is_loopback_host(host)) << host;
    EXPECT_NO_THROW(telemetry::check_http_exposure({host, 9464}, false));
  }
  for (const char* host : {"0.0.0.0", "::", "10.0.0.5", "192.168.1.2", "example.org", "128.0.0.1"}) {
    EXPECT_FALSE(telemetry::is_loopback_host(host)) << host;
    EXPECT_TRUE(throws_errc([&] { telemetry::check_http_exposure({host, 9464}, false); },
                            Errc::permission_denied, "--http-allow-remote"))
        << host;
    EXPECT_NO_THROW(telemetry::check_http_exposure({host, 9464}, true));
  }
  // A bare port is loopback.
  EXPECT_NO_THROW(telemetry::check_http_exposure(telemetry::parse_http_address("9464"), false));
}

TEST(HttpExposure, TheNodeRefusesToStartOnEveryInterfaceWithoutTheFlag) {
  TestCluster cluster;
  TempDir out("http-exposure");
  const std::string log = (out.path() / "node.log").string();
  const std::string command = std::string(CROSSGPU_CLI_PATH) +
                              " node --listen 127.0.0.1:0 --cpu-only --no-discovery --no-profile"
                              " --config " + cluster.ca_dir().string() +
                              " --http 0.0.0.0:0 > " + log + " 2>&1";
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  std::stringstream text;
  text << std::ifstream(log).rdbuf();
  EXPECT_NE(text.str().find("--http-allow-remote"), std::string::npos) << text.str();
  EXPECT_EQ(text.str().find("listening on"), std::string::npos) << "it served before refusing";
}

TEST(HttpBudget, ATrickledRequestIsDroppedAtTheDeadlineForTheWholeExchange) {
  telemetry::ClusterAggregator aggregator("node");
  telemetry::HttpExporter exporter(aggregator, {"127.0.0.1", 0}, {}, {},
                                   {.threads = 4, .per_address = 2, .deadline = 1000ms});
  const int fd = raw_connect("127.0.0.2", exporter.port());
  ASSERT_GE(fd, 0);
  // One byte every 150 ms, far inside any per-read timeout: only a deadline for the whole
  // request ends it.
  const std::string request = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  const auto begin = Clock::now();
  bool ended = false;
  for (std::size_t i = 0; i < 40 && !ended; ++i) {
    const char byte = i < request.size() ? request[i] : 'a';
    if (::send(fd, &byte, 1, MSG_NOSIGNAL) != 1) break;
    ended = ended_within(fd, 150ms);
  }
  const auto took = Clock::now() - begin;
  ::close(fd);
  EXPECT_TRUE(ended) << "a trickled request was never dropped";
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 2500ms);
  EXPECT_EQ(exporter.counts().deadline_drops, 1u);
  EXPECT_EQ(get_metrics(exporter.port()).first, 200);
}

TEST(HttpBudget, HalfOpenConnectionsFromOneAddressLeaveOthersServed) {
  telemetry::ClusterAggregator aggregator("node");
  const telemetry::HttpLimits limits;  // the node's defaults
  ASSERT_EQ(limits.per_address, 8u);
  ASSERT_EQ(limits.threads, 16u);
  telemetry::HttpExporter exporter(aggregator, {"127.0.0.1", 0});
  // 500 connections from 127.0.0.2, each with half a request: with one thread per connection
  // and no cap per address they held every thread until their reads timed out.
  std::vector<int> flood;
  const auto began = Clock::now();
  for (int i = 0; i < 500; ++i) {
    const int fd = raw_connect("127.0.0.2", exporter.port());
    if (fd < 0) continue;
    ::send(fd, "GET /metr", 9, MSG_NOSIGNAL);
    flood.push_back(fd);
  }
  ASSERT_GE(flood.size(), 400u);
  EXPECT_LT(Clock::now() - began, 3s) << "connections waited in a full backlog";
  const auto until = Clock::now() + 4s;
  while (exporter.counts().refused_per_address < flood.size() - limits.per_address &&
         Clock::now() < until) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(exporter.counts().refused_per_address, flood.size() - limits.per_address);
  // Another address is served at once, while the flood's share still waits out its deadline.
  for (int i = 0; i < 5; ++i) {
    const auto [status, took] = get_metrics(exporter.port());
    EXPECT_EQ(status, 200);
    EXPECT_LT(took, 1000ms);
  }
  for (const int fd : flood) ::close(fd);
}

}  // namespace
}  // namespace crossgpu::testing
