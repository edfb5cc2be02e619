#include "runtime/stage_transport.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <memory>
#include <thread>
#include <span>
#include <vector>

#include "core/error.hpp"
#include "core/log.hpp"
#if CROSSGPU_WITH_NETWORK
#include "cluster/cached_upload.hpp"
#include "cluster/node_connection.hpp"
#include "crossgpu/v1/node.pb.h"
#include "cluster/remote_device.hpp"
#endif

namespace crossgpu::runtime {
namespace {

#if CROSSGPU_WITH_NETWORK
// Weights for a node go through its weight cache (cluster::upload_through_cache): a second run
// sends hashes instead of weights. A node that cannot cache (an older node, a read-only disk)
// costs one warning, then plain uploads.
class NodeCacheUpload {
 public:
  model::WeightSource operator()(Device& device, BufferRef dst, std::uint64_t offset,
                                 std::span<const std::byte> bytes) {
    auto* remote = dynamic_cast<cluster::RemoteDevice*>(&device);
    if (remote == nullptr || *off_) return model::WeightSource::not_handled;
    try {
      return cluster::upload_through_cache(*remote, dst, offset, bytes) ? model::WeightSource::cached
                                                                    : model::WeightSource::sent;
    } catch (const Error& e) {
      if (e.code() == Errc::device_lost) throw;
      log::warn("weight cache of {} unavailable ({}); sending its weights in full", device.id(),
                e.what());
      *off_ = true;
      return model::WeightSource::not_handled;  // the stage uploads this tensor itself
    }
  }

 private:
  std::shared_ptr<bool> off_ = std::make_shared<bool>(false);  // std::function copies the hook
};
#endif

}  // namespace

bool is_remote(const Device& device) {
#if CROSSGPU_WITH_NETWORK
  return dynamic_cast<const cluster::RemoteDevice*>(&device) != nullptr;
#else
  (void)device;
  return false;
#endif
}

double request_round_trip_seconds(Device& device) {
#if CROSSGPU_WITH_NETWORK
  const auto* remote = dynamic_cast<const cluster::RemoteDevice*>(&device);
  if (remote == nullptr) return 0;
  try {
    Buffer word = device.allocate(4);
    const std::byte value[4] = {};
    double best = std::numeric_limits<double>::infinity();
    for (int i = 0; i < 5; ++i) {  // the best: the link's cost, not a moment the node was busy
      const auto start = std::chrono::steady_clock::now();
      device.stream().upload(word, 0, std::span<const std::byte>(value)).wait();
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    return best;
  } catch (const Error& e) {  // the node went away meanwhile: loading its stage will say so
    log::debug("request round trip to {}: {}", device.id(), e.what());
    return remote->node().rtt_ms() / 1e3;
  }
#else
  (void)device;
  return 0;
#endif
}

void relay_through_client(BufferRef src, BufferRef dst, std::uint64_t bytes, HiddenWire wire) {
  if (src.device == nullptr || dst.device == nullptr) {
    fail(Errc::invalid_argument, "relay_through_client: both buffers must be on devices");
  }
  std::vector<std::byte> host(bytes);
  src.device->stream().download(src, 0, std::span(host)).wait();
  if (wire == HiddenWire::f16) round_to_f16(host);
  dst.device->stream().upload(dst, 0, std::span<const std::byte>(host)).wait();
}

void BoundaryMover::operator()(BufferRef src, BufferRef dst, std::uint64_t bytes) const {
  if (wire_ == HiddenWire::f16) {
    relay_through_client(src, dst, bytes, HiddenWire::f16);
  } else {
    move_activations(src, dst, bytes);
  }
}

HiddenWire hidden_wire_of(const model::ActivationMover& mover) {
  const auto* boundary = mover.target<BoundaryMover>();
  return boundary != nullptr ? boundary->wire() : HiddenWire::f32;
}

bool device_answers(const Device& device, std::string& observed) {
#if CROSSGPU_WITH_NETWORK
  const auto* remote = dynamic_cast<const cluster::RemoteDevice*>(&device);
  if (remote == nullptr) return true;
  if (remote->connection()->lost()) {
    observed = "its node's connection was lost (heartbeats or a call failed)";
    return false;
  }
  try {
    remote->connection()->status();
    return true;
  } catch (const Error& e) {
    observed = fmt::format("its node did not answer a status request: {}", e.what());
    return false;
  }
#else
  (void)device;
  (void)observed;
  return true;
#endif
}

void move_activations(BufferRef src, BufferRef dst, std::uint64_t bytes) {
  const bool src_remote = src.device && is_remote(*src.device);
  const bool dst_remote = dst.device && is_remote(*dst.device);
  if ((src_remote || dst_remote) && bytes <= kRelayThroughClientBytes) {
    relay_through_client(src, dst, bytes);
    return;
  }
#if CROSSGPU_WITH_NETWORK
  if (src_remote && dst_remote) {
    cluster::copy_between_nodes(src, 0, dst, 0, bytes);
    return;
  }
#endif
  copy_between_devices(src, 0, dst, 0, bytes);
}

WeightUploadHook weight_upload_for(const Device& device) {
#if CROSSGPU_WITH_NETWORK
  if (is_remote(device)) return NodeCacheUpload();
#else
  (void)device;
#endif
  return {};
}

}  // namespace crossgpu::runtime
