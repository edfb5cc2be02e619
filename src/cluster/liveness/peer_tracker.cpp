#include "cluster/liveness/peer_tracker.hpp"

#include <algorithm>

#include "cluster/liveness/rtt_estimator.hpp"
#include "core/error.hpp"
#include "core/log.hpp"

namespace crossgpu::liveness {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

struct PeerTracker::Peer {
  Peer(std::string id, std::string addr, TimePoint now, const LivenessConfig& config,
       UniformSource jitter)
      : node_id(std::move(id)),
        address(std::move(addr)),
        added_at(now),
        next_due(now),
        backoff(config.reconnect, std::move(jitter)),
        rtt(config.rtt_smoothing) {}

  std::string node_id;
  std::string address;
  PeerState state = PeerState::joining;
  TimePoint added_at;
  std::optional<TimePoint> last_seen;
  TimePoint next_due;
  unsigned missed = 0;
  Backoff backoff;
  RttEstimator rtt;

  // Silence is measured from the last answer, or from when the peer was added if it never did.
  TimePoint silent_since() const { return last_seen.value_or(added_at); }
  bool connected() const { return state == PeerState::healthy || state == PeerState::suspect; }
};

namespace {

void validate(const LivenessConfig& config) {
  if (config.heartbeat_interval.count() <= 0) {
    fail(Errc::invalid_argument, "liveness: heartbeat interval must be > 0");
  }
  if (config.suspect_after_missed == 0) {
    fail(Errc::invalid_argument, "liveness: suspect_after_missed must be at least 1");
  }
  if (config.lost_after <= config.heartbeat_interval) {
    fail(Errc::invalid_argument,
         "liveness: lost_after ({} ms) must be longer than the heartbeat interval ({} ms)",
         config.lost_after.count(), config.heartbeat_interval.count());
  }
}

}  // namespace

PeerTracker::PeerTracker(LivenessConfig config, Clock clock, UniformSource jitter)
    : config_(config), clock_(std::move(clock)), jitter_(std::move(jitter)) {
  validate(config_);
  if (!clock_) fail(Errc::invalid_argument, "liveness: a clock is required");
  Backoff probe(config_.reconnect, jitter_);  // validates the backoff settings up front
  RttEstimator rtt_probe(config_.rtt_smoothing);
}

PeerTracker::~PeerTracker() = default;

void PeerTracker::on_state_change(StateCallback callback) {
  std::lock_guard lock(callbacks_mutex_);
  callbacks_.push_back(std::move(callback));
}

bool PeerTracker::add_peer(const std::string& node_id, const std::string& address) {
  if (node_id.empty()) fail(Errc::invalid_argument, "liveness: a peer needs a node id");
  std::lock_guard lock(mutex_);
  if (auto it = peers_.find(node_id); it != peers_.end()) {
    it->second->address = address;
    return false;
  }
  peers_.emplace(node_id, std::make_unique<Peer>(node_id, address, clock_(), config_, jitter_));
  return true;
}

bool PeerTracker::remove_peer(const std::string& node_id) {
  std::lock_guard lock(mutex_);
  return peers_.erase(node_id) > 0;
}

PeerTracker::Peer& PeerTracker::peer_or_throw(const std::string& node_id) {
  auto it = peers_.find(node_id);
  if (it == peers_.end())
    fail(Errc::not_found, "liveness: no peer with node id '{}' is tracked", node_id);
  return *it->second;
}

void PeerTracker::transition(Peer& peer, PeerState to, TimePoint now, Changes& changes) {
  if (peer.state == to) return;
  changes.push_back({peer.node_id, peer.address, peer.state, to, now});
  peer.state = to;
  if (to == PeerState::lost) {
    // The first reconnect waits one backoff step: the peer just went away and is unlikely to be
    // back within microseconds, and many nodes noticing at once must not stampede it.
    peer.backoff.reset();
    peer.next_due = now + peer.backoff.next_delay();
  }
}

void PeerTracker::heartbeat_succeeded(const std::string& node_id, std::chrono::microseconds rtt) {
  Changes changes;
  {
    std::lock_guard lock(mutex_);
    Peer& peer = peer_or_throw(node_id);
    const TimePoint now = clock_();
    peer.last_seen = now;
    peer.missed = 0;
    peer.rtt.add(rtt);
    peer.backoff.reset();
    if (!peer.connected()) peer.next_due = now + config_.heartbeat_interval;
    transition(peer, PeerState::healthy, now, changes);
  }
  notify(changes);
}

void PeerTracker::heartbeat_failed(const std::string& node_id) {
  Changes changes;
  {
    std::lock_guard lock(mutex_);
    Peer& peer = peer_or_throw(node_id);
    const TimePoint now = clock_();
    // A failed reconnect only waits for its backoff; missed counts are about live sessions.
    if (peer.connected()) ++peer.missed;
    apply_timeouts(peer, now, changes);
  }
  notify(changes);
}

void PeerTracker::disconnected(const std::string& node_id) {
  Changes changes;
  {
    std::lock_guard lock(mutex_);
    Peer& peer = peer_or_throw(node_id);
    if (peer.connected()) transition(peer, PeerState::lost, clock_(), changes);
  }
  notify(changes);
}

void PeerTracker::apply_timeouts(Peer& peer, TimePoint now, Changes& changes) {
  const auto silent = now - peer.silent_since();
  if (peer.state != PeerState::lost && silent >= config_.lost_after) {
    transition(peer, PeerState::lost, now, changes);
    return;
  }
  // Time-based suspicion as well as counted misses: a heartbeat that hangs never reports failure.
  const auto suspect_after = config_.heartbeat_interval * config_.suspect_after_missed;
  if (peer.state == PeerState::healthy &&
      (peer.missed >= config_.suspect_after_missed || silent >= suspect_after)) {
    transition(peer, PeerState::suspect, now, changes);
  }
}

std::optional<DueAction> PeerTracker::take_due(Peer& peer, TimePoint now) {
  if (now < peer.next_due) return std::nullopt;
  if (peer.connected()) {
    peer.next_due = now + config_.heartbeat_interval;
    return DueAction{peer.node_id, peer.address, ActionKind::heartbeat};
  }
  peer.next_due = now + peer.backoff.next_delay();
  return DueAction{peer.node_id, peer.address, ActionKind::reconnect};
}

std::vector<DueAction> PeerTracker::poll() {
  std::vector<DueAction> due;
  Changes changes;
  {
    std::lock_guard lock(mutex_);
    const TimePoint now = clock_();
    for (auto& [id, peer] : peers_) {
      apply_timeouts(*peer, now, changes);
      if (auto action = take_due(*peer, now)) due.push_back(std::move(*action));
    }
  }
  notify(changes);
  return due;
}

std::optional<TimePoint> PeerTracker::next_due() const {
  std::lock_guard lock(mutex_);
  std::optional<TimePoint> earliest;
  for (const auto& [id, peer] : peers_) {
    if (!earliest || peer->next_due < *earliest) earliest = peer->next_due;
  }
  return earliest;
}

PeerSnapshot PeerTracker::snapshot_of(const Peer& peer, TimePoint now) const {
  PeerSnapshot s;
  s.node_id = peer.node_id;
  s.address = peer.address;
  s.state = peer.state;
  s.rtt_ms = peer.rtt.smoothed_ms();
  s.last_rtt_ms = peer.rtt.last_ms();
  s.last_seen = peer.last_seen;
  s.silent_for = std::max(milliseconds(0), duration_cast<milliseconds>(now - peer.silent_since()));
  s.missed_heartbeats = peer.missed;
  s.reconnect_attempts = peer.connected() ? 0 : peer.backoff.attempts();
  return s;
}

std::vector<PeerSnapshot> PeerTracker::snapshot() const {
  std::lock_guard lock(mutex_);
  const TimePoint now = clock_();
  std::vector<PeerSnapshot> out;
  out.reserve(peers_.size());
  for (const auto& [id, peer] : peers_) out.push_back(snapshot_of(*peer, now));
  return out;
}

std::optional<PeerSnapshot> PeerTracker::find(const std::string& node_id) const {
  std::lock_guard lock(mutex_);
  auto it = peers_.find(node_id);
  if (it == peers_.end()) return std::nullopt;
  return snapshot_of(*it->second, clock_());
}

void PeerTracker::require_reachable(const std::string& node_id) const {
  const auto peer = find(node_id);
  if (!peer) fail(Errc::not_found, "peer '{}' is not part of this node's cluster view", node_id);
  if (peer->state == PeerState::lost) {
    fail(Errc::device_lost,
         "peer '{}' at {} is lost (silent for {} ms); its devices are unreachable until it "
         "reconnects",
         node_id, peer->address, peer->silent_for.count());
  }
}

void PeerTracker::notify(const Changes& changes) {
  if (changes.empty()) return;
  std::vector<StateCallback> callbacks;
  {
    std::lock_guard lock(callbacks_mutex_);
    callbacks = callbacks_;
  }
  for (const StateChange& change : changes) {
    log::info("peer {} ({}): {} -> {}", change.node_id, change.address, state_name(change.from),
              state_name(change.to));
    for (const auto& callback : callbacks) callback(change);
  }
}

}  // namespace crossgpu::liveness
