#include "serve/dashboard_read_only.hpp"

#include "core/error.hpp"
#include "serve/dashboard_assets.hpp"

namespace crossgpu::serve {

std::vector<telemetry::HttpExporter::StaticFile> read_only_dashboard_files() {
  std::vector<telemetry::HttpExporter::StaticFile> files;
  for (const DashboardAsset& asset : dashboard_assets()) {
    telemetry::HttpExporter::StaticFile file{std::string(asset.path), std::string(asset.content_type),
                                             std::string(asset.body), {}};
    for (const DashboardHeader& h : dashboard_headers()) file.headers.emplace_back(h.name, h.value);
    if (file.path == "/index.html") {
      // The page reads its mode from <body data-mode>: read-only polls /api/cluster alone.
      const std::size_t body = file.body.find("<body>");
      if (body == std::string::npos) fail(Errc::internal, "the dashboard's index.html has no <body>");
      file.body.replace(body, 6, "<body data-mode=\"read-only\">");
    }
    files.push_back(std::move(file));
  }
  return files;
}

}  // namespace crossgpu::serve
