// serve's HTTPS (RequestDeadlineServer with a TlsContext) against cpp-httplib's TLS client and raw
// sockets: requests answered over TLS with the certificate verified against a test CA (several on
// one kept-alive connection), a client that never completes its handshake (silent, a ClientHello
// dribbled a byte at a time, plain HTTP, a handshake cut off) dropped within the request deadline
// and counted while others are served, and every bad certificate or key refused at load with a
// typed error naming the file. Certificates come from tests/serve/make_test_tls.sh.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "core/error.hpp"
#include "serve/request_deadline_server.hpp"
#include "serve/tls_context.hpp"
#include "telemetry/service/listen_thread.hpp"

namespace crossgpu::serve {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const fs::path& certs() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("crossgpu-serve-tls-" + std::to_string(::getpid()));
    const std::string command = std::string("bash ") + CROSSGPU_TLS_SCRIPT + " " + d.string();
    if (std::system(command.c_str()) != 0) throw std::runtime_error("cannot make test certificates: " + command);
    return d;
  }();
  return dir;
}
std::string cert(const char* name) { return (certs() / name).string(); }

class ServeTls : public ::testing::Test {
 protected:
  static void TearDownTestSuite() { fs::remove_all(certs()); }

  void SetUp() override {
    auto tls = std::make_shared<const TlsContext>(cert("server.pem"), cert("server.key"));
    server_ = std::make_unique<RequestDeadlineServer>(
        RequestDeadlines{.request = std::chrono::milliseconds(1000), .write = std::chrono::milliseconds(1000),
                         .idle = std::chrono::milliseconds(1000)},
        8, tls);
    server_->Get("/ping", [](const httplib::Request&, httplib::Response& res) { res.set_content("pong", "text/plain"); });
    server_->Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(req.body, "text/plain");
    });
    port_ = server_->bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = telemetry::listen_in_background(*server_);
  }
  void TearDown() override {
    server_->stop();
    thread_.join();
  }

  std::unique_ptr<httplib::SSLClient> client() const {
    auto c = std::make_unique<httplib::SSLClient>("127.0.0.1", port_);
    c->set_ca_cert_path(cert("ca.pem").c_str());
    c->enable_server_certificate_verification(true);
    c->set_read_timeout(5, 0);
    return c;
  }
  int connect_raw() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port_));
    ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    return fd;
  }
  // Seconds until the server closes `fd` (reads until end of stream), at most 10.
  static double seconds_until_closed(int fd) {
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const auto start = Clock::now();
    char buf[4096];
    while (::recv(fd, buf, sizeof buf, 0) > 0) {
    }
    ::close(fd);
    return std::chrono::duration<double>(Clock::now() - start).count();
  }

  std::unique_ptr<RequestDeadlineServer> server_;
  std::thread thread_;
  int port_ = 0;
};

TEST_F(ServeTls, RequestsAreAnsweredOverTlsOnOneKeptAliveConnection) {
  auto c = client();
  for (int i = 0; i < 3; ++i) {
    auto res = c->Get("/ping");
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->body, "pong");
  }
  const std::string body(200000, 'x');  // many TLS records each way
  auto echoed = c->Post("/echo", body, "text/plain");
  ASSERT_TRUE(echoed);
  EXPECT_EQ(echoed->body, body);
  EXPECT_EQ(server_->handshake_failures(), 0u);
}

TEST_F(ServeTls, AClientThatDoesNotTrustTheCertificateIsRefusedByItsOwnCheck) {
  httplib::SSLClient c("127.0.0.1", port_);
  c.set_ca_cert_path(cert("self.pem").c_str());  // trusts another certificate only
  c.enable_server_certificate_verification(true);
  auto res = c.Get("/ping");
  EXPECT_FALSE(res);
  EXPECT_EQ(res.error(), httplib::Error::SSLServerVerification);
  EXPECT_TRUE(client()->Get("/ping"));
}

TEST_F(ServeTls, HandshakesThatNeverCompleteAreDroppedAtTheDeadlineWhileOthersAreServed) {
  const int silent = connect_raw();
  const int dribble = connect_raw();
  const int plain = connect_raw();
  const int cut = connect_raw();
  const std::string hello("\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03", 11);  // a ClientHello's start
  ::send(plain, "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n", 31, MSG_NOSIGNAL);
  ::send(cut, hello.data(), hello.size(), MSG_NOSIGNAL);
  ::shutdown(cut, SHUT_WR);  // the record never completes
  std::thread slow([&] {
    for (char byte : hello) {
      if (::send(dribble, &byte, 1, MSG_NOSIGNAL) < 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  EXPECT_TRUE(client()->Get("/ping"));  // served meanwhile
  for (const int fd : {silent, dribble, plain, cut}) EXPECT_LT(seconds_until_closed(fd), 3.0) << "socket " << fd;
  slow.join();
  EXPECT_EQ(server_->handshake_failures(), 4u);
  EXPECT_TRUE(client()->Get("/ping"));
}

TEST_F(ServeTls, ACertificateOrKeyThatCannotBeUsedIsRefusedNamingTheFile) {
  auto refused = [](const std::string& c, const std::string& k, Errc code, const std::string& words) {
    try {
      TlsContext context(c, k);
      ADD_FAILURE() << "loaded " << c << " and " << k;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  refused(cert("missing.pem"), cert("server.key"), Errc::not_found, "missing.pem: no such file");
  refused(cert("server.pem"), cert("missing.key"), Errc::not_found, "missing.key: no such file");
  refused(cert("garbage.pem"), cert("server.key"), Errc::invalid_argument, "garbage.pem is not a PEM certificate");
  refused(cert("server.key"), cert("server.key"), Errc::invalid_argument, "is not a PEM certificate");
  refused(cert("server.pem"), cert("garbage.pem"), Errc::invalid_argument, "garbage.pem is not a PEM private key");
  refused(cert("server.pem"), cert("server.pem"), Errc::invalid_argument, "is not a PEM private key");
  refused(cert("server.pem"), cert("other.key"), Errc::invalid_argument, "other.key does not belong to the certificate");
  refused(cert("server.pem"), "", Errc::invalid_argument, "the key is missing");
  refused("", cert("server.key"), Errc::invalid_argument, "the certificate is missing");
  refused(certs().string(), cert("server.key"), Errc::invalid_argument, "is not a PEM certificate");  // a folder
}

}  // namespace
}  // namespace crossgpu::serve
