#include "sched/simulated_clusters.hpp"

#include "sched/scoring.hpp"

namespace crossgpu::sched {
namespace {

constexpr std::uint64_t GiB = 1ull << 30, MiB = 1ull << 20;

// Datasheet-sized devices: memory bandwidth decides decode speed.
DeviceCapacity desktop_gpu() {
  return {.id = "gpu", .name = "desktop GPU, 8 GiB, 272 GB/s", .memory_bytes = 7 * GiB,
          .flops_per_second = 15e12, .bytes_per_second = 250e9};
}
DeviceCapacity laptop_igpu() {
  return {.id = "laptop", .name = "laptop iGPU, 16 GiB shared, 60 GB/s", .memory_bytes = 6 * GiB,
          .flops_per_second = 2e12, .bytes_per_second = 50e9};
}
DeviceCapacity phone() {
  return {.id = "phone", .name = "phone GPU, 12 GiB shared, 50 GB/s", .memory_bytes = 4 * GiB,
          .flops_per_second = 1e12, .bytes_per_second = 30e9};
}
DeviceCapacity old_laptop_cpu() {
  return {.id = "oldcpu", .name = "old laptop CPU, 32 GiB, 20 GB/s", .memory_bytes = 28 * GiB,
          .flops_per_second = 0.2e12, .bytes_per_second = 15e9};
}

std::vector<std::vector<Link>> wifi(std::size_t devices) {
  return std::vector<std::vector<Link>>(devices, std::vector<Link>(devices, {.latency_seconds = 2e-3, .bytes_per_second = 50e6}));
}

SimulatedCluster make(std::string name, std::vector<DeviceCapacity> devices, std::vector<std::uint64_t> total) {
  SimulatedCluster c{.name = std::move(name), .total_memory = std::move(total)};
  c.problem.layers = llama7b_like();
  c.problem.context_tokens = 4096;
  c.problem.devices = std::move(devices);
  c.problem.links = wifi(c.problem.devices.size());
  return c;
}

}  // namespace

std::vector<LayerCost> llama7b_like(std::size_t layers) {
  // 4096-wide blocks: ~6.5 M parameters per MiB at 4.5 bits; 2 FLOPs per weight per token;
  // K and V of 4096 f16 values per token; a 4096-float activation between stages.
  return std::vector<LayerCost>(layers, {.weight_bytes = 200 * MiB, .kv_bytes_per_token = 16 * 1024,
                                         .flops_per_token = 0.4e9, .activation_bytes = 16384});
}

std::vector<SimulatedCluster> simulated_clusters() {
  std::vector<SimulatedCluster> out;
  out.push_back(make("GPU + laptop + phone (Wi-Fi)", {desktop_gpu(), laptop_igpu(), phone()},
                     {8 * GiB, 16 * GiB, 12 * GiB}));
  out.push_back(make("GPU + old CPU that holds everything", {desktop_gpu(), old_laptop_cpu()}, {8 * GiB, 32 * GiB}));
  out.push_back(make("laptop + phone", {laptop_igpu(), phone()}, {16 * GiB, 12 * GiB}));
  // The phone on battery at 40%: scored down (scoring.hpp) before placement.
  SimulatedCluster battery = make("GPU + laptop + phone on battery", {desktop_gpu(), laptop_igpu(), phone()},
                                  {8 * GiB, 16 * GiB, 12 * GiB});
  battery.problem.devices[2] = effective(battery.problem.devices[2], score({.battery_level = 0.4, .on_battery = true}));
  out.push_back(std::move(battery));
  return out;
}

}  // namespace crossgpu::sched
