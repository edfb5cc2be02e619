// PeerTracker on a fake clock: every state edge, heartbeat and reconnect scheduling, RTT,
// snapshots, callbacks, errors; and a multi-threaded smoke test on the real clock.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "cluster/liveness/peer_tracker.hpp"
#include "support/test_support.hpp"

namespace crossgpu::liveness {
namespace {

using crossgpu::testing::throws_errc;
using std::chrono::microseconds;
using std::chrono::milliseconds;

class FakeClock {
 public:
  TimePoint now() const { return now_; }
  void advance(milliseconds d) { now_ += d; }
  Clock clock() {
    return [this] { return now_; };
  }

 private:
  TimePoint now_{std::chrono::hours(1)};
};

LivenessConfig test_config() {
  LivenessConfig config;
  config.heartbeat_interval = milliseconds(1'000);
  config.suspect_after_missed = 3;
  config.lost_after = milliseconds(10'000);
  config.reconnect = {milliseconds(500), milliseconds(4'000), 2.0, 0.0};  // no jitter: exact times
  return config;
}

class TrackerTest : public ::testing::Test {
 protected:
  TrackerTest() : tracker(test_config(), clock.clock(), [] { return 0.5; }) {
    tracker.on_state_change([this](const StateChange& c) { changes.push_back(c); });
  }
  PeerState state(const std::string& id) const { return tracker.find(id)->state; }
  void make_healthy(const std::string& id) {
    tracker.add_peer(id, "192.0.2.9:7300");
    tracker.heartbeat_succeeded(id, microseconds(2'000));
  }

  FakeClock clock;
  PeerTracker tracker;
  std::vector<StateChange> changes;
};

TEST_F(TrackerTest, NewPeerJoinsWithAConnectDueAtOnce) {
  EXPECT_TRUE(tracker.add_peer("a", "192.0.2.9:7300"));
  EXPECT_FALSE(tracker.add_peer("a", "192.0.2.10:7300"));  // known: only the address changes
  EXPECT_EQ(state("a"), PeerState::joining);
  EXPECT_EQ(tracker.find("a")->address, "192.0.2.10:7300");
  const auto due = tracker.poll();
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].kind, ActionKind::reconnect);
  EXPECT_EQ(due[0].address, "192.0.2.10:7300");
  EXPECT_TRUE(tracker.poll().empty());  // rescheduled, not repeated
}

TEST_F(TrackerTest, JoiningToHealthyOnFirstAnswer) {
  make_healthy("a");
  EXPECT_EQ(state("a"), PeerState::healthy);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].from, PeerState::joining);
  EXPECT_EQ(changes[0].to, PeerState::healthy);
  EXPECT_EQ(changes[0].at, clock.now());
}

TEST_F(TrackerTest, JoiningToLostWhenItNeverAnswers) {
  tracker.add_peer("a", "x");
  clock.advance(milliseconds(9'999));
  tracker.poll();
  EXPECT_EQ(state("a"), PeerState::joining);
  clock.advance(milliseconds(1));
  tracker.poll();
  EXPECT_EQ(state("a"), PeerState::lost);
}

TEST_F(TrackerTest, HealthyToSuspectAfterNMissedHeartbeats) {
  make_healthy("a");
  tracker.heartbeat_failed("a");
  tracker.heartbeat_failed("a");
  EXPECT_EQ(state("a"), PeerState::healthy);
  tracker.heartbeat_failed("a");
  EXPECT_EQ(state("a"), PeerState::suspect);
  EXPECT_EQ(tracker.find("a")->missed_heartbeats, 3u);
}

TEST_F(TrackerTest, HealthyToSuspectAfterNSilentIntervals) {
  // Heartbeats that hang never report failure: silence alone must raise suspicion.
  make_healthy("a");
  clock.advance(milliseconds(2'999));
  tracker.poll();
  EXPECT_EQ(state("a"), PeerState::healthy);
  clock.advance(milliseconds(1));
  tracker.poll();
  EXPECT_EQ(state("a"), PeerState::suspect);
}

TEST_F(TrackerTest, SuspectBackToHealthyOnAHeartbeat) {
  make_healthy("a");
  for (int i = 0; i < 3; ++i) tracker.heartbeat_failed("a");
  tracker.heartbeat_succeeded("a", microseconds(1'000));
  EXPECT_EQ(state("a"), PeerState::healthy);
  EXPECT_EQ(tracker.find("a")->missed_heartbeats, 0u);
}

TEST_F(TrackerTest, SuspectToLostAfterTheTimeout) {
  make_healthy("a");
  clock.advance(milliseconds(3'000));
  tracker.poll();
  ASSERT_EQ(state("a"), PeerState::suspect);
  clock.advance(milliseconds(7'000));
  tracker.heartbeat_failed("a");  // failures apply timeouts too
  EXPECT_EQ(state("a"), PeerState::lost);
  EXPECT_EQ(changes.back().from, PeerState::suspect);
}

TEST_F(TrackerTest, HealthyToLostOnDisconnect) {
  make_healthy("a");
  tracker.disconnected("a");
  EXPECT_EQ(state("a"), PeerState::lost);
  EXPECT_EQ(changes.back().from, PeerState::healthy);
}

TEST_F(TrackerTest, LostBackToHealthyWhenAReconnectWorks) {
  make_healthy("a");
  tracker.disconnected("a");
  tracker.heartbeat_succeeded("a", microseconds(3'000));
  EXPECT_EQ(state("a"), PeerState::healthy);
  EXPECT_EQ(changes.back().from, PeerState::lost);
  EXPECT_EQ(tracker.find("a")->reconnect_attempts, 0u);
}

TEST_F(TrackerTest, HeartbeatsAreDueEveryInterval) {
  make_healthy("a");
  EXPECT_TRUE(tracker.poll().empty());
  clock.advance(milliseconds(1'000));
  auto due = tracker.poll();
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].kind, ActionKind::heartbeat);
  clock.advance(milliseconds(999));
  EXPECT_TRUE(tracker.poll().empty());
  EXPECT_EQ(tracker.next_due(), clock.now() + milliseconds(1));
}

TEST_F(TrackerTest, ReconnectsBackOffExponentiallyToTheCapAndResetOnSuccess) {
  make_healthy("a");
  tracker.disconnected("a");
  // Backoff 500, 1000, 2000, 4000 (cap), 4000 ms between attempts.
  std::vector<long> gaps;
  TimePoint last = clock.now();
  while (gaps.size() < 5) {
    clock.advance(milliseconds(100));
    for (const DueAction& action : tracker.poll()) {
      ASSERT_EQ(action.kind, ActionKind::reconnect);
      gaps.push_back(std::chrono::duration_cast<milliseconds>(clock.now() - last).count());
      last = clock.now();
      tracker.heartbeat_failed("a");
    }
  }
  EXPECT_EQ(gaps, (std::vector<long>{500, 1'000, 2'000, 4'000, 4'000}));
  EXPECT_EQ(tracker.find("a")->reconnect_attempts, 6u);  // five made, the sixth scheduled
  tracker.heartbeat_succeeded("a", microseconds(1'000));
  tracker.disconnected("a");
  EXPECT_EQ(tracker.next_due(), clock.now() + milliseconds(500));  // backoff started over
}

TEST_F(TrackerTest, ReconnectDelaysCarryJitterWithinBounds) {
  LivenessConfig config = test_config();
  config.reconnect.jitter = 0.2;
  double u = 0.0;
  PeerTracker jittery(config, clock.clock(), [&u] { return u; });
  jittery.add_peer("a", "x");
  jittery.heartbeat_succeeded("a", microseconds(1));
  jittery.disconnected("a");  // first delay drawn with u = 0: 500 - 20%
  EXPECT_EQ(jittery.next_due(), clock.now() + milliseconds(400));
  u = 0.999999;
  jittery.heartbeat_succeeded("a", microseconds(1));
  jittery.disconnected("a");
  EXPECT_EQ(jittery.next_due(), clock.now() + milliseconds(599));
}

TEST_F(TrackerTest, RttIsSmoothedAndLastKept) {
  tracker.add_peer("a", "x");
  tracker.heartbeat_succeeded("a", microseconds(8'000));
  tracker.heartbeat_succeeded("a", microseconds(16'000));
  const auto peer = tracker.find("a");
  EXPECT_DOUBLE_EQ(*peer->last_rtt_ms, 16.0);
  EXPECT_DOUBLE_EQ(*peer->rtt_ms, 8.0 * 0.875 + 16.0 * 0.125);
}

TEST_F(TrackerTest, SnapshotListsEveryPeerSortedWithSilence) {
  make_healthy("b");
  tracker.add_peer("a", "192.0.2.1:7300");
  clock.advance(milliseconds(1'500));
  const auto all = tracker.snapshot();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].node_id, "a");
  EXPECT_EQ(all[0].state, PeerState::joining);
  EXPECT_FALSE(all[0].last_seen);
  EXPECT_EQ(all[0].silent_for, milliseconds(1'500));
  EXPECT_EQ(all[1].node_id, "b");
  EXPECT_EQ(all[1].last_seen, clock.now() - milliseconds(1'500));
  EXPECT_DOUBLE_EQ(*all[1].rtt_ms, 2.0);
  EXPECT_TRUE(tracker.remove_peer("a"));
  EXPECT_FALSE(tracker.remove_peer("a"));
  EXPECT_EQ(tracker.snapshot().size(), 1u);
}

TEST_F(TrackerTest, CallbacksMayCallBackIntoTheTracker) {
  std::size_t seen = 0;
  tracker.on_state_change([&](const StateChange&) { seen = tracker.snapshot().size(); });
  make_healthy("a");
  EXPECT_EQ(seen, 1u);
}

TEST_F(TrackerTest, StateNamesMatchTheProtocol) {
  for (auto s : {PeerState::joining, PeerState::healthy, PeerState::suspect, PeerState::lost}) {
    EXPECT_EQ(parse_state(state_name(s)), s);
  }
  EXPECT_EQ(state_name(PeerState::suspect), "suspect");
  EXPECT_FALSE(parse_state("dead"));
}

TEST_F(TrackerTest, TypedErrorsForUnknownAndLostPeers) {
  EXPECT_TRUE(throws_errc([&] { tracker.heartbeat_failed("nobody"); }, Errc::not_found, "nobody"));
  EXPECT_TRUE(throws_errc([&] { tracker.heartbeat_succeeded("nobody", microseconds(1)); },
                          Errc::not_found));
  EXPECT_TRUE(throws_errc([&] { tracker.disconnected("nobody"); }, Errc::not_found));
  EXPECT_TRUE(throws_errc([&] { tracker.require_reachable("nobody"); }, Errc::not_found));
  EXPECT_TRUE(throws_errc([&] { tracker.add_peer("", "x"); }, Errc::invalid_argument));
  make_healthy("a");
  EXPECT_NO_THROW(tracker.require_reachable("a"));
  tracker.disconnected("a");
  EXPECT_TRUE(throws_errc([&] { tracker.require_reachable("a"); }, Errc::device_lost, "is lost"));
}

TEST(LivenessTracker, RejectsBadConfigurations) {
  const auto make = [](LivenessConfig c) { return [c] { PeerTracker t(c); }; };
  LivenessConfig zero_interval = test_config();
  zero_interval.heartbeat_interval = milliseconds(0);
  EXPECT_TRUE(throws_errc(make(zero_interval), Errc::invalid_argument, "interval"));
  LivenessConfig zero_missed = test_config();
  zero_missed.suspect_after_missed = 0;
  EXPECT_TRUE(throws_errc(make(zero_missed), Errc::invalid_argument, "suspect_after_missed"));
  LivenessConfig short_loss = test_config();
  short_loss.lost_after = milliseconds(1'000);
  EXPECT_TRUE(throws_errc(make(short_loss), Errc::invalid_argument, "lost_after"));
  LivenessConfig bad_backoff = test_config();
  bad_backoff.reconnect.jitter = 2.0;
  EXPECT_TRUE(throws_errc(make(bad_backoff), Errc::invalid_argument, "jitter"));
}

TEST(LivenessTracker, DefaultsAreTheDocumentedOnes) {
  const LivenessConfig config;
  EXPECT_EQ(config.heartbeat_interval, milliseconds(1'000));
  EXPECT_EQ(config.suspect_after_missed, 3u);
  EXPECT_EQ(config.lost_after, milliseconds(10'000));
}

TEST(LivenessTracker, ConcurrentReportsPollsAndSnapshotsStayConsistent) {
  LivenessConfig config = test_config();
  config.heartbeat_interval = milliseconds(1);
  config.lost_after = milliseconds(50);
  config.reconnect = {milliseconds(1), milliseconds(4), 2.0, 0.5};
  PeerTracker tracker(config);
  std::atomic<int> callbacks{0};
  tracker.on_state_change([&](const StateChange& c) {
    EXPECT_NE(c.from, c.to);
    ++callbacks;
  });
  constexpr int kPeers = 8;
  for (int p = 0; p < kPeers; ++p) tracker.add_peer("peer" + std::to_string(p), "addr");
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        const std::string id = "peer" + std::to_string((i + t) % kPeers);
        if (i % 3 == 0)
          tracker.heartbeat_succeeded(id, microseconds(i % 500));
        else if (i % 3 == 1)
          tracker.heartbeat_failed(id);
        else if (i % 7 == 0)
          tracker.disconnected(id);
        tracker.poll();
      }
    });
  }
  threads.emplace_back([&] {
    while (!stop) {
      for (const auto& peer : tracker.snapshot()) ASSERT_TRUE(parse_state(state_name(peer.state)));
    }
  });
  std::this_thread::sleep_for(milliseconds(300));
  stop = true;
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(tracker.snapshot().size(), static_cast<std::size_t>(kPeers));
  EXPECT_GT(callbacks.load(), 0);
}

}  // namespace
}  // namespace crossgpu::liveness
