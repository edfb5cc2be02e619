// The dashboard's files (src/serve/dashboard/), compiled into the binary by
// src/serve/dashboard/embed.cmake: served at `/` without reading the disk or the network.
#pragma once

#include <span>
#include <string_view>

namespace crossgpu::serve {

struct DashboardAsset {
  std::string_view path;          // "/index.html", "/dashboard.js", ...
  std::string_view content_type;
  std::string_view body;
};

std::span<const DashboardAsset> dashboard_assets() noexcept;

// The headers every dashboard file goes out with: the page runs only its own script and talks
// only to the server it came from, so even text that slipped into markup could not run (its text
// is set with textContent; this is the second wall).
struct DashboardHeader {
  std::string_view name;
  std::string_view value;
};
std::span<const DashboardHeader> dashboard_headers() noexcept;

// The asset served at `path` ("/" is "/index.html"), or nullptr.
const DashboardAsset* find_dashboard_asset(std::string_view path) noexcept;

}  // namespace crossgpu::serve
