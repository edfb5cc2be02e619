// How a stage's bytes travel when its device is a node's: weights through the node's weight
// cache, hidden states node to node. The model layer knows nothing of nodes; these are the hooks
// it takes (model::StageOptions::upload_weights, model::ActivationMover). Without the network
// layers every device is local and the hooks do the plain thing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "device/device.hpp"
#include "model/llama_stage.hpp"
#include "model/pipeline.hpp"
#include "runtime/hidden_wire.hpp"

namespace crossgpu::runtime {

// model::StageOptions::upload_weights: places one weight tensor, or says it did not.
using WeightUploadHook = decltype(model::StageOptions::upload_weights);

// A node's device reached through the cluster layer (cluster::RemoteDevice).
bool is_remote(const Device& device);

// A model::ActivationMover with f32 boundaries. A decode step's hidden state (up to
// kRelayThroughClientBytes) is read inside the source node's request and written into the
// destination node's next one: it costs no request of its own (crossgpu-stage-bench measured
// this against node-to-node copies, which cost two extra round trips per stage boundary).
// Larger ones (prefill batches) go node to node when both stages are remote, and through this
// process otherwise.
void move_activations(BufferRef src, BufferRef dst, std::uint64_t bytes);
inline constexpr std::uint64_t kRelayThroughClientBytes = 256ull << 10;

// The mover of a pipeline whose stage boundaries are `wire` (runtime/hidden_wire.hpp). f32:
// move_activations. f16: every hidden state goes through this process and is rounded to f16
// there, prefill batches included (a node-to-node copy cannot round; the decode chain rounds
// on the nodes, the same way), so every path gives the next stage the same numbers.
class BoundaryMover {
 public:
  explicit BoundaryMover(HiddenWire wire) : wire_(wire) {}
  void operator()(BufferRef src, BufferRef dst, std::uint64_t bytes) const;
  HiddenWire wire() const noexcept { return wire_; }

 private:
  HiddenWire wire_;
};
inline model::ActivationMover activation_mover(HiddenWire wire) { return BoundaryMover(wire); }

// The boundaries a pipeline's mover gives: a BoundaryMover's wire, f32 for any other mover.
HiddenWire hidden_wire_of(const model::ActivationMover& mover);

// Through this process's memory: a download from `src`'s device, an upload to `dst`'s, rounded
// to f16 on the way when `wire` is f16. Any two devices, local or remote.
void relay_through_client(BufferRef src, BufferRef dst, std::uint64_t bytes, HiddenWire wire = HiddenWire::f32);

// The round trip of one small request to `device`'s node over the connection the stages' steps
// use, in seconds: the least each token's request to a stage there costs. 0 for a local device.
// Measured here as the best of a few 4-byte uploads that wait for the node's answer. The session
// heartbeat's echo is no measure of it: it rides the gRPC stream, and its first echo (all that
// exists when a run plans right after connecting) read ~15 ms on loopback where a step's request
// takes well under 1 ms, so every remote stage was predicted ~15 ms slower than it ran.
double request_round_trip_seconds(Device& device);

// Whether the device can still be reached: a local device always; a node's device when its node
// answers a status request now (a killed node's port refuses at once; a hung one fails at the
// connection's deadline). What the node said, or why it did not, goes to `observed`.
bool device_answers(const Device& device, std::string& observed);

// The upload hook for a stage on `device`: through the node's weight cache for a remote device,
// none (the stage uploads itself) for a local one.
WeightUploadHook weight_upload_for(const Device& device);

}  // namespace crossgpu::runtime
