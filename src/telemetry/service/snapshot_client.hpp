// The client side of Telemetry.Snapshot, shared by the peer poller, `crossgpu status` and the
// planner of `crossgpu run`: one call, the version checked, every node decoded as untrusted input.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <vector>

#include "telemetry/node_telemetry.hpp"

namespace crossgpu::telemetry {

// The answering node's telemetry, first; with `cluster`, then every peer in its cluster view.
// Throws the call's Errc (net::throw_if_failed), Errc::unsupported for another major version,
// and from_wire's errors for a malformed node.
std::vector<NodeTelemetry> fetch_snapshot(const std::shared_ptr<grpc::Channel>& channel, bool cluster,
                                          std::chrono::milliseconds timeout);

}  // namespace crossgpu::telemetry
