#include "serve/dashboard_assets.hpp"

namespace crossgpu::serve {
namespace {

constexpr DashboardHeader headers[] = {
    {"Content-Security-Policy",
     "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
     "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"Cache-Control", "no-cache"},
};

}  // namespace

std::span<const DashboardHeader> dashboard_headers() noexcept { return headers; }

const DashboardAsset* find_dashboard_asset(std::string_view path) noexcept {
  if (path == "/") path = "/index.html";
  for (const DashboardAsset& asset : dashboard_assets()) {
    if (asset.path == path) return &asset;
  }
  return nullptr;
}

}  // namespace crossgpu::serve
