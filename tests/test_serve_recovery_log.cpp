// serve::RecoveryLog and the recovery lines of /metrics: the states a service goes through when
// a device is lost, the timeline kept bounded, and the text a Prometheus scraper reads.
#include <gtest/gtest.h>

#include <string>

#include "serve/recovery_log.hpp"
#include "serve/serve_metrics.hpp"

namespace crossgpu::serve {
namespace {

runtime::RecoveryEvent event_after(double detect, double total) {
  runtime::RecoveryEvent e;
  e.lost = {"abcd1234/cpu: its node's connection was lost"};
  e.failure = "PeerCopy: connection refused";
  e.tokens_before = 17;
  e.detect_seconds = detect;
  e.total_seconds = total;
  return e;
}

TEST(RecoveryLog, StartsServingWithNothingToShow) {
  const RecoveryLog log;
  const nlohmann::json j = log.json();
  EXPECT_EQ(j["state"], "serving");
  EXPECT_TRUE(j["failure"].is_null());
  EXPECT_EQ(j["recoveries"], 0);
  EXPECT_TRUE(j["events"].empty());
  EXPECT_TRUE(log.current_plan().is_null());
}

TEST(RecoveryLog, ARecoveryIsTimedAndItsPlanBecomesCurrent) {
  RecoveryLog log;
  log.begin("PeerCopy: connection refused", 2);
  EXPECT_EQ(log.totals().state, ServiceState::recovering);
  log.recovered(event_after(0.5, 1.25), 2);
  const RecoveryTotals t = log.totals();
  EXPECT_EQ(t.state, ServiceState::serving);
  EXPECT_EQ(t.recoveries, 1u);
  EXPECT_DOUBLE_EQ(t.last_outage_seconds, 1.75);
  const nlohmann::json j = log.json();
  ASSERT_EQ(j["events"].size(), 2u);
  EXPECT_EQ(j["events"][0]["event"], "recovering");
  EXPECT_EQ(j["events"][1]["event"], "recovered");
  EXPECT_EQ(j["events"][1]["sequences"], 2);
  EXPECT_EQ(j["events"][1]["tokens_before"], 17);
  EXPECT_DOUBLE_EQ(j["events"][1]["outage_seconds"].get<double>(), 1.75);
  EXPECT_GT(j["events"][1]["at_unix_ms"].get<std::int64_t>(), 0);
  EXPECT_TRUE(log.current_plan().contains("stages"));
}

TEST(RecoveryLog, AFailedRecoveryIsTheStateAndSaysWhy) {
  RecoveryLog log;
  log.begin("timeout", 1);
  log.failed("no placement fits: the model needs 23 MiB", 1);
  const nlohmann::json j = log.json();
  EXPECT_EQ(j["state"], "failed");
  EXPECT_EQ(j["failure"], "no placement fits: the model needs 23 MiB");
  EXPECT_EQ(j["failed_recoveries"], 1);
  EXPECT_EQ(j["events"].back()["event"], "failed");
}

TEST(RecoveryLog, NoLossFoundGoesBackToServing) {
  RecoveryLog log;
  log.begin("timeout", 1);
  log.not_recovered("timeout", 1);
  EXPECT_EQ(log.totals().state, ServiceState::serving);
  EXPECT_EQ(log.totals().recoveries, 0u);
  EXPECT_EQ(log.json()["events"].back()["event"], "not_recovered");
}

// A cluster that keeps losing and regaining devices must not grow the server's memory.
TEST(RecoveryLog, TheTimelineKeepsTheLatestEntriesOnly) {
  RecoveryLog log;
  for (int i = 0; i < 500; ++i) {
    log.begin("lost " + std::to_string(i), 1);
    log.recovered(event_after(0, 0), 1);
  }
  const nlohmann::json j = log.json();
  EXPECT_EQ(j["events"].size(), RecoveryLog::kKeep);
  EXPECT_EQ(j["recoveries"], 500);
  EXPECT_EQ(j["events"].back()["event"], "recovered");
  EXPECT_EQ(j["events"][j["events"].size() - 2]["failure"], "lost 499");
}

// Text from another node (a device label) ends up in the JSON as a string, never breaking it.
TEST(RecoveryLog, HostileLabelsStayStrings) {
  RecoveryLog log;
  runtime::RecoveryEvent e = event_after(0, 0);
  e.lost = {"<img src=x onerror=alert(1)>\"},{\"x\":\"\n\xff"};
  log.recovered(e, 1);
  const std::string dumped = log.json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const nlohmann::json back = nlohmann::json::parse(dumped);
  EXPECT_EQ(back["events"][0]["lost"].size(), 1u);
  EXPECT_EQ(back["events"][0]["lost"][0].get<std::string>().rfind("<img src=x", 0), 0u);
}

TEST(ServeMetrics, RecoveriesAndTheLastOutageAreExported) {
  RecoveryTotals r;
  r.recoveries = 2;
  r.failed_recoveries = 1;
  r.last_outage_seconds = 0.4567;
  r.state = ServiceState::failed;
  const std::string text = serve_metrics_text(ServiceCounters{}, r);
  EXPECT_NE(text.find("crossgpu_serve_recoveries_total{outcome=\"recovered\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("crossgpu_serve_recoveries_total{outcome=\"failed\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("crossgpu_serve_last_outage_seconds 0.457\n"), std::string::npos);
  EXPECT_NE(text.find("crossgpu_serve_state{state=\"failed\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("crossgpu_serve_state{state=\"serving\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE crossgpu_serve_last_outage_seconds gauge\n"), std::string::npos);
}

}  // namespace
}  // namespace crossgpu::serve
