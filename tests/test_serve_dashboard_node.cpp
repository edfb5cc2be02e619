// The dashboard's read-only page as `crossgpu node --http` serves it: the files the apps hand to
// the node's HttpExporter, served at their paths (and only there) with the page's headers.
#include <gtest/gtest.h>
#include <httplib.h>

#include "serve/dashboard_assets.hpp"
#include "serve/dashboard_read_only.hpp"
#include "telemetry/cluster_view.hpp"
#include "telemetry/service/http_exporter.hpp"

namespace crossgpu::serve {
namespace {

TEST(DashboardNode, TheReadOnlyFilesAreThePageMarkedReadOnlyWithItsHeaders) {
  const auto files = read_only_dashboard_files();
  ASSERT_EQ(files.size(), dashboard_assets().size());
  for (const auto& file : files) {
    const DashboardAsset* asset = find_dashboard_asset(file.path);
    ASSERT_NE(asset, nullptr) << file.path;
    if (file.path == "/index.html") {
      EXPECT_NE(file.body.find("<body data-mode=\"read-only\">"), std::string::npos);
    } else {
      EXPECT_EQ(file.body, asset->body) << file.path;
    }
    EXPECT_EQ(file.headers.size(), dashboard_headers().size());
  }
}

TEST(DashboardNode, TheNodesExporterServesThePageAtItsPathsOnly) {
  telemetry::ClusterAggregator aggregator("self");
  telemetry::HttpExporter exporter(aggregator, {"127.0.0.1", 0}, {}, read_only_dashboard_files());
  httplib::Client client("127.0.0.1", exporter.port());
  auto page = client.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("data-mode=\"read-only\""), std::string::npos);
  EXPECT_NE(page->get_header_value("Content-Security-Policy").find("script-src 'self'"), std::string::npos);
  auto script = client.Get("/dashboard.js");
  ASSERT_TRUE(script);
  EXPECT_EQ(script->status, 200);
  EXPECT_EQ(script->body, find_dashboard_asset("/dashboard.js")->body);
  for (const char* path : {"/dashboardXjs", "/dashboard.js.bak", "/x/dashboard.js", "/index.html/"}) {
    auto res = client.Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 404) << path;
  }
  EXPECT_EQ(client.Get("/api/cluster")->status, 200);  // the view the page reads is still there
}

}  // namespace
}  // namespace crossgpu::serve
