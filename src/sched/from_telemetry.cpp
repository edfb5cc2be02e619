#include "sched/from_telemetry.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "sched/condition.hpp"
#include "telemetry/profiler.hpp"

namespace crossgpu::sched {
namespace {

using telemetry::NodeTelemetry;

struct MeasuredLink {
  double latency_seconds;
  double bytes_per_second;
};

// Node a's own measurement of its link to node b.
std::optional<MeasuredLink> measured_link(const NodeTelemetry& a, const std::string& b) {
  for (const telemetry::LinkMetrics& link : a.links) {
    if (link.peer_node_id != b || !link.rtt_ms.value || !link.bytes_per_s.value) continue;
    if (*link.bytes_per_s.value <= 0) continue;
    return MeasuredLink{*link.rtt_ms.value / 2000.0, *link.bytes_per_s.value};
  }
  return std::nullopt;
}

std::optional<MeasuredLink> either_way(const NodeTelemetry& a, const NodeTelemetry& b) {
  if (auto link = measured_link(a, b.node_id)) return link;
  return measured_link(b, a.node_id);
}

const telemetry::DeviceMetrics* metrics_of(const NodeTelemetry& node, const std::string& device) {
  for (const auto& m : node.metrics) {
    if (m.device_id == device) return &m;
  }
  return nullptr;
}

// Why a registered device cannot be planned with, or "" when it can.
std::string unusable(const telemetry::DeviceRegistration& r, const telemetry::DeviceMetrics* m) {
  if (r.self_test == telemetry::SelfTestStatus::failed) return "self-test failed: " + r.self_test_reason;
  if (!r.profile) return "not profiled: " + r.profile_status;
  if (r.self_test == telemetry::SelfTestStatus::not_run) return "self-test not run: " + r.self_test_reason;
  if (r.profile->matmul_f32_flops <= 0 || r.profile->matvec_f32_bytes_per_s <= 0) {
    return "profile lacks matmul or matvec throughput";
  }
  if (!m || !m->memory_free_bytes.value) {
    return "free memory unavailable: " + (m ? m->memory_free_bytes.source : std::string("no metrics sample"));
  }
  return {};
}

struct Candidate {
  const NodeTelemetry* node;
  DeviceCapacity capacity;
  Score score;
};

void add_node_devices(const telemetry::NodeView& node, PlacementInputs& out, std::vector<Candidate>& kept) {
  const NodeTelemetry& n = node.latest;
  for (const telemetry::DeviceRegistration& r : n.devices) {
    const std::string id = node.self ? r.device_id : n.node_id + "/" + r.device_id;
    const telemetry::DeviceMetrics* m = metrics_of(n, r.device_id);
    if (std::string why = unusable(r, m); !why.empty()) {
      out.excluded.push_back({id, why});
      continue;
    }
    const Score s = score(condition_of(*m, n.host));
    if (s.excluded) {
      out.excluded.push_back({id, s.reason});
      continue;
    }
    DeviceCapacity measured{id, r.name, *m->memory_free_bytes.value, telemetry::decode_flops_per_s(*r.profile),
                            telemetry::decode_bytes_per_s(*r.profile)};
    kept.push_back({&n, effective(measured, s), s});
  }
}

// Can this node's devices be planned with from the view's own node?
std::string node_unusable(const telemetry::NodeView& node, const telemetry::NodeView* self) {
  if (node.self) return {};
  if (node.latest.state != "healthy") return "node is " + node.latest.state;
  if (!self) return "this node's own telemetry is missing";
  if (!either_way(self->latest, node.latest)) return "no measured link (RTT and bandwidth) to this node yet";
  return {};
}

Link link_between(const NodeTelemetry& a, const NodeTelemetry& b, const NodeTelemetry* self) {
  if (a.node_id == b.node_id) return Link{0.0, std::numeric_limits<double>::infinity()};
  if (auto direct = either_way(a, b)) return Link{direct->latency_seconds, direct->bytes_per_second};
  // Both legs exist: node_unusable kept only peers with a measured link to this node.
  const auto first = either_way(a, *self);
  const auto second = either_way(*self, b);
  return Link{first->latency_seconds + second->latency_seconds,
              std::min(first->bytes_per_second, second->bytes_per_second)};
}

}  // namespace

PlacementInputs placement_inputs(const telemetry::ClusterView& view) {
  PlacementInputs out;
  const telemetry::NodeView* self = view.self();
  std::vector<Candidate> kept;
  for (const telemetry::NodeView& node : view.nodes) {
    if (std::string why = node_unusable(node, self); !why.empty()) {
      for (const auto& r : node.latest.devices) out.excluded.push_back({node.latest.node_id + "/" + r.device_id, why});
      continue;
    }
    add_node_devices(node, out, kept);
  }
  for (const Candidate& c : kept) {
    out.devices.push_back(c.capacity);
    out.scores.push_back(c.score);
  }
  out.links.assign(kept.size(), std::vector<Link>(kept.size()));
  for (std::size_t a = 0; a < kept.size(); ++a) {
    for (std::size_t b = 0; b < kept.size(); ++b) {
      out.links[a][b] = link_between(*kept[a].node, *kept[b].node, self ? &self->latest : nullptr);
    }
  }
  return out;
}

}  // namespace crossgpu::sched
