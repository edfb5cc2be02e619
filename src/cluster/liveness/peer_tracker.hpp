// PeerTracker: what this node believes about each peer's liveness.
//
//   joining --success--> healthy --N missed / N intervals silent--> suspect --success--> healthy
//      |                    |                                          |
//      +-- silent past lost_after (or disconnected) --> lost <---------+
//   lost --success (a reconnect worked)--> healthy
//
// It does no networking: the node daemon calls poll() on a timer, performs the heartbeats and
// reconnects it returns, and reports each outcome. Time comes from an injectable clock so tests
// are deterministic. All members are thread-safe; state-change callbacks run on the thread whose
// call caused the change, after the tracker's lock is released (they may call back in).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cluster/liveness/backoff.hpp"
#include "cluster/liveness/peer_state.hpp"

namespace crossgpu::liveness {

using TimePoint = std::chrono::steady_clock::time_point;
using Clock = std::function<TimePoint()>;

struct LivenessConfig {
  std::chrono::milliseconds heartbeat_interval{1'000};
  unsigned suspect_after_missed = 3;             // consecutive misses (or intervals of silence)
  std::chrono::milliseconds lost_after{10'000};  // silence after which a peer is lost
  BackoffConfig reconnect{};                     // delays between reconnect attempts of a lost peer
  double rtt_smoothing = 0.125;                  // weight of a new RTT sample in the EWMA
};

struct PeerSnapshot {
  std::string node_id;
  std::string address;
  PeerState state = PeerState::joining;
  std::optional<double> rtt_ms;             // smoothed
  std::optional<double> last_rtt_ms;        // most recent sample
  std::optional<TimePoint> last_seen;       // last successful heartbeat
  std::chrono::milliseconds silent_for{0};  // since last_seen (or since added, when never seen)
  unsigned missed_heartbeats = 0;
  unsigned reconnect_attempts = 0;
};

struct StateChange {
  std::string node_id;
  std::string address;
  PeerState from;
  PeerState to;
  TimePoint at;
};

enum class ActionKind {
  heartbeat,  // send a heartbeat on the existing session
  reconnect,  // open a new session (TLS handshake, Hello) to the peer's address
};

struct DueAction {
  std::string node_id;
  std::string address;
  ActionKind kind;
};

class PeerTracker {
 public:
  using StateCallback = std::function<void(const StateChange&)>;

  // Throws Errc::invalid_argument for a zero interval, zero miss count, a loss timeout not longer
  // than the interval, or a bad backoff configuration.
  explicit PeerTracker(LivenessConfig config = {}, Clock clock = std::chrono::steady_clock::now,
                       UniformSource jitter = default_uniform_source());
  ~PeerTracker();
  PeerTracker(const PeerTracker&) = delete;
  PeerTracker& operator=(const PeerTracker&) = delete;

  void on_state_change(StateCallback callback);

  // A new peer starts joining with a connection attempt due at once; returns false (and updates
  // the address) when the node id is already tracked. Throws Errc::invalid_argument on an empty id.
  bool add_peer(const std::string& node_id, const std::string& address);
  bool remove_peer(const std::string& node_id);

  // Outcomes of the actions poll() returned. Unknown node ids throw Errc::not_found.
  void heartbeat_succeeded(const std::string& node_id, std::chrono::microseconds rtt);
  void heartbeat_failed(const std::string& node_id);
  // The session broke (connection reset, stream ended): the peer is lost at once.
  void disconnected(const std::string& node_id);

  // Applies time-based transitions and returns the heartbeats and reconnects due now; each one
  // returned is scheduled again (interval for heartbeats, backoff for reconnects).
  std::vector<DueAction> poll();
  // When poll() next has something to do; the daemon sleeps until then (or a result comes).
  std::optional<TimePoint> next_due() const;

  std::vector<PeerSnapshot> snapshot() const;  // sorted by node id
  std::optional<PeerSnapshot> find(const std::string& node_id) const;
  // For operations on a peer: throws Errc::not_found for an unknown peer and Errc::device_lost
  // (the peer's devices are unreachable) for a lost one, with how long it has been silent.
  void require_reachable(const std::string& node_id) const;

  const LivenessConfig& config() const noexcept { return config_; }

 private:
  struct Peer;
  using Changes = std::vector<StateChange>;

  Peer& peer_or_throw(const std::string& node_id);
  void transition(Peer& peer, PeerState to, TimePoint now, Changes& changes);
  void apply_timeouts(Peer& peer, TimePoint now, Changes& changes);
  std::optional<DueAction> take_due(Peer& peer, TimePoint now);
  PeerSnapshot snapshot_of(const Peer& peer, TimePoint now) const;
  void notify(const Changes& changes);

  LivenessConfig config_;
  Clock clock_;
  UniformSource jitter_;
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Peer>> peers_;
  std::mutex callbacks_mutex_;
  std::vector<StateCallback> callbacks_;
};

}  // namespace crossgpu::liveness
