// `crossgpu cluster`: create a cluster, invite devices, join, show this node's identity, and
// remove nodes. Its own header so the security commands stay out of the shared commands.hpp.
#pragma once

#include <CLI/CLI.hpp>

namespace crossgpu::apps {

void add_cluster_command(CLI::App& app, int& exit_code);

}  // namespace crossgpu::apps
