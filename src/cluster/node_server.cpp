#include "cluster/node_server.hpp"

#include "cluster/data_channel_server.hpp"
#include "cluster/data_frame.hpp"

#include <grpcpp/grpcpp.h>
#include <unistd.h>
#include <grpcpp/resource_quota.h>

#include "cluster/node_service.hpp"
#include "cluster/protocol.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "net/admin_service.hpp"
#include "net/descriptor_limit.hpp"
#include "net/enrollment_service.hpp"
#include "net/grpc_accept_gate.hpp"
#include "net/revocation_service.hpp"
#include "net/security.hpp"

namespace crossgpu::cluster {
namespace {

// "0.0.0.0:7450" -> "<hostname>:7450": an address worth putting in an invite.
std::string advertised(const NodeServerOptions& options, int port) {
  if (!options.advertised_address.empty()) return options.advertised_address;
  std::string host = options.listen_address.substr(0, options.listen_address.rfind(':'));
  if (host.empty() || host == "0.0.0.0" || host == "[::]") host = net::local_hostname();
  return host + ":" + std::to_string(port);
}

}  // namespace

struct NodeServer::Impl {
  Impl(std::vector<std::shared_ptr<Device>> devices, NodeServerOptions opts)
      : options(std::move(opts)),
        identity(net::NodeIdentity::load(options.config_dir)),
        // One call quota for every service: they share the server's threads.
        authenticator(options.config_dir, net::CallQuotaLimits::for_threads(options.max_threads)),
        service(std::move(devices), identity, authenticator, options.limits, options.peers,
                options.weight_cache, options.members) {}

  ~Impl() {
    if (grpc_gate) grpc_gate->stop();
    if (grpc_listener >= 0) ::close(grpc_listener);
  }

  void build() {
    grpc::ServerBuilder builder;
    listen_for_grpc(builder);
    builder.RegisterService(&service);
    // Every node serves the newest signed revocation list it holds, so removals spread.
    revocations = std::make_unique<net::RevocationService>(options.config_dir, authenticator);
    builder.RegisterService(revocations.get());
    for (const auto& factory : options.services) {
      extra.push_back(factory(identity, authenticator));
      builder.RegisterService(extra.back().get());
    }
    if (net::ClusterCa::exists(options.config_dir)) {
      enrollment =
          std::make_unique<net::EnrollmentService>(options.config_dir, &authenticator.calls());
      // The bound port is unknown until BuildAndStart: take it from the listen address here.
      const std::string listen_port =
          options.listen_address.substr(options.listen_address.rfind(':') + 1);
      admin = std::make_unique<net::AdminService>(
          options.config_dir, authenticator,
          std::vector<std::string>{advertised(options, std::atoi(listen_port.c_str()))});
      builder.RegisterService(enrollment.get());
      builder.RegisterService(admin.get());
    }
    builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
    builder.SetMaxSendMessageSize(kMaxMessageBytes);
    grpc::ResourceQuota quota("crossgpu-node");
    quota.SetMaxThreads(static_cast<int>(options.max_threads));
    builder.SetResourceQuota(quota);
    // Dead clients (kill -9, a cable pulled) are noticed by keepalive pings, which ends their
    // Session stream and frees their memory.
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 2000);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                               static_cast<int>(kHeartbeatTimeout.count()));
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 1000);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
    // gRPC's own handshakes run in its event loop (no thread each); bound them as a whole, as
    // the data channel does (gRPC's default is 120 s).
    builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                               static_cast<int>(options.handshake.deadline.count()));
    // Chunks are 4 MiB: let a client send one in few large HTTP/2 frames, with a window that
    // keeps a whole chunk in flight.
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_FRAME_SIZE, 1 << 20);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 8 << 20);
    server = builder.BuildAndStart();
    if (!server) fail(Errc::io, "cannot start the gRPC server on {}", options.listen_address);
    grpc_gate->start();
    if (options.data_channel) start_data_channel();
  }

  // The gRPC port is accepted by the node's own gate (net/grpc_accept_gate.hpp says why) and
  // each admitted connection handed to gRPC with the node's TLS credentials.
  void listen_for_grpc(grpc::ServerBuilder& builder) {
    try {
      grpc_listener = net::tcp_listen(options.listen_address, &port);
    } catch (const Error& e) {
      fail(Errc::io, "{}; the address is in use or invalid: pick another with --listen", e.what());
    }
    grpc_acceptor = builder.experimental().AddExternalConnectionAcceptor(
        grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD,
        identity.server_credentials());
    grpc_gate = std::make_unique<net::GrpcAcceptGate>(
        grpc_listener, options.handshake,
        [this](int fd) {
          grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters connection;
          connection.listener_fd = grpc_listener;
          connection.fd = fd;
          grpc_acceptor->HandleNewConnection(&connection);
        },
        "gRPC port " + options.listen_address);
    authenticator.on_authenticated([this](const std::string& peer) { grpc_gate->authenticated(peer); });
  }

  void start_data_channel() {
    DataChannelOptions data_options;
    data_options.listen_address = options.data_listen_address;
    if (data_options.listen_address.empty()) {
      data_options.listen_address =
          options.listen_address.substr(0, options.listen_address.rfind(':')) + ":0";
    }
    // Room for every session's default lanes; a lane refused for lack of room only makes that
    // client use fewer (lane 0 of a session that got in is the one that matters).
    // Each costs two descriptors (socket and the slot's duplicate); pending handshakes one each.
    // Half the budget at most, so gRPC and the files the node must read keep the rest.
    const std::size_t budget = net::descriptor_budget() / 2;
    data_options.handshake = options.handshake;
    data_options.handshake.max_pending =
        std::max<std::size_t>(1, std::min(options.handshake.max_pending, budget / 4));
    data_options.max_connections = std::max<std::size_t>(
        1, std::min(options.limits.max_sessions * kDefaultDataLanesCap,
                    (budget - std::min(budget, data_options.handshake.max_pending)) / 2));
    try {
      data = std::make_unique<DataChannelServer>(identity, authenticator,
                                                 service.data_services(), data_options);
      data->start();
      service.enable_data_channel(data->port());
    } catch (const Error& e) {
      // gRPC carries every transfer without it, only slower: not a reason to refuse to serve.
      data.reset();
      log::warn("no data channel ({}); writes and reads go over gRPC", e.what());
    }
  }

  NodeServerOptions options;
  net::NodeIdentity identity;
  net::Authenticator authenticator;
  NodeService service;
  std::unique_ptr<net::EnrollmentService> enrollment;
  std::unique_ptr<net::AdminService> admin;
  std::unique_ptr<net::RevocationService> revocations;
  std::vector<std::unique_ptr<grpc::Service>> extra;  // outlive the server, declared before it
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<DataChannelServer> data;
  int port = 0;
  bool stopped = false;
  // Declared after the server: the gate stops (destroyed first) before the server goes.
  int grpc_listener = -1;
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> grpc_acceptor;
  std::unique_ptr<net::GrpcAcceptGate> grpc_gate;
};

NodeServer::NodeServer(std::vector<std::shared_ptr<Device>> devices, NodeServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(devices), std::move(options))) {}

NodeServer::~NodeServer() { shutdown(std::chrono::milliseconds(0)); }

void NodeServer::start() {
  impl_->build();
  log::info("node {} serving on {} (port {})", impl_->identity.node_id(),
            impl_->options.listen_address, impl_->port);
}

int NodeServer::port() const noexcept { return impl_->port; }
int NodeServer::data_port() const noexcept { return impl_->data ? impl_->data->port() : 0; }
net::HandshakeCounts NodeServer::data_handshake_counts() const noexcept {
  return impl_->data ? impl_->data->handshake_counts() : net::HandshakeCounts{};
}
net::GrpcGateCounts NodeServer::grpc_gate_counts() const noexcept {
  return impl_->grpc_gate ? impl_->grpc_gate->counts() : net::GrpcGateCounts{};
}
const std::string& NodeServer::node_id() const noexcept { return impl_->identity.node_id(); }
SessionTable& NodeServer::sessions() noexcept { return impl_->service.sessions(); }
NodeCallCounts NodeServer::call_counts() const noexcept { return impl_->service.call_counts(); }

void NodeServer::shutdown(std::chrono::milliseconds drain) {
  if (impl_->stopped || !impl_->server) return;
  impl_->stopped = true;
  // Sessions say goodbye at their next heartbeat (every 500 ms) and end within the drain; what
  // still runs at its end is cancelled.
  impl_->service.begin_stopping();
  impl_->grpc_gate->stop();
  impl_->server->Shutdown(std::chrono::system_clock::now() + drain);
  impl_->server->Wait();
  if (impl_->data) impl_->data->stop();
  impl_->service.sessions().close_all();
}

}  // namespace crossgpu::cluster
