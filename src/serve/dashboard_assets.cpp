#include "serve/dashboard_assets.hpp"

namespace crossgpu::serve {

const DashboardAsset* find_dashboard_asset(std::string_view path) noexcept {
  if (path == "/") path = "/index.html";
  for (const DashboardAsset& asset : dashboard_assets()) {
    if (asset.path == path) return &asset;
  }
  return nullptr;
}

}  // namespace crossgpu::serve
