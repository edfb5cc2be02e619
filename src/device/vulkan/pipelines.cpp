#include "device/vulkan/pipelines.hpp"

#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "core/log.hpp"

namespace crossgpu::vulkan {

Pipelines::Pipelines(const vk::raii::Device& device, const vk::PhysicalDeviceProperties& props,
                     std::filesystem::path cache_file)
    : device_(device), cache_file_(std::move(cache_file)) {
  const std::vector<std::uint8_t> data = load_cache_file(props);
  cache_ = guarded("creating the pipeline cache", [&] {
    return vk::raii::PipelineCache(
        device_, vk::PipelineCacheCreateInfo{.initialDataSize = data.size(),
                                             .pInitialData = data.empty() ? nullptr : data.data()});
  });
}

Pipelines::~Pipelines() { save(); }

// Reads the cache file and keeps it only if its header names this exact device and driver
// (VkPipelineCacheHeaderVersionOne); a foreign or truncated file is ignored, never trusted.
std::vector<std::uint8_t> Pipelines::load_cache_file(const vk::PhysicalDeviceProperties& props) const {
  if (cache_file_.empty()) return {};
  std::ifstream in(cache_file_, std::ios::binary);
  if (!in) return {};
  std::vector<std::uint8_t> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  struct Header {
    std::uint32_t size, version, vendor, device;
    std::uint8_t uuid[VK_UUID_SIZE];
  } header{};
  if (data.size() < sizeof(header)) return {};
  std::memcpy(&header, data.data(), sizeof(header));
  const bool matches = header.size >= sizeof(header) && header.size <= data.size() &&
                       header.version == VK_PIPELINE_CACHE_HEADER_VERSION_ONE &&
                       header.vendor == props.vendorID && header.device == props.deviceID &&
                       std::memcmp(header.uuid, props.pipelineCacheUUID, VK_UUID_SIZE) == 0;
  if (!matches) {
    log::info("ignoring pipeline cache {}: it belongs to another device or driver", cache_file_.string());
    return {};
  }
  return data;
}

void Pipelines::save() const noexcept {
  if (cache_file_.empty()) return;
  try {
    std::vector<std::uint8_t> data;
    {
      std::lock_guard lock(mutex_);
      data = cache_.getData();
    }
    std::filesystem::create_directories(cache_file_.parent_path());
    // Write then rename, so a crash mid-write never leaves a torn cache for the next start.
    const auto temp = cache_file_.string() + ".tmp." + std::to_string(::getpid());
    {
      std::ofstream out(temp, std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
      if (!out) throw std::runtime_error("short write");
    }
    std::filesystem::rename(temp, cache_file_);
  } catch (const std::exception& e) {
    log::warn("could not save the pipeline cache to {}: {}", cache_file_.string(), e.what());
  }
}

std::size_t Pipelines::size() const {
  std::lock_guard lock(mutex_);
  return pipelines_.size();
}

Pipeline Pipelines::build(const KernelSpec& kernel) const {
  if (kernel.spirv.empty()) fail(Errc::unsupported, "kernel '{}' has no SPIR-V", kernel.name);
  if (kernel.push_constant_bytes % 4 != 0 || kernel.push_constant_bytes > 128) {
    fail(Errc::invalid_argument, "kernel '{}': push constants must be a multiple of 4 and <= 128 bytes",
         kernel.name);
  }
  Pipeline p;
  p.shader = vk::raii::ShaderModule(
      device_, vk::ShaderModuleCreateInfo{.codeSize = kernel.spirv.size_bytes(), .pCode = kernel.spirv.data()});
  std::vector<vk::DescriptorSetLayoutBinding> bindings;
  for (std::uint32_t i = 0; i < kernel.binding_count; ++i) {
    bindings.push_back({.binding = i,
                        .descriptorType = vk::DescriptorType::eStorageBuffer,
                        .descriptorCount = 1,
                        .stageFlags = vk::ShaderStageFlagBits::eCompute});
  }
  p.set_layout = vk::raii::DescriptorSetLayout(
      device_, vk::DescriptorSetLayoutCreateInfo{.bindingCount = static_cast<std::uint32_t>(bindings.size()),
                                                 .pBindings = bindings.data()});
  const vk::PushConstantRange push{.stageFlags = vk::ShaderStageFlagBits::eCompute,
                                    .offset = 0,
                                    .size = kernel.push_constant_bytes};
  const vk::DescriptorSetLayout set_layout = *p.set_layout;
  p.layout = vk::raii::PipelineLayout(
      device_, vk::PipelineLayoutCreateInfo{.setLayoutCount = 1,
                                            .pSetLayouts = &set_layout,
                                            .pushConstantRangeCount = kernel.push_constant_bytes ? 1u : 0u,
                                            .pPushConstantRanges = &push});
  std::vector<vk::SpecializationMapEntry> entries;
  for (std::uint32_t i = 0; i < kernel.constants.size(); ++i) {
    entries.push_back({.constantID = i, .offset = 4 * i, .size = 4});
  }
  const vk::SpecializationInfo specialization{.mapEntryCount = static_cast<std::uint32_t>(entries.size()),
                                              .pMapEntries = entries.data(),
                                              .dataSize = kernel.constants.size_bytes(),
                                              .pData = kernel.constants.data()};
  const vk::ComputePipelineCreateInfo info{
      // DISPATCH_BASE lets one logical dispatch exceed maxComputeWorkGroupCount[0] in pieces.
      .flags = vk::PipelineCreateFlagBits::eDispatchBase,
      .stage = {.stage = vk::ShaderStageFlagBits::eCompute,
                .module = *p.shader,
                .pName = "main",
                .pSpecializationInfo = entries.empty() ? nullptr : &specialization},
      .layout = *p.layout};
  p.pipeline = vk::raii::Pipeline(device_, cache_, info);
  return p;
}

const Pipeline& Pipelines::get(const KernelSpec& kernel) {
  std::lock_guard lock(mutex_);
  Key key{kernel.spirv.data(), {kernel.constants.begin(), kernel.constants.end()}};
  auto it = pipelines_.find(key);
  if (it != pipelines_.end()) return *it->second;
  auto pipeline = std::make_unique<Pipeline>(
      guarded(fmt::format("building the pipeline of kernel '{}'", kernel.name).c_str(),
              [&] { return build(kernel); }));
  return *pipelines_.emplace(std::move(key), std::move(pipeline)).first->second;
}

}  // namespace crossgpu::vulkan
