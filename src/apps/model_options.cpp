#include "apps/model_options.hpp"

#include <cstdio>

namespace crossgpu::apps {

runtime::CandidateSet gather_devices(const ModelOptions& options) {
  if (options.local) {
    runtime::CandidateSet devices = runtime::CandidateSet::local();
    devices.choose(options.devices);
    return devices;
  }
  runtime::CandidateSet devices = runtime::CandidateSet::cluster(options.node, options.config);
  for (const std::string& w : devices.warnings()) std::fprintf(stderr, "warning: %s\n", w.c_str());
  devices.choose(options.devices);
  return devices;
}

void add_model_options(CLI::App* command, ModelOptions& o) {
  command->add_option("--model", o.model, "GGUF model file")->required()->check(CLI::ExistingFile);
  command->add_flag("--local", o.local, "use this machine's devices only (no node needed)");
  command->add_option("--node", o.node, "the node that knows the cluster (host:port)")->capture_default_str();
  command->add_option("--config", o.config, "config folder with this machine's identity (default ~/.config/crossgpu)");
  command->add_option("--context", o.plan.context, "tokens of KV cache per stage")->capture_default_str()->check(CLI::Range(1u, 1u << 20));
  command->add_option("--batch", o.plan.max_batch, "prompt tokens per forward pass")->capture_default_str()->check(CLI::Range(1u, 512u));
  command->add_option("--headroom", o.plan.headroom, "fraction of each device's memory left free")->capture_default_str()->check(CLI::Range(0.0, 0.9));
  command->add_option("-d,--device", o.devices.only,
                      "plan onto this device only (its id as `crossgpu devices` or the plan shows it); repeatable");
  command->add_option("--exclude-device", o.devices.excluded, "leave this device out; repeatable");
}

}  // namespace crossgpu::apps
