#include "telemetry/service/peer_poller.hpp"

#include <grpcpp/grpcpp.h>

#include <algorithm>

#include "core/error.hpp"
#include "core/log.hpp"
#include "crossgpu/v1/telemetry.grpc.pb.h"
#include "net/status.hpp"
#include "telemetry/service/snapshot_client.hpp"
#include "telemetry/service/wire.hpp"

namespace crossgpu::telemetry {
namespace {

constexpr std::uint64_t kProbeChunk = 1ull << 20;

std::int64_t unix_seconds_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void set_deadline(grpc::ClientContext& context, std::chrono::milliseconds timeout) {
  context.set_deadline(std::chrono::system_clock::now() + timeout);
}

}  // namespace

PeerPoller::PeerPoller(net::NodeIdentity identity, ClusterAggregator& aggregator, PeerSource peers,
                       PollerOptions options)
    : identity_(std::move(identity)), aggregator_(aggregator), peers_(std::move(peers)),
      options_(options) {
  if (options_.probe_bytes == 0 || options_.probe_bytes > (64ull << 20)) {
    fail(Errc::invalid_argument, "link probe of {} bytes: choose 1 byte to 64 MiB", options_.probe_bytes);
  }
}

PeerPoller::~PeerPoller() { stop(); }

void PeerPoller::start() { thread_ = std::thread([this] { run(); }); }

void PeerPoller::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  polled_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Workers end within their call deadlines; none starts after stopping_.
  for (auto& [node_id, worker] : workers_) {
    if (worker.thread.joinable()) worker.thread.join();
  }
}

void PeerPoller::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    const std::vector<v1::PeerStatus> peers = current_peers();
    start_polls(peers);
    publish_links(peers);  // bandwidth as last measured: a probe in flight shows next round
    lock.lock();
    wake_.wait_for(lock, options_.interval, [this] { return stopping_; });
  }
}

std::vector<v1::PeerStatus> PeerPoller::current_peers() const {
  std::vector<v1::PeerStatus> peers;
  for (v1::PeerStatus& peer : peers_ ? peers_() : std::vector<v1::PeerStatus>{}) {
    // A peer without a node id has not been through Hello yet: not trusted, not polled.
    if (!peer.node_id().empty()) peers.push_back(std::move(peer));
  }
  return peers;
}

void PeerPoller::start_polls(const std::vector<v1::PeerStatus>& peers) {
  std::vector<std::thread> finished;
  {
    std::lock_guard lock(mutex_);
    for (const v1::PeerStatus& peer : peers) {
      Worker& worker = workers_[peer.node_id()];
      if (stopping_ || worker.busy) continue;  // its last poll still waits on the peer
      worker.busy = true;
      finished.push_back(std::move(worker.thread));  // its last poll is over: joined at once
      worker.thread = std::thread([this, peer] {
        poll_peer(peer);
        std::lock_guard done(mutex_);
        workers_[peer.node_id()].busy = false;
        polled_.notify_all();
      });
    }
  }
  for (std::thread& thread : finished) {
    if (thread.joinable()) thread.join();
  }
}

void PeerPoller::wait_for(const std::vector<v1::PeerStatus>& peers) {
  std::unique_lock lock(mutex_);
  polled_.wait(lock, [&] {
    return stopping_ || std::none_of(peers.begin(), peers.end(), [&](const v1::PeerStatus& peer) {
             const auto it = workers_.find(peer.node_id());
             return it != workers_.end() && it->second.busy;
           });
  });
}

std::shared_ptr<grpc::Channel> PeerPoller::channel(const std::string& address) {
  std::lock_guard lock(mutex_);
  auto& channel = channels_[address];
  if (!channel) channel = identity_.connect(address);
  return channel;
}

double PeerPoller::measure_bandwidth(const std::shared_ptr<grpc::Channel>& channel,
                                     std::uint64_t bytes, std::chrono::milliseconds timeout) {
  auto stub = v1::Telemetry::NewStub(channel);
  v1::ProbeChunk chunk;
  grpc::ClientContext context;
  set_deadline(context, timeout);
  v1::ProbeResponse response;
  // The clock starts once the chunk is built: what is timed is the transfer and its answer.
  std::string payload(std::min(bytes, kProbeChunk), '\x5a');
  const auto started = std::chrono::steady_clock::now();
  auto writer = stub->Probe(&context, &response);
  for (std::uint64_t sent = 0; sent < bytes; sent += kProbeChunk) {
    const std::uint64_t n = std::min(kProbeChunk, bytes - sent);
    chunk.set_data(payload.data(), n);
    if (!writer->Write(chunk)) break;
  }
  writer->WritesDone();
  net::throw_if_failed(writer->Finish(), "Telemetry.Probe");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (response.bytes_received() != bytes) {
    fail(Errc::io, "link probe: the peer received {} of {} bytes", response.bytes_received(), bytes);
  }
  return static_cast<double>(bytes) / std::max(seconds, 1e-9);
}

void PeerPoller::probe_if_due(const v1::PeerStatus& peer, const std::shared_ptr<grpc::Channel>& channel) {
  {
    std::lock_guard lock(mutex_);
    const auto found = bandwidth_.find(peer.node_id());
    if (found != bandwidth_.end() && std::chrono::steady_clock::now() < found->second.next_probe) return;
  }
  Bandwidth measured;
  measured.bytes = options_.probe_bytes;
  measured.unix_seconds = unix_seconds_now();
  try {
    const double rate = measure_bandwidth(channel, options_.probe_bytes, options_.call_timeout);
    measured.bytes_per_s = Measured<double>::of(rate, "timed probe write");
    measured.next_probe = std::chrono::steady_clock::now() + options_.probe_every;
  } catch (const Error& e) {
    measured.bytes_per_s = Measured<double>::unavailable(std::string("probe failed: ") + e.what());
    measured.next_probe = std::chrono::steady_clock::now() + options_.interval * 10;
  }
  std::lock_guard lock(mutex_);
  bandwidth_[peer.node_id()] = measured;
}

void PeerPoller::poll_peer(const v1::PeerStatus& peer) {
  if (peer.state() != "healthy") {
    aggregator_.set_state(peer.node_id(), peer.state());
    return;
  }
  const auto connection = channel(peer.address());
  try {
    std::vector<NodeTelemetry> answered = fetch_snapshot(connection, false, options_.call_timeout);
    if (answered.size() != 1) fail(Errc::invalid_argument, "Snapshot answered {} nodes, not 1", answered.size());
    NodeTelemetry telemetry = std::move(answered.front());
    if (telemetry.node_id != peer.node_id()) {
      fail(Errc::invalid_argument, "the peer at {} reports node id {}, liveness knows it as {}",
           peer.address(), telemetry.node_id.substr(0, 64), peer.node_id());
    }
    telemetry.address = peer.address();
    telemetry.state = peer.state();
    aggregator_.update(std::move(telemetry));
  } catch (const Error& e) {
    log::debug("telemetry of peer {} ({}): {}", peer.node_id(), peer.address(), e.what());
    aggregator_.set_state(peer.node_id(), peer.state());
  }
  probe_if_due(peer, connection);
}

void PeerPoller::poll_once() {
  const std::vector<v1::PeerStatus> peers = current_peers();
  start_polls(peers);
  wait_for(peers);
  publish_links(peers);
}

void PeerPoller::publish_links(const std::vector<v1::PeerStatus>& peers) {
  std::vector<LinkMetrics> links;
  for (const v1::PeerStatus& peer : peers) {
    LinkMetrics link;
    link.peer_node_id = peer.node_id();
    link.peer_address = peer.address();
    if (peer.rtt_ms() > 0) link.rtt_ms = Measured<double>::of(peer.rtt_ms(), "heartbeats");
    std::lock_guard lock(mutex_);
    if (auto it = bandwidth_.find(peer.node_id()); it != bandwidth_.end()) {
      link.bytes_per_s = it->second.bytes_per_s;
      link.probe_bytes = it->second.bytes;
      link.bandwidth_measured_unix_seconds = it->second.unix_seconds;
    }
    links.push_back(std::move(link));
  }
  std::lock_guard lock(mutex_);
  links_ = std::move(links);
}

std::vector<LinkMetrics> PeerPoller::links() const {
  std::lock_guard lock(mutex_);
  return links_;
}

}  // namespace crossgpu::telemetry
