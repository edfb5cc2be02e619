// `crossgpu`: the command-line entry point. Subcommands live in their own files (commands.hpp).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "apps/commands.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#if CROSSGPU_WITH_NETWORK
#include "apps/cluster_command.hpp"
#endif

int main(int argc, char** argv) {
  crossgpu::log::init_from_env();  // every command logs to stderr; stdout is for its output
  CLI::App app{"crossgpu: pool the GPUs of your devices over Vulkan"};
  app.require_subcommand(1);
  int exit_code = 0;
  crossgpu::apps::add_devices_command(app, exit_code);
  crossgpu::apps::add_selftest_command(app, exit_code);
  crossgpu::apps::add_plan_command(app, exit_code);
  crossgpu::apps::add_run_command(app, exit_code);
  crossgpu::apps::add_serve_command(app, exit_code);
  crossgpu::apps::add_tokenize_command(app, exit_code);
  crossgpu::apps::add_template_command(app, exit_code);
#if CROSSGPU_WITH_NETWORK  // builds without the cluster layers (make test-arm64) lack these
  crossgpu::apps::add_cluster_command(app, exit_code);
  crossgpu::apps::add_node_command(app, exit_code);
  crossgpu::apps::add_status_command(app, exit_code);
  crossgpu::apps::add_demo_command(app, exit_code);
#endif
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const crossgpu::Error& e) {
    std::fprintf(stderr, "crossgpu: %s (%s)\n", e.what(),
                 std::string(crossgpu::errc_name(e.code())).c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "crossgpu: %s\n", e.what());
    return 2;
  }
  return exit_code;
}
