// The subcommands of `crossgpu`, one file each. Each adds itself to the app and sets the
// callback that runs it; the callback's exit code goes to `exit_code`.
#pragma once

#include <CLI/CLI.hpp>

namespace crossgpu::apps {

void add_devices_command(CLI::App& app, int& exit_code);
void add_selftest_command(CLI::App& app, int& exit_code);
void add_node_command(CLI::App& app, int& exit_code);
void add_status_command(CLI::App& app, int& exit_code);
void add_plan_command(CLI::App& app, int& exit_code);
void add_run_command(CLI::App& app, int& exit_code);
void add_serve_command(CLI::App& app, int& exit_code);
void add_tokenize_command(CLI::App& app, int& exit_code);
void add_template_command(CLI::App& app, int& exit_code);
void add_demo_command(CLI::App& app, int& exit_code);  // needs the cluster layers

}  // namespace crossgpu::apps
