// crossgpu-remote-bench: remote write/read throughput (4 KiB - 1 GiB) and small-message round
// trips through a node over mutual TLS on loopback, each next to a raw TCP socket baseline
// measured in the same run on the same machine, and node-to-node copies (PeerCopy) between two
// nodes of this process against the same baseline. The node runs in this process on the CPU device,
// so the figures are those of the protocol and transport, not of a GPU's PCIe link.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "apps/table.hpp"
#include "cluster/data_channel_client.hpp"
#include "cluster/node_server.hpp"
#include "cluster/remote_device.hpp"
#include "cluster/remote_node.hpp"
#include "core/error.hpp"
#include "device/cpu/cpu_device.hpp"
#include "net/security.hpp"
#include "net/tls_socket.hpp"
#include "timing.hpp"

namespace crossgpu::bench {
namespace {

// --- raw TCP baseline: a loopback server thread that sinks writes and sources reads ---

void send_all(int fd, const void* data, std::size_t bytes) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::send(fd, p, bytes, MSG_NOSIGNAL);
    if (n <= 0) fail(Errc::io, "tcp baseline: send failed: {}", std::strerror(errno));
    p += n;
    bytes -= static_cast<std::size_t>(n);
  }
}

void recv_all(int fd, void* data, std::size_t bytes) {
  char* p = static_cast<char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::recv(fd, p, bytes, 0);
    if (n <= 0) fail(Errc::io, "tcp baseline: recv failed");
    p += n;
    bytes -= static_cast<std::size_t>(n);
  }
}

// Request: {op, bytes}. op 'w': the client sends `bytes`, the server answers one byte.
// op 'r': the server sends `bytes`.
struct TcpRequest {
  char op;
  std::uint64_t bytes;
};

class TcpBaseline {
 public:
  explicit TcpBaseline(std::uint64_t max_bytes) : buffer_(max_bytes) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listener_, 1) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      fail(Errc::io, "tcp baseline: cannot listen on loopback");
    }
    server_ = std::thread([this] { serve(); });
    client_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(client_, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
      fail(Errc::io, "tcp baseline: cannot connect");
    }
    const int one = 1;
    ::setsockopt(client_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~TcpBaseline() {
    ::shutdown(client_, SHUT_RDWR);
    ::close(client_);
    server_.join();
    ::close(listener_);
  }
  void write(const std::byte* data, std::uint64_t bytes) {
    const TcpRequest request{'w', bytes};
    send_all(client_, &request, sizeof(request));
    send_all(client_, data, bytes);
    char ack;
    recv_all(client_, &ack, 1);
  }
  void read(std::byte* data, std::uint64_t bytes) {
    const TcpRequest request{'r', bytes};
    send_all(client_, &request, sizeof(request));
    recv_all(client_, data, bytes);
  }

 private:
  void serve() {
    const int fd = ::accept(listener_, nullptr, nullptr);
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    try {
      for (;;) {
        TcpRequest request{};
        recv_all(fd, &request, sizeof(request));
        if (request.op == 'w') {
          recv_all(fd, buffer_.data(), request.bytes);
          send_all(fd, "k", 1);
        } else {
          send_all(fd, buffer_.data(), request.bytes);
        }
      }
    } catch (const Error&) {
      // The client closed: the benchmark is over.
    }
    ::close(fd);
  }
  std::vector<std::byte> buffer_;
  int listener_ = -1;
  int client_ = -1;
  std::thread server_;
};

// --- raw TLS baseline: the same exchange over a TLS 1.3 socket pair with the node's identity
// (the data channel's TLS settings), to show what encryption alone costs against plaintext TCP.

class TlsBaseline {
 public:
  TlsBaseline(const net::NodeIdentity& identity, std::uint64_t max_bytes)
      : server_tls_(identity, net::TlsContext::Side::server),
        client_tls_(identity, net::TlsContext::Side::client), buffer_(max_bytes) {
    int port = 0;
    listener_ = net::tcp_listen("127.0.0.1:0", &port);
    server_ = std::thread([this] { serve(); });
    client_ = net::TlsSocket::connect(client_tls_, "127.0.0.1:" + std::to_string(port),
                                      identity.node_id(), std::chrono::seconds(10));
  }
  ~TlsBaseline() {
    client_.reset();
    server_.join();
    ::close(listener_);
  }
  void write(const std::byte* data, std::uint64_t bytes) {
    const TcpRequest request{'w', bytes};
    client_->write_all(std::as_bytes(std::span(&request, 1)));
    client_->write_all(std::span(data, bytes));
    std::byte ack;
    client_->read_exact(std::span(&ack, 1));
  }
  void read(std::byte* data, std::uint64_t bytes) {
    const TcpRequest request{'r', bytes};
    client_->write_all(std::as_bytes(std::span(&request, 1)));
    client_->read_exact(std::span(data, bytes));
  }

 private:
  void serve() {
    const int fd = ::accept(listener_, nullptr, nullptr);
    try {
      net::tune_data_socket(fd);
      auto socket = net::TlsSocket::accept(server_tls_, fd, "client", std::chrono::seconds(10));
      socket->set_timeout(std::chrono::milliseconds(0));
      TcpRequest request{};
      while (socket->read_exact(std::as_writable_bytes(std::span(&request, 1)))) {
        if (request.op == 'w') {
          socket->read_exact(std::span(buffer_.data(), request.bytes));
          const std::byte ack{1};
          socket->write_all(std::span(&ack, 1));
        } else {
          socket->write_all(std::span(buffer_.data(), request.bytes));
        }
      }
    } catch (const Error&) {
      // The client closed: the benchmark is over.
    }
  }
  net::TlsContext server_tls_;
  net::TlsContext client_tls_;
  std::vector<std::byte> buffer_;
  int listener_ = -1;
  std::unique_ptr<net::TlsSocket> client_;
  std::thread server_;
};

// --- several raw TCP connections moving one transfer in parallel: the fair baseline for a data
// channel that uses as many lanes (each connection has its own server thread) ---

class ParallelTcpBaseline {
 public:
  ParallelTcpBaseline(std::size_t streams, std::uint64_t max_bytes) {
    for (std::size_t i = 0; i < streams; ++i) {
      streams_.push_back(std::make_unique<TcpBaseline>(max_bytes / streams + 4096));
    }
  }
  std::size_t streams() const noexcept { return streams_.size(); }
  void write(const std::byte* data, std::uint64_t bytes) {
    split(bytes, [&](TcpBaseline& s, std::uint64_t begin, std::uint64_t n) {
      s.write(data + begin, n);
    });
  }
  void read(std::byte* data, std::uint64_t bytes) {
    split(bytes, [&](TcpBaseline& s, std::uint64_t begin, std::uint64_t n) {
      s.read(data + begin, n);
    });
  }

 private:
  // The same cut as the data channel's lanes.
  template <typename Part>
  void split(std::uint64_t bytes, Part&& part) {
    const std::vector<cluster::LaneShare> shares = cluster::lane_shares(bytes, streams_.size());
    std::vector<std::thread> helpers;
    for (std::size_t i = 1; i < shares.size(); ++i) {
      helpers.emplace_back([&, i] { part(*streams_[i], shares[i].begin, shares[i].length); });
    }
    part(*streams_[0], shares[0].begin, shares[0].length);
    for (std::thread& helper : helpers) helper.join();
  }
  std::vector<std::unique_ptr<TcpBaseline>> streams_;
};

// --- the run ---

struct Row {
  std::string op;
  std::uint64_t bytes;
  Timing remote;
  Timing tcp;
  Timing tls;
  std::optional<Timing> tcp_parallel;  // only when the data channel uses several lanes
};

nlohmann::json to_json(const Row& row) {
  return {{"op", row.op},
          {"bytes", row.bytes},
          {"remote_median_s", row.remote.median_s},
          {"tcp_median_s", row.tcp.median_s},
          {"remote_gb_per_s", gb_per_s(static_cast<double>(row.bytes), row.remote.median_s)},
          {"tcp_gb_per_s", gb_per_s(static_cast<double>(row.bytes), row.tcp.median_s)},
          {"tls_median_s", row.tls.median_s},
          {"tls_gb_per_s", gb_per_s(static_cast<double>(row.bytes), row.tls.median_s)},
          {"remote_vs_tcp", row.tcp.median_s > 0 ? row.tcp.median_s / row.remote.median_s : 0},
          {"tcp_parallel_gb_per_s",
           row.tcp_parallel
               ? gb_per_s(static_cast<double>(row.bytes), row.tcp_parallel->median_s)
               : 0.0},
          {"remote_vs_tcp_parallel",
           row.tcp_parallel ? row.tcp_parallel->median_s / row.remote.median_s : 0.0}};
}

void print_rows(const std::string& title, const std::vector<Row>& rows, bool latency,
                std::size_t lanes) {
  std::printf("\n%s\n", title.c_str());
  const bool parallel = !latency && lanes > 1;
  const std::string tcp_n = fmt::format("raw tcp x{}", lanes);
  std::vector<apps::Column> columns = {
      {"op"}, {"size", apps::Align::right},
      {latency ? "remote us" : "remote GB/s", apps::Align::right},
      {latency ? "raw tcp us" : "raw tcp GB/s", apps::Align::right},
      {latency ? "raw tls us" : "raw tls GB/s", apps::Align::right},
      {latency ? "remote / tcp time" : "remote / tcp", apps::Align::right},
      {latency ? "remote / tls time" : "remote / tls", apps::Align::right}};
  if (parallel) {
    columns.push_back({tcp_n + " GB/s", apps::Align::right});
    columns.push_back({"remote / " + tcp_n, apps::Align::right});
  }
  apps::Table table(columns);
  for (const Row& r : rows) {
    const double b = static_cast<double>(r.bytes);
    std::vector<std::string> cells = {
        r.op, format_bytes(r.bytes),
        latency ? fmt::format("{:.1f}", r.remote.median_s * 1e6)
                : fmt::format("{:.2f}", gb_per_s(b, r.remote.median_s)),
        latency ? fmt::format("{:.1f}", r.tcp.median_s * 1e6)
                : fmt::format("{:.2f}", gb_per_s(b, r.tcp.median_s)),
        latency ? fmt::format("{:.1f}", r.tls.median_s * 1e6)
                : fmt::format("{:.2f}", gb_per_s(b, r.tls.median_s)),
        latency ? fmt::format("{:.2f}x", r.remote.median_s / r.tcp.median_s)
                : fmt::format("{:.0f}%", 100 * r.tcp.median_s / r.remote.median_s),
        latency ? fmt::format("{:.2f}x", r.remote.median_s / r.tls.median_s)
                : fmt::format("{:.0f}%", 100 * r.tls.median_s / r.remote.median_s)};
    if (parallel && r.tcp_parallel) {
      cells.push_back(fmt::format("{:.2f}", gb_per_s(b, r.tcp_parallel->median_s)));
      cells.push_back(fmt::format("{:.0f}%", 100 * r.tcp_parallel->median_s / r.remote.median_s));
    }
    table.add_row(cells);
  }
  std::fputs(table.render().c_str(), stdout);
}

// Node-to-node copies: a second node B (joined through the first node A, which holds the CA) on
// this machine; the client has B grant A a write and A stream its buffer to B (PeerCopy). Each
// size is set beside one raw TCP socket moving the same bytes one way, as a write does.
struct PeerCopyRows {
  std::vector<Row> throughput;
  std::vector<Row> latency;
};

PeerCopyRows measure_peer_copies(const std::filesystem::path& dir, const std::string& address_a,
                                 const net::NodeIdentity& client,
                                 const cluster::ConnectionOptions& connection, Buffer& source,
                                 std::uint64_t max_bytes, TcpBaseline& tcp, TlsBaseline& tls,
                                 bool quick) {
  const net::ClusterCa ca = net::ClusterCa::load(dir);
  const auto dir_b = dir / "node-b";
  net::join_cluster(ca.create_invite(net::Role::compute, std::chrono::minutes(5), {address_a}).encode(),
                    dir_b, "bench-node-b");
  cluster::NodeServerOptions options;
  options.config_dir = dir_b;
  options.listen_address = "127.0.0.1:0";
  cluster::NodeServer server_b({make_cpu_device()}, options);
  server_b.start();
  auto node_b = cluster::RemoteNode::connect("127.0.0.1:" + std::to_string(server_b.port()), client,
                                             connection);
  Buffer target = node_b->devices().front()->allocate(max_bytes);
  std::vector<std::byte> host(max_bytes, std::byte{0x3c});
  const auto copy = [&](std::uint64_t size) {
    return [&, size] { cluster::copy_between_nodes(source, 0, target, 0, size); };
  };
  const auto tcp_write = [&](std::uint64_t size) { return [&, size] { tcp.write(host.data(), size); }; };
  const auto tls_write = [&](std::uint64_t size) { return [&, size] { tls.write(host.data(), size); }; };
  PeerCopyRows rows;
  const TimingPolicy policy = bandwidth_policy(quick);
  for (std::uint64_t size = 4096; size <= max_bytes; size *= 4) {
    rows.throughput.push_back({"copy A->B", size, measure(policy, copy(size)),
                               measure(policy, tcp_write(size)), measure(policy, tls_write(size))});
  }
  const TimingPolicy small = latency_policy(quick);
  for (std::uint64_t size : {std::uint64_t{8}, std::uint64_t{64}}) {
    rows.latency.push_back({"copy A->B round trip", size, measure(small, copy(size)),
                            measure(small, tcp_write(size)), measure(small, tls_write(size))});
  }
  target.reset();
  node_b.reset();
  server_b.shutdown(std::chrono::milliseconds(0));
  return rows;
}

int run(std::uint64_t max_bytes, bool quick, bool grpc_only, std::uint32_t lanes,
        const std::string& json_path) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("crossgpu-remote-bench-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  net::ClusterCa::create(dir, "bench");
  cluster::NodeServerOptions options;
  options.config_dir = dir;
  options.listen_address = "127.0.0.1:0";
  cluster::NodeServer server({make_cpu_device()}, options);
  server.start();
  const net::NodeIdentity identity = net::NodeIdentity::load(dir);
  cluster::ConnectionOptions connection;
  connection.data_channel = !grpc_only;
  connection.data_lanes = lanes;
  auto node = cluster::RemoteNode::connect("127.0.0.1:" + std::to_string(server.port()), identity,
                                           connection);
  const char* path = node->connection().uses_data_channel() ? "data channel (TLS 1.3)"
                                                             : "mTLS gRPC";
  Device& device = *node->devices().front();
  const std::size_t lanes_used = node->connection().data_lanes();
  TcpBaseline tcp(max_bytes);
  std::optional<ParallelTcpBaseline> tcp_parallel;
  if (lanes_used > 1) tcp_parallel.emplace(lanes_used, max_bytes);
  TlsBaseline tls(identity, max_bytes);
  std::vector<std::byte> host(max_bytes, std::byte{0x5a});
  Buffer remote = device.allocate(max_bytes);
  const TimingPolicy policy = quick ? bandwidth_policy(true) : bandwidth_policy(false);
  const TimingPolicy small = latency_policy(quick);

  std::vector<Row> throughput;
  for (std::uint64_t size = 4096; size <= max_bytes; size *= 4) {
    std::span<const std::byte> src(host.data(), size);
    std::span<std::byte> dst(host.data(), size);
    Row write{"write", size,
              measure(policy, [&] { device.stream().upload(remote, 0, src).wait(); }),
              measure(policy, [&] { tcp.write(host.data(), size); }),
              measure(policy, [&] { tls.write(host.data(), size); })};
    Row read{"read", size,
             measure(policy, [&] { device.stream().download(remote, 0, dst).wait(); }),
             measure(policy, [&] { tcp.read(host.data(), size); }),
             measure(policy, [&] { tls.read(host.data(), size); })};
    if (tcp_parallel) {
      write.tcp_parallel = measure(policy, [&] { tcp_parallel->write(host.data(), size); });
      read.tcp_parallel = measure(policy, [&] { tcp_parallel->read(host.data(), size); });
    }
    throughput.push_back(write);
    throughput.push_back(read);
  }
  std::vector<Row> latency;
  for (std::uint64_t size : {std::uint64_t{8}, std::uint64_t{64}}) {
    std::span<const std::byte> src(host.data(), size);
    std::span<std::byte> dst(host.data(), size);
    latency.push_back({"write round trip", size,
                       measure(small, [&] { device.stream().upload(remote, 0, src).wait(); }),
                       measure(small, [&] { tcp.write(host.data(), size); }),
                       measure(small, [&] { tls.write(host.data(), size); })});
    latency.push_back({"read round trip", size,
                       measure(small, [&] { device.stream().download(remote, 0, dst).wait(); }),
                       measure(small, [&] { tcp.read(host.data(), size); }),
                       measure(small, [&] { tls.read(host.data(), size); })});
  }
  print_rows(fmt::format("remote node ({}, {} lane(s), loopback, CPU device) vs raw TCP and raw "
                         "TLS 1.3 on loopback (one connection each)",
                         path, lanes_used),
             throughput, false, lanes_used);
  print_rows("small-message round trips", latency, true, lanes_used);
  const PeerCopyRows peer = measure_peer_copies(dir, "127.0.0.1:" + std::to_string(server.port()),
                                                identity, connection, remote, max_bytes, tcp, tls,
                                                quick);
  print_rows(fmt::format("node-to-node copies A -> B ({}; both nodes in this process, loopback) "
                         "vs one raw TCP / TLS socket moving the same bytes",
                         grpc_only ? "client -> A PeerCopy call, A -> B over B's data channel"
                                   : "client -> A peer-copy request, A -> B granted writes, both "
                                     "on the data channel"),
             peer.throughput, false, 1);
  print_rows("small node-to-node copies (the grant from B is reused: one request to A, one from A "
             "to B)",
             peer.latency, true, 1);

  nlohmann::json out = {{"section", "remote"}, {"path", path}, {"lanes", lanes_used},
                        {"cores", std::thread::hardware_concurrency()},
                        {"throughput", nlohmann::json::array()},
                        {"latency", nlohmann::json::array()},
                        {"peer_copy", nlohmann::json::array()},
                        {"peer_copy_latency", nlohmann::json::array()}};
  for (const Row& r : throughput) out["throughput"].push_back(to_json(r));
  for (const Row& r : latency) out["latency"].push_back(to_json(r));
  for (const Row& r : peer.throughput) out["peer_copy"].push_back(to_json(r));
  for (const Row& r : peer.latency) out["peer_copy_latency"].push_back(to_json(r));
  std::ofstream(json_path) << out.dump(2) << "\n";
  std::printf("\nresults written to %s\n", json_path.c_str());
  remote.reset();
  node.reset();
  server.shutdown(std::chrono::milliseconds(0));
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace crossgpu::bench

int main(int argc, char** argv) {
  CLI::App app{"crossgpu-remote-bench: remote transfers vs raw TCP, same run, loopback"};
  std::uint64_t max_bytes = 1ull << 30;
  bool quick = false;
  bool grpc_only = false;
  std::uint32_t lanes = 0;
  std::string json_path = "remote-bench-results.json";
  app.add_option("--max-bytes", max_bytes, "largest transfer (default 1 GiB)");
  app.add_flag("--quick", quick, "short timing loops, 1 MiB at most");
  app.add_flag("--grpc", grpc_only, "measure the gRPC path (no data channel), for comparison");
  app.add_option("--lanes", lanes,
                 "data connections per transfer (0: the client's default, half the cores, 1-4)")
      ->check(CLI::Range(0, 8));
  app.add_option("--json", json_path, "where to write the results")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (quick) max_bytes = std::min<std::uint64_t>(max_bytes, 1 << 20);
  try {
    return crossgpu::bench::run(max_bytes, quick, grpc_only, lanes, json_path);
  } catch (const crossgpu::Error& e) {
    std::fprintf(stderr, "crossgpu-remote-bench: %s\n", e.what());
    return 2;
  }
}
