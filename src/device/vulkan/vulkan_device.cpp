#include "device/vulkan/vulkan_device.hpp"

#include <algorithm>
#include <cstring>

#include "core/log.hpp"
#include "device/vulkan/vulkan_stream.hpp"

namespace crossgpu::vulkan {

// What the physical device offers, decided once and used for both properties and creation.
struct VulkanDevice::Features {
  std::uint32_t api_version = 0;
  std::vector<std::string> extensions;  // to enable
  bool memory_budget = false;
  bool external_host_memory = false;
  bool timeline = false;
  bool storage_16bit = false;
  bool storage_8bit = false;
  bool float16 = false;
  bool int8 = false;
  std::uint64_t import_alignment = 0;
  bool robust_buffer_access = false;
};

namespace {

std::vector<std::string> device_extensions(const vk::raii::PhysicalDevice& physical) {
  std::vector<std::string> names;
  for (const auto& ext : physical.enumerateDeviceExtensionProperties()) names.emplace_back(ext.extensionName);
  return names;
}

bool contains(const std::vector<std::string>& names, const char* name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string hex_uuid(const std::uint8_t* bytes) {
  std::string out;
  for (std::uint32_t i = 0; i < VK_UUID_SIZE; ++i) out += fmt::format("{:02x}", bytes[i]);
  return out;
}

// Drivers encode their versions differently; decode the two common non-standard ones.
std::string driver_version_string(std::uint32_t vendor_id, std::uint32_t v) {
  if (vendor_id == 0x10DE) {
    return fmt::format("{}.{}.{}.{}", (v >> 22) & 0x3ff, (v >> 14) & 0xff, (v >> 6) & 0xff, v & 0x3f);
  }
#ifdef _WIN32
  if (vendor_id == 0x8086) return fmt::format("{}.{}", v >> 14, v & 0x3fff);
#endif
  return version_string(v);
}

DeviceType device_type(vk::PhysicalDeviceType type) {
  switch (type) {
    case vk::PhysicalDeviceType::eDiscreteGpu: return DeviceType::discrete_gpu;
    case vk::PhysicalDeviceType::eIntegratedGpu: return DeviceType::integrated_gpu;
    case vk::PhysicalDeviceType::eVirtualGpu: return DeviceType::virtual_gpu;
    case vk::PhysicalDeviceType::eCpu: return DeviceType::cpu;
    default: return DeviceType::other;
  }
}

// Chains `next` in front of `head`'s existing pNext.
template <typename Head, typename Next>
void chain(Head& head, Next& next) {
  next.pNext = head.pNext;
  head.pNext = &next;
}

// Picks the queue family for compute (preferring one that also does graphics-free compute is not
// needed: any compute family works) and a dedicated transfer family if the device has one.
std::pair<std::uint32_t, std::optional<std::uint32_t>> pick_queue_families(
    const vk::raii::PhysicalDevice& physical) {
  const auto families = physical.getQueueFamilyProperties();
  std::optional<std::uint32_t> compute, transfer;
  for (std::uint32_t i = 0; i < families.size(); ++i) {
    const auto flags = families[i].queueFlags;
    if ((flags & vk::QueueFlagBits::eCompute) && !compute) compute = i;
    const bool transfer_only = (flags & vk::QueueFlagBits::eTransfer) &&
                               !(flags & (vk::QueueFlagBits::eCompute | vk::QueueFlagBits::eGraphics));
    if (transfer_only && !transfer) transfer = i;
  }
  if (!compute) fail(Errc::unsupported, "the device has no compute queue");
  return {*compute, transfer};
}

// Driver quirks: lavapipe built on LLVM 15 for aarch64 advertises 16-bit storage but aborts the
// whole process (LLVM "Cannot select ... fp_extend") when it compiles a shader that loads f16
// vectors — seen under `make test-arm64` with Debian's Mesa 22.3.6. An abort cannot be caught,
// so f16 ops are refused up front (Errc::unsupported) on that driver and architecture.
bool broken_16bit_storage(const DeviceProperties& p) {
#if defined(__aarch64__)
  return p.driver_name == "llvmpipe";
#else
  (void)p;
  return false;
#endif
}

}  // namespace

DeviceProperties VulkanDevice::describe(const vk::raii::PhysicalDevice& physical, Features& f) {
  const auto extensions = device_extensions(physical);
  const vk::PhysicalDeviceProperties base = physical.getProperties();
  f.api_version = base.apiVersion;
  const bool v12 = base.apiVersion >= VK_API_VERSION_1_2;

  vk::PhysicalDeviceProperties2 props2{};
  vk::PhysicalDeviceIDProperties id{};
  vk::PhysicalDeviceSubgroupProperties subgroup{};
  vk::PhysicalDeviceDriverProperties driver{};
  vk::PhysicalDeviceExternalMemoryHostPropertiesEXT host_memory{};
  chain(props2, id);
  chain(props2, subgroup);
  const bool has_driver_props = v12 || contains(extensions, VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME);
  if (has_driver_props) chain(props2, driver);
  f.external_host_memory = contains(extensions, VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME);
  if (f.external_host_memory) chain(props2, host_memory);
  (*physical).getProperties2(&props2);
  if (f.external_host_memory) f.import_alignment = host_memory.minImportedHostPointerAlignment;

  vk::PhysicalDeviceFeatures2 features2{};
  vk::PhysicalDevice16BitStorageFeatures storage16{};
  vk::PhysicalDevice8BitStorageFeatures storage8{};
  vk::PhysicalDeviceShaderFloat16Int8Features float16int8{};
  vk::PhysicalDeviceTimelineSemaphoreFeatures timeline{};
  chain(features2, storage16);
  const bool has8 = v12 || contains(extensions, VK_KHR_8BIT_STORAGE_EXTENSION_NAME);
  const bool has_f16 = v12 || contains(extensions, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME);
  const bool has_timeline = v12 || contains(extensions, VK_KHR_TIMELINE_SEMAPHORE_EXTENSION_NAME);
  if (has8) chain(features2, storage8);
  if (has_f16) chain(features2, float16int8);
  if (has_timeline) chain(features2, timeline);
  (*physical).getFeatures2(&features2);

  f.storage_16bit = storage16.storageBuffer16BitAccess;
  f.robust_buffer_access = features2.features.robustBufferAccess;
  f.storage_8bit = has8 && storage8.storageBuffer8BitAccess;
  f.float16 = has_f16 && float16int8.shaderFloat16;
  f.int8 = has_f16 && float16int8.shaderInt8;
  f.timeline = has_timeline && timeline.timelineSemaphore;
  f.memory_budget = contains(extensions, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  auto want = [&](const char* name, bool needed) {
    if (needed && contains(extensions, name)) f.extensions.emplace_back(name);
  };
  want(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME, f.memory_budget);
  want(VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME, f.external_host_memory);
  want(VK_KHR_8BIT_STORAGE_EXTENSION_NAME, !v12 && f.storage_8bit);
  want(VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME, !v12 && (f.float16 || f.int8));
  want(VK_KHR_TIMELINE_SEMAPHORE_EXTENSION_NAME, !v12 && f.timeline);
  want("VK_KHR_portability_subset", true);  // MoltenVK requires enabling it when offered

  DeviceProperties p;
  p.id = hex_uuid(id.deviceUUID);
  p.backend = Backend::vulkan;
  p.name = base.deviceName.data();
  p.vendor_id = base.vendorID;
  p.device_id = base.deviceID;
  p.vendor = vendor_from_pci_id(base.vendorID);
  p.type = device_type(base.deviceType);
  if (has_driver_props) {
    p.driver_name = driver.driverName.data();
    p.driver_info = driver.driverInfo.data();
  }
  p.driver_version = driver_version_string(base.vendorID, base.driverVersion);
  p.api_version = version_string(base.apiVersion);
  const auto& l = base.limits;
  vk::PhysicalDeviceMaintenance3Properties maintenance3{};
  vk::PhysicalDeviceProperties2 props_m3{};
  chain(props_m3, maintenance3);
  (*physical).getProperties2(&props_m3);
  p.limits.max_allocation_bytes = maintenance3.maxMemoryAllocationSize;
  p.limits.max_storage_buffer_range = l.maxStorageBufferRange;
  p.limits.min_storage_buffer_offset_alignment = l.minStorageBufferOffsetAlignment;
  for (int i = 0; i < 3; ++i) {
    p.limits.max_workgroup_count[i] = l.maxComputeWorkGroupCount[i];
    p.limits.max_workgroup_size[i] = l.maxComputeWorkGroupSize[i];
  }
  p.limits.max_workgroup_invocations = l.maxComputeWorkGroupInvocations;
  p.limits.max_shared_memory_bytes = l.maxComputeSharedMemorySize;
  p.limits.max_push_constant_bytes = l.maxPushConstantsSize;
  const bool compute_subgroups = bool(subgroup.supportedStages & vk::ShaderStageFlagBits::eCompute);
  p.limits.subgroup_size = compute_subgroups ? subgroup.subgroupSize : 0;
  using Sub = vk::SubgroupFeatureFlagBits;
  DeviceCaps& c = p.caps;
  c.subgroup_basic = compute_subgroups && bool(subgroup.supportedOperations & Sub::eBasic);
  c.subgroup_arithmetic = compute_subgroups && bool(subgroup.supportedOperations & Sub::eArithmetic);
  c.subgroup_shuffle = compute_subgroups && bool(subgroup.supportedOperations & Sub::eShuffle);
  c.fp16_arithmetic = f.float16;
  c.int8_arithmetic = f.int8;
  c.storage_16bit = f.storage_16bit && !broken_16bit_storage(p);
  c.storage_8bit = f.storage_8bit;
  c.timeline_semaphores = f.timeline;
  c.memory_budget = f.memory_budget;
  c.external_host_memory = f.external_host_memory;
  c.dedicated_transfer_queue = pick_queue_families(physical).second.has_value();
  return p;
}

VulkanDevice::VulkanDevice(std::shared_ptr<Instance> instance, vk::raii::PhysicalDevice physical,
                           const std::filesystem::path& cache_dir)
    : Device(DeviceProperties{}), instance_(std::move(instance)), physical_(std::move(physical)),
      features_(std::make_unique<Features>()) {
  props_ = describe(physical_, *features_);
  const Features& f = *features_;
  if (f.api_version < VK_API_VERSION_1_1) {
    fail(Errc::unsupported, "'{}' supports Vulkan {}; crossgpu needs 1.1", props_.name,
         props_.api_version);
  }
  const auto [compute, transfer] = pick_queue_families(physical_);
  compute_family_ = compute;
  transfer_family_ = transfer.value_or(compute);

  const float priority = 1.0f;
  std::vector<vk::DeviceQueueCreateInfo> queues{
      {.queueFamilyIndex = compute_family_, .queueCount = 1, .pQueuePriorities = &priority}};
  if (transfer) {
    queues.push_back({.queueFamilyIndex = *transfer, .queueCount = 1, .pQueuePriorities = &priority});
  }
  std::vector<const char*> extensions;
  for (const auto& name : f.extensions) extensions.push_back(name.c_str());

  vk::PhysicalDeviceFeatures2 enable{};
  // Out-of-bounds shader accesses stay inside the bound range: a second line of defence behind
  // the per-kernel bounds checks of remote dispatches (cluster/kernel_bounds.cpp).
  enable.features.robustBufferAccess = f.robust_buffer_access;
  vk::PhysicalDevice16BitStorageFeatures storage16{.storageBuffer16BitAccess = f.storage_16bit};
  vk::PhysicalDevice8BitStorageFeatures storage8{.storageBuffer8BitAccess = f.storage_8bit};
  vk::PhysicalDeviceShaderFloat16Int8Features float16int8{.shaderFloat16 = f.float16, .shaderInt8 = f.int8};
  vk::PhysicalDeviceTimelineSemaphoreFeatures timeline{.timelineSemaphore = f.timeline};
  chain(enable, storage16);
  if (f.storage_8bit) chain(enable, storage8);
  if (f.float16 || f.int8) chain(enable, float16int8);
  if (f.timeline) chain(enable, timeline);

  device_ = guarded("creating the logical device", [&] {
    return vk::raii::Device(physical_, vk::DeviceCreateInfo{
                                           .pNext = &enable,
                                           .queueCreateInfoCount = static_cast<std::uint32_t>(queues.size()),
                                           .pQueueCreateInfos = queues.data(),
                                           .enabledExtensionCount = static_cast<std::uint32_t>(extensions.size()),
                                           .ppEnabledExtensionNames = extensions.data()});
  });
  compute_queue_ = *device_.getQueue(compute_family_, 0);
  transfer_queue_ = transfer ? *device_.getQueue(*transfer, 0) : compute_queue_;

  allocator_ = std::make_unique<Allocator>(physical_, device_, f.memory_budget,
                                           props_.limits.max_allocation_bytes);
  props_.caps.unified_memory = allocator_->unified_memory();
  props_.heaps = allocator_->heaps();
  const auto base = physical_.getProperties();
  std::filesystem::path cache_file;
  if (!cache_dir.empty()) cache_file = cache_dir / fmt::format("vulkan-pipelines-{}.bin", props_.id);
  pipelines_ = std::make_unique<Pipelines>(device_, base, cache_file);
  timeline_ = std::make_unique<Timeline>(device_, compute_queue_, f.timeline);
  log::debug("vulkan device '{}' ready (compute family {}, transfer family {})", props_.name,
             compute_family_, transfer_family_);
}

VulkanDevice::~VulkanDevice() {
  // Order matters: streams and released buffers hold Vulkan objects of device_, which the
  // members below destroy; the base class would destroy the default stream too late.
  try {
    timeline_->wait_idle();
  } catch (const std::exception& e) {
    log::error("waiting for '{}' at shutdown: {}", props_.name, e.what());
  }
  release_default_stream();
  garbage_.clear();
}

std::unique_ptr<BackendBuffer> VulkanDevice::do_allocate(std::uint64_t bytes, MemoryKind kind) {
  collect_garbage();
  return std::make_unique<VulkanBuffer>(device_, *allocator_, bytes, kind);
}

void VulkanDevice::do_release(std::unique_ptr<BackendBuffer> buffer) noexcept {
  // Recorded but unsubmitted work might use the buffer: submit it, then keep the buffer until
  // everything submitted so far has completed.
  try {
    std::vector<StreamState*> streams;
    {
      std::lock_guard lock(streams_mutex_);
      streams.assign(streams_.begin(), streams_.end());
    }
    for (StreamState* stream : streams) stream->flush();
    const std::uint64_t serial = timeline_->last_submitted();
    if (timeline_->completed(serial)) {
      buffer.reset();
    } else {
      std::lock_guard lock(garbage_mutex_);
      garbage_.emplace_back(serial, std::move(buffer));
    }
  } catch (const std::exception& e) {
    // The device is lost or broken: no work will run again, so freeing now is safe.
    log::error("releasing a buffer on '{}': {}", props_.name, e.what());
  }
}

void VulkanDevice::collect_garbage() {
  std::lock_guard lock(garbage_mutex_);
  std::erase_if(garbage_, [&](auto& entry) { return timeline_->completed(entry.first); });
}

std::unique_ptr<Stream> VulkanDevice::do_create_stream() {
  return std::make_unique<VulkanStream>(*this);
}

std::vector<MemoryHeap> VulkanDevice::do_query_heaps() { return allocator_->heaps(); }

void VulkanDevice::do_flush_mapped(BackendBuffer& buffer, std::uint64_t offset, std::uint64_t bytes) {
  allocator_->flush(static_cast<VulkanBuffer&>(buffer).allocation(), offset, bytes);
}

void VulkanDevice::do_invalidate_mapped(BackendBuffer& buffer, std::uint64_t offset, std::uint64_t bytes) {
  allocator_->invalidate(static_cast<VulkanBuffer&>(buffer).allocation(), offset, bytes);
}

std::uint64_t VulkanDevice::host_import_alignment() const noexcept {
  return features_->import_alignment;
}

void VulkanDevice::register_stream(StreamState* stream) {
  std::lock_guard lock(streams_mutex_);
  streams_.insert(stream);
}

void VulkanDevice::unregister_stream(StreamState* stream) {
  std::lock_guard lock(streams_mutex_);
  streams_.erase(stream);
}

VulkanBuffer::VulkanBuffer(const vk::raii::Device& device, Allocator& allocator,
                           std::uint64_t bytes, MemoryKind kind)
    : allocator_(allocator) {
  using U = vk::BufferUsageFlagBits;
  // Rounded to 16 bytes so that vec4 loads at the tail of a buffer stay in bounds.
  const std::uint64_t size = (bytes + 15) / 16 * 16;
  buffer_ = guarded("creating a buffer", [&] {
    return vk::raii::Buffer(device, vk::BufferCreateInfo{
                                        .size = size,
                                        .usage = U::eStorageBuffer | U::eTransferSrc | U::eTransferDst,
                                        .sharingMode = vk::SharingMode::eExclusive});
  });
  allocation_ = allocator_.allocate(buffer_.getMemoryRequirements(), kind);
  try {
    buffer_.bindMemory(allocation_.memory, allocation_.offset);
  } catch (...) {
    allocator_.free(allocation_);
    throw;
  }
}

VulkanBuffer::~VulkanBuffer() {
  buffer_.clear();
  allocator_.free(allocation_);
}

double VulkanDevice::timestamp_period_ns() const {
  const auto families = physical_.getQueueFamilyProperties();
  if (compute_family_ >= families.size() || families[compute_family_].timestampValidBits == 0) {
    return 0;
  }
  return physical_.getProperties().limits.timestampPeriod;
}

}  // namespace crossgpu::vulkan
