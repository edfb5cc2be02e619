#include "device/vulkan/allocator.hpp"

#include <algorithm>
#include <optional>

#include "core/log.hpp"

namespace crossgpu::vulkan {

// One VkDeviceMemory and its free ranges (offset -> size), kept coalesced.
class MemoryBlock {
 public:
  MemoryBlock(vk::raii::DeviceMemory memory, std::uint32_t type, std::uint64_t size,
              std::byte* mapped, bool dedicated)
      : memory_(std::move(memory)), type_(type), size_(size), mapped_(mapped),
        dedicated_(dedicated) {
    free_[0] = size;
  }

  // First fit with alignment; returns the offset or nothing.
  std::optional<std::uint64_t> take(std::uint64_t size, std::uint64_t alignment) {
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      const std::uint64_t begin = it->first, length = it->second;
      const std::uint64_t aligned = (begin + alignment - 1) / alignment * alignment;
      if (aligned - begin > length || length - (aligned - begin) < size) continue;
      free_.erase(it);
      if (aligned > begin) free_[begin] = aligned - begin;
      const std::uint64_t end = aligned + size;
      if (end < begin + length) free_[end] = begin + length - end;
      used_ += size;
      return aligned;
    }
    return std::nullopt;
  }

  void give_back(std::uint64_t offset, std::uint64_t size) {
    used_ -= size;
    auto [it, inserted] = free_.emplace(offset, size);
    if (!inserted) return;  // double free: ignore rather than corrupt the list
    if (auto next = std::next(it); next != free_.end() && it->first + it->second == next->first) {
      it->second += next->second;
      free_.erase(next);
    }
    if (it != free_.begin()) {
      auto prev = std::prev(it);
      if (prev->first + prev->second == it->first) {
        prev->second += it->second;
        free_.erase(it);
      }
    }
  }

  bool empty() const { return used_ == 0; }
  vk::DeviceMemory memory() const { return *memory_; }
  std::uint32_t type() const { return type_; }
  std::uint64_t size() const { return size_; }
  std::byte* mapped() const { return mapped_; }
  bool dedicated() const { return dedicated_; }

 private:
  vk::raii::DeviceMemory memory_;
  std::uint32_t type_;
  std::uint64_t size_;
  std::byte* mapped_;
  bool dedicated_;
  std::uint64_t used_ = 0;
  std::map<std::uint64_t, std::uint64_t> free_;
};

Allocator::Allocator(const vk::raii::PhysicalDevice& physical, const vk::raii::Device& device,
                     bool has_memory_budget, std::uint64_t max_allocation)
    : physical_(physical), device_(device), memory_(physical.getMemoryProperties()),
      has_budget_(has_memory_budget), max_allocation_(max_allocation),
      non_coherent_atom_(physical.getProperties().limits.nonCoherentAtomSize) {
  pools_.resize(memory_.memoryTypeCount);
  heap_used_.assign(memory_.memoryHeapCount, 0);
  // UMA: every device-local type is also host-visible (phones, integrated GPUs, lavapipe).
  bool any_local = false;
  unified_memory_ = true;
  for (std::uint32_t i = 0; i < memory_.memoryTypeCount; ++i) {
    const auto flags = memory_.memoryTypes[i].propertyFlags;
    if (flags & vk::MemoryPropertyFlagBits::eDeviceLocal) {
      any_local = true;
      if (!(flags & vk::MemoryPropertyFlagBits::eHostVisible)) unified_memory_ = false;
    }
  }
  unified_memory_ = unified_memory_ && any_local;
}

Allocator::~Allocator() {
  for (auto& pool : pools_) pool.clear();
}

std::vector<std::uint32_t> Allocator::candidate_types(std::uint32_t type_bits,
                                                      MemoryKind kind) const {
  using F = vk::MemoryPropertyFlagBits;
  struct Scored {
    int score;
    std::uint32_t type;
  };
  std::vector<Scored> scored;
  for (std::uint32_t i = 0; i < memory_.memoryTypeCount; ++i) {
    if (!(type_bits & (1u << i))) continue;
    const auto flags = memory_.memoryTypes[i].propertyFlags;
    const bool local = bool(flags & F::eDeviceLocal);
    const bool visible = bool(flags & F::eHostVisible);
    int score = 0;
    if (kind == MemoryKind::device_local) {
      // Prefer device-local memory the host cannot see: on discrete GPUs the host-visible
      // device-local type is the small BAR window, better left for staging.
      score = (local ? 8 : 0) + (visible ? 0 : 2);
    } else {
      if (!visible) continue;
      // Pinned system memory (not device-local) is what DMA reads at full PCIe rate; coherent
      // avoids flushes; cached makes host reads of downloads fast.
      score = (local && !unified_memory_ ? 0 : 8) + (flags & F::eHostCoherent ? 4 : 0) +
              (flags & F::eHostCached ? 1 : 0);
    }
    scored.push_back({score, i});
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const Scored& a, const Scored& b) { return a.score > b.score; });
  std::vector<std::uint32_t> types;
  for (const Scored& s : scored) types.push_back(s.type);
  return types;
}

std::string Allocator::heap_state_locked(std::uint32_t heap) const {
  std::uint64_t blocks = 0, block_bytes = 0;
  for (const auto& pool : pools_) {
    for (const auto& block : pool) {
      if (memory_.memoryTypes[block->type()].heapIndex != heap) continue;
      ++blocks;
      block_bytes += block->size();
    }
  }
  std::string state = fmt::format("heap {} of {}: this device holds {} in {} allocations", heap,
                                  format_bytes(memory_.memoryHeaps[heap].size), format_bytes(block_bytes), blocks);
  if (has_budget_) {
    const auto chain = physical_.getMemoryProperties2<vk::PhysicalDeviceMemoryProperties2,
                                                      vk::PhysicalDeviceMemoryBudgetPropertiesEXT>();
    const auto& budget = chain.get<vk::PhysicalDeviceMemoryBudgetPropertiesEXT>();
    state += fmt::format(", the driver reports {} used of a {} budget", format_bytes(budget.heapUsage[heap]),
                         format_bytes(budget.heapBudget[heap]));
  }
  return state;
}

void Allocator::check_budget(std::uint32_t heap, std::uint64_t size) const {
  const std::uint64_t total = memory_.memoryHeaps[heap].size;
  std::uint64_t free_bytes = total > heap_used_[heap] ? total - heap_used_[heap] : 0;
  if (has_budget_) {
    const auto chain = physical_.getMemoryProperties2<vk::PhysicalDeviceMemoryProperties2,
                                                      vk::PhysicalDeviceMemoryBudgetPropertiesEXT>();
    const auto& budget = chain.get<vk::PhysicalDeviceMemoryBudgetPropertiesEXT>();
    free_bytes = budget.heapBudget[heap] > budget.heapUsage[heap]
                     ? budget.heapBudget[heap] - budget.heapUsage[heap]
                     : 0;
  }
  if (size > free_bytes) {
    fail(Errc::out_of_memory, "device memory heap {} has {} free; {} were asked", heap,
         format_bytes(free_bytes), format_bytes(size));
  }
}

std::unique_ptr<MemoryBlock> Allocator::new_block(std::uint32_t type, std::uint64_t size) {
  const std::uint32_t heap = memory_.memoryTypes[type].heapIndex;
  check_budget(heap, size);
  std::optional<vk::raii::DeviceMemory> allocated;
  try {
    allocated.emplace(guarded("allocating device memory", [&] {
      return vk::raii::DeviceMemory(device_,
                                    vk::MemoryAllocateInfo{.allocationSize = size, .memoryTypeIndex = type});
    }));
  } catch (const Error& e) {
    // The driver refused although the budget check passed: say what the heap looked like, the
    // only clue to why (fragmentation, a per-process limit, a VM's own cap).
    fail(e.code(), "{} ({} asked; {})", e.what(), format_bytes(size), heap_state_locked(heap));
  }
  vk::raii::DeviceMemory memory = std::move(*allocated);
  std::byte* mapped = nullptr;
  if (memory_.memoryTypes[type].propertyFlags & vk::MemoryPropertyFlagBits::eHostVisible) {
    mapped = static_cast<std::byte*>(guarded("mapping device memory", [&] {
      return memory.mapMemory(0, VK_WHOLE_SIZE);
    }));
  }
  heap_used_[heap] += size;
  return std::make_unique<MemoryBlock>(std::move(memory), type, size, mapped, false);
}

Allocation Allocator::allocate_in_type(std::uint32_t type, std::uint64_t size,
                                       std::uint64_t alignment) {
  auto& pool = pools_[type];
  const std::uint64_t block_bytes = std::min(default_block_bytes, max_allocation_);
  MemoryBlock* block = nullptr;
  std::uint64_t offset = 0;
  if (size <= block_bytes / 2) {
    for (auto& candidate : pool) {
      if (candidate->dedicated()) continue;
      if (auto taken = candidate->take(size, alignment)) {
        block = candidate.get();
        offset = *taken;
        break;
      }
    }
    if (block == nullptr) {
      pool.push_back(new_block(type, block_bytes));
      block = pool.back().get();
      offset = *block->take(size, alignment);
    }
  } else {
    pool.push_back(new_block(type, size));
    block = pool.back().get();
    offset = *block->take(size, 1);
  }
  const auto flags = memory_.memoryTypes[type].propertyFlags;
  return Allocation{block,
                    block->memory(),
                    offset,
                    size,
                    block->mapped() ? block->mapped() + offset : nullptr,
                    bool(flags & vk::MemoryPropertyFlagBits::eHostCoherent)};
}

Allocation Allocator::allocate(const vk::MemoryRequirements& requirements, MemoryKind kind) {
  std::lock_guard lock(mutex_);
  const std::vector<std::uint32_t> types = candidate_types(requirements.memoryTypeBits, kind);
  if (types.empty()) {
    fail(Errc::unsupported, "the device offers no {} memory type for buffers",
         kind == MemoryKind::host_visible ? "host-visible" : "suitable");
  }
  std::string reasons;
  for (std::uint32_t type : types) {
    try {
      Allocation a = allocate_in_type(type, requirements.size, requirements.alignment);
      ++allocations_;
      allocated_bytes_ += a.size;
      // A kernel reading device-local data that landed in system memory runs at the bus's rate;
      // nothing else would show that this happened.
      const bool local = bool(memory_.memoryTypes[type].propertyFlags & vk::MemoryPropertyFlagBits::eDeviceLocal);
      if (kind == MemoryKind::device_local && !local && !reasons.empty()) {
        log::warn("{} of device-local memory went to system memory (type {}):{}", format_bytes(requirements.size),
                  type, reasons);
      }
      return a;
    } catch (const Error& e) {
      if (e.code() != Errc::out_of_memory) throw;
      reasons += fmt::format(" [type {}: {}]", type, e.what());
    }
  }
  fail(Errc::out_of_memory, "cannot allocate {} of {} memory:{}", format_bytes(requirements.size),
       kind == MemoryKind::host_visible ? "host-visible" : "device-local", reasons);
}

void Allocator::free(const Allocation& allocation) noexcept {
  if (allocation.block == nullptr) return;
  std::lock_guard lock(mutex_);
  MemoryBlock* block = allocation.block;
  block->give_back(allocation.offset, allocation.size);
  --allocations_;
  allocated_bytes_ -= allocation.size;
  if (!block->empty()) return;
  // Keep one empty shared block per type so that alloc/free loops do not churn the driver.
  auto& pool = pools_[block->type()];
  const bool keep = !block->dedicated() &&
                    std::count_if(pool.begin(), pool.end(), [](const auto& b) {
                      return !b->dedicated() && b->empty();
                    }) == 1;
  if (keep) return;
  auto it = std::find_if(pool.begin(), pool.end(), [&](const auto& b) { return b.get() == block; });
  heap_used_[memory_.memoryTypes[block->type()].heapIndex] -= block->size();
  pool.erase(it);
}

vk::MappedMemoryRange Allocator::atom_range(const Allocation& a, std::uint64_t offset,
                                            std::uint64_t size) const {
  const std::uint64_t begin = (a.offset + offset) / non_coherent_atom_ * non_coherent_atom_;
  std::uint64_t end = (a.offset + offset + size + non_coherent_atom_ - 1) / non_coherent_atom_ *
                      non_coherent_atom_;
  end = std::min(end, a.block->size());
  return vk::MappedMemoryRange{.memory = a.memory, .offset = begin, .size = end - begin};
}

void Allocator::flush(const Allocation& a, std::uint64_t offset, std::uint64_t size) const {
  if (a.coherent || size == 0) return;
  guarded("flushing mapped memory", [&] { device_.flushMappedMemoryRanges(atom_range(a, offset, size)); });
}

void Allocator::invalidate(const Allocation& a, std::uint64_t offset, std::uint64_t size) const {
  if (a.coherent || size == 0) return;
  guarded("invalidating mapped memory",
          [&] { device_.invalidateMappedMemoryRanges(atom_range(a, offset, size)); });
}

std::vector<MemoryHeap> Allocator::heaps() const {
  std::lock_guard lock(mutex_);
  vk::PhysicalDeviceMemoryBudgetPropertiesEXT budget{};
  if (has_budget_) {
    const auto chain = physical_.getMemoryProperties2<vk::PhysicalDeviceMemoryProperties2,
                                                      vk::PhysicalDeviceMemoryBudgetPropertiesEXT>();
    budget = chain.get<vk::PhysicalDeviceMemoryBudgetPropertiesEXT>();
  }
  std::vector<MemoryHeap> heaps;
  for (std::uint32_t h = 0; h < memory_.memoryHeapCount; ++h) {
    MemoryHeap heap;
    heap.total_bytes = memory_.memoryHeaps[h].size;
    heap.device_local = bool(memory_.memoryHeaps[h].flags & vk::MemoryHeapFlagBits::eDeviceLocal);
    for (std::uint32_t t = 0; t < memory_.memoryTypeCount; ++t) {
      if (memory_.memoryTypes[t].heapIndex == h &&
          (memory_.memoryTypes[t].propertyFlags & vk::MemoryPropertyFlagBits::eHostVisible)) {
        heap.host_visible = true;
      }
    }
    if (has_budget_) {
      heap.budget_bytes = budget.heapBudget[h];
      heap.free_bytes = budget.heapBudget[h] > budget.heapUsage[h]
                            ? budget.heapBudget[h] - budget.heapUsage[h]
                            : 0;
      heap.free_is_estimate = false;
    } else {
      heap.free_bytes = heap.total_bytes > heap_used_[h] ? heap.total_bytes - heap_used_[h] : 0;
      heap.free_is_estimate = true;
    }
    heaps.push_back(heap);
  }
  return heaps;
}

AllocatorStats Allocator::stats() const {
  std::lock_guard lock(mutex_);
  AllocatorStats s;
  for (const auto& pool : pools_) {
    for (const auto& block : pool) {
      ++s.blocks;
      s.block_bytes += block->size();
    }
  }
  s.allocations = allocations_;
  s.allocated_bytes = allocated_bytes_;
  return s;
}

}  // namespace crossgpu::vulkan
