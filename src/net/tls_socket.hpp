// A TLS 1.3 connection over a TCP socket with OpenSSL directly: what the data channel carries
// bulk writes and reads on, without gRPC's HTTP/2 framing and protobuf copies. Both ends are
// authenticated with the same cluster CA and node certificates that gRPC uses: the server
// requires a client certificate signed by the cluster CA, the client verifies the server against
// the CA and pins the node id it expects. Role and revocation are checked by the caller
// (Authenticator::check_certificate), as for gRPC calls.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace crossgpu::net {

class NodeIdentity;

// An SSL_CTX built from a node identity: TLS 1.3 only, AES-GCM preferred (AES-NI), the cluster CA
// as the only trust anchor, a peer certificate required on both sides.
class TlsContext {
 public:
  enum class Side { server, client };
  TlsContext(const NodeIdentity& identity, Side side);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;
  void* native() const noexcept { return ctx_; }  // SSL_CTX*

 private:
  void* ctx_ = nullptr;
};

class TlsSocket {
 public:
  // Server side of a handshake on an accepted socket (owned from here on). Errc::permission_denied
  // when the peer shows no certificate or one the cluster CA did not sign; Errc::io otherwise.
  static std::unique_ptr<TlsSocket> accept(const TlsContext& context, int fd,
                                           std::string peer_address,
                                           std::chrono::milliseconds timeout);
  // The same handshake in steps, for an event loop that runs many at once without a thread each
  // (HandshakeGate): begin_accept() makes `fd` non-blocking; step_accept() advances the handshake
  // as far as the socket allows and says what it waits for; finish_accept() makes the socket
  // blocking again with `timeout` per read and write. The errors are accept()'s.
  enum class HandshakeWait { done, readable, writable };
  static std::unique_ptr<TlsSocket> begin_accept(const TlsContext& context, int fd,
                                                 std::string peer_address);
  HandshakeWait step_accept();
  void finish_accept(std::chrono::milliseconds timeout);
  int native_handle() const noexcept { return fd_; }
  // Connects to "host:port" and runs the handshake; the server's certificate must carry
  // `expected_node_id` (Errc::permission_denied otherwise). Errc::io when it cannot connect.
  static std::unique_ptr<TlsSocket> connect(const TlsContext& context, const std::string& address,
                                            const std::string& expected_node_id,
                                            std::chrono::milliseconds timeout);
  ~TlsSocket();
  TlsSocket(const TlsSocket&) = delete;
  TlsSocket& operator=(const TlsSocket&) = delete;

  // Errc::io when the connection breaks or a timeout passes.
  void write_all(std::span<const std::byte> data);
  // A header and its payload: one TLS record and one segment when small (a small request or
  // reply then costs the peer one wake-up, not two), two records sent together when large.
  void write_all(std::span<const std::byte> head, std::span<const std::byte> body);
  // Fills `out`. Returns false on a clean end of stream before the first byte (the peer closed
  // between requests); a break in the middle throws Errc::io.
  bool read_exact(std::span<std::byte> out);
  // Receive and send timeouts of the socket; zero: none.
  void set_timeout(std::chrono::milliseconds timeout);
  // The verified peer certificate, PEM.
  std::string peer_certificate_pem() const;
  const std::string& peer_address() const noexcept { return peer_address_; }
  // Wakes a thread blocked in read or write (callable from any thread): they fail with Errc::io.
  void abort() noexcept;

 private:
  TlsSocket(void* ssl, int fd, std::string peer_address);
  [[noreturn]] void fail_io(const char* what, int result) const;
  // Encrypts into the write buffer (sent whenever it fills); flush() sends the rest.
  void write_records(std::span<const std::byte> data);
  void flush();
  void* ssl_;  // SSL*
  int fd_;
  std::string peer_address_;
  std::vector<std::byte> coalesce_;
};

// Opens a TCP listener on "host:port" (port 0: any). Returns the socket; *bound_port gets the port.
// Errc::io when the address cannot be bound.
int tcp_listen(const std::string& address, int* bound_port);
// Settings every data-channel socket gets: TCP_NODELAY (one round trip per small op) and
// keepalive probes that notice a vanished peer within about 10 s.
void tune_data_socket(int fd);

}  // namespace crossgpu::net
