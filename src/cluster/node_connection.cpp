#include "cluster/node_connection.hpp"

#include <grpc/grpc_security_constants.h>

#include <algorithm>

#include "cluster/node_connection_impl.hpp"
#include "cluster/protocol.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "net/crypto.hpp"
#include "net/security.hpp"
#include "net/status.hpp"

namespace crossgpu::cluster {
namespace {

std::int64_t steady_nanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The node id in the certificate the node showed on this call's TLS connection: the CA-signed
// identity, unlike the node_id field of its Hello, which the node merely states.
std::string certified_node_id(const grpc::ClientContext& context, const std::string& address) {
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  const auto values = auth ? auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME)
                           : std::vector<grpc::string_ref>{};
  if (values.empty()) {
    fail(Errc::permission_denied, "node at {} showed no certificate", address);
  }
  try {
    return net::crypto::inspect_node_certificate(
               std::string_view(values.front().data(), values.front().size()))
        .node_id;
  } catch (const Error& e) {
    fail(Errc::permission_denied, "node at {}: {}", address, e.what());
  }
}

// Refuses a node whose certificate is not the node the caller meant, or that states an id in
// Hello other than its certificate's.
void pin_node_id(const grpc::ClientContext& context, const std::string& address,
                 const v1::HelloResponse& hello, const std::string& expected) {
  const std::string certified = certified_node_id(context, address);
  if (hello.node_id() != certified) {
    fail(Errc::permission_denied, "node at {} calls itself {} but its certificate names {}",
         address, hello.node_id().substr(0, 64), certified);
  }
  if (!expected.empty() && certified != expected) {
    fail(Errc::permission_denied,
         "the node at {} is {}, not the expected node {}: refusing it (a stale or spoofed "
         "address)", address, certified, expected);
  }
}

}  // namespace

// --- calls ---

NodeConnection::Impl::Call::Call(Impl& impl, bool unary) : impl_(impl) {
  context.AddMetadata(kSessionMetadata, impl.session_text);
  if (unary) context.set_deadline(std::chrono::system_clock::now() + impl.options.call_timeout);
  std::lock_guard lock(impl.calls_mutex);
  impl.calls.insert(&context);
  if (impl.lost || impl.closing) context.TryCancel();
}

NodeConnection::Impl::Call::~Call() {
  std::lock_guard lock(impl_.calls_mutex);
  impl_.calls.erase(&context);
}

void NodeConnection::Impl::Call::check(const grpc::Status& status, std::string_view what) const {
  if (status.ok()) return;
  if (impl_.lost) impl_.fail_lost(what);
  if (impl_.closing) {
    fail(Errc::device_lost, "{}: the connection to node {} at {} was closed", what,
         impl_.hello.node_id(), impl_.address);
  }
  Error error = net::to_error(status);
  // Without an "errc=" prefix the failure came from the transport, not from the node.
  const bool transport = status.error_message().rfind("errc=", 0) != 0;
  if (transport && (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                    status.error_code() == grpc::StatusCode::CANCELLED)) {
    fail(Errc::device_lost, "{} on node {} at {}: the node is unreachable ({})", what,
         impl_.hello.node_id(), impl_.address, status.error_message());
  }
  throw Error(error.code(), fmt::format("{} on node {}: {}", what, impl_.address, error.what()));
}

void NodeConnection::Impl::fail_lost(std::string_view what) const {
  // Say what was observed: a node killed mid-call shows as a broken stream, not as a heartbeat
  // timeout that never happened.
  const char* why = lost_why.load();
  if (why == nullptr || std::string_view(why) == "no heartbeat answer") {
    fail(Errc::device_lost,
         "{}: node {} at {} is lost (no heartbeat answer within {} ms); its buffers are gone",
         what, hello.node_id(), address, options.heartbeat_timeout.count());
  }
  fail(Errc::device_lost, "{}: node {} at {} is lost ({}); its buffers are gone", what,
       hello.node_id(), address, why);
}

// --- session and heartbeats ---

void NodeConnection::Impl::start_session() {
  session_context.AddMetadata(kSessionMetadata, session_text);
  session = stub->Session(&session_context);
  v1::SessionEvent first;
  first.set_session_id(hello.session_id());
  if (!session->Write(first)) {
    fail(Errc::device_lost, "node at {} closed the session stream at once", address);
  }
  last_echo_nanos = steady_nanos();
  reader_thread = std::thread([this] { reader_loop(); });
  heartbeat_thread = std::thread([this] { heartbeat_loop(); });
}

void NodeConnection::Impl::reader_loop() {
  v1::SessionEvent event;
  bool stopping = false;
  while (session->Read(&event)) {
    const std::int64_t now = steady_nanos();
    last_echo_nanos = now;
    if (event.sent_unix_nanos() != 0) rtt_ms = (now - event.sent_unix_nanos()) / 1e6;
    if (event.node_stopping()) {
      stopping = true;
      break;
    }
  }
  if (closing) return;
  if (stopping) {
    mark_lost("it shut down", false);
  } else {
    mark_lost("the session stream ended");
  }
}

void NodeConnection::Impl::heartbeat_loop() {
  std::unique_lock lock(wake_mutex);
  while (!closing && !lost) {
    wake.wait_for(lock, options.heartbeat_interval, [this] { return closing.load(); });
    if (closing) break;
    const std::int64_t silent = steady_nanos() - last_echo_nanos;
    if (silent > std::chrono::nanoseconds(options.heartbeat_timeout).count()) {
      mark_lost("no heartbeat answer");
      break;
    }
    v1::SessionEvent beat;
    beat.set_sent_unix_nanos(steady_nanos());  // echoed back: the RTT needs no clock sync
    if (!session->Write(beat)) {
      if (!closing) mark_lost("the session stream broke");
      break;
    }
  }
}

void NodeConnection::Impl::open_data_channel(const net::NodeIdentity& identity) {
  const auto& caps = hello.capabilities();
  if (!options.data_channel || hello.data_port() == 0 ||
      std::find(caps.begin(), caps.end(), "data-channel") == caps.end()) {
    return;
  }
  if (hello.data_port() > 65535) {
    log::warn("node {} at {} offers data port {}: ignored", hello.node_id(), address,
              hello.data_port());
    return;
  }
  const std::string data_address =
      address.substr(0, address.rfind(':')) + ":" + std::to_string(hello.data_port());
  const auto* secret = reinterpret_cast<const std::uint8_t*>(hello.data_secret().data());
  const std::uint32_t wanted =
      options.data_lanes != 0 ? options.data_lanes : default_data_lanes();
  const std::uint32_t offered = std::max<std::uint32_t>(hello.data_lanes(), 1);  // 0: older node
  try {
    data = DataChannelClient::connect(identity, data_address, hello.node_id(),
                                      hello.session_id(),
                                      std::span(secret, hello.data_secret().size()),
                                      options.heartbeat_timeout * 3, std::min(wanted, offered));
  } catch (const Error& e) {
    // A firewall that lets only the gRPC port through must not break the cluster.
    log::warn("node {}: data channel at {} unavailable ({}); writes and reads use gRPC",
              hello.node_id(), data_address, e.what());
  }
}

void NodeConnection::Impl::mark_lost(const char* why, bool unexpected) {
  const char* none = nullptr;
  lost_why.compare_exchange_strong(none, why);  // the first observation wins
  if (lost.exchange(true)) return;
  if (unexpected) {
    log::warn("node {} at {} lost: {}", hello.node_id(), address, why);
  } else {
    log::info("node {} at {} left: {}", hello.node_id(), address, why);
  }
  if (data) data->abort();
  session_context.TryCancel();
  std::lock_guard lock(calls_mutex);
  for (grpc::ClientContext* call : calls) call->TryCancel();
}

// --- NodeConnection ---

std::shared_ptr<NodeConnection> NodeConnection::open(const std::string& address,
                                                     const net::NodeIdentity& identity,
                                                     ConnectionOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->address = address;
  impl->local_node_id = identity.node_id();
  impl->options = options;
  impl->channel = identity.connect(address);
  impl->stub = v1::Node::NewStub(impl->channel);

  v1::HelloRequest request;
  request.mutable_version()->set_major(kProtocolMajor);
  request.mutable_version()->set_minor(kProtocolMinor);
  request.set_node_id(identity.node_id());
  request.add_capabilities("peer-copy");
  request.add_capabilities("stream-write");
  request.set_software(kSoftware);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + options.heartbeat_timeout * 3);
  grpc::Status status = impl->stub->Hello(&context, request, &impl->hello);
  if (!status.ok() && status.error_message().rfind("errc=", 0) != 0 &&
      status.error_code() != grpc::StatusCode::UNAUTHENTICATED &&
      status.error_code() != grpc::StatusCode::PERMISSION_DENIED) {
    fail(Errc::device_lost, "cannot reach node at {}: {}", address, status.error_message());
  }
  net::throw_if_failed(status, fmt::format("Hello to {}", address));
  if (impl->hello.version().major() != kProtocolMajor) {
    fail(Errc::unsupported, "node at {} speaks protocol {}.{}, this client {}.{}", address,
         impl->hello.version().major(), impl->hello.version().minor(), kProtocolMajor,
         kProtocolMinor);
  }
  pin_node_id(context, address, impl->hello, options.expected_node_id);
  impl->session_text = std::to_string(impl->hello.session_id());
  impl->start_session();
  impl->open_data_channel(identity);
  return std::shared_ptr<NodeConnection>(new NodeConnection(std::move(impl)));
}

NodeConnection::NodeConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

NodeConnection::~NodeConnection() { close(); }

void NodeConnection::close() noexcept {
  if (impl_->closing.exchange(true)) return;
  impl_->wake.notify_all();
  if (impl_->data) impl_->data->abort();
  if (impl_->heartbeat_thread.joinable()) impl_->heartbeat_thread.join();
  impl_->session_context.TryCancel();
  if (impl_->reader_thread.joinable()) impl_->reader_thread.join();
}

const std::string& NodeConnection::address() const noexcept { return impl_->address; }
const std::string& NodeConnection::node_id() const noexcept { return impl_->hello.node_id(); }
const std::string& NodeConnection::local_node_id() const noexcept {
  return impl_->local_node_id;
}
const std::string& NodeConnection::role() const noexcept { return impl_->hello.role(); }
std::uint64_t NodeConnection::quota_bytes() const noexcept { return impl_->hello.quota_bytes(); }
bool NodeConnection::lost() const noexcept { return impl_->lost; }
bool NodeConnection::closed() const noexcept { return impl_->closing; }
double NodeConnection::rtt_ms() const noexcept { return impl_->rtt_ms; }
bool NodeConnection::uses_data_channel() const noexcept {
  return impl_->data && !impl_->data->broken();
}

std::size_t NodeConnection::data_lanes() const noexcept {
  return uses_data_channel() ? impl_->data->lanes() : 0;
}

}  // namespace crossgpu::cluster
