// White-box tests of the Vulkan backend on every Vulkan device of the machine.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <map>
#include <set>

#include "device/vulkan/staging_ring.hpp"
#include "device/vulkan/timeline.hpp"
#include "device/vulkan/vulkan_backend.hpp"
#include "device/vulkan/vulkan_device.hpp"
#include "kernels/ops.hpp"
#include "support/test_devices.hpp"
#include "support/test_support.hpp"

namespace crossgpu::vulkan {
namespace {

// Only the Vulkan devices are instantiated (by index: see testing::PerDeviceTest).
class VulkanBackend : public testing::PerDeviceTest {
 protected:
  Device* GetParam() const { return &PerDeviceTest::device(); }
  VulkanDevice& device() { return dynamic_cast<VulkanDevice&>(*GetParam()); }
  VulkanBuffer& backend(const Buffer& buffer) {
    return dynamic_cast<VulkanBuffer&>(GetParam()->resolve(buffer, 0, 0, "test"));
  }
};

std::vector<std::size_t> vulkan_device_indices() {
  std::vector<std::size_t> indices;
  for (std::size_t i = 0; i < testing::devices().size(); ++i) {
    if (testing::devices()[i]->properties().backend == Backend::vulkan) indices.push_back(i);
  }
  return indices;
}

std::vector<float> iota_floats(std::size_t n, float start = 1.0f) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

TEST_P(VulkanBackend, SubAllocationsAreAlignedDisjointAndShareBlocks) {
  GetParam()->synchronize();  // the default stream's staging ring exists before we count
  const AllocatorStats before = device().allocator().stats();
  std::vector<Buffer> buffers;
  std::mt19937 rng(std::random_device{}());
  for (int i = 0; i < 200; ++i) buffers.push_back(GetParam()->allocate(1 + rng() % 100000));
  const AllocatorStats during = device().allocator().stats();
  EXPECT_EQ(during.allocations, before.allocations + 200);
  // 200 buffers under 100 KB each fit a few 64 MiB blocks, not 200 device allocations.
  EXPECT_LE(during.blocks, before.blocks + 2);

  std::map<VkDeviceMemory, std::vector<std::pair<std::uint64_t, std::uint64_t>>> ranges;
  for (const Buffer& b : buffers) {
    const Allocation& a = backend(b).allocation();
    VkMemoryRequirements needs{};
    vkGetBufferMemoryRequirements(*device().vk_device(), backend(b).get(), &needs);
    EXPECT_EQ(a.offset % needs.alignment, 0u);
    EXPECT_GE(a.size, b.size());
    ranges[static_cast<VkDeviceMemory>(a.memory)].push_back({a.offset, a.offset + a.size});
  }
  for (auto& [memory, list] : ranges) {
    std::sort(list.begin(), list.end());
    for (std::size_t i = 1; i < list.size(); ++i) EXPECT_LE(list[i - 1].second, list[i].first);
  }
  buffers.clear();
  GetParam()->synchronize();
  device().collect_garbage();
  const AllocatorStats after = device().allocator().stats();
  EXPECT_EQ(after.allocations, before.allocations);
  EXPECT_EQ(after.allocated_bytes, before.allocated_bytes);
  EXPECT_LE(after.blocks, before.blocks + 1);  // one empty block per type may stay
}

TEST_P(VulkanBackend, LargeBuffersGetDedicatedMemoryThatIsReturnedOnFree) {
  GetParam()->synchronize();
  const AllocatorStats before = device().allocator().stats();
  {
    Buffer big = GetParam()->allocate(Allocator::default_block_bytes);
    const AllocatorStats during = device().allocator().stats();
    EXPECT_EQ(during.blocks, before.blocks + 1);
    EXPECT_GE(during.block_bytes - before.block_bytes, Allocator::default_block_bytes);
  }
  GetParam()->synchronize();
  device().collect_garbage();
  EXPECT_EQ(device().allocator().stats().block_bytes, before.block_bytes);
}

TEST_P(VulkanBackend, AllocationBeyondTheHeapNamesAskedAndFree) {
  std::uint64_t largest_heap = 0;
  for (const MemoryHeap& heap : GetParam()->refreshed_properties().heaps) {
    largest_heap = std::max(largest_heap, heap.total_bytes);
  }
  const std::uint64_t ask = std::min<std::uint64_t>(largest_heap + (1ull << 30),
                                     GetParam()->properties().limits.max_allocation_bytes);
  if (ask <= largest_heap) GTEST_SKIP() << "max allocation is below the heap size";
  try {
    GetParam()->allocate(ask);
    FAIL() << "allocating more than the largest heap succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::out_of_memory) << e.what();
    EXPECT_NE(std::string(e.what()).find("free"), std::string::npos) << e.what();
  }
}

TEST_P(VulkanBackend, StagingRingWrapsAndWaitsForRetiredBatches) {
  StagingRing ring(device(), 1 << 20);
  const std::uint64_t third = 300 << 10;
  auto a = ring.try_take(third, 1);
  auto b = ring.try_take(third, 2);
  auto c = ring.try_take(third, 3);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->offset, 0u);
  EXPECT_GE(b->offset, a->offset + third);
  EXPECT_GE(c->offset, b->offset + third);
  EXPECT_EQ(b->offset % StagingRing::alignment, 0u);
  EXPECT_FALSE(ring.try_take(third, 4)) << "a full ring handed out overlapping space";
  ring.release_through(1);  // batch 1 retired: [0, third) is free again
  auto d = ring.try_take(third, 4);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->offset, 0u);
  EXPECT_FALSE(ring.try_take(1 << 10, 5)) << "wrapped head ran into the oldest region";
  ring.release_through(4);
  EXPECT_TRUE(ring.try_take(1 << 20, 6)) << "an empty ring must hold its whole capacity";
  EXPECT_FALSE(ring.try_take((1 << 20) + 1, 7));
}

// Exercises the fence fallback used on drivers without timeline semaphores.
TEST_P(VulkanBackend, FenceTimelineTracksSubmissionsInOrder) {
  const auto& vkd = device().vk_device();
  Timeline timeline(vkd, device().compute_queue(), /*use_semaphore=*/false);
  vk::raii::CommandPool pool(vkd, vk::CommandPoolCreateInfo{.queueFamilyIndex = device().compute_family()});
  vk::raii::CommandBuffers commands(vkd, vk::CommandBufferAllocateInfo{
                                             .commandPool = *pool,
                                             .level = vk::CommandBufferLevel::ePrimary,
                                             .commandBufferCount = 3});
  std::vector<std::uint64_t> serials;
  for (auto& cb : commands) {
    cb.begin(vk::CommandBufferBeginInfo{});
    cb.end();
    serials.push_back(timeline.submit(*cb));
  }
  EXPECT_EQ(serials, (std::vector<std::uint64_t>{1, 2, 3}));
  timeline.wait(3, std::chrono::seconds(10));
  EXPECT_TRUE(timeline.completed(1));
  EXPECT_TRUE(timeline.completed(3));
  EXPECT_FALSE(timeline.completed(4));
}

TEST_P(VulkanBackend, EventOfUnsubmittedWorkIsNotReadyUntilWaited) {
  const std::size_t n = 4096;
  Buffer a = GetParam()->allocate(n * 4), b = GetParam()->allocate(n * 4);
  auto x = iota_floats(n);
  std::vector<float> y(n);
  Stream& s = GetParam()->stream();
  s.upload(a, std::span<const float>(x)).wait();
  Event copied = s.copy(a, 0, b, 0, n * 4);
  EXPECT_FALSE(copied.ready()) << "work recorded lazily cannot be complete before it is submitted";
  Event downloaded = s.download(b, std::span<float>(y));
  downloaded.wait();
  EXPECT_TRUE(copied.ready());
  EXPECT_EQ(x, y);
}

TEST_P(VulkanBackend, FreeingABufferWithPendingWorkDefersItsDestruction) {
  const std::size_t n = 1 << 20;
  Buffer keep = GetParam()->allocate(n * 4);
  auto x = iota_floats(n);
  std::vector<float> y(n);
  Stream& s = GetParam()->stream();
  {
    Buffer temp = GetParam()->allocate(n * 4);
    s.upload(temp, std::span<const float>(x));
    s.copy(temp, 0, keep, 0, n * 4);
  }  // freed while the copy is recorded but not submitted
  s.download(keep, std::span<float>(y)).wait();
  EXPECT_EQ(x, y);
  EXPECT_EQ(GetParam()->usage().live_buffers, 1u);
}

TEST_P(VulkanBackend, DestroyingAStreamWithPendingWorkCompletesIt) {
  const std::size_t n = 1 << 16;
  Buffer a = GetParam()->allocate(n * 4), b = GetParam()->allocate(n * 4);
  auto x = iota_floats(n, 7.0f);
  std::vector<float> y(n);
  {
    auto stream = GetParam()->create_stream();
    stream->copy(b, 0, a, 0, n * 4);  // busy: the upload below is staged, not zero-copy
    stream->upload(a, std::span<const float>(x));
    stream->copy(a, 0, b, 0, n * 4);
  }
  GetParam()->stream().download(b, std::span<float>(y)).wait();
  EXPECT_EQ(x, y);
}

// Large transfers on a busy stream take the host-import path (VK_EXT_external_memory_host) or
// the staged path; from read-only pages the import is refused and staging must take over.
TEST_P(VulkanBackend, LargeTransfersFromReadOnlyAndWritableMemoryArriveIntact) {
  const std::size_t bytes = 48ull << 20;
  void* pages = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(pages, MAP_FAILED);
  std::mt19937 rng(std::random_device{}());
  auto* words = static_cast<std::uint32_t*>(pages);
  for (std::size_t i = 0; i < bytes / 4; ++i) words[i] = rng();
  ASSERT_EQ(mprotect(pages, bytes, PROT_READ), 0);
  const std::span<const std::byte> source(static_cast<const std::byte*>(pages), bytes);

  Buffer a = GetParam()->allocate(bytes), b = GetParam()->allocate(bytes);
  std::vector<std::byte> back(bytes);
  Stream& s = GetParam()->stream();
  s.copy(b, 0, a, 0, bytes);  // keep the stream busy so the mapping shortcut is not taken
  s.upload(a, 0, source);
  s.copy(a, 0, b, 0, bytes);
  s.download(b, 0, std::span<std::byte>(back)).wait();
  EXPECT_EQ(std::memcmp(back.data(), pages, bytes), 0);

  std::vector<std::byte> unaligned(bytes + 3);
  s.copy(a, 0, b, 0, bytes);
  s.download(b, 0, std::span<std::byte>(unaligned.data() + 3, bytes)).wait();
  EXPECT_EQ(std::memcmp(unaligned.data() + 3, pages, bytes), 0);
  munmap(pages, bytes);
}

// copy_between_devices picks the mapped shortcut on lavapipe; its general path (pinned chunks on
// the source, uploads to the destination) is what discrete GPUs take, so test it directly.
TEST(CrossDeviceCopy, PinnedChunkPathIsExactAcrossEveryPairAndOffset) {
  const auto& devices = testing::devices();
  const std::size_t bytes = (40ull << 20) + 13;  // three chunks, the last one partial
  std::mt19937 rng(std::random_device{}());
  std::vector<std::byte> data(bytes);
  for (auto& b : data) b = static_cast<std::byte>(rng());
  for (const auto& from : devices) {
    for (const auto& to : devices) {
      if (from == to) continue;
      Buffer src = from->allocate(bytes + 5), dst = to->allocate(bytes + 9);
      from->stream().upload(src, 5, std::span<const std::byte>(data)).wait();
      copy_between_devices_chunked(src, 5, dst, 9, bytes);
      std::vector<std::byte> back(bytes);
      to->stream().download(dst, 9, std::span<std::byte>(back)).wait();
      EXPECT_TRUE(back == data) << from->properties().name << " -> " << to->properties().name;
    }
  }
}

TEST(VulkanPipelineCache, IsSavedReloadedAndIgnoredWhenCorrupt) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("crossgpu-cache-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto run_fill = [&] {
    RegistryOptions options;
    options.cpu = false;
    options.validation = true;
    options.cache_dir = dir.string();
    Registry registry(options);
    for (const auto& device : registry.devices()) {
      Buffer out = device->allocate(64 * 4);
      ops::fill(device->stream(), out, 64, 2.5f);
      std::vector<float> host(64);
      device->stream().download(out, std::span<float>(host)).wait();
      EXPECT_EQ(host, std::vector<float>(64, 2.5f));
    }
    return registry.devices().size();
  };
  const std::size_t count = run_fill();
  if (count == 0) GTEST_SKIP() << "no Vulkan device";
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) files.push_back(entry.path());
  ASSERT_EQ(files.size(), count) << "one cache file per device expected";
  // A valid cache starts with its header (32 bytes + UUID; lavapipe stores nothing beyond it).
  auto header_size = [](const std::filesystem::path& file) {
    std::uint32_t size = 0;
    std::ifstream(file, std::ios::binary).read(reinterpret_cast<char*>(&size), 4);
    return size;
  };
  for (const auto& file : files) {
    EXPECT_EQ(header_size(file), 16u + VK_UUID_SIZE);
    EXPECT_GE(std::filesystem::file_size(file), 16u + VK_UUID_SIZE);
  }

  run_fill();  // reload: must work and keep the file valid
  for (const auto& file : files) {
    std::ofstream(file, std::ios::binary | std::ios::trunc) << "not a pipeline cache";
  }
  run_fill();  // a corrupt file is ignored, then replaced by a valid one
  for (const auto& file : files) EXPECT_EQ(header_size(file), 16u + VK_UUID_SIZE);
  std::filesystem::remove_all(dir);
}

TEST(VulkanValidation, LayerIsActiveInTests) {
  // The test main turns validation on; prove the messenger would see a message by checking the
  // layer is installed (an absent layer would make every "zero messages" claim meaningless).
  bool found = false;
  for (const auto& layer : vk::raii::Context().enumerateInstanceLayerProperties()) {
    found |= std::string(layer.layerName.data()) == "VK_LAYER_KHRONOS_validation";
  }
  EXPECT_TRUE(found) << "install vulkan-validationlayers (scripts/install-deps.sh)";
}

INSTANTIATE_TEST_SUITE_P(Vulkan, VulkanBackend, ::testing::ValuesIn(vulkan_device_indices()),
                         testing::device_param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(VulkanBackend);

}  // namespace
}  // namespace crossgpu::vulkan
