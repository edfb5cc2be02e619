#include "device/vulkan/host_import.hpp"

#include "core/log.hpp"
#include "device/vulkan/vulkan_device.hpp"

namespace crossgpu::vulkan {

std::unique_ptr<HostImport> HostImport::try_create(VulkanDevice& device, const void* data,
                                                   std::uint64_t bytes) {
  const std::uint64_t alignment = device.host_import_alignment();
  if (alignment == 0 || bytes == 0) return nullptr;
  const auto address = reinterpret_cast<std::uintptr_t>(data);
  const std::uintptr_t begin = address / alignment * alignment;
  const std::uintptr_t end = (address + bytes + alignment - 1) / alignment * alignment;
  void* host = reinterpret_cast<void*>(begin);
  const auto& vkd = device.vk_device();
  constexpr auto handle_type = vk::ExternalMemoryHandleTypeFlagBits::eHostAllocationEXT;
  try {
    const vk::MemoryHostPointerPropertiesEXT pointer =
        vkd.getMemoryHostPointerPropertiesEXT(handle_type, host);
    auto import = std::unique_ptr<HostImport>(new HostImport());
    const vk::ExternalMemoryBufferCreateInfo external{.handleTypes = handle_type};
    using U = vk::BufferUsageFlagBits;
    import->buffer_ = vk::raii::Buffer(vkd, vk::BufferCreateInfo{.pNext = &external,
                                                                 .size = end - begin,
                                                                 .usage = U::eTransferSrc | U::eTransferDst,
                                                                 .sharingMode = vk::SharingMode::eExclusive});
    const vk::MemoryRequirements needs = import->buffer_.getMemoryRequirements();
    // Only coherent types: the download path reads the caller's memory without an invalidate.
    std::uint32_t types = needs.memoryTypeBits & pointer.memoryTypeBits;
    for (std::uint32_t t = 0; t < 32; ++t) {
      if (!(device.allocator().type_flags(t) & vk::MemoryPropertyFlagBits::eHostCoherent)) {
        types &= ~(1u << t);
      }
    }
    if (types == 0) return nullptr;
    const auto type = static_cast<std::uint32_t>(__builtin_ctz(types));
    const vk::ImportMemoryHostPointerInfoEXT import_info{.handleType = handle_type, .pHostPointer = host};
    import->memory_ = vk::raii::DeviceMemory(
        vkd, vk::MemoryAllocateInfo{.pNext = &import_info, .allocationSize = end - begin, .memoryTypeIndex = type});
    import->buffer_.bindMemory(*import->memory_, 0);
    import->offset_ = address - begin;
    return import;
  } catch (const vk::SystemError& e) {
    log::debug("host memory import of {} refused ({}); staging instead", format_bytes(bytes), e.what());
    return nullptr;
  }
}

}  // namespace crossgpu::vulkan
