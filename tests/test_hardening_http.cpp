// The telemetry HTTP endpoint has no authentication: `crossgpu node --http` binds loopback
// addresses only, and refuses anything else before it starts unless --http-allow-remote says so.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "support/test_support.hpp"
#include "telemetry/service/http_exporter.hpp"
#include "test_cluster_fixture.hpp"

namespace crossgpu::testing {
namespace {

TEST(HttpExposure, OnlyLoopbackWithoutAnExplicitYes) {
  for (const char* host : {"127.0.0.1", "127.3.2.1", "::1", "localhost"}) {
    EXPECT_TRUE(telemetry::is_loopback_host(host)) << host;
    EXPECT_NO_THROW(telemetry::check_http_exposure({host, 9464}, false));
  }
  for (const char* host : {"0.0.0.0", "::", "10.0.0.5", "192.168.1.2", "example.org", "128.0.0.1"}) {
    EXPECT_FALSE(telemetry::is_loopback_host(host)) << host;
    EXPECT_TRUE(throws_errc([&] { telemetry::check_http_exposure({host, 9464}, false); },
                            Errc::permission_denied, "--http-allow-remote"))
        << host;
    EXPECT_NO_THROW(telemetry::check_http_exposure({host, 9464}, true));
  }
  // A bare port is loopback.
  EXPECT_NO_THROW(telemetry::check_http_exposure(telemetry::parse_http_address("9464"), false));
}

TEST(HttpExposure, TheNodeRefusesToStartOnEveryInterfaceWithoutTheFlag) {
  TestCluster cluster;
  TempDir out("http-exposure");
  const std::string log = (out.path() / "node.log").string();
  const std::string command = std::string(CROSSGPU_CLI_PATH) +
                              " node --listen 127.0.0.1:0 --cpu-only --no-discovery --no-profile"
                              " --config " + cluster.ca_dir().string() +
                              " --http 0.0.0.0:0 > " + log + " 2>&1";
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  std::stringstream text;
  text << std::ifstream(log).rdbuf();
  EXPECT_NE(text.str().find("--http-allow-remote"), std::string::npos) << text.str();
  EXPECT_EQ(text.str().find("listening on"), std::string::npos) << "it served before refusing";
}

}  // namespace
}  // namespace crossgpu::testing
