// The dashboard as `crossgpu node --http` serves it: the same page, marked read-only (it shows the
// node's cluster view from its /api/cluster; there is no model, plan, service or chat there).
#pragma once

#include <vector>

#include "telemetry/service/http_exporter.hpp"

namespace crossgpu::serve {

std::vector<telemetry::HttpExporter::StaticFile> read_only_dashboard_files();

}  // namespace crossgpu::serve
